"""The command line as a person meets it: a version flag, a knob table with a header, flags that
look like flags, and error messages in our words rather than a library's."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from recsys import __version__
from recsys.cli.main import app
from recsys.config.knobs import KNOBS, Knob
from recsys.imports.errors import from_validation
from recsys.service.errors import describe_validation_errors


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_version_flag() -> None:
    assert run("--version").strip() == f"recsys {__version__}"


def test_knobs_is_a_table_with_default_range_and_scope() -> None:
    lines = run("knobs").splitlines()
    assert lines[0].split() == ["VARIABLE", "TYPE", "DEFAULT", "RANGE", "SCOPE"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {knob.name for knob in KNOBS}
    mmr = next(k for k in KNOBS if k.name == "MMR_LAMBDA")
    assert re.search(rf"\bfloat\s+{mmr.render(mmr.default)}\s+0 to 1\s+request$", rows[mmr.name])
    # every column starts where the header's does
    starts = [lines[0].index(word) for word in ("TYPE", "DEFAULT", "RANGE", "SCOPE")]
    for line in lines[1:]:
        assert all(line[s - 2 : s] == "  " and line[s] != " " for s in starts), line


@pytest.mark.parametrize(
    ("minimum", "maximum", "shown"),
    [(0.0, 1.0, "0 to 1"), (1.0, None, "at least 1"), (None, 5.0, "at most 5"), (None, None, "")],
)
def test_knob_range_text(minimum: float | None, maximum: float | None, shown: str) -> None:
    knob = Knob("X", "float", 0.5, "x", "g", minimum=minimum, maximum=maximum)
    assert knob.range_text == shown


@pytest.mark.parametrize("command", [["build"], ["tune"], ["guardrails"], ["simulate"]])
def test_flags_are_shown_without_a_value_type(command: list[str]) -> None:
    help_text = run(*command, "--help")
    assert "<bool>" not in help_text
    assert re.search(r"^\s+--help\s+Show this message", help_text, re.MULTILINE)


def _validation_error() -> ValidationError:
    from pydantic import BaseModel, field_validator

    class Row(BaseModel):
        kind: str

        @field_validator("kind")
        @classmethod
        def known(cls, value: str) -> str:
            raise ValueError(f"unknown kind {value!r}")

    with pytest.raises(ValidationError) as caught:
        Row(kind="like")
    return caught.value


def test_errors_carry_no_library_prefix() -> None:
    exc = _validation_error()
    assert str(from_validation("rows.csv", 3, exc)) == (
        "rows.csv:3: kind: unknown kind 'like' (got 'like')"
    )
    (described,) = describe_validation_errors(exc.errors())
    assert described["message"] == "unknown kind 'like'"
