"""The console's pages: sign in, the org's namespaces, a namespace's config with its history,
a diff between versions and rollback. Same access control as the API (an API key allowed for
the org when auth is on), every form CSRF-checked, every query scoped to the session's org.
Bad form input shows a readable error and changes nothing."""

from __future__ import annotations

import functools
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.responses import FileResponse, RedirectResponse, Response

from recsys.clock import from_micros, to_micros
from recsys.ranking.similar import similar_items
from recsys.service.audit import user_hash
from recsys.service.console.session import COOKIE, SECRET_NAME, Session, new_session, seal, unseal
from recsys.service.errors import ApiError
from recsys.service.flows import bandit as bandit_flow
from recsys.service.flows import ship as ship_flow
from recsys.service.flows.control import (
    dry_run,
    override_status,
    rollback_config,
    rule_row,
    segment_dry_run,
    validated_config,
)
from recsys.service.flows.ranking import prepare
from recsys.service.schemas.control import DryRunRequestIn, RuleDryRun, RuleIn, SegmentDryRun
from recsys.service.schemas.ranking import RecommendationsRequest
from recsys.service.state import ServiceState
from recsys.store import bandit as bandit_store
from recsys.store import canaries as canary_store
from recsys.store import control
from recsys.store.overview import namespace_overview
from recsys.store.secrets import service_secret
from recsys.toolkit.runs import all_summaries
from recsys.validation_messages import readable_message

LOGIN_CSRF = "recsys_console_login"
NAMESPACE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_FORM_BYTES = 16_384

router = APIRouter(prefix="/console", include_in_schema=False)


@functools.cache
def _templates() -> Jinja2Templates:
    # Loaded on first use (nothing at import time): the API-only processes never need it.
    return Jinja2Templates(directory=str(resources.files("recsys.service.console") / "templates"))


_key_lock = threading.Lock()


class ConsoleError(Exception):
    """Bad input from a form: shown on the page, nothing changed."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.recsys
    return state


def _sealing_key(request: Request) -> bytes:
    """The deployment's session key, read once per process."""
    app = request.app
    with _key_lock:
        key: bytes | None = getattr(app.state, "console_key", None)
        if key is None:
            with _state(request).store.write() as conn:
                key = service_secret(conn, name=SECRET_NAME)
            app.state.console_key = key
    return key


def _session(request: Request) -> Session | None:
    """The request's session, if it holds one that is still valid for its key and org."""
    state = _state(request)
    session = unseal(request.cookies.get(COOKIE), _sealing_key(request), time.time())
    if session is None:
        return None
    if state.settings.auth_enabled:
        key = state.keyring.by_hash(session.key_hash or "")
        if key is None or not key.allows(session.org_id):
            return None
    return session


class SignInRequired(Exception):
    """A console page asked for without a valid session: answered with the sign-in page."""


def signed_in(request: Request) -> Session:
    """The request's session, or SignInRequired (install() turns it into a redirect)."""
    session = _session(request)
    if session is None:
        raise SignInRequired
    return session


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (one value per field; the first wins)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ConsoleError("the form is too large", 413)
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConsoleError("the form could not be read") from exc
    return {name: values[0] for name, values in fields.items()}


def _checked(session: Session, form: Mapping[str, str]) -> None:
    if not secrets.compare_digest(form.get("csrf", ""), session.csrf):
        raise ConsoleError(
            "the form expired or did not come from this console: reload the page", 403
        )


def _render(
    request: Request, template: str, context: Mapping[str, Any], status: int = 200
) -> Response:
    response = _templates().TemplateResponse(request, template, dict(context), status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    return response


def _to_login() -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=303)


def _namespace(value: str) -> str:
    if not NAMESPACE.fullmatch(value):
        raise ConsoleError(f"{value[:64]!r} is not a namespace name", 404)
    return value


def _when(us: int | None) -> str | None:
    return None if us is None else from_micros(us).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- sign in / out ----------------------------------------------------------------------------


@router.get("/login")
async def login_page(request: Request) -> Response:
    token = secrets.token_urlsafe(24)
    response = _render(
        request,
        "login.html",
        {"title": "Sign in", "auth": _state(request).settings.auth_enabled, "csrf": token},
    )
    response.set_cookie(
        LOGIN_CSRF, token, httponly=True, samesite="strict", path="/console", max_age=3600
    )
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    state = _state(request)
    auth = state.settings.auth_enabled
    form: dict[str, str] = {}
    try:
        form = await _form(request)
        expected = request.cookies.get(LOGIN_CSRF, "")
        if not expected or not secrets.compare_digest(form.get("csrf", ""), expected):
            raise ConsoleError("the sign-in form expired: try again", 403)
        raw_org = form.get("org_id", "").strip()
        try:
            org_id = str(uuid.UUID(raw_org))
        except ValueError:
            raise ConsoleError("the org id must be a UUID") from None
        key_hash = None
        if auth:
            key = state.keyring.find(form.get("api_key", ""))
            if key is None:
                raise ConsoleError("the API key is not recognised", 401)
            if not key.allows(org_id):
                raise ConsoleError("this API key may not act for that org", 403)
            key_hash = key.key_hash
    except ConsoleError as exc:
        token = secrets.token_urlsafe(24)
        response = _render(
            request,
            "login.html",
            {
                "title": "Sign in",
                "auth": auth,
                "csrf": token,
                "error": str(exc),
                "org_id": form.get("org_id", ""),
            },
            status=exc.status,
        )
        response.set_cookie(
            LOGIN_CSRF, token, httponly=True, samesite="strict", path="/console", max_age=3600
        )
        return response
    session = new_session(org_id, key_hash, time.time())
    response = RedirectResponse("/console", status_code=303)
    response.set_cookie(
        COOKIE,
        seal(session, _sealing_key(request)),
        httponly=True,
        samesite="strict",
        path="/console",
        max_age=int(session.expires_at - time.time()),
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(LOGIN_CSRF, path="/console")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = _session(request)
    if session is not None:
        _checked(session, await _form(request))
    response = _to_login()
    response.delete_cookie(COOKIE, path="/console")
    return response


def _error(
    request: Request, session: Session | None, exc: ConsoleError, back: str = ""
) -> Response:
    return _render(
        request,
        "error.html",
        {
            "title": "Error",
            "session": session,
            "error": str(exc),
            "heading": "Not done",
            "back": back or "/console",
        },
        status=exc.status,
    )


# --- overview ---------------------------------------------------------------------------------


@router.get("")
async def overview(request: Request) -> Response:
    session = signed_in(request)
    state = _state(request)

    def read() -> list[dict[str, Any]]:
        with state.store.read() as conn:
            return namespace_overview(conn, org_id=session.org_id)

    rows = await run_in_threadpool(read)
    for row in rows:
        row["last_event"] = _when(row["last_event_us"])
        row["snapshot"] = _snapshot_state(state, session.org_id, row["namespace"])
    return _render(
        request,
        "overview.html",
        {"title": "Overview", "session": session, "page": "overview", "rows": rows},
    )


def _snapshot_state(state: ServiceState, org_id: str, namespace: str) -> str:
    """How fresh this worker's signals for the namespace are (they refresh on their own)."""
    if not state.snapshots.is_warm(org_id, namespace):
        return "not loaded in this worker yet"
    reference = state.snapshots.current(org_id, namespace).snapshot.reference_us
    age_s = max(0.0, (to_micros(state.clock()) - reference) / 1e6)
    return f"as of {age_s:.0f} s ago" if age_s < 120 else f"as of {age_s / 60:.0f} min ago"


# --- config -----------------------------------------------------------------------------------


@router.get("/ns/{namespace}/config")
async def config_page(request: Request, namespace: str) -> Response:
    return await _config_view(request, signed_in(request), _namespace(namespace))


async def _config_view(
    request: Request,
    session: Session,
    namespace: str,
    *,
    flash: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    state = _state(request)

    def read() -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        with state.store.read() as conn:
            current = control.current_config(conn, org_id=session.org_id, namespace=namespace)
            history = control.config_history(
                conn, org_id=session.org_id, namespace=namespace, limit=200
            )
        return current, history

    current, history = await run_in_threadpool(read)
    explicit = validated_config(current["config"]) if current else {}
    effective = state.knobs.with_overrides(explicit).as_dict()
    versions = {row["version"]: row for row in history}
    diff = diff_a = diff_b = None
    a, b = request.query_params.get("a"), request.query_params.get("b")
    if a is not None and b is not None:
        try:
            diff_a, diff_b = int(a), int(b)
        except ValueError:
            error = "versions to compare must be numbers"
            status = 400
        else:
            if diff_a not in versions or diff_b not in versions:
                error, status = "no such version to compare", 404
                diff_a = diff_b = None
            else:
                diff = config_diff(versions[diff_a]["config"], versions[diff_b]["config"])
    elif len(history) >= 2:
        # By default: what the newest version changed.
        diff_a, diff_b = history[1]["version"], history[0]["version"]
        diff = config_diff(history[1]["config"], history[0]["config"])
    return _render(
        request,
        "config.html",
        {
            "title": f"Config · {namespace}",
            "session": session,
            "page": "config",
            "namespace": namespace,
            "ns": namespace,
            "version": current["version"] if current else 0,
            "explicit": explicit,
            "effective": effective,
            "history": [{**row, "created_at": _when(row["created_at_us"])} for row in history],
            "diff": diff,
            "diff_a": diff_a,
            "diff_b": diff_b,
            "flash": flash,
            "error": error,
        },
        status=status,
    )


def config_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(knob, value in `before`, value in `after`) for every knob the two set differently;
    None = not set (the default)."""
    return [
        (key, before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


@router.post("/ns/{namespace}/config/rollback")
async def rollback(request: Request, namespace: str) -> Response:
    session = signed_in(request)
    state = _state(request)
    try:
        namespace = _namespace(namespace)
        form = await _form(request)
        _checked(session, form)
        try:
            version = int(form.get("version", ""))
        except ValueError:
            raise ConsoleError("the version to roll back to must be a number") from None
        back = f"/console/ns/{namespace}/config"
        if form.get("confirm") != "yes":
            return _render(
                request,
                "confirm.html",
                {
                    "title": "Confirm rollback",
                    "session": session,
                    "namespace": namespace,
                    "ns": namespace,
                    "page": "config",
                    "question": f"Roll {namespace} back to config v{version}?",
                    "detail": f"A new version with v{version}'s knobs is stored and rankings "
                    "use it within seconds; the history keeps every version.",
                    "action": f"/console/ns/{namespace}/config/rollback",
                    "fields": [("version", str(version))],
                    "confirm_label": f"Roll back to v{version}",
                    "back": back,
                },
            )

        def write() -> dict[str, Any]:
            with state.writes.transaction(session.org_id, namespace) as conn:
                return rollback_config(
                    conn,
                    org_id=session.org_id,
                    namespace=namespace,
                    version=version,
                    author="console",
                    now_us=to_micros(state.clock()),
                )

        try:
            row = await run_in_threadpool(write)
        except ApiError as exc:
            raise ConsoleError(exc.message, exc.status) from exc
    except ConsoleError as exc:
        if NAMESPACE.fullmatch(namespace):
            return await _config_view(
                request, session, namespace, error=str(exc), status=exc.status
            )
        return _error(request, session, exc)
    return await _config_view(
        request,
        session,
        namespace,
        flash=f"Rolled back: v{row['version']} now holds v{version}'s config.",
    )


# --- recommendations preview ------------------------------------------------------------------


@router.get("/ns/{namespace}/preview")
async def preview_page(request: Request, namespace: str) -> Response:
    session = signed_in(request)
    state = _state(request)
    query = request.query_params
    form = {name: query.get(name, "") for name in ("user_id", "surface", "k", "similar")}
    context: dict[str, Any] = {
        "title": f"Preview · {namespace}",
        "session": session,
        "page": "preview",
        "namespace": namespace,
        "ns": namespace,
        "form": form,
        "items": None,
        "similar": None,
    }
    status = 200
    try:
        namespace = _namespace(namespace)
        if form["similar"]:
            served = await run_in_threadpool(state.snapshots.current, session.org_id, namespace)
            try:
                context["similar"] = similar_items(served.snapshot, form["similar"], 20)
            except KeyError:
                raise ConsoleError(
                    f"no item {form['similar'][:64]!r} in {namespace}", 404
                ) from None
        elif "k" in query:
            body = _preview_request(namespace, form)
            ranked = await run_in_threadpool(_rank_preview, state, session.org_id, body)
            context.update(ranked)
    except ConsoleError as exc:
        context["error"], status = str(exc), exc.status
    return _render(request, "preview.html", context, status=status)


def _preview_request(namespace: str, form: Mapping[str, str]) -> RecommendationsRequest:
    try:
        return RecommendationsRequest(
            namespace=namespace,
            user_id=form["user_id"] or None,
            surface=form["surface"] or None,
            k=form["k"] or 10,  # type: ignore[arg-type]
            include_reasons=True,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise ConsoleError(f"{where}: {readable_message(first)}") from None


def _rank_preview(state: ServiceState, org_id: str, body: RecommendationsRequest) -> dict[str, Any]:
    """Rank as /v1/recommendations would, without recording anything (no audit record, no
    bandit or canary decision)."""
    try:
        prepared = prepare(state, org_id, body, state.clock(), k=body.k)
    except ApiError as exc:
        raise ConsoleError(exc.message, exc.status) from exc
    result = state.pipeline.run(prepared.served.snapshot, prepared.request)
    return {
        "items": result.items,
        "warnings": [
            *([prepared.served.notice] if prepared.served.notice else []),
            *result.warnings,
        ],
        "segment": prepared.resolved.segment_id or prepared.resolved.starter_segment,
    }


# --- bandit and canaries ----------------------------------------------------------------------


@router.get("/ns/{namespace}/bandit")
async def bandit_page(request: Request, namespace: str) -> Response:
    session = signed_in(request)
    state = _state(request)
    namespace = _namespace(namespace)

    def read() -> dict[str, Any]:
        now_us = to_micros(state.clock())
        with state.store.read() as conn:
            canaries = [
                ship_flow.view(conn, row, now_us=now_us, with_steps=False)
                for row in canary_store.list_canaries(
                    conn, org_id=session.org_id, namespace=namespace
                )
            ]
            policies = bandit_store.list_policies(conn, org_id=session.org_id, namespace=namespace)
            stats = bandit_flow.summarise(
                namespace,
                None,
                bandit_store.list_statistics(conn, org_id=session.org_id, namespace=namespace),
            )
        return {"canaries": canaries, "policies": policies, "stats": stats}

    data = await run_in_threadpool(read)
    return _render(
        request,
        "bandit.html",
        {
            "title": f"Bandit · {namespace}",
            "session": session,
            "page": "bandit",
            "namespace": namespace,
            "ns": namespace,
            **data,
        },
    )


# --- decision audit ---------------------------------------------------------------------------


def _moment(text: str, name: str) -> int | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConsoleError(f"{name}: not a time (e.g. 2026-12-01T00:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_micros(moment)


@router.get("/ns/{namespace}/audit")
async def audit_page(request: Request, namespace: str) -> Response:
    session = signed_in(request)
    state = _state(request)
    query = request.query_params
    form = {
        name: query.get(name, "").strip() for name in ("decision_id", "user_id", "since", "until")
    }
    context: dict[str, Any] = {
        "title": f"Audit · {namespace}",
        "session": session,
        "page": "audit",
        "namespace": namespace,
        "ns": namespace,
        "form": form,
        "decision": None,
        "results": None,
    }
    status = 200
    try:
        namespace = _namespace(namespace)
        if form["decision_id"]:
            found = await run_in_threadpool(
                _decision, state, session.org_id, namespace, form["decision_id"]
            )
            if found is None:
                raise ConsoleError(f"no decision {form['decision_id'][:64]!r} in {namespace}", 404)
            context["decision"] = found
        elif any(form[name] for name in ("user_id", "since", "until")) or "user_id" in query:
            since, until = _moment(form["since"], "since"), _moment(form["until"], "until")
            context["results"] = await run_in_threadpool(
                _search, state, session.org_id, namespace, form["user_id"] or None, since, until
            )
    except ConsoleError as exc:
        context["error"], status = str(exc), exc.status
    return _render(request, "audit.html", context, status=status)


def _decision(
    state: ServiceState, org_id: str, namespace: str, decision_id: str
) -> dict[str, Any] | None:
    state.audit.flush()  # a decision made a moment ago is readable
    with state.store.read() as conn:
        row = control.get_decision(conn, org_id=org_id, decision_id=decision_id)
    if row is None or row["namespace"] != namespace:
        return None
    return {**row, "created_at": _when(row["created_at_us"])}


def _search(
    state: ServiceState,
    org_id: str,
    namespace: str,
    user_id: str | None,
    since_us: int | None,
    until_us: int | None,
) -> list[dict[str, Any]]:
    state.audit.flush()
    with state.store.read() as conn:
        rows = control.search_decisions(
            conn,
            org_id=org_id,
            namespace=namespace,
            since_us=since_us,
            until_us=until_us,
            user_hash=user_hash(org_id, user_id) if user_id else None,
            limit=100,
        )
    return [{**row, "created_at": _when(row["created_at_us"])} for row in rows]


# --- rules and manual overrides ---------------------------------------------------------------


RULE_FIELDS = (
    "name",
    "action",
    "target_type",
    "target_key",
    "item_ids",
    "surface",
    "boost_value",
    "position",
    "priority",
    "user_id",
)


async def _rules_view(
    request: Request,
    session: Session,
    namespace: str,
    *,
    form: Mapping[str, str] | None = None,
    dry: dict[str, Any] | None = None,
    flash: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    state = _state(request)
    now_us = to_micros(state.clock())

    def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        with state.store.read() as conn:
            rules = control.list_rules(conn, org_id=session.org_id, namespace=namespace)
            overrides = control.list_overrides(conn, org_id=session.org_id, namespace=namespace)
        return rules, overrides

    rules, overrides = await run_in_threadpool(read)
    return _render(
        request,
        "rules.html",
        {
            "title": f"Rules · {namespace}",
            "session": session,
            "page": "rules",
            "namespace": namespace,
            "ns": namespace,
            "rules": rules,
            "overrides": [
                {
                    **o,
                    "status": override_status(o, now_us),
                    "expires": _when(o.get("expires_at_us")),
                }
                for o in overrides
            ],
            "form": dict(form or {}),
            "dry": dry,
            "flash": flash,
            "error": error,
        },
        status=status,
    )


@router.get("/ns/{namespace}/rules")
async def rules_page(request: Request, namespace: str) -> Response:
    return await _rules_view(request, signed_in(request), _namespace(namespace))


def _rule_in(namespace: str, form: Mapping[str, str]) -> RuleIn:
    """The form as the API's rule body; a readable 400 for what does not validate."""

    def number(name: str) -> str | None:
        return form.get(name, "").strip() or None

    raw: dict[str, Any] = {
        "namespace": namespace,
        "name": form.get("name", "").strip(),
        "action": form.get("action", ""),
        "target_type": form.get("target_type", ""),
        "target_key": form.get("target_key", "").strip() or None,
        "item_ids": [i.strip() for i in form.get("item_ids", "").split(",") if i.strip()],
        "surface": form.get("surface", "").strip() or "*",
        "boost_value": number("boost_value"),
        "position": number("position"),
        "priority": number("priority") or 0,
    }
    try:
        return RuleIn.model_validate(raw, strict=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "rule"
        raise ConsoleError(f"{where}: {readable_message(first)}") from None


@router.post("/ns/{namespace}/rules")
async def rules_action(request: Request, namespace: str) -> Response:
    session = signed_in(request)
    state = _state(request)
    form: dict[str, str] = {}
    try:
        namespace = _namespace(namespace)
        form = await _form(request)
        _checked(session, form)
        rule = _rule_in(namespace, form)
        if form.get("intent") == "dry-run":
            body = RuleDryRun(
                namespace=namespace,
                rule=rule,
                request=DryRunRequestIn(
                    user_id=form.get("user_id", "").strip() or None,
                    surface=None if rule.surface == "*" else rule.surface,
                ),
            )
            try:
                answer = await run_in_threadpool(
                    dry_run, state, session.org_id, body, state.clock()
                )
            except ApiError as exc:
                raise ConsoleError(exc.message, exc.status) from exc
            size = max(len(answer.before), len(answer.after))
            pairs = [
                (
                    answer.before[i] if i < len(answer.before) else None,
                    answer.after[i] if i < len(answer.after) else None,
                )
                for i in range(size)
            ]
            dry = {"added": answer.added, "removed": answer.removed, "pairs": pairs}
            return await _rules_view(request, session, namespace, form=form, dry=dry)
        row = rule_row(rule, str(uuid.uuid4()), to_micros(state.clock()))

        def write() -> None:
            with state.writes.transaction(session.org_id, namespace) as conn:
                control.insert_rule(conn, org_id=session.org_id, row=row)

        await run_in_threadpool(write)
    except ConsoleError as exc:
        if not NAMESPACE.fullmatch(namespace):
            return _error(request, session, exc)
        return await _rules_view(
            request, session, namespace, form=form, error=str(exc), status=exc.status
        )
    return await _rules_view(request, session, namespace, flash=f"Rule {rule.name!r} created.")


@router.post("/ns/{namespace}/overrides/{override_id}/cancel")
async def cancel_override(request: Request, namespace: str, override_id: str) -> Response:
    session = signed_in(request)
    state = _state(request)
    try:
        namespace = _namespace(namespace)
        _checked(session, await _form(request))

        def write() -> bool:
            with state.store.read() as conn:
                current = control.get_override(
                    conn, org_id=session.org_id, override_id=override_id[:64]
                )
            if current is None or current["namespace"] != namespace:
                return False
            with state.writes.transaction(session.org_id, namespace) as conn:
                control.cancel_override(
                    conn,
                    org_id=session.org_id,
                    override_id=override_id,
                    now_us=to_micros(state.clock()),
                )
            return True

        if not await run_in_threadpool(write):
            raise ConsoleError(f"no manual override {override_id[:64]!r} in {namespace}", 404)
    except ConsoleError as exc:
        if not NAMESPACE.fullmatch(namespace):
            return _error(request, session, exc)
        return await _rules_view(request, session, namespace, error=str(exc), status=exc.status)
    return await _rules_view(request, session, namespace, flash="Override cancelled.")


# --- segments and profiles --------------------------------------------------------------------


@router.get("/ns/{namespace}/segments")
async def segments_page(request: Request, namespace: str) -> Response:
    session = signed_in(request)
    state = _state(request)
    query = request.query_params
    form = {name: query.get(name, "").strip() for name in ("user_id", "surface")}
    context: dict[str, Any] = {
        "title": f"Segments · {namespace}",
        "session": session,
        "page": "segments",
        "namespace": namespace,
        "ns": namespace,
        "form": form,
        "dry": None,
    }
    status = 200
    try:
        namespace = _namespace(namespace)

        def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            with state.store.read() as conn:
                segments = control.list_segments(conn, org_id=session.org_id, namespace=namespace)
                profiles = control.list_profiles(conn, org_id=session.org_id, namespace=namespace)
            return segments, profiles

        segments, profiles = await run_in_threadpool(read)
        context["segments"] = [
            {**row, "rules_json": json.dumps(row["rules"], sort_keys=True)} for row in segments
        ]
        context["profiles"] = [
            {**row, "knobs_json": json.dumps(row["knobs"], sort_keys=True)} for row in profiles
        ]
        if form["user_id"]:
            try:
                body = SegmentDryRun(
                    namespace=namespace,
                    user_id=form["user_id"],
                    request={"surface": form["surface"]} if form["surface"] else {},
                )
            except ValidationError as exc:
                first = exc.errors()[0]
                raise ConsoleError(f"user_id: {readable_message(first)}") from None
            context["dry"] = await run_in_threadpool(
                segment_dry_run, state.store, session.org_id, body, state.clock()
            )
    except ConsoleError as exc:
        context["error"], status = str(exc), exc.status
        context.setdefault("segments", [])
        context.setdefault("profiles", [])
    return _render(request, "segments.html", context, status=status)


# --- tuning runs ------------------------------------------------------------------------------

RUN_FOLDER = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
RUN_FILES = {
    "report.html": "text/html; charset=utf-8",
    "tradeoff.png": "image/png",
    "ndcg_by_run.png": "image/png",
    "summary.json": "application/json",
    "evidence.zip": "application/zip",
}


def _org_runs(root: Path, org_id: str) -> list[tuple[Path, dict[str, Any]]]:
    """The run folders whose summary names this org (a summary without one, from before runs
    recorded their org or tuned offline, belongs to nobody here), newest first."""
    found = []
    for folder, summary in reversed(all_summaries(root)):
        try:
            owner = str(uuid.UUID(str(summary.get("org_id"))))
        except ValueError:
            continue
        if owner == org_id:
            found.append((folder.parent, summary))
    return found


def _run_row(folder: Path, summary: Mapping[str, Any]) -> dict[str, Any]:
    chosen = summary.get("chosen") or {}
    test = chosen.get("test") or {}
    lift = (test.get("lift") or {}).get("ndcg@10")
    passed = bool((test.get("guardrails") or {}).get("passed"))
    return {
        "folder": folder.name,
        "namespace": summary.get("namespace"),
        "segment": summary.get("segment"),
        "count": len(summary.get("runs", [])),
        "chosen": chosen.get("run"),
        "lift": f"{lift['absolute']:+.4f} ({lift['ci95_low']:+.4f}, {lift['ci95_high']:+.4f})"
        if lift
        else None,
        "passed": passed,
        "verdict": ("pass" if passed else "FAIL") if test else "—",
        "pareto": ", ".join(map(str, summary.get("pareto", []))),
        "bundle": (folder / "evidence.zip").exists(),
    }


@router.get("/runs")
async def runs_page(request: Request) -> Response:
    session = signed_in(request)
    root = Path(_state(request).settings.tuning_runs_dir)
    runs = await run_in_threadpool(_org_runs, root, session.org_id)
    return _render(
        request,
        "runs.html",
        {
            "title": "Tuning runs",
            "session": session,
            "page": "runs",
            "root": str(root),
            "runs": [_run_row(folder, summary) for folder, summary in runs],
        },
    )


@router.get("/runs/{folder}/{name}")
async def run_file(request: Request, folder: str, name: str) -> Response:
    """A file of one of the org's run folders (the report, its charts, the bundle)."""
    session = signed_in(request)
    root = Path(_state(request).settings.tuning_runs_dir)
    if name not in RUN_FILES or not RUN_FOLDER.fullmatch(folder):
        return _error(request, session, ConsoleError("no such file", 404), back="/console/runs")
    runs = await run_in_threadpool(_org_runs, root, session.org_id)
    match = next((f for f, _ in runs if f.name == folder), None)
    if match is None or not (match / name).is_file():
        return _error(request, session, ConsoleError("no such run file", 404), back="/console/runs")
    response = FileResponse(match / name, media_type=RUN_FILES[name])
    # The report is self-contained: no script, inline images only.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'"
    )
    return response


async def _sign_in_first(request: Request, exc: Exception) -> Response:
    return _to_login()


async def _not_done(request: Request, exc: Exception) -> Response:
    """A ConsoleError that no page answers itself (with its form kept): the error page."""
    assert isinstance(exc, ConsoleError)
    return _error(request, _session(request), exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequired, _sign_in_first)
    app.add_exception_handler(ConsoleError, _not_done)
    app.mount(
        "/console/static",
        StaticFiles(directory=str(resources.files("recsys.service.console") / "static")),
        name="console-static",
    )
    app.include_router(router)


__all__ = ["config_diff", "install", "router"]
