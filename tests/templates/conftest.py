"""The real Go text/template + sprig (run with TZ=UTC: the interpreter's Local zone is UTC) (Debian's golang-go and golang-github-masterminds-sprig-dev),
built once per session into a temporary directory, to compare the interpreter against."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

GOPATH = Path("/usr/share/gocode")
SOURCE = Path(__file__).parent / "gorender" / "main.go"

GoRender = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


@pytest.fixture(scope="session")
def go_render(tmp_path_factory: pytest.TempPathFactory) -> GoRender:
    """Render cases ({template, data}) with Go; each result is {ok, out}."""
    go = shutil.which("go")
    if go is None or not (GOPATH / "src/github.com/Masterminds/sprig").is_dir():
        pytest.skip("golang-go and golang-github-masterminds-sprig-dev are not installed (scripts/install.sh)")
    workdir = tmp_path_factory.mktemp("gorender")
    binary = workdir / "gorender"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOCACHE": str(workdir / "cache"),
           "GOFLAGS": "", "HOME": str(workdir)}
    subprocess.run([go, "build", "-o", str(binary), str(SOURCE)], check=True, env=env, cwd=workdir,
                   capture_output=True, timeout=600)

    def render(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        done = subprocess.run([str(binary)], input=json.dumps(cases).encode(), check=True, capture_output=True,
                              timeout=300, env={**os.environ, "TZ": "UTC"})
        results: list[dict[str, Any]] = json.loads(done.stdout)
        return results

    return render
