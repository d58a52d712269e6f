"""Go's ``fmt.Sprint`` of template values: the model (values) and time layouts (gotime) meet here."""

from __future__ import annotations

from typing import Any

from appliance.templates.gotime import format_time
from appliance.templates.values import INVALID, GoObject, GoTime, format_float


def format_value(value: Any, plus: bool = False) -> str:
    """Go's ``fmt.Sprint`` of one value (``%v``, or ``%+v`` with ``plus``)."""
    if value is None or value is INVALID:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value, "g", -1)
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return "[" + " ".join(str(b) for b in value) + "]"
    if isinstance(value, list):
        return "[" + " ".join(format_value(item, plus) for item in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{format_value(value[key], plus)}" for key in sorted(value)) + "]"
    if isinstance(value, GoObject):
        return value.text or "{" + " ".join(format_value(v, plus) for v in value.fields.values()) + "}"
    if isinstance(value, GoTime):
        return format_time(value, "2006-01-02 15:04:05.999999999 -0700 MST")
    return str(value)
