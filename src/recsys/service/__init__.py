"""The HTTP service, organised by layer:

- `schemas/`: the wire layer, request and response bodies, one module per area of the API;
- `routes/`: the handlers, thin: a body in, a flow called, a body out;
- `flows/`: the logic a request runs between the two (building ranking requests and answers,
  observing decisions, the bandit's steps, control-plane validation and dry runs);
- this folder: what the app holds per process and the HTTP glue: the factory (`app`), the state
  (`state`, `snapshots`, `writes`, `pagination`, `metrics`, `audit`), the one module of
  dependency aliases (`deps`), errors, authentication and middleware.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recsys.service.app import create_app


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from recsys.service.app import create_app

        return create_app
    raise AttributeError(name)


__all__ = ["create_app"]
