"""The ``adaptlr`` command.

Subcommands are registered in :func:`build_parser`; heavy imports (flax, matplotlib, data
packages) happen inside the subcommand that needs them, never at import time.

Errors a user can fix (a misspelt method or task, a bad number, a destination that cannot be
written, a missing optional dependency) end with one line on stderr, ``adaptlr <command>:
<what is wrong>``, and exit status 2, before any training starts.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import difflib
import importlib
import io
import json
import math
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from adaptlr import registry

__all__ = ["EXTRA_HINT", "UsageError", "api_anchor", "build_parser", "format_catalogue", "main",
           "methods_markdown"]

#: What to install for the commands that train or draw (flax, matplotlib, data packages).
EXTRA_HINT = "pip install 'adaptlr[experiments]'"
#: Top-level modules of the ``experiments`` extra.
_EXTRA_MODULES = ("flax", "matplotlib", "mnist1d", "sklearn")


class UsageError(Exception):
    """A mistake the user can fix: printed as one line, exit status 2."""


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    if len(word) >= 3:  # a prefix ("peak" for "peak_value") is a likely meaning too
        close += [c for c in choices if c.startswith(word) and c not in close]
    close = close[:3]
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"


def _require(*modules: str) -> None:
    """Import ``modules`` now, so that a missing extra is one clear line, not a traceback."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            missing = getattr(error, "name", None) or module
            raise UsageError(f"needs {missing!r} from the experiments extra: {EXTRA_HINT}"
                             ) from None


def _task_names() -> list[str]:
    _require("flax")
    from adaptlr.benchmarks import tasks

    return tasks.task_names()


def _check_task(name: str) -> None:
    names = _task_names()
    if name not in names:
        raise UsageError(f"no task named {name!r}{_did_you_mean(name, names)} "
                         f"(tasks: {', '.join(names)})")


def _check_method(name: str) -> registry.MethodSpec:
    try:
        return registry.get(name)
    except KeyError:
        raise UsageError(f"no method named {name!r}{_did_you_mean(name, registry.names())} "
                         "(see `adaptlr list`)") from None


def _check_labels(labels: Sequence[str]) -> None:
    """Method labels of compare/run: ``NAME``, ``NAME@SCHEDULE``, ``NAME:KEY=VALUE``."""
    from adaptlr.benchmarks import runner

    for label in labels:
        try:
            name, schedule = runner.parse_label(label)
        except ValueError as error:
            raise UsageError(str(error)) from None
        if name not in registry.names():
            _check_method(name)
        spec = registry.get(name)
        for key in runner.parse_overrides(label)[1]:
            if key not in spec.defaults and key not in spec.ranges:
                known = sorted({*spec.defaults, *spec.ranges})
                raise UsageError(f"{name} has no hyperparameter {key!r} (in {label!r})"
                                 f"{_did_you_mean(key, known)}")
        del schedule


def _task_help() -> str:
    try:
        names = ", ".join(_task_names())
    except UsageError:
        names = f"install the experiments extra to see them: {EXTRA_HINT}"
    return f"tasks: {names}"


class _HelpFormatter(argparse.HelpFormatter):
    """Help text that may be computed only when help is shown (``action.lazy_help``)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        lazy: Callable[[], str] | None = getattr(action, "lazy_help", None)
        if lazy is not None:
            text = f"{text} ({lazy()})" if text else lazy()
        return text


def _task_argument(p: argparse.ArgumentParser, **kwargs: Any) -> None:
    action = p.add_argument("--task", **kwargs)
    action.lazy_help = _task_help  # type: ignore[attr-defined]


@contextlib.contextmanager
def _warnings_as_lines(prog: str) -> Iterator[None]:
    """Warnings (a skipped line of a results file, ...) as ``prog: warning: ...`` lines."""

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        print(f"{prog}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        # A skipped line of a results file is news for the user, never an error.
        warnings.filterwarnings("always", message=r".*not adaptlr result records")
        yield


def _out_dir(text: str | None, option: str = "--out") -> str:
    """A directory to write into: created if missing; must not be empty or a file."""
    if text is None:
        raise UsageError(f"{option} is required")
    if not text.strip():
        raise UsageError(f"{option} is empty; give a directory")
    if os.path.exists(text) and not os.path.isdir(text):
        raise UsageError(f"{option} {text!r} is a file, not a directory")
    try:
        os.makedirs(text, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create {option} {text!r}: {error.strerror or error}"
                         ) from None
    if not os.access(text, os.W_OK):
        raise UsageError(f"{option} {text!r} is not writable")
    return text


def _formats(text: str) -> tuple[str, ...]:
    """Figure formats, checked against what matplotlib can write."""
    formats = tuple(f.strip().lower().lstrip(".") for f in text.split(",") if f.strip())
    if not formats:
        raise UsageError("--formats is empty; give e.g. png,pdf (or --no-plots)")
    _require("matplotlib")
    from matplotlib.backend_bases import FigureCanvasBase

    supported = FigureCanvasBase.get_supported_filetypes()
    for fmt in formats:
        if fmt not in supported:
            raise UsageError(f"cannot write figures as {fmt!r}{_did_you_mean(fmt, list(supported))}"
                             f" (formats: {', '.join(sorted(supported))})")
    return formats


def _positive(value: int | None, option: str) -> None:
    if value is not None and value < 1:
        raise UsageError(f"{option} must be >= 1, got {value}")


def _default(spec: registry.MethodSpec) -> str:
    """The registered value of the method's learning rate (or ``d0``), e.g. ``lr=0.001``."""
    arg = spec.learning_rate_arg or ("d0" if "d0" in spec.defaults else None)
    if arg is None:
        return "-"
    short = {"learning_rate": "lr"}.get(arg, arg)
    value = spec.defaults[arg]
    return f"{short}={value:g}" if isinstance(value, (int, float)) else f"{short}={value!r}"


def _catalogue_fields(spec: registry.MethodSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "family": spec.family,
        "default": _default(spec),
        "description": spec.description,
        "learning_rate_arg": spec.learning_rate_arg,
        "defaults": {k: v for k, v in spec.defaults.items()
                     if isinstance(v, (bool, int, float, str)) or v is None},
        "needs_loss": spec.needs_value,
        "state_bytes_per_param": spec.state_bytes_per_param,
        "paper": spec.paper.cite() if spec.paper else None,
        "bibkey": spec.paper.bibkey if spec.paper else None,
        "reference": spec.reference_impl,
    }


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def format_catalogue(family: str | None = None, *, width: int | None = None,
                     wide: bool = False) -> str:
    """The registry as a plain-text table.

    Args:
      family: only this family's methods.
      width: fit the table in this many columns by shortening descriptions (default: the
        terminal's width; 80 when output is not a terminal).
      wide: every column (paper, loss value, state bytes, reference), nothing shortened.
    """
    specs = [s for s in registry.all_specs() if family is None or s.family == family]
    if wide:
        rows: list[tuple[str, ...]] = [("name", "family", "default", "needs loss",
                                        "state B/param", "paper",
                 "reference", "description")]
        rows += [(s.name, s.family, _default(s), "yes" if s.needs_value else "no",
                  f"{s.state_bytes_per_param:g}", s.paper.cite() if s.paper else "-",
                  s.reference_impl or "-", s.description or "-") for s in specs]
        return "\n".join(_table(rows))
    if width is None:
        width = shutil.get_terminal_size((80, 24)).columns
    rows = [("name", "family", "default", "description")]
    rows += [(s.name, s.family, _default(s), s.description or "-") for s in specs]
    fixed = sum(max(len(r[i]) for r in rows) for i in range(3)) + 3 * 2
    room = max(width - fixed, 12)

    def shorten(text: str) -> str:
        return text if len(text) <= room else text[: room - 3].rstrip() + "..."

    rows = [rows[0], *[(*r[:3], shorten(r[3])) for r in rows[1:]]]
    return "\n".join(_table(rows))


def _catalogue_csv(family: str | None) -> str:
    buffer = io.StringIO()
    fields = [f for f in _catalogue_fields(registry.all_specs()[0]) if f != "defaults"]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    for spec in registry.all_specs():
        if family is None or spec.family == family:
            writer.writerow(_catalogue_fields(spec))
    return buffer.getvalue()


def api_anchor(name: str) -> str | None:
    """The API reference's anchor of a registered method, ``"adaptlr.<name>"``; ``None`` for
    methods that are not adaptlr's (the Optax baselines).

    In the built docs the page is ``api/generated/<module>.html``; in Markdown rendered by the
    docs (MyST), a link to ``#adaptlr.<name>`` finds it on whichever page it is.
    """
    import adaptlr

    return f"adaptlr.{name}" if callable(getattr(adaptlr, name, None)) else None


def methods_markdown() -> str:
    """The catalogue as the Markdown page ``docs/methods.md``."""
    lines = [
        "# Methods",
        "",
        "Generated from `adaptlr.registry` by `adaptlr list --markdown`; do not edit by hand.",
        "Names link to the method's entry in the API reference (arguments, ranges, update",
        "rule); the baselines are Optax's own optimizers.",
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
            anchor = api_anchor(s.name)
            name = f"[`{s.name}`](#{anchor})" if anchor else f"`{s.name}`"
            lines.append(
                f"| {name} | {s.description or '-'} | {paper} | "
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
    if args.format == "csv":
        print(_catalogue_csv(args.family), end="")
        return 0
    if args.format == "json":
        specs = [s for s in registry.all_specs() if args.family in (None, s.family)]
        print(json.dumps([_catalogue_fields(s) for s in specs], indent=1))
        return 0
    print(format_catalogue(args.family, wide=args.wide))
    print(f"\n{len(registry.names(args.family))} methods"
          + ("" if args.wide else "; --wide for papers, state size and references"))
    return 0


# --- schedule command ---


def _parse_pairs(pairs: Sequence[str]) -> dict[str, object]:
    """``KEY=VALUE`` pairs, values as Python literals (plain text otherwise)."""
    import ast

    kwargs: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--args expects KEY=VALUE, got {pair!r}")
        try:
            kwargs[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            kwargs[key] = text
    return kwargs


def _schedule_kwargs(name: str, steps: int, given: dict[str, object]) -> dict[str, object]:
    """The ``given`` arguments ``name`` accepts, plus defaults for required arguments."""
    import inspect

    from adaptlr import schedules

    signature = inspect.signature(schedules.SCHEDULES[name])
    kwargs = {k: v for k, v in given.items() if k in signature.parameters}
    # One peak for every schedule of a figure: peak_value is max_value where that is the name.
    if "peak_value" in given and "peak_value" not in signature.parameters \
            and "max_value" in signature.parameters and "max_value" not in given:
        kwargs["max_value"] = given["peak_value"]
    # Required arguments the user left out get values that show the shape over --steps.
    fallback: dict[str, object] = {
        "peak_value": 1.0, "init_value": 1.0, "max_value": 1.0, "base_value": 0.1,
        "total_steps": steps, "cycle_steps": max(1, steps // 4),
        "milestones": [steps // 3, 2 * steps // 3],
    }
    for param in signature.parameters.values():
        if param.default is inspect.Parameter.empty and param.name not in kwargs:
            if param.name in fallback:
                kwargs[param.name] = fallback[param.name]
    if name == "cyclic":
        kwargs.setdefault("step_size_up", max(1, steps // 6))
    if name == "inverse_sqrt" and "timescale" not in kwargs and not kwargs.get("warmup_steps"):
        kwargs["warmup_steps"] = max(1, steps // 10)
    return kwargs


#: Figure size of ``adaptlr schedule --plot``: 16:9, text readable on a slide.
SLIDE_SIZE = (10.0, 5.625)


def _cmd_schedule(args: argparse.Namespace) -> int:
    import inspect

    from adaptlr import schedules

    _positive(args.steps, "--steps")
    _positive(args.show, "--show")
    for name in args.names:
        if name not in schedules.SCHEDULES:
            raise UsageError(f"no schedule named {name!r}"
                             f"{_did_you_mean(name, list(schedules.SCHEDULES))} "
                             f"(schedules: {', '.join(sorted(schedules.SCHEDULES))})")
    given = _parse_pairs(args.args)
    accepted = {p for n in args.names for p in inspect.signature(schedules.SCHEDULES[n]).parameters}
    for key in given:
        if key not in accepted:
            raise UsageError(f"no schedule of {', '.join(args.names)} takes {key!r}"
                             f"{_did_you_mean(key, sorted(accepted))}")
    if args.plot:
        _require("matplotlib")
        folder = os.path.dirname(os.path.abspath(args.plot))
        if not os.path.isdir(folder):
            raise UsageError(f"--plot {args.plot!r}: folder {folder!r} does not exist")
    import jax
    import jax.numpy as jnp
    import numpy as np

    built = []
    for name in args.names:
        kwargs = _schedule_kwargs(name, args.steps, given)
        try:
            sched = schedules.SCHEDULES[name](**kwargs)
        except (TypeError, ValueError) as err:
            raise UsageError(f"{name}: {err}") from None
        built.append((name, kwargs, sched, np.asarray(jax.vmap(sched)(jnp.arange(args.steps)))))
    shown = sorted(set(np.linspace(0, args.steps - 1, min(args.show, args.steps)).astype(int)))
    for name, kwargs, _, _ in built:
        print(f"{name}(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")")
    width = max(11, *(len(n) for n in args.names))
    print(f"{'step':>8}  " + "  ".join(n.rjust(width) for n in args.names))
    for step in shown:
        print(f"{step:>8}  " + "  ".join(f"{values[step]:>{width}.6g}"
                                         for _, _, _, values in built))
    if args.plot:
        import matplotlib.pyplot as plt

        plt.close(_plot_schedules(built, args.steps, args.plot, log_y=args.log_y))
        print(f"plot written to {args.plot}")
    return 0


def _plot_schedules(built: Sequence[tuple[str, dict[str, object], Any, Any]], steps: int,
                    path: str, *, log_y: bool) -> Any:
    """Draw ``(name, kwargs, schedule, values)`` rows in one figure; save it; return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    styles = ("-", "--", "-.", ":")
    with plt.rc_context({"font.size": 15, "axes.titlesize": 17, "legend.fontsize": 13,
                         "lines.linewidth": 2.5}):
        fig, ax = plt.subplots(figsize=SLIDE_SIZE)
        x = np.arange(steps)
        for i, (name, _, _, values) in enumerate(built):
            shown = np.where(values > 0, values, np.nan) if log_y else values
            ax.plot(x, shown, label=name, linestyle=styles[i % len(styles)],
                    color=plt.cm.tab10(i % 10))
        ax.set_xlabel("step")
        ax.set_ylabel("learning rate" + (" (log scale; zeros not drawn)" if log_y else ""))
        if log_y:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", ncol=1 if len(built) <= 6 else 2)
        ax.set_xlim(0, max(steps - 1, 1))
        fig.savefig(path, bbox_inches="tight", dpi=120)
    return fig


def _add_schedule_command(sub: argparse._SubParsersAction) -> None:
    from adaptlr.schedules import SCHEDULES

    p = sub.add_parser("schedule", formatter_class=_HelpFormatter,
                       help="print values of one or more schedules and optionally plot them "
                            "in one figure")
    p.add_argument("names", nargs="+", metavar="NAME",
                   help="schedule names: " + ", ".join(sorted(SCHEDULES)))
    p.add_argument("--steps", type=int, default=1000, help="number of steps (default 1000)")
    p.add_argument("--args", nargs="*", default=[], metavar="KEY=VALUE",
                   help="schedule arguments as Python literals, e.g. peak_value=3e-4 "
                        "warmup_steps=100 decay_shape='sqrt'; each schedule takes the ones "
                        "its signature has")
    p.add_argument("--show", type=int, default=11, help="how many values to print (default 11)")
    p.add_argument("--plot", default=None, metavar="PATH",
                   help="save one figure of all the schedules (PNG, PDF, ... by extension; "
                        "16:9, slide-sized text)")
    p.add_argument("--log-y", action="store_true", help="logarithmic learning-rate axis")
    p.set_defaults(func=_cmd_schedule)


# --- lr-find command ---


def _cmd_lr_find(args: argparse.Namespace) -> int:
    _positive(args.steps, "--steps")
    for option, value in (("--min-lr", args.min_lr), ("--max-lr", args.max_lr)):
        if not (0 < value < math.inf):
            raise UsageError(f"{option} must be in (0, inf), got {value:g}")
    if args.min_lr >= args.max_lr:
        raise UsageError(f"--min-lr ({args.min_lr:g}) must be below --max-lr ({args.max_lr:g})")
    if not args.divergence_factor > 1:
        raise UsageError(f"--divergence-factor must be > 1, got {args.divergence_factor:g}")
    spec = _check_method(args.optimizer)
    if spec.learning_rate_arg is None:
        raise UsageError(f"{spec.name} has no learning rate to search")
    _check_task(args.task)
    if args.plot:
        _require("matplotlib")
        folder = os.path.dirname(os.path.abspath(args.plot))
        if not os.path.isdir(folder):
            raise UsageError(f"--plot {args.plot!r}: folder {folder!r} does not exist")
    import jax
    import optax

    from adaptlr import finder
    from adaptlr.benchmarks import tasks
    from adaptlr.benchmarks.progress import Progress

    task = tasks.get_task(args.task)
    lr_arg = spec.learning_rate_arg
    init_key, data_key = jax.random.split(jax.random.key(args.seed))
    progress = None if args.quiet else Progress(f"{task.name} lr-find", 1, 1)
    if progress is not None:
        progress.start(spec.name, 1)
    try:
        result = finder.lr_range_test(
            task.loss_fn,
            task.init_fn(init_key),
            task.batch_fn,
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
            needs_value_fn=spec.needs_value_fn,
            key=data_key,
        )
    except ValueError as err:
        raise UsageError(str(err)) from None
    finally:
        if progress is not None:
            progress.finish(spec.name, 1, trained=True)
            progress.close()
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
        ax.figure.savefig(args.plot, bbox_inches="tight", dpi=150)
        print(f"plot written to {args.plot}")
    return 0


def _add_lr_find_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lr-find", formatter_class=_HelpFormatter,
                       help="learning-rate range test of a method on a task")
    _task_argument(p, required=True, help="benchmark task to train on")
    p.add_argument("--optimizer", required=True, metavar="METHOD",
                   help="registered method name (see `adaptlr list`); its learning-rate "
                        "argument is ramped")
    p.add_argument("--min-lr", type=float, default=1e-7,
                   help="learning rate of the first step (default 1e-7)")
    p.add_argument("--max-lr", type=float, default=10.0,
                   help="learning rate of the last step; the ramp is geometric (default 10)")
    p.add_argument("--steps", type=int, default=100,
                   help="steps of the ramp from --min-lr to --max-lr (default 100)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the initialisation and the batches (default 0)")
    p.add_argument("--divergence-factor", type=float, default=4.0,
                   help="stop when the smoothed loss exceeds this multiple of its minimum "
                        "(default 4)")
    p.add_argument("--plot", default=None, metavar="PATH",
                   help="write the loss curve with the suggestions to this PNG/PDF file")
    p.add_argument("--quiet", action="store_true", help="no progress report on stderr")
    p.set_defaults(func=_cmd_lr_find)


# --- compare / run / plot commands ---


def _float_list(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _use_all_cores() -> None:
    """One host device per core, so that the sweep runs configurations on every core."""
    from adaptlr.sweep import use_host_devices

    try:
        use_host_devices(max(1, os.cpu_count() or 1))
    except RuntimeError:  # JAX already started (e.g. called from Python): keep its devices
        pass


def _compile_cache(args: argparse.Namespace) -> None:
    """JAX's persistent compilation cache, so that a rerun skips XLA compilation."""
    path = getattr(args, "compile_cache", None)
    if not path:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", os.path.expanduser(path))


def _method_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    methods = [m.strip() for m in text.split(",") if m.strip()]
    if not methods:
        raise UsageError("--methods is empty; give registry names (see `adaptlr list`) "
                         "or leave it out for the default comparison")
    return methods


def _protocol_methods(args: argparse.Namespace, methods: list[str] | None) -> list[str]:
    """The given methods, else the default subset (every method for `run`/--all-methods)."""
    from adaptlr.benchmarks import compare, runner

    if methods:
        return methods
    if getattr(args, "all_methods", False) or args.command == "run":
        return runner.default_methods()
    return list(compare.COMPARE_METHODS)


def _compare_setup(args: argparse.Namespace) -> dict[str, Any]:
    """Check every argument of compare/run before any training; the checked values."""
    _positive(args.steps, "--steps")
    _positive(args.seeds, "--seeds")
    methods = _method_list(args.methods)
    formats = () if args.no_plots else _formats(args.formats)
    _require("flax")
    from adaptlr.benchmarks import results, runner

    for option, factors in (("--grid", args.grid), ("--scale-grid", args.scale_grid)):
        try:
            runner.validate_factors(option, factors)
        except ValueError as error:
            raise UsageError(str(error)) from None
    _check_task(args.task)
    methods = _protocol_methods(args, methods)
    _check_labels(methods)
    out = _out_dir(args.out)
    path = os.path.join(out, f"{args.task}.jsonl")
    try:
        results.check_writable(path)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return {"methods": methods, "formats": formats, "path": path, "out": out}


def _cmd_benchmark(args: argparse.Namespace) -> int:
    _positive(args.steps, "--steps")
    _positive(args.seeds, "--seeds")
    methods = _method_list(args.methods)
    formats = () if args.no_plots else _formats(args.formats)
    _require("flax")
    from adaptlr.benchmarks import runner

    try:
        runner.validate_factors("--grid", args.grid)
    except ValueError as error:
        raise UsageError(str(error)) from None
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks:
        raise UsageError("--tasks is empty; give task names (see `adaptlr compare --help`)")
    for task in tasks:
        _check_task(task)
    methods = _protocol_methods(args, methods)
    _check_labels(methods)
    out = _out_dir(args.out)
    _use_all_cores()
    _compile_cache(args)
    from adaptlr.benchmarks import compare

    seeds = list(range(compare.COMPARE_SEEDS if args.seeds is None else args.seeds))
    try:
        _, text, figures = compare.benchmark(
            tasks, methods, seeds, out, steps=args.steps,
            grid=args.grid or compare.COMPARE_GRID, plot=bool(formats), formats=formats,
            progress=not args.quiet)
    except ValueError as error:
        raise UsageError(str(error)) from None
    print(text)
    for figure in figures:
        print(f"figure: {figure}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    if getattr(args, "tasks", None):
        return _cmd_benchmark(args)
    setup = _compare_setup(args)
    _use_all_cores()
    _compile_cache(args)
    from adaptlr.benchmarks import compare, runner

    methods, formats, path = setup["methods"], setup["formats"], setup["path"]
    kwargs = dict(steps=args.steps, factors=args.grid, scale_factors=args.scale_grid,
                  progress=not args.quiet)
    if args.seeds is None:
        args.seeds = 3 if args.command == "run" else compare.COMPARE_SEEDS
    seeds = list(range(args.seeds))
    try:
        if args.command == "run":
            runner.run(args.task, methods, seeds, path, **kwargs)
            print(f"results in {path}")
            if formats:
                steps = runner.effective_steps(args.task, args.steps)
                _, _, figures = compare.report(path, setup["out"], task=args.task,
                                               methods=methods, seeds=seeds, steps=steps,
                                               formats=formats)
                for figure in figures:
                    print(f"figure: {figure}")
            return 0
        _, text, figures = compare.compare(args.task, methods, seeds, setup["out"],
                                           plot=bool(formats), formats=formats,
                                           protocol=not args.legacy, **kwargs)
    except ValueError as error:  # the runner's own checks, should one escape those above
        raise UsageError(str(error)) from None
    print(text)
    print(f"\nresults: {path}")
    for figure in figures:
        print(f"figure: {figure}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    if not os.path.exists(args.results):
        raise UsageError(f"no such file: {args.results!r}")
    if os.path.isdir(args.results):
        raise UsageError(f"{args.results!r} is a directory; give a results file (JSONL)")
    formats = _formats(args.formats) if args.out is not None else ()
    out = _out_dir(args.out) if args.out is not None else None
    _require("flax")
    from adaptlr.benchmarks import compare

    rows, text, figures = compare.report(args.results, out, task=args.task,
                                         selection=args.selection, formats=formats)
    if not rows:
        which = f" of task {args.task!r}" if args.task else ""
        raise UsageError(f"no records{which} in {args.results!r}")
    print(text)
    for figure in figures:
        print(f"figure: {figure}")
    return 0


def _add_compare_commands(sub: argparse._SubParsersAction) -> None:
    for name, help_text in (
        ("compare", "the main job: tuned baselines vs learning-rate-free methods on a task; "
                    "table and figures (resumes an earlier run)"),
        ("run", "train a task x method x grid x seed sweep into a results file (resumable), "
                "then draw its figures"),
    ):
        p = sub.add_parser(name, help=help_text, formatter_class=_HelpFormatter)
        _task_argument(p, default="mnist1d_mlp",
                       help="benchmark task (default mnist1d_mlp; see docs/benchmarks.md)")
        main_job = name == "compare"
        p.add_argument("--methods", default=None, metavar="A,B,...",
                       help="registry names; NAME@SCHEDULE puts the swept value at the peak "
                            "of a schedule (warmup_cosine, cosine, wsd, ...), "
                            "NAME:KEY=VALUE fixes another hyperparameter (default: "
                            + ("adaptlr.benchmarks.compare.COMPARE_METHODS, a documented "
                               "subset; --all-methods for every learning-rate-free method)"
                               if main_job else
                               "sgd_momentum, adam, adamw_warmup_cosine and every registered "
                               "learning-rate-free method)"))
        p.add_argument("--grid", type=_float_list, default=None, metavar="F1,F2,...",
                       help="multipliers (> 0) of each tuned method's grid centre (default "
                            + ("0.1 ... 10 in half decades)" if main_job
                               else "10^-1.5 ... 10^1.5 in half decades)"))
        p.add_argument("--scale-grid", type=_float_list, default=None, metavar="F1,F2,...",
                       help="multipliers (> 0) of a learning-rate-free method's scale (default "
                            + ("0.1,1,10)" if main_job else "10^-1 ... 10^1 in half decades)"))
        p.add_argument("--seeds", type=int, default=None,
                       help="number of seeds, >= 1 (default " + (
                           "5; the studies use 10)" if main_job else "3)"))
        p.add_argument("--steps", type=int, default=None,
                       help="budget, >= 1 (default: the task's"
                            + ("; 3000 for the default task)" if main_job else ")"))
        p.add_argument("--out", default="adaptlr-results",
                       help="output directory for <task>.jsonl and figures "
                            "(default adaptlr-results)")
        p.add_argument("--formats", default="png,pdf", help="figure formats (default png,pdf)")
        p.add_argument("--no-plots", action="store_true", help="skip the figures")
        p.add_argument("--quiet", action="store_true",
                       help="no progress report (methods and runs done, elapsed, estimate) "
                            "on stderr")
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
    p.add_argument("--seeds", type=int, default=None, help="seeds, >= 1 (default 5)")
    p.add_argument("--steps", type=int, default=None, help="budget (default: each task's)")
    p.add_argument("--out", default="adaptlr-results",
                   help="output directory (default adaptlr-results)")
    p.add_argument("--formats", default="png,pdf", help="figure formats (default png,pdf)")
    p.add_argument("--no-plots", action="store_true", help="skip the figures")
    p.add_argument("--quiet", action="store_true", help="no progress report on stderr")
    p.add_argument("--compile-cache", default="~/.cache/adaptlr/jax-compilation",
                   metavar="DIR", help="JAX persistent compilation cache ('' to disable)")
    p.set_defaults(func=_cmd_benchmark)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adaptlr", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="print the catalogue of registered methods")
    p_list.add_argument("--family", choices=registry.FAMILIES, default=None)
    p_list.add_argument("--wide", action="store_true",
                        help="every column (paper, loss value, state bytes, reference), "
                             "descriptions not shortened to the terminal's width")
    p_list.add_argument("--format", choices=("table", "csv", "json"), default="table",
                        help="table (default), or every field as CSV or JSON")
    p_list.add_argument("--markdown", action="store_true",
                        help="print the catalogue as the Markdown page docs/methods.md")
    p_list.set_defaults(func=_cmd_list)
    # --- subcommands added by other modules: one line each, `_add_<name>_command(sub)` ---
    _add_compare_commands(sub)
    _add_schedule_command(sub)
    _add_lr_find_command(sub)
    return parser


def _missing_extra(error: ModuleNotFoundError) -> bool:
    return (error.name or "").split(".")[0] in _EXTRA_MODULES


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    prog = f"adaptlr {args.command}"
    try:
        with _warnings_as_lines(prog):
            code = int(args.func(args))
        sys.stdout.flush()  # here, so that a closed pipe is handled below
        return code
    except UsageError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        if not _missing_extra(error):
            raise
        print(f"{prog}: needs {error.name!r} from the experiments extra: {EXTRA_HINT}",
              file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`adaptlr list | head`): stop quietly, as `cat` would, and
        # keep Python from failing again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
