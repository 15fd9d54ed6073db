"""Registered defaults of the learning-rate-free methods against the authors' packages.

``AUTHORS`` transcribes the keyword defaults of each reference class's ``__init__`` (the
package and version named in the registry entry's ``reference_impl``), renamed to adaptlr's
argument names. A registered default (registry ``defaults`` over the factory's signature)
that differs must be named, with its reason, in the entry's ``defaults_note``.
"""

from __future__ import annotations

import inspect
import math

import pytest

from adaptlr import registry

INF = math.inf
AUTHORS: dict[str, dict[str, object]] = {
    # dadaptation 3.2
    "dadapt_sgd": {"learning_rate": 1.0, "momentum": 0.0, "weight_decay": 0.0, "d0": 1e-6,
                   "growth_rate": INF},
    "dadapt_adagrad": {"learning_rate": 1.0, "momentum": 0.0, "weight_decay": 0.0, "eps": 1e-6,
                       "d0": 1e-6, "growth_rate": INF},
    "dadapt_adam": {"learning_rate": 1.0, "b1": 0.9, "b2": 0.999, "eps": 1e-8,
                    "weight_decay": 0.0, "d0": 1e-6, "growth_rate": INF,
                    "decoupled_weight_decay": False, "bias_correction": False},
    "dadapt_adan": {"learning_rate": 1.0, "b1": 0.98, "b2": 0.92, "b3": 0.99, "eps": 1e-8,
                    "weight_decay": 0.02, "d0": 1e-6, "growth_rate": INF},
    "dadapt_lion": {"learning_rate": 1.0, "b1": 0.9, "b2": 0.99, "weight_decay": 0.0,
                    "d0": 1e-6},
    # prodigyopt 1.1.2
    "prodigy": {"learning_rate": 1.0, "b1": 0.9, "b2": 0.999, "b3": None, "eps": 1e-8,
                "weight_decay": 0.0, "decouple": True, "use_bias_correction": False,
                "safeguard_warmup": False, "d0": 1e-6, "d_coef": 1.0, "growth_rate": INF},
    # schedulefree 1.4.1
    "schedule_free_sgd": {"learning_rate": 1.0, "b1": 0.9, "weight_decay": 0.0,
                          "warmup_steps": 0, "r": 0.0, "weight_lr_power": 2.0},
    "schedule_free_adamw": {"learning_rate": 0.0025, "b1": 0.9, "b2": 0.999, "eps": 1e-8,
                            "weight_decay": 0.0, "warmup_steps": 0, "r": 0.0,
                            "weight_lr_power": 2.0},
    "schedule_free_radam": {"learning_rate": 0.0025, "b1": 0.9, "b2": 0.999, "eps": 1e-8,
                            "weight_decay": 0.0, "r": 0.0, "weight_lr_power": 2.0,
                            "silent_sgd_phase": True},
    # dog-optimizer 1.0.3
    "dog": {"learning_rate": 1.0, "reps_rel": 1e-6, "weight_decay": 0.0, "eps": 1e-8,
            "init_eta": None},
    "ldog": {"learning_rate": 1.0, "reps_rel": 1e-6, "weight_decay": 0.0, "eps": 1e-8,
             "init_eta": None},
    # pytorch_optimizer 4.1.0 AliG (oval-group/ali-g has the same defaults)
    "alig": {"max_lr": None, "momentum": 0.0, "adjusted_momentum": False},
    # --- wsfplus ---
    # pytorch_optimizer 4.1.0 AdamC and ScheduleFreeAdamW (decoupling_c 0 = refinement off);
    # schedule_free main 43e5c2d AdamCScheduleFreePlusPaper (signature; c_warmup 0.9).
    "adamc": {"learning_rate": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
    "refined_schedule_free_adamw": {"learning_rate": 2.5e-3, "b1": 0.9, "b2": 0.999,
                                    "eps": 1e-8, "weight_decay": 0.0, "r": 0.0,
                                    "weight_lr_power": 2.0, "warmup_steps": 0,
                                    "decoupling_c": 0.0},
    "schedule_free_plus": {"learning_rate": 1.0, "b1": 0.9, "b2": 0.95, "sf_b1": 0.9,
                           "eps": 1e-8, "weight_decay": 0.0, "r": 0.0, "polyak_beta": 0.0,
                           "c_warmup": 0.9, "sf_b1_anneal_steps": 0, "sf_b1_max": 0.965,
                           "weight_lr_power": 2.0},
    # --- end wsfplus ---
}


def registered(spec: registry.MethodSpec) -> dict[str, object]:
    signature = inspect.signature(spec.factory)
    out = {k: p.default for k, p in signature.parameters.items()
           if p.default is not inspect.Parameter.empty}
    out.update(spec.defaults)
    return out


@pytest.mark.parametrize("name", sorted(AUTHORS))
def test_registered_defaults_are_the_authors_or_explained(name: str) -> None:
    spec = registry.get(name)
    ours = registered(spec)
    differing = [k for k, v in AUTHORS[name].items() if k in ours and ours[k] != v]
    missing = [k for k in AUTHORS[name] if k not in ours]
    assert not missing, f"{name}: no argument {missing}"
    for arg in differing:
        assert arg in spec.defaults_note, (
            f"{name}: registered {arg}={ours[arg]!r}, authors' {AUTHORS[name][arg]!r}, and "
            f"defaults_note does not explain it ({spec.defaults_note!r})")
