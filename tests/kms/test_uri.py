from __future__ import annotations

import pytest

from appliance.kms.errors import InvalidKmsUri
from appliance.kms.uri import parse_uri


def test_pkcs11_uri_attributes_and_query() -> None:
    uri = parse_uri("pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=ca;id=7331;object=int-key?pin-value=s3cret")
    assert uri.scheme == "pkcs11"
    assert uri.get("token") == "ca"
    assert uri.get_bytes("id") == b"\x73\x31"
    assert uri.pin() == "s3cret"


def test_percent_encoding_is_decoded() -> None:
    uri = parse_uri("pkcs11:token=my%20token;id=%01%02;object=a%3Bb")
    assert uri.get("token") == "my token"
    assert uri.get_bytes("id") == b"\x01\x02"
    assert uri.get("object") == "a;b"


def test_pin_source_reads_first_line(tmp_path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("123456\n")
    assert parse_uri(f"pkcs11:token=t?pin-source={pin_file}").pin() == "123456"


def test_missing_pin_source_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(InvalidKmsUri, match="pin-source"):
        parse_uri(f"pkcs11:token=t?pin-source={tmp_path}/absent").pin()


def test_resource_style_uri() -> None:
    uri = parse_uri("cloudkms:projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1")
    assert uri.resource == "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"


def test_bare_path_is_softkms() -> None:
    uri = parse_uri("/keys/int.key", default_scheme="softkms")
    assert (uri.scheme, uri.get("path")) == ("softkms", "/keys/int.key")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("/keys/a.key", "missing scheme"),
        ("pkcs11:token=a;token=b", "'token' given twice"),
        ("pkcs11:id=%zz", "percent-encoding"),
        ("pkcs11:=x", "empty attribute name"),
        ("pkcs11:a;b", "segment 'b'"),
        ("pkcs11:token=a?pin-value", "query values"),
    ],
)
def test_malformed_uris_name_the_bad_part(raw: str, message: str) -> None:
    with pytest.raises(InvalidKmsUri, match=message):
        parse_uri(raw)


def test_errors_and_str_never_show_the_pin() -> None:
    uri = parse_uri("pkcs11:token=ca;pin-value=topsecret?pin-value=alsosecret")
    assert "secret" not in str(uri) and "secret" not in repr(uri)
    with pytest.raises(InvalidKmsUri) as err:
        parse_uri("pkcs11:token=ca?pin-value=topsecret&pin-value=again")
    assert "topsecret" not in str(err.value)


def test_key_uri_merges_over_kms_uri() -> None:
    kms = parse_uri("pkcs11:module-path=/m.so;token=ca?pin-value=1")
    merged = kms.merged(parse_uri("pkcs11:id=01;object=k"))
    assert merged.get("module-path") == "/m.so" and merged.get("object") == "k" and merged.pin() == "1"
    with pytest.raises(InvalidKmsUri, match="does not match"):
        kms.merged(parse_uri("awskms:key-id=x"))


@pytest.mark.parametrize("attribute", ["management-key", "client-secret", "pin-value", "password-value"])
def test_secret_attributes_in_the_path_are_masked(attribute: str) -> None:
    uri = parse_uri(f"azurekms:name=k;vault=v;{attribute}=hunter2")
    assert "hunter2" not in str(uri) and "hunter2" not in repr(uri)
    assert "name=k" in str(uri)
