"""Playbook commands: reset, seed, profile, eval. (Tuning and checks live in their own modules.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from recsys.cli.common import BaseUrl, Insecure, Namespace, OrgId, client, now


def reset(
    base_url: BaseUrl = "http://localhost:8000",
    org_id: OrgId = "00000000-0000-0000-0000-000000000001",
    namespace: Namespace = "demo",
    insecure: Insecure = False,
    force: Annotated[bool, typer.Option("--force", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a namespace's events, users, items, rules, segments and profiles (config history
    stays). Asks for confirmation unless --force."""
    from recsys.toolkit.data import reset_namespace

    if not force and not typer.confirm(
        f"Delete all data of namespace {namespace!r} in org {org_id}?", default=False
    ):
        typer.echo("aborted; nothing deleted")
        raise typer.Exit(1)
    with client(base_url, org_id, insecure) as api:
        result = reset_namespace(api, namespace, now=now())
    typer.echo(json.dumps(result, indent=2))


def seed(
    base_url: BaseUrl = "http://localhost:8000",
    org_id: OrgId = "00000000-0000-0000-0000-000000000001",
    namespace: Namespace = "demo",
    insecure: Insecure = False,
    users: Annotated[int, typer.Option(min=1, help="Users to create.")] = 600,
    events: Annotated[int, typer.Option(min=0, help="Events to create.")] = 40000,
    items: Annotated[
        int | None, typer.Option(min=1, help="Items (default users/2, min 50).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 2025,
    fixture_path: Annotated[
        Path | None, typer.Option(help="Also write the generated dataset to this JSON file.")
    ] = None,
) -> None:
    """Seed a deterministic synthetic shop: catalogue, users in five segments, events with
    timestamps relative to now. Re-running does not duplicate events."""
    from rich.progress import Progress

    from recsys.toolkit.data import seed_namespace

    with client(base_url, org_id, insecure) as api, Progress(transient=True) as bar:
        task = bar.add_task("events", total=events)
        result = seed_namespace(
            api,
            namespace,
            users=users,
            events=events,
            items=items,
            seed=seed,
            now=now(),
            fixture_path=fixture_path,
            progress=lambda n: bar.advance(task, n),
        )
    typer.echo(json.dumps(result, indent=2))


profile_app = typer.Typer(
    rich_markup_mode=None,
    help="Env profiles: fetch | apply | list | delete (JSON under analysis/env_profiles/).",
    invoke_without_command=True,
    no_args_is_help=False,
)


@profile_app.callback()
def _profile(
    ctx: typer.Context,
    base_url: BaseUrl = "http://localhost:8000",
    org_id: OrgId = "00000000-0000-0000-0000-000000000001",
    namespace: Namespace = "demo",
    insecure: Insecure = False,
    profile: Annotated[str, typer.Option(help="Profile name.")] = "default",
    apply: Annotated[bool, typer.Option("--apply", help="Same as the apply command.")] = False,
) -> None:
    ctx.obj = {
        "base_url": base_url,
        "org_id": org_id,
        "namespace": namespace,
        "insecure": insecure,
        "profile": profile,
    }
    if ctx.invoked_subcommand is None:
        if apply:
            _apply(ctx.obj)
        else:
            typer.echo(ctx.get_help())
            raise typer.Exit(2)


def _apply(o: dict[str, str]) -> None:
    from recsys.toolkit.profiles import apply_profile

    with client(o["base_url"], o["org_id"], bool(o["insecure"])) as api:
        try:
            result = apply_profile(api, o["namespace"], o["profile"])
        except FileNotFoundError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from exc
    typer.echo(json.dumps(result, indent=2))


@profile_app.command("fetch")
def profile_fetch(ctx: typer.Context) -> None:
    """Write the namespace's config and segment profiles to the profile's JSON file."""
    from recsys.toolkit.profiles import fetch_profile

    o = ctx.obj
    with client(o["base_url"], o["org_id"], o["insecure"]) as api:
        path = fetch_profile(api, o["namespace"], o["profile"], now=now())
    typer.echo(str(path))


@profile_app.command("apply")
def profile_apply(ctx: typer.Context) -> None:
    """Store the profile's config as a new config version (and its segment profiles)."""
    _apply(ctx.obj)


@profile_app.command("list")
def profile_list(ctx: typer.Context) -> None:
    """Profiles saved for the namespace."""
    from recsys.toolkit.profiles import list_profiles

    for name in list_profiles(ctx.obj["namespace"]):
        typer.echo(name)


@profile_app.command("delete")
def profile_delete(ctx: typer.Context) -> None:
    """Delete the profile's local file (the server's config is untouched)."""
    from recsys.toolkit.profiles import delete_profile

    if not delete_profile(ctx.obj["namespace"], ctx.obj["profile"]):
        typer.echo(f"no profile {ctx.obj['profile']!r}", err=True)
        raise typer.Exit(2)
    typer.echo(f"deleted {ctx.obj['profile']}")
