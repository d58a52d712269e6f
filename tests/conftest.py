"""Fixtures shared by every test package: SoftHSM2 tokens and openssl checks."""

from __future__ import annotations

import ctypes
import itertools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from collections import Counter
from typing import Any, Callable, Iterator

import pytest

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
APPLIANCE = Path(sys.executable).parent / "appliance"  # the command line of the environment running the tests
_token_numbers = itertools.count(1)
FUZZ_CASES = "fuzz cases"  # the user property in which tests/fuzz reports each test's cases
_fuzz_cases: Counter[str] = Counter()


def pytest_configure(config: pytest.Config) -> None:
    """SoftHSM2 reads SOFTHSM2_CONF once, when the module is first initialised
    in this process: point it at a private token directory before any test runs."""
    base = Path(config.rootpath) / ".pytest-softhsm" / str(os.getpid())
    tokens = base / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with slow end-to-end tests first, each file's tests together and in order: the
    xdist workers start the long ones early instead of ending the run on them."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Sums the fuzz tests' cases, from this process's tests or from pytest-xdist's workers."""
    if report.when == "teardown":
        for name, cases in report.user_properties:
            if name == FUZZ_CASES:
                _fuzz_cases.update(cases)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _fuzz_cases:
        terminalreporter.write_sep("-", FUZZ_CASES)
        for key in sorted(_fuzz_cases):
            terminalreporter.write_line(f"{key}: {_fuzz_cases[key]}")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(Path(config.rootpath) / ".pytest-softhsm" / str(os.getpid()), ignore_errors=True)


@dataclass(frozen=True)
class SoftHSMToken:
    """A SoftHSM2 token made for a test; ``kms_uri`` opens it with its user PIN."""

    label: str
    pin: str
    so_pin: str
    module: str = SOFTHSM_MODULE

    @property
    def kms_uri(self) -> str:
        return f"pkcs11:module-path={self.module};token={self.label}?pin-value={self.pin}"


def init_softhsm_token(label: str, pin: str = "1234", so_pin: str = "5678") -> SoftHSMToken:
    """Initialise a new SoftHSM2 token in the private token directory.

    Done through the module in this process (C_InitToken on the free slot, then
    C_InitPIN), not with softhsm2-util: SoftHSM2 reads its token directory when
    it is initialised, so a token another process adds later stays invisible to
    a process that has already loaded the module. Other processes (pkcs11-tool,
    the CLI) see it, as the token is written to the directory."""
    from pkcs11 import TokenFlag

    from appliance.kms.pkcs11_module import load_module

    module = load_module(SOFTHSM_MODULE)
    with module.lock:
        free = next(s for s in module.lib.get_slots() if not s.get_token().flags & TokenFlag.TOKEN_INITIALIZED)
        c_init_token = ctypes.CDLL(module.path).C_InitToken  # python-pkcs11 does not wrap C_InitToken
        c_init_token.argtypes = [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        rv = c_init_token(free.slot_id, so_pin.encode(), len(so_pin), label.encode().ljust(32, b" "))
        if rv != 0:
            pytest.fail(f"C_InitToken for SoftHSM2 token '{label}' failed: CKR 0x{rv:x}")
        with module.lib.get_token(token_label=label).open(rw=True, so_pin=so_pin) as session:
            session.init_pin(pin)
    return SoftHSMToken(label=label, pin=pin, so_pin=so_pin)


@pytest.fixture
def softhsm_token() -> Iterator[SoftHSMToken]:
    """A fresh SoftHSM2 token for one test."""
    if not Path(SOFTHSM_MODULE).exists():
        pytest.fail("SoftHSM2 is not installed: run scripts/test.sh (it installs softhsm2)")
    yield init_softhsm_token(f"test-{os.getpid()}-{next(_token_numbers)}")


@pytest.fixture
def private_softhsm_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SoftHSMToken:
    """A SoftHSM2 token alone in a token directory of its own, for the processes this test starts.

    Programs that load the whole module (OpenSSH's ``PKCS11Provider``, ``ssh-add -s``) see every
    token of the directory; in the shared one they would trip over other tests' keys. SOFTHSM2_CONF
    is pointed at the private directory for child processes; this process keeps the shared one."""
    tokens = tmp_path / "softhsm-tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    token = SoftHSMToken(label="private", pin="1234", so_pin="5678")
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", token.label, "--pin", token.pin,
                    "--so-pin", token.so_pin], check=True, capture_output=True)
    return token


def run_openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run openssl; fail the test with its output if it exits non-zero."""
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"openssl {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def openssl() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_openssl
