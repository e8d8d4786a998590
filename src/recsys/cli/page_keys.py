"""`recsys page-keys`: rotate the keys that seal page tokens (kept in RECSYS_DATABASE_URL).

Rotation: `rotate` adds a key that seals new tokens (every worker picks it up within a minute);
tokens sealed by older keys keep working until `retire` removes their key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy import Connection

page_keys_app = typer.Typer(
    rich_markup_mode=None,
    help="Rotate the keys that seal page tokens: list, rotate, retire.",
    no_args_is_help=True,
)


@contextmanager
def _connection() -> Iterator[Connection]:
    """A write transaction on RECSYS_DATABASE_URL's store, closed afterwards."""
    from recsys.config.settings import Settings
    from recsys.store import Store

    settings = Settings.from_env()
    store = Store.from_url(settings.database_url, migrate=settings.auto_migrate)
    try:
        with store.write() as conn:
            yield conn
    finally:
        store.close()


@page_keys_app.command("list")
def list_keys() -> None:
    """Key ids in the ring; the newest seals, every one listed opens."""
    from recsys.store.secrets import page_token_keys

    with _connection() as conn:
        ring = page_token_keys(conn)
    newest = max(ring)
    for kid in sorted(ring):
        typer.echo(f"{kid} (seals)" if kid == newest else f"{kid}")


@page_keys_app.command("rotate")
def rotate() -> None:
    """Add a new key; new tokens are sealed with it, older keys still open theirs."""
    from recsys.store.secrets import rotate_page_token_key

    with _connection() as conn:
        kid = rotate_page_token_key(conn)
    typer.echo(f"key {kid} seals new tokens")


@page_keys_app.command("retire")
def retire(kid: Annotated[int, typer.Argument(help="The key id to drop.")]) -> None:
    """Drop a key: page tokens it sealed are refused (400 invalid_page_token) from then on."""
    from recsys.store.secrets import retire_page_token_key

    try:
        with _connection() as conn:
            retire_page_token_key(conn, kid)
    except KeyError:
        typer.echo(f"no page key {kid}", err=True)
        raise typer.Exit(1) from None
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(f"key {kid} retired")
