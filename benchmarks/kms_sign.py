"""Signing throughput and latency per KMS backend, next to in-process baselines.

    .venv/bin/python benchmarks/kms_sign.py [--seconds 1.5] [--rounds 5] [--threads 8] [--only pkcs11,softkms]

Every row signs fresh 64-byte messages with 1 and N caller threads for
``--seconds``, split into ``--rounds`` short bursts; in each round the rows of
one algorithm and concurrency take turns, so rows compared with each other ran
under the same machine load. It reports the median signatures per second, the
p50/p99 latency over all calls, the CPU the process used (``cores``: CPU
seconds per wall second; ``CPU us``: CPU microseconds per signature). Rows:

* ``cryptography``       - the same signature made in-process (the ceiling);
* ``softkms``, ``pkcs11`` - the appliance's signer (host hash, device call,
  DER encoding, and the signature check every device signature gets);
* ``pkcs11 device``      - the same device call without that check;
* ``python-pkcs11 raw``  - a bare ``C_Sign`` loop on the same token and key
  (host hash + CKM_ECDSA / CKM_RSA_PKCS), behind a plain lock for N callers
  since the module runs without its own locking;
* ``pkcs11-tool``        - OpenSC, one process per signature (1 caller; its
  CPU is in child processes, not in the CPU columns).

The ``% raw`` column is the median, over rounds, of a PKCS#11 row's rate
divided by the ``python-pkcs11 raw`` rate of the same round, algorithm and
concurrency. SoftHSM2 runs on a token made in a temporary directory with its
own SOFTHSM2_CONF.

To add a backend, add an entry to ``ENTRIES``: a function that gets the
:class:`Bench` (an ExitStack for servers and managers, a work directory) and
a key type, and returns a function that signs bytes - usually via
:func:`kms_signer` with the backend's KMS URI (e.g. ``awskms:`` against a
``moto_server`` started with ``bench.stack``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hashes  # noqa: E402

from appliance.kms import KeyType, SignatureAlgorithm, open_key_manager  # noqa: E402
from appliance.kms.signer import RsaPadding  # noqa: E402
from appliance.kms.softkms import generate_private_key  # noqa: E402

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "123456"
SignFn = Callable[[bytes], bytes]
ALGORITHMS = {"ES256 P-256": KeyType.EC_P256, "RS256 2048": KeyType.RSA_2048}
RAW = "python-pkcs11 raw"
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")  # RFC 8017 9.2 note 1


def raw_input(key_type: KeyType, data: bytes) -> bytes:
    """What CKM_ECDSA (a digest) or CKM_RSA_PKCS (a DigestInfo) signs for SHA-256."""
    digest = hashlib.sha256(data).digest()
    return digest if key_type.kty == "EC" else SHA256_DIGEST_INFO + digest


@dataclass
class Bench:
    """What entries share: cleanup stack, work directory, the SoftHSM2 token."""

    stack: contextlib.ExitStack
    workdir: Path
    token_label: str = "bench"
    signers: dict[tuple[str, KeyType], object] = field(default_factory=dict)

    @property
    def pkcs11_uri(self) -> str:
        return f"pkcs11:module-path={SOFTHSM_MODULE};token={self.token_label}?pin-value={PIN}"

    def pkcs11_signer(self, key_type: KeyType) -> object:
        """One appliance pkcs11 signer per key type, shared by the pkcs11 rows."""
        key = ("pkcs11", key_type)
        if key not in self.signers:
            self.signers[key] = make_signer(self, self.pkcs11_uri, f"pkcs11:object=bench-{key_type.name}", key_type)
        return self.signers[key]


def make_signer(bench: Bench, kms_uri: str, key_uri: str, key_type: KeyType, password: bytes | None = None) -> object:
    manager = bench.stack.enter_context(open_key_manager(kms_uri, password=password))
    return manager.create_signer(manager.create_key(key_uri, key_type).uri)


def kms_signer(bench: Bench, kms_uri: str, key_uri: str, key_type: KeyType, password: bytes | None = None) -> SignFn:
    """A fresh key in a backend, signing with its default algorithm (ES256, RS256)."""
    signer = make_signer(bench, kms_uri, key_uri, key_type, password)
    algorithm = SignatureAlgorithm.default_for(signer)
    return lambda data: algorithm.sign(signer, data)


def cryptography_signer(bench: Bench, key_type: KeyType) -> SignFn:
    key = generate_private_key(key_type)
    algorithm = SignatureAlgorithm.default_for(key)
    return lambda data: algorithm.sign(key, data)


def pkcs11_signer(bench: Bench, key_type: KeyType) -> SignFn:
    signer = bench.pkcs11_signer(key_type)
    algorithm = SignatureAlgorithm.default_for(signer)
    return lambda data: algorithm.sign(signer, data)


def pkcs11_device(bench: Bench, key_type: KeyType) -> SignFn:
    device = bench.pkcs11_signer(key_type).device  # type: ignore[attr-defined]
    padding = None if key_type.kty == "EC" else RsaPadding.PKCS1V15
    return lambda data: device.sign_digest(hashlib.sha256(data).digest(), hashes.SHA256(), padding)


def raw_pkcs11(bench: Bench, key_type: KeyType) -> SignFn:
    """A bare C_Sign loop on the key the pkcs11 rows use, in a session of its own
    (the process is already logged in to the token through the appliance)."""
    from pkcs11 import Attribute, Mechanism, ObjectClass

    from appliance.kms.pkcs11_module import load_module

    bench.pkcs11_signer(key_type)
    session = load_module(SOFTHSM_MODULE).lib.get_token(token_label=bench.token_label).open()
    bench.stack.callback(session.close)
    key = next(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: f"bench-{key_type.name}"}))
    lock = threading.Lock()
    mechanism = Mechanism.ECDSA if key_type.kty == "EC" else Mechanism.RSA_PKCS

    def sign(data: bytes) -> bytes:
        message = raw_input(key_type, data)
        with lock:
            return key.sign(message, mechanism=mechanism)

    return sign


def pkcs11_tool(bench: Bench, key_type: KeyType) -> SignFn | None:
    """OpenSC pkcs11-tool, one process (load, login, sign) per signature; ECDSA
    only: its RSA signing is multi-part, which SoftHSM2 2.6 fails (CKR_GENERAL_ERROR)."""
    if key_type.kty != "EC":
        return None
    bench.pkcs11_signer(key_type)
    data_file = bench.workdir / f"tool-{key_type.name}.in"
    command = ["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", bench.token_label, "--login",
               "--pin", PIN, "--sign", "--mechanism", "ECDSA", "--label", f"bench-{key_type.name}",
               "--input-file", str(data_file)]

    def sign(data: bytes) -> bytes:
        data_file.write_bytes(raw_input(key_type, data))
        return subprocess.run(command, capture_output=True, check=True).stdout

    return sign


def awskms_signer(bench: Bench, key_type: KeyType) -> SignFn:
    """awskms: against the patched moto_server on loopback (one HTTP round trip a signature)."""
    from tests.kms.fakes.moto_kms import moto_server

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    endpoint = bench.stack.enter_context(moto_server())
    return kms_signer(bench, f"awskms:region=us-east-1;endpoint={endpoint}", "awskms:", key_type)


@dataclass(frozen=True)
class Entry:
    factory: Callable[[Bench, KeyType], SignFn | None]  # None: key type not measured
    concurrent: bool = True  # also measured with N callers


ENTRIES: dict[str, Entry] = {
    "cryptography": Entry(cryptography_signer),
    "softkms": Entry(lambda bench, kt: kms_signer(bench, "softkms:", f"softkms:path={bench.workdir}/{kt.name}.pem", kt, b"bench")),
    "pkcs11": Entry(pkcs11_signer),
    "pkcs11 device": Entry(pkcs11_device),
    RAW: Entry(raw_pkcs11),
    "pkcs11-tool": Entry(pkcs11_tool, concurrent=False),
    "awskms": Entry(awskms_signer),
}


@dataclass
class Burst:
    """One short measurement: signatures, wall and process CPU seconds, latencies."""

    count: int
    elapsed: float
    cpu: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.elapsed


@dataclass(frozen=True)
class Result:
    entry: str
    algorithm: str
    callers: int
    rate: float  # median over rounds
    p50_ms: float  # over every call of every round
    p99_ms: float
    cores: float  # median process CPU seconds per wall second
    cpu_us: float  # median process CPU microseconds per signature
    share: float | None  # median over rounds of rate / raw rate in the same round


def measure(sign: SignFn, callers: int, seconds: float) -> Burst:
    """``callers`` threads signing for ``seconds``: count, CPU time and every call's latency."""
    for i in range(3):
        sign(b"warm-up %d" % i)
    latencies: list[list[float]] = [[] for _ in range(callers)]
    barrier = threading.Barrier(callers + 1)
    stop = threading.Event()

    def work(mine: list[float]) -> None:
        message = os.urandom(56)
        barrier.wait()
        n = 0
        while not stop.is_set():
            n += 1
            start = time.perf_counter()
            sign(message + n.to_bytes(8, "big"))
            mine.append(time.perf_counter() - start)

    threads = [threading.Thread(target=work, args=(mine,)) for mine in latencies]
    for thread in threads:
        thread.start()
    barrier.wait()
    cpu, start = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    flat = [x for mine in latencies for x in mine]
    return Burst(len(flat), elapsed, cpu, flat)


def summarise(entry: str, algorithm: str, callers: int, bursts: list[Burst], raw: list[Burst] | None) -> Result:
    latencies = [x for burst in bursts for x in burst.latencies]
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    share = statistics.median(b.rate / r.rate for b, r in zip(bursts, raw)) if raw else None
    return Result(entry, algorithm, callers, statistics.median(b.rate for b in bursts), cuts[49] * 1e3, cuts[98] * 1e3,
                  statistics.median(b.cpu / b.elapsed for b in bursts),
                  statistics.median(1e6 * b.cpu / max(b.count, 1) for b in bursts), share)


def run(entries: list[str], seconds: float, rounds: int, threads: int, workdir: Path) -> list[Result]:
    """Every row gets ``rounds`` bursts of ``seconds / rounds``; within one round the
    rows take turns (in a rotated order), so a row and the raw baseline it is
    compared with share the machine's load of that moment."""
    results = []
    with contextlib.ExitStack() as stack:
        bench = Bench(stack, workdir)
        for algorithm, key_type in ALGORITHMS.items():
            signers = {name: sign for name in entries if (sign := ENTRIES[name].factory(bench, key_type)) is not None}
            for callers in (1, threads):
                names = [name for name in signers if callers == 1 or ENTRIES[name].concurrent]
                bursts: dict[str, list[Burst]] = {name: [] for name in names}
                for round_ in range(rounds):
                    shift = round_ % len(names)
                    for name in names[shift:] + names[:shift]:
                        bursts[name].append(measure(signers[name], callers, seconds / rounds))
                raw = bursts.get(RAW)
                for name in names:
                    compared = raw if raw is not None and name.startswith("pkcs11") else None
                    results.append(summarise(name, algorithm, callers, bursts[name], compared))
    return results


def table(results: list[Result]) -> str:
    lines = [f"{'backend':<20} {'algorithm':<12} {'callers':>7} {'sig/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
             f"{'cores':>5} {'CPU us':>7} {'% raw':>6}"]
    for r in results:
        share = f"{100 * r.share:5.0f}%" if r.share is not None else ""
        lines.append(f"{r.entry:<20} {r.algorithm:<12} {r.callers:>7} {r.rate:>9.0f} {r.p50_ms:>8.3f} {r.p99_ms:>8.3f} "
                     f"{r.cores:>5.2f} {r.cpu_us:>7.0f} {share:>6}")
    return "\n".join(lines)


def softhsm_token(workdir: Path) -> None:
    """A private SoftHSM2 token directory and token, before the module is loaded."""
    tokens = workdir / "tokens"
    tokens.mkdir()
    conf = workdir / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", PIN, "--so-pin", PIN],
                   check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="measuring time per row (default 1.5)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved bursts the time is split into (default 5)")
    parser.add_argument("--threads", type=int, default=8, help="concurrent callers for the second run (default 8)")
    parser.add_argument("--only", help=f"comma-separated entries (default all: {', '.join(ENTRIES)})")
    args = parser.parse_args()
    entries = args.only.split(",") if args.only else list(ENTRIES)
    unknown = set(entries) - set(ENTRIES)
    if unknown:
        parser.error(f"unknown entries: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="kms-bench-") as tmp:
        softhsm_token(Path(tmp))
        started = time.perf_counter()
        results = run(entries, args.seconds, args.rounds, args.threads, Path(tmp))
    print(f"# {os.cpu_count()} CPUs, SoftHSM2 {SOFTHSM_MODULE}, {args.seconds:g} s per row in {args.rounds} "
          f"interleaved bursts, total {time.perf_counter() - started:.0f} s, load average {os.getloadavg()[0]:.1f}")
    print(table(results))


if __name__ == "__main__":
    main()
