"""The connection of ``step ssh proxycommand`` (ssh's ``ProxyCommand``): straight to the
host, piping stdin and stdout through a TCP socket, or through the CA's bastion with ``ssh``."""

from __future__ import annotations

import os
import selectors
import shlex
import socket
from typing import Mapping

CHUNK = 65536
CONNECT_TIMEOUT = 30.0


def expand(command: str, user: str, host: str, port: str) -> str:
    """ssh's tokens in a bastion ``cmd`` (step's ``sshutil.ProxyCommand``): %h, %p, %r, %%."""
    out, i = [], 0
    while i < len(command):
        if command[i] == "%" and i + 1 < len(command) and command[i + 1] in "hpr%":
            out.append({"h": host, "p": port, "r": user, "%": "%"}[command[i + 1]])
            i += 2
        else:
            out.append(command[i])
            i += 1
    return "".join(out)


def bastion_command(bastion: Mapping[str, str], user: str, host: str, port: str) -> list[str]:
    """``ssh [-l user] [-p port] [flags] bastion cmd`` as step runs it (``cmd`` default
    ``nc HOST PORT``); ``flags`` are split as a shell would (step splits on spaces)."""
    args = ["ssh"]
    if bastion.get("user"):
        args += ["-l", str(bastion["user"])]
    if bastion.get("port"):
        args += ["-p", str(bastion["port"])]
    if bastion.get("flags"):
        args += shlex.split(str(bastion["flags"]))
    args.append(str(bastion["hostname"]))
    command = bastion.get("cmd")
    args += [expand(str(command), user, host, port)] if command else ["nc", host, port]
    return args


def pipe(connection: socket.socket, in_fd: int, out_fd: int) -> None:
    """Copy ``in_fd`` to the socket and the socket to ``out_fd`` until the socket's peer
    closes; at the end of ``in_fd`` the socket's sending half is closed."""
    with selectors.DefaultSelector() as selector:
        selector.register(in_fd, selectors.EVENT_READ, "in")
        selector.register(connection, selectors.EVENT_READ, "socket")
        while True:
            for key, _ in selector.select():
                if key.data == "in":
                    data = os.read(in_fd, CHUNK)
                    if data:
                        connection.sendall(data)
                    else:
                        selector.unregister(in_fd)
                        connection.shutdown(socket.SHUT_WR)
                    continue
                data = connection.recv(CHUNK)
                if not data:
                    return
                view = memoryview(data)
                while view:
                    view = view[os.write(out_fd, view):]


def proxy_direct(host: str, port: str, in_fd: int = 0, out_fd: int = 1) -> None:
    """Connect to ``host:port`` and pipe ``in_fd``/``out_fd`` through it."""
    with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT) as connection:
        connection.settimeout(None)
        pipe(connection, in_fd, out_fd)
