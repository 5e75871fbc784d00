"""Exceptions of the template engine: one class for parse errors, one for execution errors.

Messages are Go's, e.g. ``template: t:1: function "foo" not defined`` (parse) and
``template: t:1:2: executing "t" at <.x.y>: nil pointer evaluating interface {}.y`` (exec).
"""

from __future__ import annotations

from ..errors import OmdError


class TemplateError(OmdError):
    """Root of template errors."""

    exit_code = 1


class TemplateParseError(TemplateError):
    """The template text is not a valid Go template."""


class TemplateExecError(TemplateError):
    """Executing a template on some data failed; the message says where (name:line:col)."""
