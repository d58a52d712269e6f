from __future__ import annotations

import pytest
from pyasn1.codec.der import decoder

from appliance.errors import BadRequest
from appliance.provisioner import ProvisionerExtension


def test_der_matches_step_ca_encoding() -> None:
    # SEQUENCE { INTEGER 1, OCTET STRING "p", OCTET STRING "k" }, keyValuePairs omitted when empty
    assert ProvisionerExtension(1, "p", "k").to_der() == bytes.fromhex("3009020101040170" "04016b")


def test_key_value_pairs_are_a_sequence_of_utf8_strings() -> None:
    der = ProvisionerExtension(1, "p", "k", ("a=b",)).to_der()
    assert der == bytes.fromhex("3010020101040170" "04016b" "3005" "0c03613d62")


def test_independent_decoder_reads_it() -> None:
    der = ProvisionerExtension(7, "name with ünïcode", "x" * 200, ("k=v", "a=b")).to_der()
    decoded, rest = decoder.decode(der)
    assert rest == b""
    assert int(decoded[0]) == 7
    assert bytes(decoded[1]).decode() == "name with ünïcode"
    assert bytes(decoded[2]) == b"x" * 200
    assert [str(s) for s in decoded[3]] == ["k=v", "a=b"]


def test_round_trip() -> None:
    ext = ProvisionerExtension(1, "admin@example.com", "kid-123", ("x=y",))
    assert ProvisionerExtension.from_der(ext.to_der()) == ext


@pytest.mark.parametrize("bad", [b"", b"\x30\x03\x02\x01", b"\x04\x00", bytes.fromhex("3006020101040170"),
                                 bytes.fromhex("3009020101040170" "04016b") + b"\x00"])
def test_malformed_refused(bad: bytes) -> None:
    with pytest.raises(BadRequest):
        ProvisionerExtension.from_der(bad)
