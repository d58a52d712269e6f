"""The lexer of Go's ``text/template`` language (``text/template/parse/lex.go``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.templates.errors import TemplateError

KEYWORDS = frozenset({"block", "break", "continue", "define", "else", "end", "if", "range", "nil", "template",
                      "with"})
_SPACE = " \t\r\n"
_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]+)?"
    r"|0[oO][0-7_]+|0[bB][01_]+|[0-9_]*\.?[0-9_]*(?:[eE][+-]?[0-9_]+)?)i?"
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD = re.compile(r"\w*")


@dataclass(frozen=True)
class Item:
    """One token: kind, text and where it starts."""

    kind: str
    text: str
    pos: int


def position(text: str, pos: int) -> str:
    """``line:column`` (both from 1) of an offset."""
    line = text.count("\n", 0, pos) + 1
    return f"{line}:{pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"


def _is_trim_open(text: str, at: int) -> bool:
    return text.startswith("-", at) and len(text) > at + 1 and text[at + 1] in _SPACE


class Lexer:
    """Split a template into text and action tokens; errors carry the position."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.items: list[Item] = []

    def error(self, message: str, pos: int) -> TemplateError:
        return TemplateError(f"template: {self.name}:{position(self.text, pos)}: {message}")

    def run(self) -> list[Item]:
        text, pos = self.text, 0
        while pos < len(text):
            start = text.find("{{", pos)
            if start < 0:
                self.items.append(Item("text", text[pos:], pos))
                break
            end_text = start
            inner = start + 2
            if _is_trim_open(text, inner):
                end_text = len(text[pos:start].rstrip(_SPACE)) + pos
                inner += 2
            if end_text > pos:
                self.items.append(Item("text", text[pos:end_text], pos))
            pos = self._action(inner)
        self.items.append(Item("eof", "", len(text)))
        return self.items

    def _close_at(self, pos: int) -> tuple[int, bool] | None:
        """(end of the closing delimiter, trims) if an action closes at ``pos``."""
        text = self.text
        if text.startswith("}}", pos):
            return pos + 2, False
        if text[pos:pos + 1] in _SPACE and text.startswith("-}}", pos + 1):
            return pos + 4, True
        return None

    def _after_close(self, end: int, trims: bool) -> int:
        if not trims:
            return end
        rest = self.text[end:]
        return end + len(rest) - len(rest.lstrip(_SPACE))

    def _action(self, pos: int) -> int:
        text = self.text
        if text.startswith("/*", pos):
            close = text.find("*/", pos + 2)
            if close < 0:
                raise self.error("unclosed comment", pos)
            done = self._close_at(close + 2)
            if done is None:
                raise self.error("comment ends before closing delimiter", pos)
            return self._after_close(*done)
        self.items.append(Item("{{", "{{", pos))
        depth = 0
        while True:
            if pos >= len(text):
                raise self.error("unclosed action", pos)
            done = self._close_at(pos)
            if done is not None:
                if depth:
                    raise self.error("unclosed left paren", pos)
                self.items.append(Item("}}", "}}", pos))
                return self._after_close(*done)
            if text[pos] in _SPACE:
                stop = pos
                while stop < len(text) and text[stop] in _SPACE:
                    stop += 1
                if text.startswith("-}}", stop) and stop - pos > 0:
                    stop -= 1
                    if stop == pos:
                        continue
                self.items.append(Item("space", text[pos:stop], pos))
                pos = stop
                continue
            pos = self._token(pos)
            last = self.items[-1].kind
            depth += 1 if last == "(" else -1 if last == ")" else 0
            if depth < 0:
                raise self.error("unexpected right paren", pos)

    def _token(self, pos: int) -> int:
        text = self.text
        char = text[pos]
        if text.startswith(":=", pos):
            return self._emit("declare", pos, pos + 2)
        if char in "=|(),":
            return self._emit({"=": "assign"}.get(char, char), pos, pos + 1)
        if char == '"':
            return self._emit("string", pos, self._quoted(pos, '"'))
        if char == "`":
            close = text.find("`", pos + 1)
            if close < 0:
                raise self.error("unterminated raw quoted string", pos)
            return self._emit("rawstring", pos, close + 1)
        if char == "'":
            return self._emit("char", pos, self._quoted(pos, "'"))
        if char == "$":
            match = _WORD.match(text, pos + 1)
            end = match.end() if match else pos + 1
            return self._emit("variable", pos, end)
        if char == ".":
            if pos + 1 < len(text) and text[pos + 1].isdigit():
                return self._number(pos)
            match = _WORD.match(text, pos + 1)
            end = match.end() if match else pos + 1
            return self._emit("field" if end > pos + 1 else "dot", pos, end)
        if char in "+-" or char.isdigit():
            return self._number(pos)
        if char.isalpha() or char == "_":
            match = _WORD.match(text, pos)
            end = match.end() if match else pos + 1
            word = text[pos:end]
            kind = "keyword" if word in KEYWORDS else "bool" if word in ("true", "false") else "identifier"
            return self._emit(kind, pos, end)
        raise self.error(f"unrecognized character in action: {char!r}", pos)

    def _emit(self, kind: str, start: int, end: int) -> int:
        self.items.append(Item(kind, self.text[start:end], start))
        return end

    def _quoted(self, pos: int, quote: str) -> int:
        text, index = self.text, pos + 1
        while index < len(text):
            char = text[index]
            if char == "\\":
                index += 2
                continue
            if char == "\n":
                break
            if char == quote:
                return index + 1
            index += 1
        raise self.error("unterminated quoted string", pos)

    def _number(self, pos: int) -> int:
        match = _NUMBER.match(self.text, pos)
        end = match.end() if match else pos
        if end < len(self.text) and (self.text[end].isalnum()):
            raise self.error(f"bad number syntax: {self.text[pos:end + 1]!r}", pos)
        if end == pos or self.text[pos:end] in ("+", "-"):
            raise self.error(f"bad number syntax: {self.text[pos:end + 1]!r}", pos)
        return self._emit("number", pos, end)
