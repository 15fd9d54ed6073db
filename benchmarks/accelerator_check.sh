#!/usr/bin/env bash
# One script for a machine with an accelerator (it runs on CPU too): the conformance suite's
# sharding and dtype checks, the update-throughput benchmark on the 16M tree and a short
# `adaptlr compare`, then docs/accelerator.json and docs/accelerator.md.
#
#   benchmarks/accelerator_check.sh            # the full check, under 8 minutes on a GPU
#   benchmarks/accelerator_check.sh --tiny     # a smoke version (the test suite runs this on CPU)
#
# Environment: PYTHON (default: python), ACCEL_OUT (default: docs/), ACCEL_BUDGET_S (default
# 450: each stage gets a share and is cut off by `timeout`, so the whole stays under 8 min).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python}"
OUT="${ACCEL_OUT:-$ROOT/docs}"
BUDGET="${ACCEL_BUDGET_S:-450}"
TINY=0
[[ "${1:-}" == "--tiny" ]] && TINY=1
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
cd "$ROOT"

if [[ $TINY == 1 ]]; then
  CONF_K="adam-sharded or adam-float32 or adam-bfloat16"
  TP_ARGS=(--methods adam prodigy --trees 1M --repeats 3)
  CMP_ARGS=(--task quadratic --methods sgd,prodigy --grid 1 --seeds 2 --steps 25)
else
  CONF_K="sharded or float32 or bfloat16 or float64"
  TP_ARGS=(--methods adam adamw lion prodigy dadapt_adam schedule_free_adamw dog mechanic_adam
           cocob --trees 16M --repeats 20)
  CMP_ARGS=(--task mnist1d_mlp --seeds 5)
fi

stage() {  # name, seconds, command...: run with a time limit, record rc and wall time
  local name="$1" limit="$2"; shift 2
  local start end rc
  start=$(date +%s%3N)
  timeout "$limit" "$@" >"$WORK/$name.log" 2>&1
  rc=$?
  end=$(date +%s%3N)
  echo "$rc $(( (end - start) / 1000 )).$(printf '%03d' $(( (end - start) % 1000 )))" \
    >"$WORK/$name.status"
  echo "[$name] rc=$rc ($(cut -d' ' -f2 "$WORK/$name.status") s)"
}

# shares of the budget: conformance 45%, throughput 25%, compare 30%
stage conformance $((BUDGET * 45 / 100)) "$PY" -m pytest -q -p no:cacheprovider \
  tests/conformance/test_conformance.py -k "$CONF_K" --junitxml="$WORK/conformance.xml"
stage throughput $((BUDGET * 25 / 100)) "$PY" benchmarks/update_throughput.py "${TP_ARGS[@]}" \
  --json "$WORK/throughput.json"
stage compare $((BUDGET * 30 / 100)) "$PY" -m adaptlr.cli compare "${CMP_ARGS[@]}" \
  --out "$WORK/compare" --no-plots --quiet --compile-cache ""

"$PY" benchmarks/accelerator_report.py "$WORK" "$OUT" --tiny "$TINY"
