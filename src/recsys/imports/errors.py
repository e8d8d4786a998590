"""The one error an import file can raise: where (file, line, field) and why."""

from __future__ import annotations

import os
from typing import Any

from pydantic import ValidationError

from recsys.validation_messages import readable_message


class ImportFormatError(ValueError):
    """A file, or one row of it, that the import cannot accept. `line` is 1-based (the header of
    a CSV file is line 1) and None for problems with the file as a whole; `field` is the column or
    API field at fault, None when the problem is not one field's."""

    def __init__(
        self, path: str | os.PathLike[str], line: int | None, field: str | None, reason: str
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.reason = reason
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {field}: {reason}" if field else f"{where}: {reason}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def from_validation(
    path: str | os.PathLike[str], line: int, exc: ValidationError
) -> ImportFormatError:
    """The first problem pydantic found, named by its API field (others on the line are counted,
    so that fixing one does not hide the next)."""
    problems = exc.errors(include_url=False)
    first = problems[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    reason = readable_message(first)
    value = first.get("input")
    # Whole objects (a missing field's row) are noise; scalars show what was wrong.
    if field is not None and not isinstance(value, dict | list):
        reason += f" (got {_shown(value)})"
    if len(problems) > 1:
        reason += f"; {len(problems) - 1} more problem(s) on this line"
    return ImportFormatError(path, line, field, reason)


__all__ = ["ImportFormatError", "from_validation"]
