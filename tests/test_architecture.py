"""The house stands straight: import contracts, lint and declared dependencies, as configured in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("command", [
    pytest.param([str(BIN / "lint-imports"), "--no-cache"], id="import-linter"),
    pytest.param([str(BIN / "ruff"), "check", "--no-cache", "appliance", "tests", "benchmarks"], id="ruff"),
    pytest.param([str(BIN / "deptry"), "."], id="deptry"),
])
def test_checker_reports_nothing(command: list[str]) -> None:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"{command[0]} exited {result.returncode}:\n{output[-6000:]}"
