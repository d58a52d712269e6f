"""Fixtures: ceremony files on softkms (fast) and on two SoftHSM2 tokens (the
offline root HSM and the online CA's HSM)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.ceremony.files import Ceremonies, Hsm, softhsm_hsm, softkms_hsm
from tests.conftest import SoftHSMToken, init_softhsm_token

BACKENDS = ["softkms", pytest.param("softhsm", marks=pytest.mark.hsm)]


def make_hsm(backend: str, folder: Path, role: str, request: pytest.FixtureRequest) -> Hsm:
    folder.mkdir(parents=True, exist_ok=True)
    if backend == "softkms":
        return softkms_hsm(folder)
    token: SoftHSMToken = (request.getfixturevalue("softhsm_token") if role == "root"
                           else init_softhsm_token(f"{role}-{secrets.token_hex(4)}"))
    return softhsm_hsm(token, folder)


def make_ceremonies(backend: str, folder: Path, request: pytest.FixtureRequest) -> Ceremonies:
    work = folder / "ceremony"
    work.mkdir(parents=True)
    return Ceremonies(work, make_hsm(backend, folder / "root-side", "root", request),
                      make_hsm(backend, folder / "online-side", "online", request))


@pytest.fixture(params=BACKENDS)
def ceremonies(request: pytest.FixtureRequest, tmp_path: Path) -> Ceremonies:
    return make_ceremonies(request.param, tmp_path, request)


@pytest.fixture
def soft_ceremonies(request: pytest.FixtureRequest, tmp_path: Path) -> Ceremonies:
    return make_ceremonies("softkms", tmp_path, request)
