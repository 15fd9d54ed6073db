"""The `adaptlr` command's catalogue."""

from __future__ import annotations

import subprocess
import sys

import pytest

from adaptlr import cli, registry


def test_list_prints_every_registered_method(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in registry.names():
        assert f"\n{name} " in out or out.startswith(f"{name} ")
    assert f"{len(registry.names())} methods" in out
    assert "Kingma and Ba (2015), ICLR" in out


def test_list_by_family(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["list", "--family", "baseline"])
    out = capsys.readouterr().out
    assert f"{len(registry.names('baseline'))} methods" in out


def test_console_entry_point_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "adaptlr.cli", "list"], capture_output=True,
                         text=True, check=True)
    assert "adamw" in out.stdout
