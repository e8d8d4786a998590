"""The API's documentation, usable without internet: Swagger UI at /docs and ReDoc at /redoc,
served from the assets the fastapi-offline package installs (FastAPI's defaults load them from
a CDN, so they render blank offline), and an OpenAPI document that says what a client must
send: `X-Org-ID` required on /v1, the API-key and bearer schemes when auth is on (so Swagger
has an Authorize button), and an example on every request body. `/` leads a person to these
pages."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, Response

from recsys.config.settings import Settings
from recsys.service.examples import REQUEST_EXAMPLES

ASSETS = "/static/api-docs"
TENANT_HEADER = "X-Org-ID"
# Documented by the security schemes instead (when auth is on): as plain header parameters
# Swagger would ask for them on every operation, and show them when auth is off too.
AUTH_HEADERS = {"x-api-key", "authorization"}
SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "Bearer": {"type": "http", "scheme": "bearer", "description": "`Bearer <api key>`"},
}


def openapi_document(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """The app's OpenAPI document with the tenant header required, the auth schemes (auth on)
    and the request examples."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            parameters = []
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "header" and parameter["name"].lower() in AUTH_HEADERS:
                    continue
                if parameter.get("in") == "header" and parameter["name"] == TENANT_HEADER:
                    # Optional in the signature only so that a missing header is our 400
                    # `missing_org_id`, not FastAPI's 422.
                    parameter["required"] = True
                    parameter["schema"] = {"type": "string", "format": "uuid"}
                parameters.append(parameter)
            if parameters:
                operation["parameters"] = parameters
            else:
                operation.pop("parameters", None)
            example = REQUEST_EXAMPLES.get(operation.get("operationId", ""))
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and example is not None:
                body["example"] = example
            if settings.auth_enabled and path.startswith("/v1/"):
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
    if settings.auth_enabled:
        document.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    return document


def _asset_folder() -> str:
    return str(resources.files("fastapi_offline") / "static")


# ReDoc's bundle shows the Redocly logo in its menu from their CDN, whatever the options: offline
# that is a failed request (and a console error) on every load. The logo becomes an inline,
# empty image; nothing else in the bundle is fetched at run time (the browser test watches).
_REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
_EMPTY_SVG = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E"


@functools.cache
def _redoc_bundle() -> bytes:
    text = (resources.files("fastapi_offline") / "static" / "redoc.standalone.js").read_text()
    return text.replace(_REDOC_LOGO, _EMPTY_SVG).encode()


_LANDING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>RecSys</title>
<link rel="icon" href="{assets}/favicon.png">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}
a{{color:#0b57d0}}li{{margin:.3rem 0}}code{{background:#f1f3f4;padding:0 .2rem}}</style>
</head><body>
<h1>RecSys {version}</h1>
<p>A recommendation service: push a catalogue, users and events per namespace; ask for
recommendations, similar items and re-ranked lists.</p>
<ul>
{console}<li><a href="/docs">API reference (Swagger UI)</a>: try every operation here</li>
<li><a href="/redoc">API reference (ReDoc)</a>: the same, for reading</li>
<li><a href="/openapi.json">OpenAPI document</a></li>
<li><a href="/health">Health</a>, <a href="/version">version</a>,
<a href="/metrics">Prometheus metrics</a></li>
</ul>
<p>Every <code>/v1</code> request names its tenant in the <code>X-Org-ID</code> header{auth}.</p>
</body></html>
"""


def install(app: FastAPI, settings: Settings, *, console: bool = False) -> None:
    """Serve /docs, /redoc, their assets, the customised /openapi.json and the landing page.
    The app must be created with `docs_url=None, redoc_url=None`."""

    # Before the mount, so that this one file is served patched (see _redoc_bundle).
    @app.get(f"{ASSETS}/redoc.standalone.js", include_in_schema=False)
    async def redoc_bundle() -> Response:
        return Response(
            _redoc_bundle(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.mount(ASSETS, StaticFiles(directory=_asset_folder()), name="api-docs-assets")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    title = f"{app.title} {app.version}"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True, "displayRequestDuration": True},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{title} - ReDoc",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    @app.get("/", include_in_schema=False)
    async def landing() -> HTMLResponse:
        return HTMLResponse(
            _LANDING.format(
                assets=ASSETS,
                version=app.version,
                console='<li><a href="/console">Console</a>: look at your namespaces</li>\n'
                if console
                else "",
                auth=" and authenticates with an API key (<code>X-API-Key</code> or "
                "<code>Authorization: Bearer</code>)"
                if settings.auth_enabled
                else "",
            )
        )


__all__ = ["install", "openapi_document"]
