from __future__ import annotations

import datetime
from typing import Any

import pytest

from appliance.errors import BadRequest, NotFound, Unauthorized
from appliance.jose import UnverifiedToken, encrypt_jwk, generate_jwk, public_dict, sign
from appliance.provisioner import Audiences, Claimer, Collection, JWKProvisioner, ProvisionerContext

SHA = "ab" * 32
NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)  # the provisioners' clock
T = int(NOW.timestamp())
STARTED = NOW - datetime.timedelta(minutes=10)
KEY = generate_jwk()


def _context(**kw: Any) -> ProvisionerContext:
    return ProvisionerContext(audiences=Audiences(frozenset({"ca.test"})), root_fingerprint=SHA,
                              started_at=kw.pop("started_at", STARTED), claims=Claimer(), now=lambda: NOW, **kw)


def _provisioner(**config: Any) -> JWKProvisioner:
    return JWKProvisioner({"type": "JWK", "name": "p", "key": public_dict(KEY), **config}, _context())


def _token(key: Any = KEY, **overrides: Any) -> UnverifiedToken:
    now = T
    claims = {"iss": "p", "aud": "https://ca.test/1.0/sign", "sub": "host.test", "nbf": now, "iat": now,
              "exp": now + 300, "jti": "j1", "sha": SHA}
    claims.update(overrides)
    return UnverifiedToken.parse(sign({k: v for k, v in claims.items() if v is not None}, key))


def test_valid_sign_token() -> None:
    options = _provisioner().authorize_sign(_token(sans=["host.test", "10.1.1.1"]))
    assert options.subject == "host.test"
    assert options.names.as_strings() == ("host.test", "10.1.1.1")
    assert options.token.token_id == "j1"


def test_sub_is_the_only_name_without_sans() -> None:
    assert _provisioner().authorize_sign(_token()).names.as_strings() == ("host.test",)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"iss": "other"}, "issuer"),
    ({"aud": "https://ca.test/1.0/revoke"}, "audience"),
    ({"aud": "https://evil.test/1.0/sign"}, "audience"),
    ({"exp": T - 120, "nbf": T - 300, "iat": T - 300}, "expired"),
    ({"nbf": T + 600, "exp": T + 700}, "not valid yet"),
    ({"exp": T + 3600}, "5 minutes"),
    ({"exp": None}, "expiry"),
    ({"nbf": None, "iat": None}, "neither nbf nor iat"),
    ({"exp": "soon"}, "must be a number"),
    ({"sha": "cd" * 32}, "fingerprint"),
    ({"sha": None}, "fingerprint"),
    ({"sub": ""}, "'sub'"),
    ({"jti": None}, "'jti'"),
    ({"sans": "host.test"}, "sans"),
    ({"iat": int(STARTED.timestamp()) - 60}, "before the CA started"),
])
def test_refused_tokens(overrides: dict, message: str) -> None:
    with pytest.raises(Unauthorized, match=message):
        _provisioner().authorize_sign(_token(**overrides))


def test_wrong_key_refused() -> None:
    with pytest.raises(Unauthorized, match="signature"):
        _provisioner().authorize_sign(_token(key=generate_jwk()))


def test_disable_issued_at_check() -> None:
    p = _provisioner(claims={"disableIssuedAtCheck": True})
    old = int(STARTED.timestamp()) - 60
    assert p.authorize_sign(_token(iat=old)).subject == "host.test"


def test_leeway_of_one_minute() -> None:
    now = T
    assert _provisioner().authorize_sign(_token(nbf=now - 330, iat=now - 330, exp=now - 30)).subject


def test_revoke_token_names_serial() -> None:
    auth = _provisioner().authorize_revoke(_token(sub="1234", aud="https://ca.test/revoke"))
    assert auth.serial == "1234"
    with pytest.raises(Unauthorized, match="audience"):
        _provisioner().authorize_revoke(_token(sub="1234"))


def test_private_key_in_config_refused() -> None:
    with pytest.raises(BadRequest, match="public key only"):
        JWKProvisioner({"type": "JWK", "name": "p", "key": KEY.export(as_dict=True)}, _context())


def test_collection_lookup_paging_and_encrypted_key() -> None:
    other = generate_jwk("OKP")
    configs = [
        {"type": "JWK", "name": "p", "key": public_dict(KEY), "encryptedKey": encrypt_jwk(KEY, b"pw", iterations=1000)},
        {"type": "jwk", "name": "q", "key": public_dict(other)},
    ]
    collection = Collection.from_config(configs, _context())
    assert len(collection) == 2
    assert collection.for_token(_token()).name == "p"
    with pytest.raises(Unauthorized, match="no provisioner"):
        collection.for_token(_token(iss="q"))  # q exists but not with this kid
    assert collection.for_token(_token(key=other, iss="q")).name == "q"
    first, cursor = collection.page(limit=1)
    assert [p["name"] for p in first] == ["p"] and cursor
    second, end = collection.page(cursor, limit=1)
    assert [p["name"] for p in second] == ["q"] and end == ""
    assert collection.encrypted_key(KEY.get("kid")).count(".") == 4
    with pytest.raises(NotFound):
        collection.encrypted_key(other.get("kid"))
    with pytest.raises(BadRequest, match="unknown type"):
        Collection.from_config([{"type": "MAGIC", "name": "m"}], _context())
