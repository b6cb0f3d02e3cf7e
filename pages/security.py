"""Around every request: security headers, client address behind trusted proxies, API docs from local files.

`install(app, settings)` wraps the whole ASGI stack (outside Starlette's error middleware, so pages, API,
static files, websockets' HTTP polling and error pages alike get the headers) and registers `/docs` and
`/openapi.json`; Swagger UI's files come from the `fastapi-offline` package. (No /redoc: ReDoc's bundle
loads its logo from a CDN, which the policy blocks.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from nicegui import App
from starlette.staticfiles import StaticFiles

from settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DOCS_STATIC = "/docs-static"
HSTS_SECONDS = 365 * 24 * 3600

# NiceGUI 3.18 needs 'unsafe-inline' scripts (its page template writes the page's data in inline scripts,
# with no nonce) and 'unsafe-eval' (Vue compiles templates in the browser; run_javascript and ':' props are
# evaluated). What the policy still gives: nothing is loaded from or sent to another origin (scripts,
# styles, images, fonts, fetch/websocket), no plugin, no <base> hijack, forms post only here, no framing.
CSP_DIRECTIVES: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self' 'unsafe-inline' 'unsafe-eval'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data: blob:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "worker-src": "'self' blob:",
    "frame-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
CONTENT_SECURITY_POLICY = "; ".join(f"{k} {v}" for k, v in CSP_DIRECTIVES.items())


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The headers every response carries (HSTS only when PUBLIC_URL is https)."""
    headers = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    ]
    if settings.https:
        headers.append((b"strict-transport-security", f"max-age={HSTS_SECONDS}".encode()))
    return headers


def _is_trusted(host: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    """True when an address belongs to one of the trusted proxies' networks."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def forwarded_client(peer: str, forwarded_for: str,
                     networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> str:
    """The client address: the peer, or, when the peer is a trusted proxy, the last untrusted hop it forwarded."""
    if not networks or not _is_trusted(peer, networks):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):  # each proxy appends the address it saw: read from the nearest one
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # garbage in the header: believe no part of it
        if not _is_trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


_settings: Settings | None = None


def _current_settings() -> Settings:
    """The settings the app was wired with (the process's settings before that)."""
    if _settings is not None:
        return _settings
    import settings as settings_module

    return settings_module.get()


class SecurityLayer:
    """ASGI wrapper of the whole app: client address behind trusted proxies, then the security headers."""

    def __init__(self, app: ASGIApp, settings: Settings | None = None) -> None:
        self.app = app
        self.settings = settings  # None: the settings the app was wired with

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rewrite client and scheme for a trusted proxy; add the headers to every HTTP response."""
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        settings = self.settings or _current_settings()
        networks = settings.proxy_networks
        client = scope.get("client")
        if networks and client and _is_trusted(client[0], networks):
            headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            if b"x-forwarded-for" in headers:
                scope["client"] = (forwarded_client(client[0], headers[b"x-forwarded-for"], networks), 0)
            proto = headers.get(b"x-forwarded-proto", "").split(",")[-1].strip().lower()
            if proto in {"http", "https"}:
                secure = proto == "https"
                scope["scheme"] = ("wss" if secure else "ws") if scope["type"] == "websocket" else proto
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(settings)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {k.lower() for k, _v in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in present)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:  # else the server's bare 500, without the headers
                await _server_error(scope, send_with_headers)
            raise  # the server logs it


SERVER_ERROR = ("Erreur interne du serveur : l'incident est journalisé. Réessayez dans un instant ; s'il se "
                "reproduit, signalez-le à l'équipe Rentrée avec l'heure et l'adresse de la page.")


async def _server_error(scope: Scope, send: Send) -> None:
    """Answer 500 in French: JSON under /api/, a short page elsewhere."""
    import json
    from html import escape

    if str(scope.get("path", "")).startswith("/api/"):
        body, kind = json.dumps({"detail": SERVER_ERROR}, ensure_ascii=False).encode(), b"application/json"
    else:
        body = (f"<!doctype html><html lang=fr><meta charset=utf-8><title>Erreur · Rentrée</title>"
                f"<h1>Erreur (500)</h1><p>{escape(SERVER_ERROR)}</p><p><a href=\"/\">Retour à l'accueil</a></p>"
                ).encode()
        kind = b"text/html; charset=utf-8"
    await send({"type": "http.response.start", "status": 500,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def docs_assets() -> Path:
    """The folder of Swagger UI's files shipped by the fastapi-offline package."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def install(nicegui_app: App, settings: Settings) -> None:
    """Wrap the whole app in the security layer (once per process) and register the local API docs."""
    global _settings
    _settings = settings
    if not getattr(nicegui_app, "rentree_security_layer", False):
        original = nicegui_app.build_middleware_stack
        nicegui_app.build_middleware_stack = lambda: SecurityLayer(original())  # type: ignore[method-assign]
        nicegui_app.rentree_security_layer = True  # type: ignore[attr-defined]
    nicegui_app.middleware_stack = None  # built again at the next request, inside the layer
    _install_docs(nicegui_app)


def _install_docs(nicegui_app: App) -> None:
    """/openapi.json and /docs (Swagger UI), its files served from this server."""
    nicegui_app.title = "Rentrée"
    nicegui_app.description = "API JSON de Rentrée (équipement numérique des lycées d'Île-de-France)."
    if not any(getattr(r, "path", None) == DOCS_STATIC for r in nicegui_app.routes):
        nicegui_app.mount(DOCS_STATIC, StaticFiles(directory=docs_assets()), name="docs-static")

    @nicegui_app.get("/openapi.json", include_in_schema=False)
    async def openapi_json() -> JSONResponse:
        return JSONResponse(nicegui_app.openapi())

    @nicegui_app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Rentrée · API (Swagger UI)",
                                   swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_STATIC}/favicon.png",
                                   swagger_ui_parameters={"validatorUrl": None})
