"""The parser of Go's ``text/template`` language into a small node tree (``parse/parse.go``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from appliance.templates.errors import TemplateError
from appliance.templates.lexer import Item, Lexer, position


@dataclass
class Text:
    text: str


@dataclass
class Field:
    """``.A.B``: a field chain on dot."""

    names: list[str]


@dataclass
class Variable:
    """``$x.A.B``."""

    name: str
    names: list[str]


@dataclass
class Chain:
    """``(pipe).A.B`` or ``term.A``."""

    node: Node
    names: list[str]


@dataclass
class Identifier:
    """A function name."""

    name: str


@dataclass
class Dot:
    pass


@dataclass
class Nil:
    pass


@dataclass
class Constant:
    """A bool, string or number literal; ``value`` is its Python value, ``number`` its Go text."""

    value: object
    number: str = ""


@dataclass
class Command:
    args: list[Node]


@dataclass
class Pipe:
    decl: list[str]
    assign: bool
    cmds: list[Command]
    line: str = ""


@dataclass
class Action:
    pipe: Pipe
    line: str


@dataclass
class Branch:
    """``if``, ``with`` and ``range``."""

    kind: str
    pipe: Pipe
    body: list[Node]
    orelse: list[Node] | None
    line: str


@dataclass
class TemplateCall:
    name: str
    pipe: Pipe | None
    line: str


@dataclass
class Control:
    """``break`` or ``continue``."""

    kind: str
    line: str


Node = Union[Text, Field, Variable, Chain, Identifier, Dot, Nil, Constant, Command, Pipe, Action, Branch,
             TemplateCall, Control]


@dataclass
class Parsed:
    """The templates a source defines: its own body under ``name`` plus every ``define``/``block``."""

    trees: dict[str, list[Node]] = field(default_factory=dict)


_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def go_unquote(text: str, quote: str) -> str:
    """strconv.Unquote of a Go interpreted string (``quote`` ``"``) or rune (``'``) literal body."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        code = text[index + 1:index + 2]
        if code in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[code])
            index += 2
        elif code == quote:
            out.append(quote)
            index += 2
        elif code in ("x", "u", "U"):
            size = {"x": 2, "u": 4, "U": 8}[code]
            digits = text[index + 2:index + 2 + size]
            if len(digits) != size or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError("invalid syntax")
            value = int(digits, 16)
            if code == "x":
                out.append(chr(value))  # a byte; kept as the code point for text
            elif value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                raise ValueError("invalid syntax")
            else:
                out.append(chr(value))
            index += 2 + size
        elif code in "01234567" and code:
            digits = text[index + 1:index + 4]
            if len(digits) != 3 or not all(c in "01234567" for c in digits) or int(digits, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(chr(int(digits, 8)))
            index += 4
        else:
            raise ValueError("invalid syntax")
    return "".join(out)


def _unquote(item: Item) -> str:
    if item.kind == "rawstring":
        return item.text[1:-1].replace("\r", "")
    return go_unquote(item.text[1:-1], item.text[0])


class Parser:
    """Recursive descent over the lexer's items."""

    def __init__(self, name: str, text: str, functions: frozenset[str]) -> None:
        self.name = name
        self.text = text
        self.functions = functions
        self.items = Lexer(name, text).run()
        self.index = 0
        self.parsed = Parsed()
        self.scopes: list[list[str]] = [["$"]]
        self.range_depth = 0

    def error(self, message: str, item: Item | None = None) -> TemplateError:
        pos = (item or self.peek()).pos
        return TemplateError(f"template: {self.name}:{position(self.text, pos)}: {message}")

    def unquote(self, item: Item) -> str:
        try:
            return _unquote(item)
        except ValueError:
            raise self.error(f"invalid syntax: {item.text}", item) from None

    def line(self, item: Item) -> str:
        return position(self.text, item.pos)

    def peek(self) -> Item:
        return self.items[self.index]

    def next(self) -> Item:
        item = self.items[self.index]
        self.index += 1
        return item

    def peek_non_space(self) -> Item:
        while self.peek().kind == "space":
            self.index += 1
        return self.peek()

    def next_non_space(self) -> Item:
        self.peek_non_space()
        return self.next()

    def expect(self, kind: str, context: str) -> Item:
        item = self.next_non_space()
        if item.kind != kind:
            raise self.error(f"unexpected {item.text or item.kind} in {context}", item)
        return item

    # -- structure --------------------------------------------------------------

    def parse(self) -> Parsed:
        body, end = self.item_list(top=True)
        if end is not None:
            raise self.error(f"unexpected {{{{{end}}}}}")
        self._add(self.name, body)
        return self.parsed

    def _add(self, name: str, body: list[Node]) -> None:
        """``define`` may replace an empty template but not a non-empty one (Go's ``associate``)."""
        old = self.parsed.trees.get(name)
        if old is not None and _non_empty(old) and _non_empty(body):
            raise self.error(f"template: multiple definition of template {name!r}")
        if old is None or _non_empty(body) or not _non_empty(old):
            self.parsed.trees[name] = body

    def item_list(self, top: bool = False) -> tuple[list[Node], str | None]:
        """Nodes up to ``{{end}}``/``{{else}}`` (returned as the terminator) or EOF."""
        nodes: list[Node] = []
        while True:
            item = self.peek()
            if item.kind == "eof":
                if not top:
                    raise self.error("unexpected EOF")
                return nodes, None
            if item.kind == "text":
                self.next()
                nodes.append(Text(item.text))
                continue
            self.next()  # {{
            keyword = self.peek_non_space()
            if keyword.kind == "keyword" and keyword.text in ("end", "else"):
                if top:
                    raise self.error(f"unexpected {{{{{keyword.text}}}}}", keyword)
                self.next()
                return nodes, keyword.text
            node = self.action()
            if node is not None:
                nodes.append(node)

    def action(self) -> Node | None:
        item = self.peek_non_space()
        if item.kind == "keyword" and item.text != "nil":
            self.next()
            word = item.text
            if word in ("if", "with", "range"):
                return self.branch(word, item)
            if word == "template":
                return self.template_call(item)
            if word == "define":
                self.define(item)
                return None
            if word == "block":
                return self.block(item)
            if word in ("break", "continue"):
                if not self.range_depth:
                    raise self.error(f"{{{{{word}}}}} outside {{{{range}}}}", item)
                self.expect("}}", word)
                return Control(word, self.line(item))
        pipe = self.pipeline("command", "}}")
        return Action(pipe, self.line(item))

    def branch(self, kind: str, item: Item) -> Branch:
        self.scopes.append(list(self.scopes[-1]))
        pipe = self.pipeline(kind, "}}")
        if kind == "range":
            self.range_depth += 1
        body, end = self.item_list()
        if kind == "range":
            self.range_depth -= 1
        orelse: list[Node] | None = None
        if end == "else":
            following = self.peek_non_space()
            if following.kind == "keyword" and following.text == "if":
                self.next()
                orelse = [self.branch("if", following)]
                self.scopes.pop()
                return Branch(kind, pipe, body, orelse, self.line(item))
            self.expect("}}", "else")
            orelse, end = self.item_list()
            if end != "end":
                raise self.error("expected end; found {{else}}")
        self.expect("}}", "end")
        self.scopes.pop()
        return Branch(kind, pipe, body, orelse, self.line(item))

    def template_call(self, item: Item) -> TemplateCall:
        token = self.next_non_space()
        if token.kind not in ("string", "rawstring"):
            raise self.error(f"unexpected {token.text or token.kind} in template clause", token)
        name = self.unquote(token)
        pipe = None
        if self.peek_non_space().kind != "}}":
            pipe = self.pipeline("template clause", "}}")
        else:
            self.next()
        return TemplateCall(name, pipe, self.line(item))

    def define(self, item: Item) -> None:
        token = self.next_non_space()
        if token.kind not in ("string", "rawstring"):
            raise self.error("expected string constant in define clause", token)
        name = self.unquote(token)
        self.expect("}}", "define clause")
        saved, self.scopes = self.scopes, [["$"]]
        saved_range, self.range_depth = self.range_depth, 0
        body, end = self.item_list()
        self.scopes, self.range_depth = saved, saved_range
        if end != "end":
            raise self.error("unexpected {{else}} in define")
        self.expect("}}", "end")
        self._add(name, body)

    def block(self, item: Item) -> TemplateCall:
        token = self.next_non_space()
        if token.kind not in ("string", "rawstring"):
            raise self.error("expected string constant in block clause", token)
        name = self.unquote(token)
        pipe = self.pipeline("block clause", "}}")
        saved, self.scopes = self.scopes, [["$"]]
        saved_range, self.range_depth = self.range_depth, 0
        body, end = self.item_list()
        self.scopes, self.range_depth = saved, saved_range
        if end != "end":
            raise self.error("unexpected {{else}} in block")
        self.expect("}}", "end")
        self._add(name, body)
        return TemplateCall(name, pipe, self.line(item))

    # -- pipelines ----------------------------------------------------------------

    def pipeline(self, context: str, end: str) -> Pipe:
        decl: list[str] = []
        assign = False
        start = self.index
        first = self.peek_non_space()
        if first.kind == "variable":
            self.next()
            after = self.peek_non_space()
            if after.kind in ("declare", "assign"):
                self.next()
                decl, assign = [first.text], after.kind == "assign"
            elif after.kind == "," and context == "range":
                self.next()
                second = self.next_non_space()
                if second.kind != "variable":
                    raise self.error(f"range can only initialize variables: {second.text}", second)
                operator = self.next_non_space()
                if operator.kind not in ("declare", "assign"):
                    raise self.error(f"expected := or = in range; found {operator.text}", operator)
                decl, assign = [first.text, second.text], operator.kind == "assign"
            else:
                self.index = start
        if not assign:
            self.scopes[-1].extend(decl)  # an assignment to an undeclared variable fails when executed, as in Go
        cmds: list[Command] = []
        while True:
            item = self.peek_non_space()
            if item.kind == end:
                self.next()
                if not cmds:
                    raise self.error(f"missing value for {context}", item)
                for stage, cmd in enumerate(cmds[1:], start=2):
                    if isinstance(cmd.args[0], (Constant, Nil, Dot)):
                        raise self.error(f"non executable command in pipeline stage {stage}", item)
                return Pipe(decl, assign, cmds, self.line(item))
            if item.kind in ("bool", "char", "dot", "field", "identifier", "number", "keyword", "string",
                             "rawstring", "variable", "("):
                cmds.append(self.command(end))
                continue
            raise self.error(f"unexpected {item.text or item.kind} in {context}", item)

    def _check_variable(self, name: str, item: Item) -> None:
        if name not in self.scopes[-1]:
            raise self.error(f"undefined variable {name!r}", item)

    def command(self, end: str) -> Command:
        args: list[Node] = []
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            item = self.next()
            if item.kind == "space":
                continue
            if item.kind in (end, ")"):
                self.index -= 1
            elif item.kind == "|":
                pass
            else:
                raise self.error(f"unexpected {item.text or item.kind} in operand", item)
            if not args:
                raise self.error("empty command", item)
            return Command(args)

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind == "field":
            names: list[str] = []
            while self.peek().kind == "field":
                names.append(self.next().text[1:])
            if isinstance(node, Field):
                return Field(node.names + names)
            if isinstance(node, Variable):
                return Variable(node.name, node.names + names)
            if isinstance(node, (Constant, Nil, Dot)):
                raise self.error(f"unexpected . after term {self.items[self.index - 1].text!r}")
            return Chain(node, names)
        return node

    def term(self) -> Node | None:
        item = self.next()
        kind = item.kind
        if kind == "identifier":
            if item.text not in self.functions:
                raise self.error(f'function "{item.text}" not defined', item)
            return Identifier(item.text)
        if kind == "dot":
            return Dot()
        if kind == "keyword" and item.text == "nil":
            return Nil()
        if kind == "variable":
            self._check_variable(item.text, item)
            return Variable(item.text, [])
        if kind == "field":
            return Field([item.text[1:]])
        if kind == "bool":
            return Constant(item.text == "true")
        if kind == "char":
            return self.number(item)
        if kind == "number":
            return self.number(item)
        if kind in ("string", "rawstring"):
            return Constant(self.unquote(item))
        if kind == "(":
            pipe = self.pipeline("parenthesized pipeline", ")")
            return pipe
        self.index -= 1
        return None

    def number(self, item: Item) -> Constant:
        text = item.text
        if item.kind == "char":
            try:
                char = go_unquote(text[1:-1], "'")
            except ValueError:
                raise self.error(f"malformed character constant: {text}", item) from None
            if len(char) != 1:
                raise self.error(f"malformed character constant: {text}", item)
            return Constant(ord(char), number=text)
        if text.endswith("i"):
            raise self.error(f"complex constants are not supported: {text}", item)
        clean = text.replace("_", "")
        try:
            lowered = clean.lower().lstrip("+-")
            if lowered.startswith(("0x", "0o", "0b")) and not any(c in lowered for c in ".p"):
                value: object = int(clean, 0)
            elif lowered.startswith("0x"):
                value = float.fromhex(clean)
            elif any(c in lowered for c in ".e"):
                value = float(clean)
            elif lowered.startswith("0") and len(lowered) > 1:
                value = int(clean.replace("0", "0o", 1) if clean[0] == "0" else clean[0] + "0o" + clean[2:], 0)
            else:
                value = int(clean, 10)
        except ValueError:
            raise self.error(f"bad number syntax: {text!r}", item) from None
        if isinstance(value, float) and value in (float("inf"), float("-inf")):
            raise self.error(f"illegal number syntax: {text!r}", item)
        if isinstance(value, float) and value.is_integer() and not any(c in clean.lower() for c in ".ep"):
            value = int(value)
        return Constant(value, number=text)


def _non_empty(nodes: list[Node]) -> bool:
    return any(not isinstance(node, Text) or node.text.strip() for node in nodes)


def parse(name: str, text: str, functions: frozenset[str]) -> Parsed:
    """Parse ``text`` as the template ``name`` (plus everything it defines)."""
    return Parser(name, text, functions).parse()
