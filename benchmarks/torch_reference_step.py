"""Time the authors' PyTorch reference ``optimizer.step()`` on the trees of update_throughput.py.

Run by ``update_throughput.py --torch-python PYTHON`` in an interpreter that has PyTorch and the
reference packages (``.venv-ref`` in this repository). Prints one JSON line:
``{method: {tree: median seconds}}``; methods whose reference is not installed are left out.
The tree shapes come from update_throughput.tree_shapes, so both sides time the same sizes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from trees import TREES, tree_shapes


def _make(module: str, cls: str, **kwargs: Any) -> Callable[[list[torch.Tensor]], Any]:
    def build(params: list[torch.Tensor]) -> Any:
        opt_cls = getattr(importlib.import_module(module), cls)
        return opt_cls(params, **kwargs)

    return build


def _schedule_free(cls: str, **kwargs: Any) -> Callable[[list[torch.Tensor]], Any]:
    def build(params: list[torch.Tensor]) -> Any:
        opt = getattr(importlib.import_module("schedulefree"), cls)(params, **kwargs)
        opt.train()
        return opt

    return build


def _mechanic(base: str) -> Callable[[list[torch.Tensor]], Any]:
    def build(params: list[torch.Tensor]) -> Any:
        from mechanic_pytorch import mechanize

        # adaptlr's learning_rate=1.0 is the base optimizer's learning rate.
        return mechanize(getattr(torch.optim, base))(params, lr=1.0)

    return build


# Keys are adaptlr registry names (tests/test_update_throughput.py checks them); settings are
# the registry's defaults.
REFERENCES: dict[str, Callable[[list[torch.Tensor]], Any]] = {
    "sgd": _make("torch.optim", "SGD", lr=1e-3),
    "sgd_momentum": _make("torch.optim", "SGD", lr=1e-3, momentum=0.9),
    "sgd_nesterov": _make("torch.optim", "SGD", lr=1e-3, momentum=0.9, nesterov=True),
    "adam": _make("torch.optim", "Adam", lr=1e-3),
    "adamw": _make("torch.optim", "AdamW", lr=1e-3, weight_decay=1e-4),
    "nadamw": _make("torch.optim", "NAdam", lr=1e-3, weight_decay=1e-4,
                    decoupled_weight_decay=True),
    "adagrad": _make("torch.optim", "Adagrad", lr=0.1),
    "rmsprop": _make("torch.optim", "RMSprop", lr=1e-3),
    "adafactor": _make("torch.optim", "Adafactor", lr=1e-2),
    "lion": _make("pytorch_optimizer", "Lion", lr=1e-4),
    "lamb": _make("pytorch_optimizer", "Lamb", lr=1e-3),
    "dadapt_sgd": _make("dadaptation", "DAdaptSGD", momentum=0.9),
    "dadapt_adagrad": _make("dadaptation", "DAdaptAdaGrad"),
    "dadapt_adam": _make("dadaptation", "DAdaptAdam"),
    "dadapt_adan": _make("dadaptation", "DAdaptAdan"),
    "dadapt_lion": _make("dadaptation", "DAdaptLion"),
    "prodigy": _make("prodigyopt", "Prodigy"),
    "schedule_free_sgd": _schedule_free("SGDScheduleFree", lr=1e-3),
    "schedule_free_adamw": _schedule_free("AdamWScheduleFree", lr=2.5e-3),
    "schedule_free_radam": _schedule_free("RAdamScheduleFree", lr=2.5e-3),
    "dog": _make("dog", "DoG"),
    "ldog": _make("dog", "LDoG"),
    "mechanic_sgd": _mechanic("SGD"),
    "mechanic_adam": _mechanic("Adam"),
    "cocob": _make("parameterfree", "COCOB", alpha=100.0, eps=1e-8),
    "adabound": _make("adabound", "AdaBound", lr=1e-3, final_lr=0.1),
    "amsbound": _make("adabound", "AdaBound", lr=1e-3, final_lr=0.1, amsbound=True),
    "adamod": _make("adamod", "AdaMod", lr=1e-3, beta3=0.999),
    "padam": _make("pytorch_optimizer", "PAdam", lr=0.1, partial=0.125),
    "qhadam": _make("qhoptim.pyt", "QHAdam", lr=1e-3, betas=(0.995, 0.999), nus=(0.7, 1.0)),
    "stable_adamw": _make("pytorch_optimizer", "StableAdamW", lr=1e-3, weight_decay=1e-2),
    "came": _make("came_pytorch", "CAME", lr=2e-4),
    "adam_atan2": _make("adam_atan2_pytorch", "AdamAtan2", lr=1e-3),
}


def time_reference(build: Callable[[list[torch.Tensor]], Any], tree: str, repeats: int) -> float:
    gen = torch.Generator().manual_seed(0)
    params = [(0.02 * torch.randn(s, generator=gen)).requires_grad_() for s in tree_shapes(tree)]
    for p in params:
        p.grad = 0.02 * torch.randn(p.shape, generator=gen)
    opt = build(params)
    opt.step()  # warm-up, allocates state
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            t0 = time.perf_counter()
            opt.step()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--methods", nargs="*", default=list(REFERENCES))
    parser.add_argument("--trees", nargs="*", default=list(TREES))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (default: PyTorch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out: dict[str, dict[str, float]] = {}
    for name in args.methods:
        if name not in REFERENCES:
            continue
        try:
            out[name] = {t: time_reference(REFERENCES[name], t, args.repeats) for t in args.trees}
        except (ImportError, AttributeError, TypeError, RuntimeError) as err:
            print(f"skipping {name}: {err}", file=sys.stderr)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
