"""dns-persist-01 (draft-ietf-acme-dns-persist): a standing TXT record authorises issuance.

The record at ``_validation-persist.<name>`` is a CAA issue-value (RFC 8659 section 4)::

    <issuer-domain-name>; accounturi=<account URL>[; policy=wildcard][; persistUntil=<unix seconds>]

It authorises the account it names when its issuer domain name is one of the
provisioner's ``issuerDomainNames`` (compared in normal form), its ``accounturi`` is
the account's URL (exact string comparison), ``persistUntil`` (if any) has not
passed, and, for a wildcard or for a subdomain of the name holding the record,
it has ``policy=wildcard`` (tags and that value case-insensitive). Records of
other CAs are ignored, so are unknown tags. The name itself is looked up first,
then its parent domains (never a single label), which count only with
``policy=wildcard``. Problems as the draft suggests: ``malformed`` for a
record of ours that does not parse, ``unauthorized`` when none authorises, ``dns``
when a lookup fails.
"""

from __future__ import annotations

import datetime
import re
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from appliance.acme.challenges import ValidationTarget
from appliance.acme.models import Identifier
from appliance.acme.problems import AcmeError, Problem
from appliance.pki.domain_names import normal_domain_name

PREFIX = "_validation-persist"
WSP = " \t"
TAG = re.compile(r"[A-Za-z0-9](?:-*[A-Za-z0-9])*")
VALUE = re.compile(r"[\x21-\x3a\x3c-\x7e]*")
KNOWN_TAGS = ("accounturi", "policy", "persistuntil")
MAX_NAMES = 10  # the name and at most 9 parent domains
MAX_REASONS = 5  # reasons quoted in one problem


@dataclass(frozen=True)
class PersistRecord:
    issuer: str
    account_uri: str
    wildcard: bool
    persist_until: int | None  # unix seconds


class RecordError(ValueError):
    """A record that does not parse; ``issuer`` is its issuer domain name (normal form,
    "" when that part is bad), so that other CAs' records are told apart."""

    def __init__(self, issuer: str, reason: str) -> None:
        super().__init__(reason)
        self.issuer = issuer
        self.reason = reason


def parse_record(text: str) -> PersistRecord:
    """A TXT record's text (its strings joined) as a record; ``RecordError`` if malformed."""
    head, *parts = text.split(";")
    try:
        issuer = normal_domain_name(head.strip(WSP))
    except ValueError:
        raise RecordError("", "the issuer-domain-name is not a domain name") from None
    if len(parts) == 1 and not parts[0].strip(WSP):
        parts = []  # "issuer;": an empty parameter list
    values: dict[str, str] = {}
    for part in parts:
        tag, equals, value = (p.strip(WSP) for p in part.partition("="))
        if not equals or not TAG.fullmatch(tag):
            raise RecordError(issuer, "a parameter is not tag=value")
        if not VALUE.fullmatch(value):
            raise RecordError(issuer, f"the value of {tag} holds a character a CAA value may not")
        key = tag.lower()
        if key in values:
            raise RecordError(issuer, f"{tag} is given twice")
        if key in KNOWN_TAGS:
            values[key] = value
    if not values.get("accounturi"):
        raise RecordError(issuer, "the record has no accounturi")
    until = values.get("persistuntil")
    if until is not None and not until.isdigit():
        raise RecordError(issuer, "persistUntil is not a number of seconds")
    return PersistRecord(issuer, values["accounturi"], values.get("policy", "").lower() == "wildcard",
                         None if until is None else int(until))


def refusal(record: PersistRecord, account_uri: str, wide: bool, now: datetime.datetime) -> str | None:
    """Why ``record`` does not authorise the account at ``now`` (``wide``: for a wildcard
    or a subdomain), or None if it does."""
    if record.account_uri != account_uri:
        return "its accounturi is not this account's URL"
    if wide and not record.wildcard:
        return "it lacks policy=wildcard, needed for a wildcard or a subdomain"
    if record.persist_until is not None and now.timestamp() > record.persist_until:
        return "its persistUntil has passed"
    return None


def lookup_names(name: str) -> Iterator[str]:
    """``name``, then its parent domains down to two labels (``MAX_NAMES`` in all)."""
    labels = name.split(".")
    for start in range(min(MAX_NAMES, max(1, len(labels) - 1))):
        yield ".".join(labels[start:])


def validate_dns_persist01(target: ValidationTarget, identifier: Identifier, wildcard: bool, account_uri: str,
                           issuers: tuple[str, ...], now: Callable[[], datetime.datetime]) -> None:
    """One attempt: returns if a record authorises, else raises the problem."""
    deadline = time.monotonic() + target.timeout
    malformed: list[str] = []
    refused: list[str] = []
    for depth, name in enumerate(lookup_names(identifier.value)):
        owner = f"{PREFIX}.{name}"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AcmeError(Problem.DNS, f"looking up TXT {owner}: out of time")
        for text in target.find_txt(owner, lifetime=remaining):
            try:
                record = parse_record(text)
            except RecordError as exc:
                if exc.issuer in issuers:
                    malformed.append(f"{owner}: {exc.reason}")
                continue
            if record.issuer not in issuers:
                continue
            reason = refusal(record, account_uri, wildcard or depth > 0, now())
            if reason is None:
                return
            refused.append(f"{owner}: {reason}")
    if malformed:
        raise AcmeError(Problem.MALFORMED, "; ".join(malformed[:MAX_REASONS]))
    if refused:
        raise AcmeError(Problem.UNAUTHORIZED, "; ".join(refused[:MAX_REASONS]))
    raise AcmeError(Problem.UNAUTHORIZED,
                    f"no TXT record at {PREFIX}.{identifier.value} names this CA ({', '.join(issuers)})")
