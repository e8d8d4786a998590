"""Command-line options generated from the catalogue's tuning search space: `recsys tune`
gets one sweep option per tunable knob (`--alphas 0.2,0.3`), `recsys optimize` one range option
(`--alpha-range 0.1 0.6`, defaulting to the knob's search range). Adding `search=` to a knob in
recsys.config.knobs adds its options to both commands, with help and defaults from there."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import typer

from recsys.config.knobs import TUNABLE, Knob, Search

F = TypeVar("F", bound=Callable[..., Any])
Kind = Literal["sweep", "range"]
# The name of the decorated function's parameter that receives {knob key: option value}.
RECEIVER = "knob_options"


def _search(knob: Knob) -> Search:
    assert knob.search is not None
    return knob.search


def _parameter(knob: Knob, kind: Kind) -> inspect.Parameter:
    search = _search(knob)
    scope = f"search range {search.low:g} to {search.high:g}, {search.scale} scale"
    if kind == "sweep":
        name = search.sweep_option[2:].replace("-", "_")
        help_text = (
            f"{knob.name} values, comma-separated (default {knob.render(knob.default)}; {scope})."
        )
        annotation: Any = Annotated[str | None, typer.Option(search.sweep_option, help=help_text)]
        default: Any = None
    else:
        name = search.range_option[2:].replace("-", "_")
        help_text = f"{knob.name} low high ({search.scale} scale)."
        annotation = Annotated[
            tuple[float, float], typer.Option(search.range_option, help=help_text)
        ]
        default = (search.low, search.high)
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def search_options(kind: Kind) -> Callable[[F], F]:
    """Give a typer command one option per tunable knob; the command receives their values as
    `knob_options` ({knob key: value}, in catalogue order)."""

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != RECEIVER]
        added = {knob.key: _parameter(knob, kind) for knob in TUNABLE}

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            options = {key: kwargs.pop(p.name) for key, p in added.items()}
            return command(**kwargs, **{RECEIVER: options})

        parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + list(
            added.values()
        )
        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        return wrapper  # type: ignore[return-value]

    return decorate


__all__ = ["search_options"]
