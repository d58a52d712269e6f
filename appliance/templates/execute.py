"""Execution of parsed templates with Go's semantics (``text/template/exec.go``), bounded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from appliance.templates.errors import TemplateError, TemplateFail
from appliance.templates.parse import (
    Action,
    Branch,
    Chain,
    Command,
    Constant,
    Control,
    Dot,
    Field,
    Identifier,
    Nil,
    Node,
    Pipe,
    TemplateCall,
    Text,
    Variable,
    parse,
)
from appliance.templates.printing import format_value
from appliance.templates.values import INVALID, GoObject, GoTime, kind, truth, type_name


@dataclass(frozen=True)
class Limits:
    """Bounds on one render: output bytes, evaluation steps and template call depth."""

    max_output: int = 1 << 20
    max_steps: int = 1_000_000
    max_depth: int = 100


@dataclass(frozen=True)
class Param:
    """A Go parameter type: ``string``, ``int``, ``float64``, ``bool``, ``any``, ``value``
    (a builtin's reflect.Value), ``map``, ``list``, ``strings``."""

    type: str


@dataclass(frozen=True)
class Function:
    """A template function: its Go parameters (the last variadic when ``variadic``)."""

    call: Callable[..., Any]
    params: tuple[str, ...]
    variadic: bool = False


_GO_TYPES = {"time": "time.Time", "string": "string", "int": "int", "float64": "float64", "bool": "bool", "map": "map[string]interface {}",
             "list": "[]interface {}", "strings": "[]string", "int64": "int64"}


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Template:
    """A parsed template and everything it defines, ready to execute."""

    def __init__(self, name: str, text: str, functions: dict[str, Function], limits: Limits = Limits()) -> None:
        self.name = name
        self.functions = functions
        self.limits = limits
        self.trees = parse(name, text, frozenset(functions)).trees

    def execute(self, data: Any) -> str:
        """Render with ``data`` as dot; a ``TemplateError`` names the template and line."""
        dot = INVALID if data is None else data  # nil data is Go's invalid value, not a nil interface
        state = _State(self, dot)
        state.walk(dot, self.trees[self.name])
        return "".join(state.out)


class _State:
    def __init__(self, template: Template, data: Any) -> None:
        self.template = template
        self.functions = template.functions
        self.limits = template.limits
        self.out: list[str] = []
        self.size = 0
        self.steps = 0
        self.depth = 0
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.line = "0"
        self.name = template.name

    def error(self, message: str) -> TemplateError:
        return TemplateError(f"template: {self.name}:{self.line}: executing {self.name!r}: {message}")

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise self.error("the template runs too long")

    def emit(self, text: str) -> None:
        self.size += len(text)
        if self.size > self.limits.max_output:
            raise self.error("the template's output is too large")
        self.out.append(text)

    # -- statements -------------------------------------------------------------

    def walk(self, dot: Any, nodes: list[Node]) -> None:
        for node in nodes:
            self.tick()
            if isinstance(node, Text):
                self.emit(node.text)
            elif isinstance(node, Action):
                self.line = node.line
                value = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    self.emit(self.printable(value))
            elif isinstance(node, Branch):
                self.line = node.line
                self.branch(dot, node)
            elif isinstance(node, TemplateCall):
                self.line = node.line
                self.call_template(dot, node)
            elif isinstance(node, Control):
                raise _Break() if node.kind == "break" else _Continue()

    def printable(self, value: Any) -> str:
        if value is INVALID or value is None:
            return "<no value>"
        return format_value(value)

    def branch(self, dot: Any, node: Branch) -> None:
        mark = len(self.vars)
        value = self.pipeline(dot, node.pipe)
        if node.kind == "range":
            self.range(dot, node, value, mark)
            return
        if truth(value):
            self.walk(value if node.kind == "with" else dot, node.body)
        elif node.orelse is not None:
            self.walk(dot, node.orelse)
        del self.vars[mark:]

    def range(self, dot: Any, node: Branch, value: Any, mark: int) -> None:
        items: list[tuple[Any, Any]]
        if isinstance(value, (list, bytes)):
            items = list(enumerate(value))
        elif isinstance(value, dict):
            items = [(key, value[key]) for key in sorted(value, key=_map_key)]
        elif value is INVALID or value is None:
            items = []
        elif isinstance(value, int) and not isinstance(value, bool):
            raise self.error(f"range can't iterate over {value}")
        else:
            raise self.error(f"range can't iterate over {format_value(value)}")
        for key, item in items:
            self.tick()
            if node.pipe.decl:
                self.set_var(1, item)
            if len(node.pipe.decl) > 1:
                self.set_var(2, key)
            body_mark = len(self.vars)
            try:
                self.walk(item, node.body)
            except _Break:
                del self.vars[body_mark:]
                break
            except _Continue:
                pass
            del self.vars[body_mark:]
        else:
            if not items and node.orelse is not None:
                self.walk(dot, node.orelse)
        del self.vars[mark:]

    def set_var(self, top: int, value: Any) -> None:
        name, _ = self.vars[-top]
        self.vars[-top] = (name, value)

    def call_template(self, dot: Any, node: TemplateCall) -> None:
        tree = self.template.trees.get(node.name)
        if tree is None:
            raise self.error(f'no such template "{node.name}"')
        new_dot = self.pipeline(dot, node.pipe) if node.pipe is not None else None
        if self.depth >= self.limits.max_depth:
            raise self.error("exceeded maximum template depth")
        saved_vars, saved_name = self.vars, self.name
        self.vars = [("$", new_dot)]
        self.depth += 1
        self.name = node.name
        try:
            self.walk(new_dot, tree)
        finally:
            self.depth -= 1
            self.vars, self.name = saved_vars, saved_name

    # -- pipelines ----------------------------------------------------------------

    def pipeline(self, dot: Any, pipe: Pipe) -> Any:
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
            if value is None:
                value = INVALID
        for name in pipe.decl:
            if pipe.assign:
                self.assign(name, value)
            else:
                self.vars.append((name, value))
        return value

    def assign(self, name: str, value: Any) -> None:
        for index in range(len(self.vars) - 1, -1, -1):
            if self.vars[index][0] == name:
                self.vars[index] = (name, value)
                return
        raise self.error(f"undefined variable: {name}")

    def variable(self, name: str) -> Any:
        for index in range(len(self.vars) - 1, -1, -1):
            if self.vars[index][0] == name:
                return self.vars[index][1]
        raise self.error(f"undefined variable: {name}")

    def command(self, dot: Any, cmd: Command, final: Any) -> Any:
        self.tick()
        first = cmd.args[0]
        if isinstance(first, Field):
            return self.field_chain(dot, dot, first.names, cmd.args, final)
        if isinstance(first, Chain):
            return self.chain(dot, first, cmd.args, final)
        if isinstance(first, Identifier):
            return self.call(dot, first.name, cmd.args, final)
        if isinstance(first, Variable):
            return self.variable_node(dot, first, cmd.args, final)
        self.not_a_function(cmd.args, final)
        if isinstance(first, Pipe):
            return self.pipeline(dot, first)
        if isinstance(first, Constant):
            return self.ideal(first)
        if isinstance(first, Dot):
            return dot
        if isinstance(first, Nil):
            raise self.error("nil is not a command")
        raise self.error(f"can't evaluate command {first!r}")

    def not_a_function(self, args: list[Node], final: Any) -> None:
        if len(args) > 1 or final is not _MISSING:
            raise self.error(f"can't give argument to non-function {args[0]!r}")

    def variable_node(self, dot: Any, node: Variable, args: list[Node], final: Any) -> Any:
        value = self.variable(node.name)
        if not node.names:
            self.not_a_function(args, final)
            return value
        return self.field_chain(dot, value, node.names, args, final)

    def chain(self, dot: Any, node: Chain, args: list[Node], final: Any) -> Any:
        if isinstance(node.node, Nil):
            raise self.error(f"indirection through explicit nil in {node!r}")
        if isinstance(node.node, Pipe):
            receiver = self.pipeline(dot, node.node)
        else:
            receiver = self.arg(dot, "any_raw", node.node)
        return self.field_chain(dot, receiver, node.names, args, final)

    def field_chain(self, dot: Any, receiver: Any, names: list[str], args: list[Node], final: Any) -> Any:
        for name in names[:-1]:
            receiver = self.field(receiver, name, has_args=False)
        has_args = len(args) > 1 or final is not _MISSING
        return self.field(receiver, names[-1], has_args=has_args)

    def field(self, receiver: Any, name: str, has_args: bool) -> Any:
        if receiver is INVALID:
            return INVALID
        if receiver is None:
            raise self.error(f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, dict):
            if has_args:
                raise self.error(f"{name} is not a method but has arguments")
            if isinstance(receiver, dict) and name in receiver:
                return receiver[name]
            return INVALID
        if isinstance(receiver, GoTime):
            value = receiver.method(name)
            if value is INVALID or has_args:
                raise self.error(f"can't evaluate field {name} in type time.Time")
            return value
        if isinstance(receiver, GoObject) and name in receiver.fields:
            if has_args:
                raise self.error(f"{name} has arguments but cannot be invoked as function")
            return receiver.fields[name]
        raise self.error(f"can't evaluate field {name} in type {type_name(receiver)}")

    # -- function calls -----------------------------------------------------------

    def call(self, dot: Any, name: str, args: list[Node], final: Any) -> Any:
        function = self.functions.get(name)
        if function is None:
            raise self.error(f'"{name}" is not a defined function')
        params = function.params
        given = args[1:]
        count = len(given) + (final is not _MISSING)
        fixed = len(params) - 1 if function.variadic else len(params)
        if function.variadic and count < fixed:
            raise self.error(f"wrong number of args for {name}: want at least {fixed} got {len(given)}")
        if not function.variadic and count != len(params):
            raise self.error(f"wrong number of args for {name}: want {len(params)} got {count}")
        if name in ("and", "or"):
            return self.and_or(dot, name, given, final)
        values: list[Any] = []
        for index, node in enumerate(given):
            values.append(self.arg(dot, params[min(index, len(params) - 1)], node))
        if final is not _MISSING:
            values.append(self.validate(final, params[min(count - 1, len(params) - 1)]))
        try:
            return function.call(*values)
        except TemplateFail:
            raise
        except TemplateError as exc:
            raise self.error(f"error calling {name}: {exc.message}") from None
        except (ValueError, TypeError, KeyError, IndexError, ZeroDivisionError, OverflowError, RecursionError) as exc:
            raise self.error(f"error calling {name}: {exc}") from None

    def and_or(self, dot: Any, name: str, args: list[Node], final: Any) -> Any:
        value: Any = INVALID
        for node in args:
            value = self.arg(dot, "value", node)
            if truth(value) == (name == "or"):
                return value
        if final is not _MISSING:
            value = final
        return value

    def arg(self, dot: Any, param: str, node: Node) -> Any:
        self.tick()
        if isinstance(node, Dot):
            return self.validate(dot, param)
        if isinstance(node, Nil):
            if param in ("any", "value", "map", "list", "strings", "any_raw"):
                return None if param != "value" else INVALID
            raise self.error(f"cannot assign nil to {_GO_TYPES.get(param, param)}")
        if isinstance(node, Field):
            return self.validate(self.field_chain(dot, dot, node.names, [node], _MISSING), param)
        if isinstance(node, Variable):
            return self.validate(self.variable_node(dot, node, [node], _MISSING), param)
        if isinstance(node, Pipe):
            return self.validate(self.pipeline(dot, node), param)
        if isinstance(node, Identifier):
            return self.validate(self.call(dot, node.name, [node], _MISSING), param)
        if isinstance(node, Chain):
            return self.validate(self.chain(dot, node, [node], _MISSING), param)
        assert isinstance(node, Constant)
        return self.constant(node, param)

    def ideal(self, node: Constant) -> Any:
        """A literal as an untyped Go constant: ints must fit Go's int."""
        value = node.value
        if isinstance(value, int) and not isinstance(value, bool) and not -(1 << 63) <= value < (1 << 63):
            raise self.error(f"{node.number} overflows int")
        return value

    def constant(self, node: Constant, param: str) -> Any:
        value = node.value
        if param in ("any", "value", "any_raw"):
            return self.ideal(node)
        if param == "bool":
            if isinstance(value, bool):
                return value
            raise self.error(f"expected bool; found {_text(node)}")
        if param == "string":
            if isinstance(value, str) and not node.number:
                return value
            raise self.error(f"expected string; found {_text(node)}")
        if param in ("int", "int64"):
            if node.number and not isinstance(value, bool) and float(value).is_integer():  # type: ignore[arg-type]
                return int(value)  # type: ignore[call-overload]
            raise self.error(f"expected integer; found {_text(node)}")
        if param == "float64":
            if node.number and not isinstance(value, bool):
                return float(value)  # type: ignore[arg-type]
            raise self.error(f"expected float; found {_text(node)}")
        raise self.error(f"can't handle {_text(node)} for arg of type {_GO_TYPES.get(param, param)}")

    def validate(self, value: Any, param: str) -> Any:
        if param in ("any_raw", "value"):
            return value
        if value is INVALID:
            if param in ("any", "map", "list", "strings"):
                return None
            raise self.error(f"invalid value; expected {_GO_TYPES.get(param, param)}")
        if value is None and param != "any":
            raise self.error(f"wrong type for value; expected {_GO_TYPES.get(param, param)}; got interface {{}}")
        if param == "any":
            return value
        if _assignable(value, param):
            return value
        raise self.error(f"wrong type for value; expected {_GO_TYPES.get(param, param)}; got {type_name(value)}")


def _assignable(value: Any, param: str) -> bool:
    go_kind = kind(value)
    if param == "string":
        return isinstance(value, str)
    if param in ("int", "int64"):
        return go_kind == "int" and type_name(value) == ("int" if param == "int" else "int64")
    if param == "float64":
        return isinstance(value, float)
    if param == "bool":
        return isinstance(value, bool)
    if param == "map":
        return type_name(value) == "map[string]interface {}"
    if param == "list":
        return type_name(value) == "[]interface {}"
    if param == "strings":
        return type_name(value) == "[]string"
    if param == "time":
        return type_name(value) == "time.Time"
    return False


def _text(node: Constant) -> str:
    if node.number:
        return node.number
    if isinstance(node.value, bool):
        return "true" if node.value else "false"
    return repr(node.value)


def _map_key(key: Any) -> Any:
    return key


class _Missing:
    pass


_MISSING: Any = _Missing()
