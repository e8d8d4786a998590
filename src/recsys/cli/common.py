"""Options every playbook command shares, spelled as the playbook spells them."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated

import typer

from recsys.client import RecsysClient

DEFAULT_BASE_URL = "http://localhost:8000"
DEFAULT_ORG_ID = "00000000-0000-0000-0000-000000000001"

BaseUrl = Annotated[
    str,
    typer.Option("--base-url", envvar="BASE_URL", help="RecSys server (env BASE_URL)."),
]
OrgId = Annotated[str, typer.Option("--org-id", envvar="ORG_ID", help="Tenant UUID (env ORG_ID).")]
Namespace = Annotated[str, typer.Option("--namespace", envvar="NS", help="Namespace (env NS).")]
Insecure = Annotated[
    bool, typer.Option("--insecure", help="Do not verify TLS certificates (proxy hosts).")
]


def client(base_url: str, org_id: str, insecure: bool, **kwargs: object) -> RecsysClient:
    return RecsysClient(base_url, org_id, insecure=insecure, **kwargs)  # type: ignore[arg-type]


def now() -> datetime:
    """The toolkit's clock: real time, overridable with RECSYS_NOW (RFC3339) for reproducible
    runs and tests."""
    fixed = os.environ.get("RECSYS_NOW")
    if fixed:
        return datetime.fromisoformat(fixed.replace("Z", "+00:00"))
    return datetime.now(UTC)


def floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise typer.BadParameter(f"expected comma-separated numbers, got {text!r}") from exc


def ints(text: str) -> list[int]:
    try:
        return [int(float(x)) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise typer.BadParameter(f"expected comma-separated numbers, got {text!r}") from exc


__all__ = ["BaseUrl", "Insecure", "Namespace", "OrgId", "client", "floats", "ints", "now"]
