"""A real software TPM 2.0 for tests: ``swtpm`` (libtpms) on a loopback socket, driven by
``tpm2-tools`` through tpm2-tss's swtpm TCTI, with its state in a temporary directory.

Objects are made persistent (``tpm2_evictcontrol``) and the transient ones flushed after
each step, since no resource manager sits between the tools and the TPM. tpm2-tools 5.4
(Debian 12) has no ``tpm2_certify --qualification``, so ``certify`` sends the TPM2_Certify
command itself (``tpm2_send``) with the qualifying data step puts there: the SHA-256 of the
key authorization.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.kms.signer import RsaPadding, device_private_key

TPM_ST_SESSIONS, TPM_CC_CERTIFY, TPM_RS_PW, TPM_ALG_NULL = 0x8002, 0x0148, 0x40000009, 0x0010
AK_HANDLE, KEY_HANDLE = 0x81010001, 0x81010002
KEY_ATTRIBUTES = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign"


def _free_port_pair() -> int:
    """A free loopback port whose successor is free too (the TCTI's control channel is port + 1)."""
    while True:
        with socket.create_server(("127.0.0.1", 0)) as server:
            port = server.getsockname()[1]
            try:
                socket.create_server(("127.0.0.1", port + 1)).close()
                return port
            except OSError:
                continue


def _wait_for(process: subprocess.Popen[bytes], port: int) -> None:
    """Until swtpm listens (it binds its control channel after the server socket)."""
    for _ in range(500):
        if process.poll() is not None:
            raise RuntimeError(f"swtpm exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except ConnectionRefusedError:
            time.sleep(0.01)
    raise RuntimeError("swtpm did not open its control channel")


class SoftwareTpm:
    """One swtpm process and the tpm2-tools commands the tests need."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        (directory / "state").mkdir(parents=True)
        self.port = _free_port_pair()
        self.process = subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={directory / 'state'}",
             "--server", f"type=tcp,port={self.port},bindaddr=127.0.0.1",
             "--ctrl", f"type=tcp,port={self.port + 1},bindaddr=127.0.0.1", "--flags", "not-need-init,startup-clear"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait_for(self.process, self.port + 1)
        self.environment = {**os.environ, "TPM2TOOLS_TCTI": f"swtpm:host=127.0.0.1,port={self.port}"}

    def tool(self, *args: str, data: bytes | None = None) -> bytes:
        """Run one tpm2-tools command (in the state directory), then flush transient objects."""
        done = subprocess.run(args, input=data, capture_output=True, cwd=self.directory, env=self.environment)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.decode(errors='replace')}")
        subprocess.run(["tpm2_flushcontext", "-t"], check=True, capture_output=True, env=self.environment)
        return done.stdout

    def create_ak(self) -> bytes:
        """An endorsement key and an RSA attestation key (RSASSA-SHA256) under it; the AK's public key (PEM)."""
        self.tool("tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub")
        self.tool("tpm2_createak", "-C", "ek.ctx", "-c", "ak.ctx", "-G", "rsa", "-g", "sha256", "-s", "rsassa",
                  "-u", "ak.pem", "-f", "pem", "-n", "ak.name")
        self.tool("tpm2_evictcontrol", "-C", "o", "-c", "ak.ctx", hex(AK_HANDLE))
        return (self.directory / "ak.pem").read_bytes()

    def create_key(self, handle: int = KEY_HANDLE, attributes: str = KEY_ATTRIBUTES) -> bytes:
        """A P-256 signing key under the owner's storage primary; its TPMT_PUBLIC (``pubArea``)."""
        self.tool("tpm2_createprimary", "-C", "o", "-c", "primary.ctx")
        self.tool("tpm2_create", "-C", "primary.ctx", "-G", "ecc256", "-a", attributes,
                  "-u", f"{handle:x}.pub", "-r", f"{handle:x}.priv", "-c", f"{handle:x}.ctx")
        self.tool("tpm2_evictcontrol", "-C", "o", "-c", f"{handle:x}.ctx", hex(handle))
        return (self.directory / f"{handle:x}.pub").read_bytes()[2:]  # TPM2B_PUBLIC -> TPMT_PUBLIC

    def certify(self, qualifying_data: bytes, key: int = KEY_HANDLE, ak: int = AK_HANDLE) -> tuple[bytes, bytes]:
        """TPM2_Certify of ``key`` by ``ak`` (empty password sessions): ``certInfo`` and ``sig``."""
        session = struct.pack("!IHBH", TPM_RS_PW, 0, 0, 0)
        parameters = struct.pack("!H", len(qualifying_data)) + qualifying_data + struct.pack("!H", TPM_ALG_NULL)
        body = struct.pack("!III", key, ak, 2 * len(session)) + 2 * session + parameters
        response = self.tool("tpm2_send", data=struct.pack("!HII", TPM_ST_SESSIONS, 10 + len(body), TPM_CC_CERTIFY) + body)
        _, _, code, size = struct.unpack_from("!HIII", response)
        if code != 0:
            raise RuntimeError(f"TPM2_Certify failed: 0x{code:x}")
        parameters = response[14:14 + size]
        (length,) = struct.unpack_from("!H", parameters)
        return parameters[2:2 + length], parameters[2 + length:]

    def signer(self, public_area_key: ec.EllipticCurvePublicKey, handle: int = KEY_HANDLE) -> ec.EllipticCurvePrivateKey:
        """The persistent key as a ``cryptography`` private key (``tpm2_sign`` per signature), to sign a CSR."""
        tpm = self

        class TpmKey:
            def sign_digest(self, digest: bytes, algorithm: hashes.HashAlgorithm,
                            rsa_padding: RsaPadding | None) -> bytes:
                (tpm.directory / "digest.bin").write_bytes(digest)
                tpm.tool("tpm2_sign", "-c", hex(handle), "-g", algorithm.name, "-d", "-f", "plain",
                         "-o", "signature.der", "digest.bin")
                return (tpm.directory / "signature.der").read_bytes()

            def sign_message(self, message: bytes) -> bytes:
                raise NotImplementedError

        key = device_private_key(public_area_key, TpmKey())
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
