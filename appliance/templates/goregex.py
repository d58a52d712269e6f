"""Go RE2 patterns (sprig's regex functions) compiled by Python's ``re``.

The pattern is translated where the two differ: ``$`` is the end of the text unless
``(?m)``, ``\\z`` is ``\\Z``, ``\\d \\w \\s`` are ASCII, POSIX classes (``[[:alpha:]]``) and
``\\Q...\\E`` are expanded; what RE2 refuses (look-around, back-references, ``\\Z``) is
refused. Not translated (refused with an error): Unicode classes ``\\p{...}``, the ungreedy
flag ``U`` and flags set in the middle of a pattern."""

from __future__ import annotations

import functools
import re

from appliance.templates.errors import TemplateError

_POSIX = {"alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
          "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~",
          "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_",
          "xdigit": "0-9A-Fa-f"}
_PERL = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}


def _refuse(pattern: str, what: str) -> TemplateError:
    return TemplateError(f"error parsing regexp: {what}: `{pattern}`")


def _escape(pattern: str, index: int, in_class: bool, out: list[str]) -> int:
    if index + 1 >= len(pattern):
        raise _refuse(pattern, "trailing backslash at end of expression")
    char = pattern[index + 1]
    if char.isdigit() and char != "0":
        raise _refuse(pattern, "invalid escape sequence")
    if char in "ZG" or char in "pP":
        raise _refuse(pattern, "invalid or unsupported escape sequence")
    if char == "Q":
        end = pattern.find("\\E", index + 2)
        literal = pattern[index + 2:] if end < 0 else pattern[index + 2:end]
        out.append(re.escape(literal))
        return len(pattern) if end < 0 else end + 2
    if char == "z" and not in_class:
        out.append("\\Z")
    elif char.lower() in _PERL:
        ranges = _PERL[char.lower()]
        if char.islower():
            out.append(ranges if in_class else f"[{ranges}]")
        elif in_class:
            out.append("\\" + char)
        else:
            out.append(f"[^{ranges}]")
    else:
        out.append("\\" + char)
    return index + 2


def _flags(pattern: str, index: int, multiline: bool) -> tuple[bool, bool]:
    """(multiline after this group, whether the group sets flags globally)."""
    match = re.match(r"\(\?([a-zA-Z-]*)([:)])", pattern[index:])
    if match is None:
        raise _refuse(pattern, "invalid or unsupported Perl syntax")
    flags, closer = match.group(1), match.group(2)
    if set(flags) - set("imsU-") or "U" in flags:
        raise _refuse(pattern, "invalid or unsupported Perl syntax")
    on = flags.split("-")[0]
    return (multiline or "m" in on) if closer == ")" else multiline, closer == ")"


@functools.lru_cache(maxsize=256)
def compile_go(pattern: str) -> re.Pattern[str]:
    """``pattern`` as Go's ``regexp.Compile`` reads it."""
    out: list[str] = []
    index, in_class, class_start, multiline = 0, False, 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index = _escape(pattern, index, in_class, out)
            continue
        if in_class:
            if pattern.startswith("[:", index):
                end = pattern.find(":]", index + 2)
                name = pattern[index + 2:end] if end > 0 else ""
                if name not in _POSIX:
                    raise _refuse(pattern, "invalid character class range")
                out.append(_POSIX[name])
                index = end + 2
                continue
            if char == "]" and index > class_start:
                in_class = False
            elif char == "[":
                out.append("\\[")
                index += 1
                continue
            out.append(char)
            index += 1
            continue
        if char == "[":
            in_class = True
            out.append(char)
            index += 1
            if pattern.startswith("^", index):
                out.append("^")
                index += 1
            class_start = index + 1 if pattern.startswith("]", index) else index
            if pattern.startswith("]", index):
                out.append("\\]")
                index += 1
            continue
        if pattern.startswith("(?", index) and not pattern.startswith("(?P<", index):
            multiline, global_flags = _flags(pattern, index, multiline)
            if global_flags and index != 0:
                raise _refuse(pattern, "flags in the middle of a pattern are not supported here")
        if char == "$" and not multiline:
            out.append("\\Z")
            index += 1
            continue
        out.append(char)
        index += 1
    if in_class:
        raise _refuse(pattern, "missing closing ]")
    try:
        return re.compile("".join(out))
    except re.error as exc:
        raise _refuse(pattern, str(exc)) from None
