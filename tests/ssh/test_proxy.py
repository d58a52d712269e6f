"""``appliance ssh proxycommand``'s parts: the bastion command as step builds it, and the pipe
(real sockets and pipes; the whole command runs under the real ssh in test_client_e2e.py)."""

from __future__ import annotations

import os
import socket

from appliance.client.ssh_proxy import bastion_command, expand, pipe


def test_bastion_command_as_step_runs_it() -> None:
    bastion = {"hostname": "bastion.internal", "user": "jump", "port": "2222",
               "flags": "-o 'ProxyJump none' -A", "cmd": "socat - TCP:%h:%p # %r 100%%"}
    assert bastion_command(bastion, "alice", "db.internal", "22") == [
        "ssh", "-l", "jump", "-p", "2222", "-o", "ProxyJump none", "-A", "bastion.internal",
        "socat - TCP:db.internal:22 # alice 100%"]
    assert bastion_command({"hostname": "bastion.internal"}, "alice", "db.internal", "22") == [
        "ssh", "bastion.internal", "nc", "db.internal", "22"]
    assert expand("%x%h%", "u", "h", "p") == "%xh%"


def test_pipe_copies_both_ways_and_half_closes() -> None:
    ours, theirs = socket.socketpair()
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()
    try:
        os.write(in_write, b"client hello")
        os.close(in_write)
        theirs.sendall(b"server hello")
        theirs.shutdown(socket.SHUT_WR)
        pipe(ours, in_read, out_write)
        assert os.read(out_read, 100) == b"server hello"
        assert theirs.recv(100) == b"client hello"
        assert theirs.recv(100) == b""  # our sending half was closed at the end of stdin
    finally:
        for fd in (in_read, out_read, out_write):
            os.close(fd)
        ours.close()
        theirs.close()
