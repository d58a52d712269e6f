"""Split a PIN or password into M-of-N SLIP-39 shares for the key custodians.

SLIP-39 shares a master secret of at least 16 bytes and even length; a PIN is
shorter, so it is framed as one length byte, the secret, and zero padding to
32 bytes (every secret up to 31 bytes gives shares of the same length).
"""

from __future__ import annotations

import shamir_mnemonic

from appliance.errors import BadRequest

_MIN_FRAME = 32
MAX_SECRET = 255


def _frame(secret: bytes) -> bytes:
    if not secret:
        raise BadRequest("the secret is empty")
    if len(secret) > MAX_SECRET:
        raise BadRequest(f"the secret is longer than {MAX_SECRET} bytes")
    framed = bytes([len(secret)]) + secret
    size = max(_MIN_FRAME, len(framed) + len(framed) % 2)
    return framed.ljust(size, b"\0")


def _unframe(master: bytes) -> bytes:
    length = master[0] if master else 0
    if not 0 < length < len(master) or any(master[1 + length:]):
        raise BadRequest("the shares do not hold a secret split by appliance")
    return master[1 : 1 + length]


def split_secret(secret: bytes, threshold: int, shares: int) -> list[str]:
    """``shares`` SLIP-39 mnemonics, any ``threshold`` of which give back ``secret``."""
    if not 1 <= threshold <= shares <= 16:
        raise BadRequest("need 1 <= threshold <= shares <= 16")
    if threshold == 1 and shares > 1:
        raise BadRequest("a threshold of 1 would give every custodian the whole secret; use at least 2")
    groups = shamir_mnemonic.generate_mnemonics(1, [(threshold, shares)], _frame(secret))
    return groups[0]


def combine_secret(mnemonics: list[str]) -> bytes:
    """The secret from at least ``threshold`` shares of one split (extra shares are not needed:
    SLIP-39 takes exactly the threshold, so the first ones given are used)."""
    normalised = list(dict.fromkeys(" ".join(m.split()) for m in mnemonics))
    try:
        threshold = shamir_mnemonic.Share.from_mnemonic(normalised[0]).member_threshold if normalised else 0
        master = shamir_mnemonic.combine_mnemonics(normalised[:threshold])
    except shamir_mnemonic.MnemonicError as exc:
        raise BadRequest(f"cannot combine the shares: {exc}") from None
    return _unframe(master)
