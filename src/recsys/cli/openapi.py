"""`recsys openapi`: the HTTP API's OpenAPI document, as committed in docs/openapi.json (a test
fails when the two differ, so clients generated from the file match the server)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import typer


def openapi_text() -> str:
    """The document, with sorted keys and a final newline, so that diffs stay readable."""
    from recsys.config.settings import Settings
    from recsys.service import create_app
    from recsys.store import Store

    with tempfile.TemporaryDirectory(prefix="recsys-openapi-") as folder:
        url = f"sqlite:///{Path(folder) / 'unused.db'}"  # never queried: no route is called
        store = Store.from_url(url, migrate=False)
        try:
            document = create_app(Settings(database_url=url), store=store).openapi()
        finally:
            store.close()
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def openapi() -> None:
    """Print the OpenAPI document of the HTTP API (docs/openapi.json is this output)."""
    typer.echo(openapi_text(), nl=False)
