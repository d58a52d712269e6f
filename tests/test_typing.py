"""The package stays fully typed: mypy, configured in pyproject.toml, reports nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_reports_no_errors() -> None:
    # [tool.mypy] in pyproject.toml names the files (appliance) and the cache
    # (.mypy_cache): a warm run takes about a second.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--no-pretty"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"mypy exited {result.returncode}:\n{output}"
