"""pkilint's validator containers with the same results, found faster.

A ``ValidatorContainer`` asks every one of its validators whether it ``match``es
every node of the document (~3,000 calls per leaf certificate, most of pkilint's
time). A validator whose ``match`` is pkilint's own ``NodeVisitor.match`` can only
match a node whose path equals its ``path``, whose path its ``path_re`` matches and
whose value is an instance of its ``pdu_class``: facts of the node's path and value
type alone; so can one whose ``match`` first calls that one (pkilint's
``TypeMatchingValidator`` and ``ExtensionCriticalityValidator``, read in pkilint 0.13).
``index`` gives each container a walk that asks, for each node, only the
validators left after those three tests (memoised per path and type, in the
original order); each still runs its own ``match`` (supertype, predicate), so the
findings and their order are exactly pkilint's. Validators with any other ``match``
are always asked. ``tests/lint`` compares the findings with pkilint's own walk.
"""

from __future__ import annotations

import functools
from typing import Any

from pkilint import validation
from pkilint.document import NodeVisitor, PDUNode
from pkilint.pkix.extension import ExtensionCriticalityValidator

#: Distinct (path, value type) pairs remembered per container; a document with more
#: (thousands of extensions or names) is still linted, its other nodes unmemoised.
MEMO_LIMIT = 4096


#: ``match`` methods that return False whenever ``NodeVisitor.match`` does.
_PATH_BOUND = frozenset({NodeVisitor.match, validation.TypeMatchingValidator.match,
                         ExtensionCriticalityValidator.match})


def _static(validator: validation.Validator) -> bool:
    return type(validator).match in _PATH_BOUND


def _may_match(validator: Any, path: str, pdu_type: type) -> bool:
    """What pkilint's ``NodeVisitor.match`` decides from the path and value type alone."""
    if validator._path is not None and validator._path != path:
        return False
    if validator._path_re is not None and validator._path_re.match(path) is None:
        return False
    return validator._pdu_class is None or issubclass(pdu_type, validator._pdu_class)


class _Walk:
    """``ValidatorContainer._validate_rec`` over the validators that may match each node."""

    def __init__(self, container: validation.ValidatorContainer) -> None:
        self._validators = list(container.validators)
        self._memo: dict[tuple[str, type], list[validation.Validator]] = {}

    def _candidates(self, path: str, pdu_type: type) -> list[validation.Validator]:
        key = (path, pdu_type)
        found = self._memo.get(key)
        if found is None:
            found = [v for v in self._validators if not _static(v) or _may_match(v, path, pdu_type)]
            if len(self._memo) < MEMO_LIMIT:
                self._memo[key] = found
        return found

    def __call__(self, node: PDUNode, results: list[validation.ValidationResult]) -> None:
        for validator in self._candidates(node.path, type(node.pdu)):
            if validator.match(node):
                result = validator.validate_wrapper(node)
                if isinstance(result, list):
                    results += result
                else:
                    results.append(result)
        for child in node.children.values():
            self(child, results)


def index(container: validation.ValidatorContainer) -> validation.ValidatorContainer:
    """``container`` and every container inside it walking with ``_Walk``; returns ``container``."""
    pending: list[Any] = [container]
    seen: set[int] = set()
    while pending:
        validator = pending.pop()
        if id(validator) in seen:
            continue
        seen.add(id(validator))
        if isinstance(validator, validation.ValidatorContainer):
            validator._validate_rec = _Walk(validator)
            pending.extend(validator.validators)
    return container


#: Distinct (check, string) answers remembered by ``remember_syntax_checks``.
SYNTAX_MEMO = 4096


def remember_syntax_checks() -> None:
    """pkilint's URI, domain-name and e-mail syntax checks (``validators`` library regexes behind
    ``pkilint.pkix.general_name.validators_predicate``, a pure function of the check and the
    string) answered once per string: every leaf repeats the CA's own CRL and AIA URLs and a
    renewal its names. Same answers, so the same findings; idempotent."""
    from pkilint.pkix import general_name

    if hasattr(general_name.validators_predicate, "cache_info"):
        return
    general_name.validators_predicate = functools.lru_cache(maxsize=SYNTAX_MEMO)(general_name.validators_predicate)
