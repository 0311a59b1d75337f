"""Griffe extension for the API reference: a docstring's ``Example:`` heading is read as ``Examples:``.

Griffe's Google-style parser knows only ``Examples:``; under ``Example:`` the doctest lines would be
rendered as prose (and their brackets as links) instead of as code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_HEADING = re.compile(r"^(\s*)Example:[ \t]*$", re.M)


class ExampleSection(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _HEADING.sub(r"\1Examples:", obj.docstring.value)
