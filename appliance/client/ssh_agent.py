"""A client of an OpenSSH agent (``SSH_AUTH_SOCK``), draft-miller-ssh-agent: add an Ed25519
key with its certificate (bounded by the certificate's lifetime), remove it, list identities."""

from __future__ import annotations

import os
import socket
import struct

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import SSHCertificate

from appliance.errors import BadRequest, Unavailable
from appliance.sshcert import certificate_blob

AGENT_FAILURE = 5
AGENT_SUCCESS = 6
REQUEST_IDENTITIES = 11
IDENTITIES_ANSWER = 12
ADD_IDENTITY = 17
REMOVE_IDENTITY = 18
ADD_ID_CONSTRAINED = 25
CONSTRAIN_LIFETIME = 1
MAX_REPLY = 256 * 1024


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise Unavailable("the ssh-agent sent a truncated answer")
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def string(self) -> bytes:
        return self.take(self.u32())


class SshAgent:
    """The agent at ``path`` (default: ``$SSH_AUTH_SOCK``); one request per connection."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or os.environ.get("SSH_AUTH_SOCK", "")
        if not self.path:
            raise BadRequest("no ssh-agent: SSH_AUTH_SOCK is not set")

    def _call(self, message: bytes) -> bytes:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(10)
                sock.connect(self.path)
                sock.sendall(_string(message))
                length = struct.unpack(">I", self._read(sock, 4))[0]
                if length > MAX_REPLY:
                    raise Unavailable("the ssh-agent's answer is too large")
                return self._read(sock, length)
        except OSError as exc:
            raise Unavailable(f"cannot talk to the ssh-agent at {self.path}: {exc.strerror or exc}") from None

    @staticmethod
    def _read(sock: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                raise Unavailable("the ssh-agent closed the connection")
            data += chunk
        return data

    def _expect_success(self, reply: bytes, what: str) -> None:
        if reply[:1] != bytes([AGENT_SUCCESS]):
            raise BadRequest(f"the ssh-agent refused to {what}")

    def add_certificate(self, key: ed25519.Ed25519PrivateKey, certificate: SSHCertificate, comment: str,
                        lifetime: int | None = None) -> None:
        """Add ``key`` with ``certificate``; the agent forgets it after ``lifetime`` seconds."""
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        private = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
        body = (_string(b"ssh-ed25519-cert-v01@openssh.com") + _string(certificate_blob(certificate))
                + _string(public) + _string(private + public) + _string(comment.encode()))
        if lifetime is None:
            message = bytes([ADD_IDENTITY]) + body
        else:
            message = bytes([ADD_ID_CONSTRAINED]) + body + bytes([CONSTRAIN_LIFETIME]) + struct.pack(">I", lifetime)
        self._expect_success(self._call(message), "add the key")

    def remove(self, blob: bytes) -> None:
        """Remove the identity whose public blob (a key's or a certificate's) is ``blob``."""
        self._expect_success(self._call(bytes([REMOVE_IDENTITY]) + _string(blob)), "remove the identity")

    def identities(self) -> list[tuple[bytes, str]]:
        """(public blob, comment) of every identity the agent holds."""
        reply = self._call(bytes([REQUEST_IDENTITIES]))
        if reply[:1] != bytes([IDENTITIES_ANSWER]):
            raise Unavailable("the ssh-agent did not list its identities")
        reader = _Reader(reply[1:])
        return [(reader.string(), reader.string().decode(errors="replace")) for _ in range(reader.u32())]
