"""Errors of template parsing and execution."""

from __future__ import annotations

from appliance.errors import BadRequest


class TemplateError(BadRequest):
    """A template that does not parse or fails to execute (its message names the template and line)."""


class TemplateFail(TemplateError):
    """The template called ``fail``: its message is the template author's, shown as is."""
