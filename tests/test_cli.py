"""The `adaptlr` command: catalogue, errors that teach (one line, exit status 2), core-only
installs, pipes, figures and progress."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from adaptlr import cli, registry

SRC = os.path.dirname(os.path.dirname(os.path.abspath(cli.__file__)))


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "JAX_PLATFORMS": "cpu", **extra}


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], match: str) -> str:
    """``argv`` exits with 2 and one stderr line containing ``match``."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"adaptlr {argv[0]}: "), err
    assert match in err, err
    return err


# --- list ---


def test_list_prints_every_registered_method(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # A 100-column terminal: the description column gets what the longest name leaves.
    monkeypatch.setenv("COLUMNS", "100")
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in registry.names():
        assert f"\n{name} " in out or out.startswith(f"{name} ")
    assert f"{len(registry.names())} methods" in out
    assert "lr=0.001" in out and "Adam with decoupled weight" in out


def test_list_fits_the_terminal(capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "family", "default", "description"]
    assert max(len(line) for line in lines) <= 80
    assert any(line.endswith("...") for line in lines)  # long descriptions shortened
    table = cli.format_catalogue(width=400)
    assert "D-Adapted SGD: dual averaging with a growing distance estimate" in table
    assert "..." not in table


def test_list_wide_csv_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list", "--wide"]) == 0
    out = capsys.readouterr().out
    assert "Kingma and Ba (2015), ICLR" in out and "state B/param" in out
    assert cli.main(["list", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["name"] for r in rows] == registry.names()
    adam = next(r for r in rows if r["name"] == "adam")
    assert adam["default"] == "lr=0.001" and adam["description"] == "Adam"
    assert cli.main(["list", "--format", "json", "--family", "polyak"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in data] == registry.names("polyak")
    assert data[0]["needs_loss"] is True and data[0]["learning_rate_arg"] == "max_lr"


def test_list_by_family(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["list", "--family", "baseline"])
    out = capsys.readouterr().out
    assert f"{len(registry.names('baseline'))} methods" in out


def test_console_entry_point_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "adaptlr.cli", "list"], capture_output=True,
                         text=True, check=True, env=_env())
    assert "adamw" in out.stdout


def test_closed_pipe_is_not_a_traceback() -> None:
    # `adaptlr list | head -1`: the reader is gone before the catalogue is flushed.
    with subprocess.Popen([sys.executable, "-m", "adaptlr.cli", "list", "--wide"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env()) as child:
        child.stdout.close()
        err = child.stderr.read().decode()
        child.wait()
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert child.returncode == 0


# --- errors that teach ---


@pytest.mark.parametrize("argv, match", [
    (["run", "--task", "quadratic", "--methods", "adamm"],
     "no method named 'adamm'; did you mean 'adam'"),
    (["compare", "--task", "quadratc", "--methods", "adam"],
     "no task named 'quadratc'; did you mean 'quadratic'"),
    (["run", "--task", "quadratic", "--methods", "adam@cosin"], "unknown schedule 'cosin'"),
    (["run", "--task", "quadratic", "--methods", "adam:wieght_decay=1"],
     "adam has no hyperparameter 'wieght_decay'"),
    (["run", "--task", "quadratic", "--methods", ""], "--methods is empty"),
    (["run", "--task", "quadratic", "--methods", " , "], "--methods is empty"),
    (["compare", "--task", "quadratic", "--steps", "0"], "--steps must be >= 1, got 0"),
    (["run", "--task", "quadratic", "--steps", "-5"], "--steps must be >= 1, got -5"),
    (["run", "--task", "quadratic", "--seeds", "0"], "--seeds must be >= 1, got 0"),
    (["run", "--task", "quadratic", "--methods", "sgd", "--grid", ","], "--grid is empty"),
    (["run", "--task", "quadratic", "--methods", "sgd", "--grid=-1"],
     "--grid must hold finite numbers > 0, got -1.0"),
    (["run", "--task", "quadratic", "--methods", "sgd", "--grid", "nan"],
     "--grid must hold finite numbers > 0"),
    (["run", "--task", "quadratic", "--methods", "sps", "--scale-grid", "0"],
     "--scale-grid must hold finite numbers > 0, got 0.0"),
    (["run", "--task", "quadratic", "--methods", "sgd", "--out", ""], "--out is empty"),
    (["run", "--task", "quadratic", "--methods", "sgd", "--formats", "pgn"],
     "cannot write figures as 'pgn'; did you mean 'png'"),
    (["plot", "missing.jsonl"], "no such file: 'missing.jsonl'"),
    (["lr-find", "--task", "quadratic", "--optimizer", "adan"], "no method named 'adan'"),
    (["lr-find", "--task", "mnist1d", "--optimizer", "adam"],
     "did you mean 'mnist1d_mlp' or 'mnist1d_cnn'"),
    (["lr-find", "--task", "quadratic", "--optimizer", "cocob"], "cocob has no learning rate"),
    (["lr-find", "--task", "quadratic", "--optimizer", "adam", "--min-lr", "1",
      "--max-lr", "0.1"], "--min-lr (1) must be below --max-lr (0.1)"),
    (["schedule", "cosin"], "no schedule named 'cosin'; did you mean 'cosine'"),
    (["schedule", "cosine", "--args", "peak=1"], "takes 'peak'; did you mean"),
])
def test_mistakes_are_one_line_and_exit_2(capsys, monkeypatch, argv, match):
    from adaptlr.benchmarks import runner

    def no_training(*args, **kwargs):
        raise AssertionError("trained despite a bad argument")

    monkeypatch.setattr(runner, "run", no_training)
    _fails(capsys, argv, match)


def test_destination_problems_are_found_before_training(tmp_path, capsys, monkeypatch):
    from adaptlr.benchmarks import runner

    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking the destination")

    monkeypatch.setattr(runner, "run", no_training)
    (tmp_path / "file").write_text("")
    base = ["run", "--task", "quadratic", "--methods", "sgd", "--no-plots"]
    _fails(capsys, [*base, "--out", str(tmp_path / "file")], "is a file, not a directory")
    (tmp_path / "out" / "quadratic.jsonl").mkdir(parents=True)  # unwritable, even for root
    _fails(capsys, [*base, "--out", str(tmp_path / "out")], "cannot write results to")


def test_help_lists_tasks_and_explains_lr_find(capsys: pytest.CaptureFixture[str]) -> None:
    from adaptlr.benchmarks import tasks

    for command in ("compare", "run", "lr-find"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "tasks: " + ", ".join(tasks.task_names()) in text
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, type(parser._subparsers._actions[1])))
    for action in sub.choices["lr-find"]._actions:
        assert action.help, f"lr-find {action.option_strings} has no help"


# --- a core-only install: the experiments extra missing ---

_BLOCKED = """
import contextlib, io, json, sys

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"flax", "matplotlib", "mnist1d", "sklearn"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Blocker())
from adaptlr import cli

out = []
for argv in json.loads(sys.argv[1]):
    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        try:
            code = cli.main(argv)
        except BaseException as e:
            code = repr(e)
    out.append([code, err.getvalue(), std.getvalue()])
print(json.dumps(out))
"""


def test_core_only_install_names_the_extra(tmp_path) -> None:
    results = tmp_path / "r.jsonl"
    results.write_text("")
    commands = [
        ["compare", "--task", "quadratic", "--out", str(tmp_path)],
        ["run", "--task", "quadratic", "--methods", "sgd", "--out", str(tmp_path)],
        ["run", "--task", "quadratic", "--methods", "sgd", "--no-plots", "--out", str(tmp_path)],
        ["plot", str(results)],
        ["lr-find", "--task", "quadratic", "--optimizer", "adam"],
        ["schedule", "cosine", "--plot", str(tmp_path / "s.png")],
        ["list"],
        ["schedule", "cosine", "--steps", "10"],
    ]
    got = subprocess.run([sys.executable, "-c", _BLOCKED, json.dumps(commands)],
                         capture_output=True, text=True, env=_env(), check=True)
    answers = json.loads(got.stdout)
    for argv, (code, err, _) in zip(commands[:-2], answers[:-2], strict=True):
        assert code == 2, (argv, code, err)
        assert err.count("\n") == 1 and "pip install 'adaptlr[experiments]'" in err, err
        assert err.startswith(f"adaptlr {argv[0]}: needs '"), err
    assert not (tmp_path / "s.png").exists()
    assert [a[0] for a in answers[-2:]] == [0, 0]  # the core commands still work
    assert "adamw" in answers[-2][2] and "cosine(" in answers[-1][2]


# --- schedules ---


def test_schedule_several_in_one_figure(tmp_path, capsys) -> None:
    path = str(tmp_path / "s.png")
    assert cli.main(["schedule", "cosine", "wsd", "linear_to_zero", "--steps", "100",
                     "--args", "peak_value=0.01", "warmup_steps=10", "--show", "3",
                     "--plot", path, "--log-y"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("cosine(peak_value=0.01, warmup_steps=10")
    assert out[3].split() == ["step", "cosine", "wsd", "linear_to_zero"]
    assert out[5].split()[0] == "49" and len(out[5].split()) == 4
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # One peak for all: onecycle calls it max_value.
    assert cli.main(["schedule", "onecycle", "cosine", "--steps", "100", "--args",
                     "peak_value=0.01"]) == 0
    assert capsys.readouterr().out.startswith("onecycle(max_value=0.01, total_steps=100)")


# --- run: figures and formats ---


def test_run_honours_formats_and_no_plots(tmp_path, capsys) -> None:
    base = ["run", "--task", "quadratic", "--methods", "sgd,adagrad_norm", "--grid", "0.3,1",
            "--scale-grid", "1", "--seeds", "1", "--steps", "10"]
    assert cli.main([*base, "--out", str(tmp_path / "a"), "--no-plots"]) == 0
    captured = capsys.readouterr()
    assert os.listdir(tmp_path / "a") == ["quadratic.jsonl"]
    assert "sgd done (2 runs) | 1/2 methods" in captured.err  # progress, plain lines
    assert "\r" not in captured.err
    # Again with figures: nothing to train (resumed), the figures in the formats asked for.
    assert cli.main([*base, "--out", str(tmp_path / "a"), "--formats", "png,svg",
                     "--quiet"]) == 0
    captured = capsys.readouterr()
    names = sorted(os.listdir(tmp_path / "a"))
    assert names == sorted(["quadratic.jsonl"] + [f"quadratic_{kind}.{fmt}"
                           for kind in ("sensitivity", "curves", "effective_lr")
                           for fmt in ("png", "svg")])
    assert captured.err == ""
    assert captured.out.count("figure: ") == 6
    # A foreign line in the results file: `plot` warns in one line and goes on.
    path = tmp_path / "a" / "quadratic.jsonl"
    _fails(capsys, ["plot", str(path), "--task", "rosenbrock"], "no records of task")
    with open(path, "a") as f:
        f.write('{"event": "not ours"}\n')
    assert cli.main(["plot", str(path)]) == 0
    captured = capsys.readouterr()
    assert "final loss" in captured.out
    assert captured.err.startswith("adaptlr plot: warning: ") and captured.err.count("\n") == 1
