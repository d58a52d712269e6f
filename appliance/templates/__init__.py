"""step-ca's templates: Go ``text/template`` with sprig's and step's functions, interpreted in Python."""

from __future__ import annotations

from typing import Any

from appliance.templates.builtins import BUILTINS
from appliance.templates.errors import TemplateError, TemplateFail
from appliance.templates.execute import Function, Limits, Template
from appliance.templates.sprig import SPRIG
from appliance.templates.step import STEP

#: The functions step-ca's templates see: Go's builtins, sprig's (which win on a clash, as
#: in Go), then step's own.
FUNCTIONS: dict[str, Function] = {**BUILTINS, **SPRIG, **STEP}


def render(text: str, data: Any, name: str = "template", limits: Limits = Limits()) -> str:
    """Parse and execute ``text`` with ``data`` as dot."""
    return Template(name, text, FUNCTIONS, limits).execute(data)


__all__ = ["FUNCTIONS", "Limits", "Template", "TemplateError", "TemplateFail", "render"]
