"""The hash chain and its checkpoints, as pure functions: what a record's hash covers,
how a checkpoint is signed and checked, and the verification of a whole chain."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

GENESIS = "0" * 64
CHECKPOINT_CONTEXT = b"appliance audit checkpoint v1\n"


@dataclass(frozen=True)
class AuditRecord:
    """One record: ``data`` is the canonical JSON text that the hash covers."""

    seq: int
    at: str
    event: str
    data: str
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "event": self.event, "data": json.loads(self.data),
                "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass(frozen=True)
class Checkpoint:
    """A signature over the chain's hash at record ``seq``, by the key whose SPKI SHA-256 is ``key_id``."""

    seq: int
    hash: str
    at: str
    key_id: str
    signature: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": self.at, "key_id": self.key_id, "signature": self.signature}


def canonical(data: dict[str, Any]) -> str:
    """The JSON text a record stores and hashes: sorted keys, no spaces, ASCII only."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def record_hash(seq: int, at: str, event: str, data: str, prev_hash: str) -> str:
    """SHA-256 (hex) over the record's fields and the previous record's hash, one per line
    (none of them can hold a newline: ``data`` is JSON, ``event`` and ``at`` are checked)."""
    text = "\n".join((str(seq), at, event, data, prev_hash))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key_id(public_key: PublicKeyTypes) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _checkpoint_message(seq: int, chain_hash: str, at: str) -> bytes:
    return CHECKPOINT_CONTEXT + f"{seq}\n{chain_hash}\n{at}".encode("ascii")


def sign_checkpoint(key: PrivateKeyTypes, seq: int, chain_hash: str, at: str) -> Checkpoint:
    """Sign the head ``(seq, chain_hash)`` with ``key`` (a KMS signer): ECDSA or RSA
    PKCS#1 v1.5 with SHA-256, or Ed25519."""
    message = _checkpoint_message(seq, chain_hash, at)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(message)
    else:
        raise ValueError(f"an audit checkpoint key must be EC, RSA or Ed25519, not {type(key).__name__}")
    return Checkpoint(seq, chain_hash, at, key_id(key.public_key()), base64.b64encode(signature).decode("ascii"))


def checkpoint_verifies(checkpoint: Checkpoint, public_key: PublicKeyTypes) -> bool:
    """The checkpoint was signed by ``public_key``'s private key."""
    message = _checkpoint_message(checkpoint.seq, checkpoint.hash, checkpoint.at)
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, message)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass
class Verification:
    """What ``verify_chain`` found: the records and checkpoints checked and every problem."""

    records: int = 0
    last_seq: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "records": self.records, "last_seq": self.last_seq,
                "checkpoints": self.checkpoints, "problems": list(self.problems)}


def verify_chain(records: Iterable[AuditRecord], checkpoints: Iterable[Checkpoint], head: tuple[int, str], *,
                 start: int = 1, public_key: PublicKeyTypes | None = None) -> Verification:
    """Check the records from ``start`` (in ``seq`` order): each hash, each link to the
    previous one, no gap (a deleted record) and no extra record, up to the head
    ``(seq, hash)``; every checkpoint from ``start`` on names a hash of the chain and,
    given ``public_key``, carries its valid signature."""
    found = Verification()
    pending = {c.seq: c for c in checkpoints if c.seq >= start}
    found.checkpoints = len(pending)
    for checkpoint in pending.values():
        if public_key is not None and (checkpoint.key_id != key_id(public_key)
                                       or not checkpoint_verifies(checkpoint, public_key)):
            found.problems.append(f"checkpoint at record {checkpoint.seq}: bad signature")
    expected_seq, previous = start, None
    for record in records:
        found.records += 1
        if record.seq != expected_seq:
            found.problems.append(f"record {expected_seq}: missing (next is record {record.seq})"
                                  if record.seq > expected_seq else f"record {record.seq}: out of order")
        if previous is not None and record.prev_hash != previous:
            found.problems.append(f"record {record.seq}: does not link to the record before it")
        if record.hash != record_hash(record.seq, record.at, record.event, record.data, record.prev_hash):
            found.problems.append(f"record {record.seq}: its content does not match its hash (edited)")
        covering = pending.pop(record.seq) if record.seq in pending else None
        if covering is not None and covering.hash != record.hash:
            found.problems.append(f"checkpoint at record {record.seq}: the chain there has another hash")
        previous, expected_seq, found.last_seq = record.hash, record.seq + 1, record.seq
    for seq in sorted(pending):
        found.problems.append(f"checkpoint at record {seq}: the record is missing (chain truncated)")
    head_seq, head_hash = head
    if head_seq >= start and found.last_seq != head_seq:
        found.problems.append(f"the chain ends at record {found.last_seq} but its head is record {head_seq} "
                              "(records deleted or added behind the log's back)")
    elif head_seq >= start and previous != head_hash:
        found.problems.append(f"record {head_seq}: does not match the chain's head hash")
    return found
