"""Debian's OpenSSH for the SSH tests: a real ``sshd`` on loopback and a real ``ssh-agent``."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

SSHD = "/usr/sbin/sshd"
START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@contextmanager
def running_sshd(directory: Path, host_key: Path, user_ca: Path, krl: Path, port: int = 0) -> Iterator[int]:
    """sshd on 127.0.0.1 (``port``, default a free one) with ``host_key`` and its ``-cert.pub``,
    trusting ``user_ca`` (``TrustedUserCAKeys``) and refusing what ``krl`` lists; yields its port."""
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    port = port or free_port()
    config = directory / "sshd_config"
    config.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
HostCertificate {host_key}-cert.pub
TrustedUserCAKeys {user_ca}
RevokedKeys {krl}
AuthorizedKeysFile none
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile {directory / 'sshd.pid'}
""")
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "sshd did not start"
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def running_agent(directory: Path) -> Iterator[dict[str, str]]:
    """A real ssh-agent; yields the environment that points ssh at it."""
    socket_path = directory / "agent.sock"
    process = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not socket_path.exists():
            assert time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.02)
        yield {**os.environ, "SSH_AUTH_SOCK": str(socket_path)}
    finally:
        process.terminate()
        process.wait(timeout=10)
