"""The ``adaptlr`` command.

Subcommands are registered in :func:`build_parser`; heavy imports (flax, matplotlib, data
packages) happen inside the subcommand that needs them, never at import time.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from adaptlr import registry

__all__ = ["build_parser", "format_catalogue", "main", "methods_markdown"]


def format_catalogue(family: str | None = None) -> str:
    """The registry as a plain-text table."""
    header = ("name", "family", "paper", "needs loss", "state B/param", "reference")
    rows = [header]
    for spec in registry.all_specs():
        if family is not None and spec.family != family:
            continue
        rows.append((
            spec.name,
            spec.family,
            spec.paper.cite() if spec.paper else "-",
            "yes" if spec.needs_value else "no",
            f"{spec.state_bytes_per_param:g}",
            spec.reference_impl or "-",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def methods_markdown() -> str:
    """The catalogue as the Markdown page ``docs/methods.md``."""
    lines = [
        "# Methods",
        "",
        "Generated from `adaptlr.registry` by `adaptlr list --markdown`; do not edit by hand.",
        "",
    ]
    for family in registry.FAMILIES:
        specs = [s for s in registry.all_specs() if s.family == family]
        if not specs:
            continue
        lines += [f"## {family}", "",
                  "| name | description | paper | loss value | state B/param | checked against |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for s in specs:
            paper = f"{s.paper.cite()} [@{s.paper.bibkey}]" if s.paper else "-"
            lines.append(
                f"| `{s.name}` | {s.description or '-'} | {paper} | "
                f"{'yes' if s.needs_value else 'no'} | {s.state_bytes_per_param:g} | "
                f"{s.reference_impl or '-'} |"
            )
        lines.append("")
    notes = [s for s in registry.all_specs() if s.defaults_note]
    if notes:
        lines += ["## Registered defaults that differ from the authors'", "",
                  "The learning-rate-free and Polyak methods' defaults are checked against the "
                  "authors' packages in tests/test_default_parity.py; other differences are "
                  "in each method's docstring (Departures).", ""]
        lines += [f"- `{s.name}`: {s.defaults_note}" for s in notes]
        lines.append("")
    return "\n".join(lines)


def _cmd_list(args: argparse.Namespace) -> int:
    if args.markdown:
        print(methods_markdown(), end="")
        return 0
    print(format_catalogue(args.family))
    print(f"\n{len(registry.names(args.family))} methods")
    return 0


# --- schedule command ---


def _schedule_kwargs(name: str, steps: int, pairs: Sequence[str]) -> dict[str, object]:
    """``KEY=VALUE`` pairs (Python literals) plus defaults for required arguments."""
    import ast
    import inspect

    from adaptlr import schedules

    kwargs: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"adaptlr schedule: --args expects KEY=VALUE, got {pair!r}")
        try:
            kwargs[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            kwargs[key] = text
    # Required arguments the user left out get values that show the shape over --steps.
    fallback: dict[str, object] = {
        "peak_value": 1.0, "init_value": 1.0, "max_value": 1.0, "base_value": 0.1,
        "total_steps": steps, "cycle_steps": max(1, steps // 4),
        "milestones": [steps // 3, 2 * steps // 3],
    }
    signature = inspect.signature(schedules.SCHEDULES[name])
    for param in signature.parameters.values():
        if param.default is inspect.Parameter.empty and param.name not in kwargs:
            if param.name in fallback:
                kwargs[param.name] = fallback[param.name]
    if name == "cyclic":
        kwargs.setdefault("step_size_up", max(1, steps // 6))
    if name == "inverse_sqrt" and "timescale" not in kwargs and not kwargs.get("warmup_steps"):
        kwargs["warmup_steps"] = max(1, steps // 10)
    return kwargs


def _cmd_schedule(args: argparse.Namespace) -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from adaptlr import schedules

    kwargs = _schedule_kwargs(args.name, args.steps, args.args)
    try:
        sched = schedules.SCHEDULES[args.name](**kwargs)
    except (TypeError, ValueError) as err:
        print(f"adaptlr schedule {args.name}: {err}", file=sys.stderr)
        return 2
    values = np.asarray(jax.vmap(sched)(jnp.arange(args.steps)))
    shown = sorted(set(np.linspace(0, args.steps - 1, min(args.show, args.steps)).astype(int)))
    print(f"{args.name}(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")")
    print(f"{'step':>8}  value")
    for step in shown:
        print(f"{step:>8}  {values[step]:.6g}")
    if args.plot:
        schedules.plot(sched, args.steps, path=args.plot, label=args.name)
        print(f"plot written to {args.plot}")
    return 0


def _add_schedule_command(sub: argparse._SubParsersAction) -> None:
    from adaptlr.schedules import SCHEDULES

    p = sub.add_parser("schedule", help="print a few values of a schedule and optionally plot it")
    p.add_argument("name", choices=sorted(SCHEDULES))
    p.add_argument("--steps", type=int, default=1000, help="number of steps (default 1000)")
    p.add_argument("--args", nargs="*", default=[], metavar="KEY=VALUE",
                   help="schedule arguments as Python literals, e.g. peak_value=3e-4 "
                        "warmup_steps=100 decay_shape='sqrt'")
    p.add_argument("--show", type=int, default=11, help="how many values to print (default 11)")
    p.add_argument("--plot", default=None, metavar="PATH", help="save a plot (PNG, PDF, ...)")
    p.set_defaults(func=_cmd_schedule)

# --- lr-find command ---


def _cmd_lr_find(args: argparse.Namespace) -> int:
    import jax
    import optax

    from adaptlr import finder
    from adaptlr.benchmarks import tasks

    try:
        spec = registry.get(args.optimizer)
        task = tasks.get_task(args.task)
    except KeyError as err:
        print(f"adaptlr lr-find: {err.args[0]}", file=sys.stderr)
        return 2
    if spec.learning_rate_arg is None:
        print(f"adaptlr lr-find: {spec.name} has no learning rate to search", file=sys.stderr)
        return 2
    lr_arg = spec.learning_rate_arg
    init_key, data_key = jax.random.split(jax.random.key(args.seed))
    try:
        result = finder.lr_range_test(
            task.loss_fn,
            task.init_fn(init_key),
            lambda step: task.batch_fn(step, data_key),
            # inject_hyperparams evaluates the ramp at every update and rebuilds the method
            # with that number, so methods that take no schedule work too.
            lambda schedule: optax.inject_hyperparams(lambda lr: spec.build(**{lr_arg: lr}))(
                lr=schedule
            ),
            args.min_lr,
            args.max_lr,
            args.steps,
            divergence_factor=args.divergence_factor,
            needs_value=spec.needs_value,
        )
    except ValueError as err:
        print(f"adaptlr lr-find: {err}", file=sys.stderr)
        return 2
    stop = result.learning_rates[result.num_steps - 1]
    print(f"lr range test: {spec.name} on {task.name}, {args.min_lr:g} -> {args.max_lr:g} "
          f"in {args.steps} steps")
    how = "diverged" if result.diverged else "ran to the end"
    print(f"{how} after {result.num_steps} steps (learning rate {stop:.3g})")
    for rule, lr in result.suggestions().items():
        print(f"  {rule:<8} {lr:.3g}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        ax = finder.plot_lr_range_test(result, title=f"{spec.name} on {task.name}")
        ax.figure.savefig(args.plot, bbox_inches="tight")
        print(f"plot written to {args.plot}")
    return 0


def _add_lr_find_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lr-find", help="learning-rate range test of a method on a task")
    p.add_argument("--task", required=True, help="benchmark task name (e.g. mnist1d_mlp)")
    p.add_argument("--optimizer", required=True, help="registered method name (adaptlr list)")
    p.add_argument("--min-lr", type=float, default=1e-7)
    p.add_argument("--max-lr", type=float, default=10.0)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--divergence-factor", type=float, default=4.0,
                   help="stop when the smoothed loss exceeds this multiple of its minimum")
    p.add_argument("--plot", default=None, help="write the loss curve to this PNG/PDF file")
    p.set_defaults(func=_cmd_lr_find)


# --- compare / run / plot commands ---


def _float_list(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _use_all_cores() -> None:
    """One host device per core, so that the sweep runs configurations on every core."""
    import os

    from adaptlr.sweep import use_host_devices

    try:
        use_host_devices(max(1, os.cpu_count() or 1))
    except RuntimeError:  # JAX already started (e.g. called from Python): keep its devices
        pass


def _compile_cache(args: argparse.Namespace) -> None:
    """JAX's persistent compilation cache, so that a rerun skips XLA compilation."""
    import os

    path = getattr(args, "compile_cache", None)
    if not path:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", os.path.expanduser(path))


def _protocol_methods(args: argparse.Namespace) -> list[str]:
    from adaptlr.benchmarks import compare, runner

    if args.methods:
        return list(args.methods.split(","))
    if getattr(args, "all_methods", False) or args.command == "run":
        return runner.default_methods()
    return list(compare.COMPARE_METHODS)


def _cmd_benchmark(args: argparse.Namespace) -> int:
    _use_all_cores()
    _compile_cache(args)
    from adaptlr.benchmarks import compare

    formats = () if args.no_plots else tuple(args.formats.split(","))
    seeds = list(range(compare.COMPARE_SEEDS if args.seeds is None else args.seeds))
    _, text, figures = compare.benchmark(
        args.tasks.split(","), _protocol_methods(args), seeds, args.out, steps=args.steps,
        grid=args.grid or compare.COMPARE_GRID, plot=bool(formats), formats=formats,
        progress=not args.quiet)
    print(text)
    for figure in figures:
        print(f"figure: {figure}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    if getattr(args, "tasks", None):
        return _cmd_benchmark(args)
    _use_all_cores()
    _compile_cache(args)
    from adaptlr.benchmarks import compare, runner

    methods = _protocol_methods(args)
    formats = () if args.no_plots else tuple(args.formats.split(","))
    kwargs = dict(steps=args.steps, factors=args.grid, scale_factors=args.scale_grid,
                  progress=not args.quiet)
    if args.seeds is None:
        args.seeds = 3 if args.command == "run" else compare.COMPARE_SEEDS
    seeds = list(range(args.seeds))
    path = f"{args.out}/{args.task}.jsonl"
    if args.command == "run":
        runner.run(args.task, methods, seeds, path, **kwargs)
        print(f"results in {path}")
        return 0
    _, text, figures = compare.compare(args.task, methods, seeds, args.out, plot=bool(formats),
                                       formats=formats, protocol=not args.legacy, **kwargs)
    print(text)
    print(f"\nresults: {path}")
    for figure in figures:
        print(f"figure: {figure}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from adaptlr.benchmarks import compare

    _, text, figures = compare.report(args.results, args.out, task=args.task,
                                      selection=args.selection,
                                      formats=tuple(args.formats.split(",")))
    print(text)
    for figure in figures:
        print(f"figure: {figure}")
    return 0


def _add_compare_commands(sub: argparse._SubParsersAction) -> None:
    for name, help_text in (
        ("compare", "the main job: tuned baselines vs learning-rate-free methods on a task; "
                    "table and figures (resumes an earlier run)"),
        ("run", "train a task x method x grid x seed sweep into a results file (resumable)"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--task", default="mnist1d_mlp",
                       help="benchmark task (default mnist1d_mlp; see docs/benchmarks.md)")
        main_job = name == "compare"
        p.add_argument("--methods", default=None, metavar="A,B,...",
                       help="registry names; NAME@SCHEDULE puts the swept value at the peak "
                            "of a schedule (warmup_cosine, cosine, wsd, ...), "
                            "NAME:KEY=VALUE fixes another hyperparameter (default: "
                            "sgd_momentum, adam, adamw_warmup_cosine and every registered "
                            "learning-rate-free method)")
        p.add_argument("--grid", type=_float_list, default=None, metavar="F1,F2,...",
                       help="multipliers of each tuned method's grid centre (default "
                            + ("0.1 ... 10 in half decades)" if main_job
                               else "10^-1.5 ... 10^1.5 in half decades)"))
        p.add_argument("--scale-grid", type=_float_list, default=None, metavar="F1,F2,...",
                       help="multipliers of a learning-rate-free method's scale (default "
                            + ("0.1,1,10)" if main_job else "10^-1 ... 10^1 in half decades)"))
        p.add_argument("--seeds", type=int, default=None,
                       help="number of seeds (default " + ("5; the studies use 10)" if main_job
                                                           else "3)"))
        p.add_argument("--steps", type=int, default=None,
                       help="budget (default: the task's"
                            + ("; 3000 for the default task)" if main_job else ")"))
        p.add_argument("--out", default="adaptlr-results",
                       help="output directory for <task>.jsonl and figures")
        p.add_argument("--formats", default="png,pdf", help="figure formats (default png,pdf)")
        p.add_argument("--no-plots", action="store_true", help="skip the figures")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument("--compile-cache", default="~/.cache/adaptlr/jax-compilation",
                       metavar="DIR", help="JAX persistent compilation cache ('' to disable; "
                                           "default ~/.cache/adaptlr/jax-compilation)")
        if main_job:
            p.add_argument("--all-methods", action="store_true",
                           help="every registered learning-rate-free method plus the "
                                "baselines, instead of the default subset "
                                "(adaptlr.benchmarks.compare.COMPARE_METHODS)")
            p.add_argument("--tasks", default=None, metavar="A,B,...",
                           help="several tasks: the benchmark mode (same as adaptlr benchmark)")
            p.add_argument("--legacy", action="store_true",
                           help="the comparison before the protocol: tuned baselines over "
                                "--grid, learning-rate-free methods over --scale-grid, "
                                "mean +- std table")
        p.set_defaults(func=_cmd_compare)
    _add_benchmark_command(sub)
    p = sub.add_parser("plot", help="table and figures from an existing results file")
    p.add_argument("results", help="a results file written by compare/run (JSONL)")
    p.add_argument("--out", default=None, help="directory for the figures (default: none)")
    p.add_argument("--task", default=None, help="only this task's records")
    p.add_argument("--selection", choices=("final", "best"), default="final",
                   help="metric at the end of training (default) or best evaluation")
    p.add_argument("--formats", default="png,pdf", help="figure formats (default png,pdf)")
    p.set_defaults(func=_cmd_plot)



def _add_benchmark_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("benchmark", help="the protocol on several tasks: per-task track "
                                         "tables, time-to-target, performance profiles")
    p.add_argument("--tasks", required=True, metavar="A,B,...", help="benchmark task names")
    p.add_argument("--methods", default=None, metavar="A,B,...",
                   help="default: adaptlr.benchmarks.compare.COMPARE_METHODS (must include "
                        "adamw_warmup_cosine, whose tuned runs set the targets)")
    p.add_argument("--all-methods", action="store_true",
                   help="the baselines and every registered learning-rate-free method")
    p.add_argument("--grid", type=_float_list, default=None, metavar="F1,F2,...",
                   help="multipliers of every method's learning rate or scale "
                        "(default 0.1 ... 10 in half decades)")
    p.add_argument("--seeds", type=int, default=None, help="seeds (default 5)")
    p.add_argument("--steps", type=int, default=None, help="budget (default: each task's)")
    p.add_argument("--out", default="adaptlr-results")
    p.add_argument("--formats", default="png,pdf")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--compile-cache", default="~/.cache/adaptlr/jax-compilation",
                   metavar="DIR", help="JAX persistent compilation cache ('' to disable)")
    p.set_defaults(func=_cmd_benchmark)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adaptlr", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="print the catalogue of registered methods")
    p_list.add_argument("--family", choices=registry.FAMILIES, default=None)
    p_list.add_argument("--markdown", action="store_true",
                        help="print the catalogue as the Markdown page docs/methods.md")
    p_list.set_defaults(func=_cmd_list)
    # --- subcommands added by other modules: one line each, `_add_<name>_command(sub)` ---
    _add_compare_commands(sub)
    _add_schedule_command(sub)
    _add_lr_find_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
