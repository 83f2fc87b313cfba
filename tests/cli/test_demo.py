"""`rcm demo` on an empty folder: migrates, onboards, imports and reaches the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app


@pytest.mark.slow
def test_demo_runs_from_an_empty_folder(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--workdir",
            str(workdir),
            "--patients",
            "20",
            "--days",
            "1",
            "--encounters-per-day",
            "10",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "riverside-family-medicine" in result.output
    assert "authenticate" in result.output
    assert (workdir / "rcm.db").exists()
    assert (workdir / "sandbox" / "roster.csv").exists()
