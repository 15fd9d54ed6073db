"""Assemble ``docs/accelerator.json`` and ``docs/accelerator.md`` from accelerator_check.sh.

Usage (called by the script): ``python benchmarks/accelerator_report.py WORK OUT --tiny 0|1``,
where ``WORK`` holds each stage's ``<stage>.log``/``.status``, ``conformance.xml`` (JUnit) and
``throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

STAGES = ("conformance", "throughput", "compare")


def _status(work: Path, stage: str) -> dict[str, Any]:
    path = work / f"{stage}.status"
    if not path.exists():
        return {"ran": False}
    rc, wall = path.read_text().split()
    log = (work / f"{stage}.log").read_text(errors="replace") if (
        work / f"{stage}.log").exists() else ""
    return {"ran": True, "returncode": int(rc), "timed_out": int(rc) in (124, 137),
            "wall_s": float(wall), "log_tail": log[-4000:]}


def _conformance(work: Path) -> dict[str, Any]:
    path = work / "conformance.xml"
    if not path.exists():
        return {}
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    failed = [c.get("name") for c in suite.iter("testcase")
              if c.find("failure") is not None or c.find("error") is not None]
    return {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")} | {
        "failed": failed}


def _devices() -> dict[str, Any]:
    import jax

    devices = jax.devices()
    return {"backend": jax.default_backend(), "count": len(devices),
            "kinds": sorted({d.device_kind for d in devices}), "jax": jax.__version__,
            "host": platform.node(), "python": platform.python_version()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tiny", type=int, default=0)
    args = parser.parse_args()
    report: dict[str, Any] = {
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tiny": bool(args.tiny), "devices": _devices(),
        "stages": {s: _status(args.work, s) for s in STAGES},
        "conformance": _conformance(args.work),
    }
    tp = args.work / "throughput.json"
    if tp.exists():
        report["throughput"] = json.loads(tp.read_text())
    compare_log = report["stages"]["compare"].get("log_tail", "")
    report["compare_table"] = compare_log
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "accelerator.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (args.out / "accelerator.md").write_text(markdown(report))
    print(f"wrote {args.out / 'accelerator.json'} and {args.out / 'accelerator.md'}")


def _throughput_rows(data: Any) -> list[dict[str, Any]]:
    rows = data.get("rows", []) if isinstance(data, dict) else data
    return [r for r in rows if isinstance(r, dict) and "method" in r]


def markdown(report: dict[str, Any]) -> str:
    d = report["devices"]
    lines = ["# Accelerator check", "",
             f"Written by `benchmarks/accelerator_check.sh{' --tiny' if report['tiny'] else ''}`"
             f" at {report['finished_at']} on {d['backend']} ({d['count']} x "
             f"{', '.join(d['kinds'])}), jax {d['jax']}.", ""]
    if d["backend"] == "cpu":
        lines += ["**No accelerator was used: this run is on CPU.** No accelerator numbers "
                  "exist yet for adaptlr; run the script on a GPU/TPU machine to replace this "
                  "page.", ""]
    lines += ["| stage | return code | wall (s) |", "| --- | --- | --- |"]
    for name, s in report["stages"].items():
        if s.get("ran"):
            note = " (timed out)" if s["timed_out"] else ""
            lines.append(f"| {name} | {s['returncode']}{note} | {s['wall_s']:.1f} |")
        else:
            lines.append(f"| {name} | not run | - |")
    c = report.get("conformance") or {}
    if c:
        lines += ["", f"Conformance (sharding and dtype checks): {c['tests']} tests, "
                      f"{c['failures']} failures, {c['errors']} errors, {c['skipped']} skipped."]
        if c["failed"]:
            lines += ["", "Failed: " + ", ".join(f"`{n}`" for n in c["failed"])]
    rows = _throughput_rows(report.get("throughput", []))
    if rows:
        lines += ["", "Update throughput (median step time):", "",
                  "| method | tree | ms | GB/s (minimal bytes) | fraction of copy bandwidth |",
                  "| --- | --- | --- | --- | --- |"]
        for r in rows:
            ms = None if r.get("time_s") is None else 1e3 * r["time_s"]
            gbs = r.get("gb_per_s")
            lines.append(f"| {r['method']} | {r.get('tree', '-')} | "
                         f"{'-' if ms is None else f'{ms:.3g}'} | "
                         f"{'-' if gbs is None else f'{gbs:.3g}'} | "
                         f"{r.get('fraction_of_copy_bandwidth', float('nan')):.2f} |")
    if report.get("compare_table"):
        lines += ["", "Short compare:", "", "```", report["compare_table"].rstrip(), "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
