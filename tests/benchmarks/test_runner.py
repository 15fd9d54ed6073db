"""The runner: grids, resumption without loss or duplicates (killed subprocess), figures, CLI."""

import os
import signal
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import adaptlr
from adaptlr import cli
from adaptlr.benchmarks import plots, results, runner, summary, tasks

FAST = {"steps": 20}


def test_grid_for_tuned_lr_free_and_schedule():
    task = tasks.get_task("mnist1d_mlp")
    adam = runner.grid_for("adam", task)
    assert adam.sweep_arg == "learning_rate" and len(adam.values) == 7
    assert np.isclose(adam.values[3], task.learning_rates["adam"])
    cosine = runner.grid_for("adamw_warmup_cosine", task)
    assert cosine.spec_name == "adamw" and cosine.schedule == "warmup_cosine"
    free = runner.grid_for("adagrad_norm", task)
    assert free.lr_free and len(free.values) == 5 and np.isclose(free.values[2], 1.0)
    assert "adagrad_norm" in runner.default_methods()
    assert runner.default_methods()[:3] == list(runner.BASELINE_METHODS)


def test_run_records_every_run_once_and_resumes(tmp_path):
    path = str(tmp_path / "r.jsonl")
    new = runner.run("quadratic", ["sgd", "adamw_warmup_cosine"], [0, 1], path,
                     factors=[0.1, 1.0, 100.0], progress=False, **FAST)
    assert len(new) == 12
    keys = [r["key"] for r in results.read(path)]
    assert len(set(keys)) == 12
    sgd = [r for r in new if r["config"]["method"] == "sgd"]
    # lr = 100 on a quadratic with largest curvature 1 diverges; lr = 1 does not.
    assert all(r["diverged"] for r in sgd if r["config"]["value"] == 100.0)
    assert not any(r["diverged"] for r in sgd if r["config"]["value"] == 1.0)
    good = next(r for r in sgd if r["config"]["value"] == 1.0)
    assert good["final"]["loss"] < good["curves"]["loss"][0]
    assert len(good["curves"]["eval_steps"]) == len(good["curves"]["eval"]["loss"])
    assert good["effective_lr"][""][-1] == pytest.approx(1.0)
    cosine = next(r for r in new if r["config"]["method"] == "adamw_warmup_cosine")
    trace = cosine["effective_lr"][""]
    assert trace[-1] < max(trace)  # the schedule decays
    assert set(good["versions"]) >= {"jax", "optax", "adaptlr"}
    # The same command again trains nothing; a wider grid trains only the new points.
    assert runner.run("quadratic", ["sgd", "adamw_warmup_cosine"], [0, 1], path,
                      factors=[0.1, 1.0, 100.0], progress=False, **FAST) == []
    more = runner.run("quadratic", ["sgd"], [0, 1, 2], path, factors=[0.1, 1.0, 100.0],
                      progress=False, **FAST)
    assert sorted(r["config"]["seed"] for r in more) == [2, 2, 2]


def test_single_run_matches_the_reference_loop(tmp_path):
    path = str(tmp_path / "r.jsonl")
    [record] = runner.run("quadratic", ["sgd"], [3], path, factors=[0.5], progress=False,
                          **FAST)
    import optax

    reference = tasks.train(tasks.get_task("quadratic", eval_every=20), optax.sgd(0.5),
                            seed=3, steps=20)
    assert record["final"]["loss"] == pytest.approx(float(reference.evals["loss"][-1]), rel=1e-4)


def test_schedule_free_parameters_are_evaluated(monkeypatch):
    calls = []

    def convert(opt_state, params):
        calls.append(opt_state)
        return params * 0

    monkeypatch.setattr(adaptlr, "schedule_free_eval_params", convert, raising=False)
    assert float(tasks.eval_params(np.ones(2), "state").sum()) == 0 and calls == ["state"]


_CHILD = textwrap.dedent("""
    import sys, time
    from adaptlr.benchmarks import runner
    original = runner._train
    calls = []

    def train_then_hang(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            print("hanging", flush=True)
            time.sleep(600)  # killed here, in the middle of the second method's sweep
        return original(*args, **kwargs)

    runner._train = train_then_hang
    runner.run("quadratic", ["sgd", "adam", "sps"], [0, 1], sys.argv[1],
               factors=[0.3, 1.0], scale_factors=[1.0], steps=20, progress=False)
""")


def test_killed_run_loses_nothing_and_resume_duplicates_nothing(tmp_path):
    path = str(tmp_path / "r.jsonl")
    with subprocess.Popen([sys.executable, "-c", _CHILD, path], stdout=subprocess.PIPE,
                          text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"}) as child:
        try:
            assert child.stdout.readline().strip() == "hanging"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
    assert child.returncode == -signal.SIGKILL
    first = list(results.read(path))
    assert len(first) == 4 and {r["config"]["method"] for r in first} == {"sgd"}
    resumed = runner.run("quadratic", ["sgd", "adam", "sps"], [0, 1], path,
                         factors=[0.3, 1.0], scale_factors=[1.0], steps=20, progress=False)
    assert len(resumed) == 4 + 2  # adam: 2 values x 2 seeds; sps: 1 value x 2 seeds
    everything = list(results.read(path))
    keys = [r["key"] for r in everything]
    assert len(keys) == len(set(keys)) == 10
    assert everything[:4] == first  # finished runs untouched


def test_figures_and_table_from_records(tmp_path):
    path = str(tmp_path / "r.jsonl")
    runner.run("quadratic", ["sgd", "adagrad_norm"], [0, 1], path, factors=[0.3, 1.0, 100.0],
               scale_factors=[0.5, 1.0], progress=False, **FAST)
    records = list(results.read(path))
    rows = summary.summarize(records)
    paths = plots.plot_all(records, rows, str(tmp_path / "fig"), formats=("png",))
    assert len(paths) == 3
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_compare_prints_table_and_resumes(tmp_path, capsys):
    argv = ["compare", "--task", "quadratic", "--methods", "sgd,adam", "--grid", "0.3,1",
            "--seeds", "2", "--steps", "20", "--out", str(tmp_path), "--formats", "png",
            "--quiet", "--compile-cache", ""]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "final loss" in out and "sgd" in out and "adam" in out
    assert "track: defaults" in out and "2 seeds per setting: fewer than the 10" in out
    path = tmp_path / "quadratic.jsonl"
    lines = path.read_text().splitlines()
    # 2 methods x 2 grid values x 2 seeds, plus each one's registered lr 1e-3 (not on the
    # grid: centres 1.0 and 0.03 on this task) x 2 seeds for the defaults track
    assert len(lines) == 12
    assert os.path.exists(tmp_path / "quadratic_sensitivity.png")
    assert cli.main(argv) == 0
    assert path.read_text().splitlines() == lines
    assert cli.main(["plot", str(path)]) == 0
    assert "width (decades)" in capsys.readouterr().out


def test_schedule_labels_put_the_swept_value_at_the_peak(tmp_path):
    path = str(tmp_path / "r.jsonl")
    labels = ["adam@wsd", "sgd_warmup_cosine"]
    new = runner.run("quadratic", labels, [0], path, factors=[1.0], progress=False, steps=50)
    traces = {r["config"]["method"]: r["effective_lr"][""] for r in new}
    peak = tasks.get_task("quadratic").learning_rates["adam"]
    assert max(traces["adam@wsd"]) == pytest.approx(peak)
    assert traces["adam@wsd"][0] < peak and traces["adam@wsd"][-1] < peak
    assert max(traces["sgd_warmup_cosine"]) == pytest.approx(
        tasks.get_task("quadratic").learning_rates["sgd"])
    assert runner.parse_label("sgd_warmup_cosine") == ("sgd", "warmup_cosine")
    with pytest.raises(ValueError, match="unknown schedule"):
        runner.parse_label("adam@sawtooth")


def test_schedule_free_runs_are_evaluated_at_x(tmp_path):
    import jax
    import optax

    path = str(tmp_path / "r.jsonl")
    [record] = runner.run("quadratic", ["schedule_free_sgd"], [0], path, scale_factors=[1.0],
                          progress=False, **FAST)
    task = tasks.get_task("quadratic", eval_every=20)
    lr = record["config"]["value"]
    tx = adaptlr.registry.get("schedule_free_sgd").build(learning_rate=lr)
    init_key, _ = jax.random.split(jax.random.key(0))
    y = task.init_fn(init_key)
    state = tx.init(y)
    for _ in range(20):
        updates, state = tx.update(jax.grad(task.loss_fn)(y, None), state, y)
        y = optax.apply_updates(y, updates)
    x = adaptlr.schedule_free_eval_params(state, y)
    assert record["final"]["loss"] == pytest.approx(float(task.loss_fn(x, None)), rel=1e-4)
    assert not np.isclose(float(task.loss_fn(x, None)), float(task.loss_fn(y, None)), rtol=1e-3)


def test_label_overrides_fix_other_hyperparameters(tmp_path):
    path = str(tmp_path / "r.jsonl")
    records = runner.run("quadratic", ["sgd", "sgd_momentum:momentum=0"], [0], path,
                         factors=[1.0], progress=False, **FAST)
    by_method = {r["config"]["method"]: r for r in records}
    plain, no_momentum = by_method["sgd"], by_method["sgd_momentum:momentum=0"]
    assert no_momentum["config"]["overrides"] == {"momentum": 0.0}
    assert "overrides" not in plain["config"]
    # Heavy-ball momentum 0 is plain SGD (same centre on this task: 1.0 vs 0.3 -> compare
    # the final losses of the same learning rate instead).
    same = runner.run("quadratic", ["sgd_momentum:momentum=0"], [0], path,
                      factors=[1.0 / 0.3], progress=False, **FAST)
    assert same[0]["config"]["value"] == pytest.approx(1.0, rel=1e-3)
    assert same[0]["final"]["loss"] == pytest.approx(plain["final"]["loss"], rel=1e-3)
    with pytest.raises(ValueError, match="NAME=NUMBER"):
        runner.parse_overrides("adam:b1")


def _concrete_only_sgd(learning_rate):
    # float() of a traced value raises: the runner must fall back to concrete grid values.
    import optax

    return optax.inject_hyperparams(optax.sgd)(learning_rate=float(learning_rate))


def _broken(learning_rate):
    raise RuntimeError("this method is broken")


def _register(monkeypatch, name, factory):
    spec = adaptlr.registry.MethodSpec(name, factory, "baseline", None,
                                       {"learning_rate": 0.1}, 0.0)
    monkeypatch.setitem(adaptlr.registry._REGISTRY, name, spec)


def test_factories_needing_concrete_values_fall_back_per_value(tmp_path, monkeypatch):
    _register(monkeypatch, "concrete_sgd", _concrete_only_sgd)
    path = str(tmp_path / "r.jsonl")
    ours = runner.run("quadratic", ["concrete_sgd"], [0, 1], path, factors=[1.0, 3.0],
                      progress=False, **FAST)
    plain = runner.run("quadratic", ["sgd"], [0, 1], path, factors=[0.1, 0.3],
                       progress=False, **FAST)  # sgd's centre on this task is 1.0
    key = lambda r: (r["config"]["value"], r["config"]["seed"])  # noqa: E731
    assert [key(r) for r in ours] == [key(r) for r in plain]
    for a, b in zip(ours, plain, strict=True):
        assert a["final"]["loss"] == pytest.approx(b["final"]["loss"], rel=1e-5)


def test_a_failing_method_is_skipped_when_asked(tmp_path, monkeypatch):
    _register(monkeypatch, "broken", _broken)
    path = str(tmp_path / "r.jsonl")
    with pytest.raises(RuntimeError, match="broken"):
        runner.run("quadratic", ["broken"], [0], path, progress=False, **FAST)
    failures = []
    new = runner.run("quadratic", ["broken", "sgd"], [0], path, factors=[1.0],
                     progress=False, failures=failures, **FAST)
    assert [r["config"]["method"] for r in new] == ["sgd"]
    assert failures[0][0] == "broken" and "this method is broken" in failures[0][1]


@pytest.mark.parametrize("kwargs, match", [
    ({"factors": [-1.0]}, "factors must hold finite numbers > 0, got -1.0"),
    ({"factors": [float("nan")]}, "factors must hold finite numbers > 0"),
    ({"factors": [0.0, 1.0]}, "factors must hold finite numbers > 0, got 0.0"),
    ({"factors": []}, "factors is empty"),
    ({"scale_factors": [-1.0]}, "scale_factors must hold finite numbers > 0"),
    ({"scale_factors": [float("inf")]}, "scale_factors must hold finite numbers > 0"),
    ({"factors": [1e-300]}, r"sgd: learning_rate=1e-300 from the grid"),
    ({"factors": [1e300]}, r"sgd: learning_rate=1e\+300 from the grid"),
    ({"steps": 0}, "steps must be an integer >= 1, got 0"),
    ({"steps": -5}, "steps must be an integer >= 1, got -5"),
])
def test_run_rejects_bad_grids_and_budgets_before_training(tmp_path, kwargs, match):
    # The factories' own checks do not see traced hyperparameters: the runner must.
    path = tmp_path / "r.jsonl"
    with pytest.raises(ValueError, match=match):
        runner.run("quadratic", ["sgd", "adagrad_norm"], [0], str(path),
                   **{"steps": 10, **kwargs}, progress=False)
    assert not path.exists()


def test_run_rejects_no_seeds_no_methods_and_unwritable_files(tmp_path):
    path = str(tmp_path / "r.jsonl")
    with pytest.raises(ValueError, match="seeds is empty"):
        runner.run("quadratic", ["sgd"], [], path, steps=10, progress=False)
    with pytest.raises(ValueError, match="methods is empty"):
        runner.run("quadratic", [], [0], path, steps=10, progress=False)
    (tmp_path / "dir.jsonl").mkdir()  # not writable as a file, even for root
    with pytest.raises(ValueError, match=r"cannot write results to .*dir\.jsonl"):
        runner.run("quadratic", ["sgd"], [0], str(tmp_path / "dir.jsonl"), steps=10,
                   progress=False)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=r"cannot write results to .*file/r\.jsonl"):
        runner.run("quadratic", ["sgd"], [0], str(tmp_path / "file" / "r.jsonl"), steps=10,
                   progress=False)


def test_concurrent_runs_record_each_run_once(tmp_path, monkeypatch):
    # Two processes start on the same file and both train the same runs: the one that
    # appends second must not record them again, and the table must not count them twice.
    path = str(tmp_path / "r.jsonl")
    args = ("quadratic", ["sgd"], [0, 1], path)
    kwargs = dict(factors=[0.3, 1.0], steps=10, progress=False)
    first = runner.run(*args, **kwargs)
    monkeypatch.setattr(results, "completed_keys", lambda path: set())  # read before 1st wrote
    second = runner.run(*args, **kwargs)
    assert len(first) == 4 and second == []
    with open(path) as f:
        assert len(f.read().splitlines()) == 4
    (row,) = summary.summarize(results.read(path))
    assert row.runs == 4


def test_progress_lines_when_not_a_terminal(tmp_path, capsys):
    path = str(tmp_path / "r.jsonl")
    runner.run("quadratic", ["sgd", "adagrad_norm"], [0, 1], path, factors=[0.3, 1.0],
               scale_factors=[1.0], steps=10)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and "\x1b" not in err
    assert lines[0].startswith("quadratic: sgd done (4 runs) | 1/2 methods, 4/6 runs, ")
    assert "s elapsed, about " in lines[0] and lines[0].endswith(" left")
    assert lines[1].startswith("quadratic: adagrad_norm done (2 runs) | 2/2 methods, 6/6 runs")
    assert len(lines) == 2
    runner.run("quadratic", ["sgd"], [0, 1], path, factors=[0.3, 1.0], steps=10)
    assert capsys.readouterr().err.startswith(
        "quadratic: sgd already recorded (4 runs) | 1/1 methods, 4/4 runs, ")


def test_adabound_under_a_schedule_label_takes_the_peak_as_base_lr():
    # AdaBound's bounds scale by lr_t / base_lr; a schedule needs base_lr, which the runner
    # sets to the swept peak (PyTorch's AdaBound(lr=peak) under a scheduler).
    method = runner.grid_for("adabound@warmup_cosine", tasks.get_task("quadratic"), [1.0])
    tx = runner._optimizer_factory(method, 100)({"value": 1e-3})
    with pytest.raises(ValueError, match="base_lr"):
        method.spec.build(learning_rate=optax.linear_schedule(0.0, 1e-3, 10))
    state = tx.init({"w": jnp.ones(2)})
    assert float(state[0].base_lr) == 0.0
    _, state = tx.update({"w": jnp.ones(2)}, state)
    assert float(state[0].base_lr) == pytest.approx(1e-3)
