"""A real ``appliance serve`` keeps its server certificate and key in memory:
killed with SIGKILL it leaves nothing in the temporary directory. Started with a
low soft descriptor limit, it raises it to the hard limit for its workers."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from tests.conftest import APPLIANCE
from tests.e2e.harness import init_ca, launch

pytestmark = pytest.mark.slow


def _nofile(pid: int) -> tuple[int, int]:
    """(soft, hard) RLIMIT_NOFILE of a process."""
    line = next(line for line in Path(f"/proc/{pid}/limits").read_text().splitlines()
                if line.startswith("Max open files"))
    soft, hard = re.findall(r"\d+", line)[:2]
    return int(soft), int(hard)


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_a_killed_server_leaves_no_tls_material_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = init_ca(tmp_path / "ca")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # where tempfile (and so a leftover) would go
    hard = _nofile(os.getpid())[1]
    server = launch(ca, ["prlimit", "--nofile=256:", str(APPLIANCE), "serve", str(ca.ca_json),
                         "--password-file", str(ca.password_file), "--workers", "2"])
    try:
        workers = _children(server.process.pid)
        assert len(workers) >= 2  # the two workers (and multiprocessing's resource tracker)
        # serving TLS (launch waited for /health over HTTPS), and nothing was written for it
        assert list(scratch.iterdir()) == []
        for pid in (server.process.pid, *workers):
            assert _nofile(pid) == (hard, hard)
            # no descriptor of a worker points at a file holding TLS material
            targets = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir() if fd.exists()]
            assert not [t for t in targets if "tls" in t or t.startswith(str(scratch))], targets
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(20)
    finally:
        server.stop()
    assert list(scratch.iterdir()) == []
