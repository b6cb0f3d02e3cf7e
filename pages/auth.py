"""Login guard and account pages: who is logged in, roles, step-up TOTP, login, password, TOTP enrolment.

What other pages and API routes use:
- `await current_user()` in a page: the logged-in `User` or None.
- `api_user` as a FastAPI dependency: the user of the session cookie or of `Authorization: Bearer …`
  (401 with a French detail when absent or invalid).
- `require_roles(*roles)`: a page decorator (`@ui.page(...)` above `@require_roles(Role.ADMIN)`) that shows
  a French 403 page, and a FastAPI dependency (`Depends(require_roles(Role.ADMIN))`) that answers 403.
- `step_up_ok(user)` / `await confirm_step_up(user)`: before an admin action, ask for a fresh TOTP code
  (accepted for STEP_UP_SECONDS).
- `await ensure_live_session()` at the start of a page's handler that acts: the user, or `SessionEnded` when the
  session ended since the page was built (logout, account disabled, password / role / TOTP changed, idle);
  `@live_session` on a handler does it and sends the page to /login. `end_user_pages(user_id)` closes the open
  pages of a user (called by models.accounts whenever a user's sessions are revoked in this process).
The middleware installed by `install()` sends every page to /login and answers 401 on every /api/ route
when nobody is logged in, so a page added later is covered without doing anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import segno
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from nicegui import App, Client, app, background_tasks, context, core, ui
from nicegui.storage import request_contextvar
from pydantic import BaseModel
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

import settings as settings_module
from models.access import AccessEventKind, SchoolSession, end_session, on_access_revoked
from models.access import live_session as live_school_session
from models.accounts import (
    ADDRESS_LOCKED_MESSAGE,
    LOCK_MINUTES,
    STAFF_ROLES,
    STEP_UP_SECONDS,
    EventKind,
    PasswordRefused,
    Role,
    User,
    active_user,
    address_lock,
    authenticate,
    check_password_async,
    enable_totp,
    lock_state,
    log_event,
    needs_totp_enrolment,
    new_totp_secret,
    on_sessions_revoked,
    password_expired,
    password_warning,
    record_login,
    set_password,
    totp_uri,
    use_recovery_code,
    user_for_token,
    verify_totp,
)
from models.audit import Source
from pages.components.frame import NavEntry, frame, register_nav, school_entries
from sheets.engine.caller import Caller, SessionEnded
from sheets.engine.declaration import Nav

SESSION_PATH = "/login/session"  # exchanges a one-time ticket for a fresh session id (no session fixation)
ACCESS_PATH = "/acces"  # school access: the form asking for a link, and the links themselves (pages/access.py)
PUBLIC_PATHS: frozenset[str] = frozenset({"/login", SESSION_PATH, "/favicon.ico", ACCESS_PATH})
TICKET_SECONDS = 30
STEP_UP_MAX_FAILURES = 5  # wrong codes in a confirmation dialog before the session ends
PUBLIC_PREFIXES: tuple[str, ...] = ("/_nicegui", ACCESS_PATH + "/")
SCHOOL_ENDED_PAGE = ACCESS_PATH + "?fin=1"  # a school session that ended: the form asking for a new link
PASSWORD_PAGE = "/compte/mot-de-passe"
TOTP_PAGE = "/compte/double-authentification"
ALLOWED_WHILE_PENDING: frozenset[str] = frozenset({PASSWORD_PAGE, TOTP_PAGE, "/logout"})
UNAUTHENTICATED = ("Authentification requise : connectez-vous sur /login, ou envoyez un jeton d'API valide "
                   "dans l'en-tête « Authorization: Bearer … ».")


def is_public(path: str) -> bool:
    """True for the routes open without login: the login page and NiceGUI's static and internal routes."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _store() -> Any:
    return app.storage.user


def client_ip(request: Request | None = None) -> str:
    """The client address of the current request or page."""
    if request is None:
        try:
            request = context.client.request
        except (AttributeError, RuntimeError):
            return ""
    client = getattr(request, "client", None)
    return client.host if client else ""


def pending_step(user: User) -> str | None:
    """What the user must do before anything else: change the password, or enrol TOTP (admins, R-SEC-1)."""
    if password_expired(user, settings_module.get().password_max_age_days):
        return PASSWORD_PAGE
    if needs_totp_enrolment(user):
        return TOTP_PAGE
    return None


async def current_user() -> User | None:
    """The logged-in user of the current page (session + database), or None."""
    try:
        return await session_user()
    except RuntimeError:
        return None


def _display(user: User) -> dict[str, str]:
    """What the layout shows (name, role, password due date), kept in the session."""
    due = password_warning(user, settings_module.get().password_max_age_days)
    return {"name": user.full_name, "email": user.email, "role": Role(user.role).value,
            "password_due": due.isoformat() if due else ""}


def _remember(user: User) -> None:
    _store().update(_display(user))


_tickets: dict[str, tuple[float, dict[str, Any], str]] = {}


def _issue_ticket(values: dict[str, Any], target: str) -> str:
    """A one-time ticket, valid TICKET_SECONDS, that opens a session with these values on a new session id."""
    now = time.time()
    for key in [k for k, (at, _v, _t) in _tickets.items() if now - at > TICKET_SECONDS]:
        _tickets.pop(key, None)
    ticket = secrets.token_urlsafe(32)
    _tickets[ticket] = (now, values, target)
    return ticket


def _password_stamp(user: User) -> str:
    """When the password last changed, in ms since the epoch (same whatever the time zone it was read in)."""
    return str(int(user.password_changed_at.timestamp() * 1000)) if user.password_changed_at else ""


async def session_user() -> User | None:
    """The active user of the session, if its password, role and TOTP have not changed since it logged in."""
    store = _store()
    user = await active_user(store.get("uid"))
    if user is not None and not _same_session(store, user):
        return None  # a password reset, a role change, a TOTP reset (or a change in another session) end it
    return user


RENEWING_SECONDS = 30  # at most this long between a session's own password change and its new stamps


def _same_session(store: Any, user: User) -> bool:
    """True when the session was opened with the account's current security stamp and password, or is the one
    changing its own password right now: between the account's save and the session's new stamps, another request
    of this session (a page's own call, a second tab) must not find the stamps changed and end it."""
    if time.time() - float(store.get("renewing") or 0) < RENEWING_SECONDS:
        return True
    return store.get("stamp", "") == user.security_stamp and store.get("pwd", "") == _password_stamp(user)


# --- School sessions (role `ecole`, opened by an e-mail link: models/access.py) -----------------------------

SCHOOL_FORBIDDEN = ("Accès refusé : votre accès d'établissement (lien e-mail) ne donne pas accès à cette page. "
                    "Votre espace est « Mon établissement ».")
SCHOOL_SESSION_OVER = ("Session d'établissement terminée (inactivité, révocation ou plus aucun rôle) : demandez un "
                       "nouveau lien sur /acces.")


class SchoolSessionEnded(SessionEnded):
    """A school session ended while its page was open: the page goes back to the form asking for a link."""

    def __init__(self, message: str = "Votre session a pris fin : demandez un nouveau lien d'accès.") -> None:
        super().__init__(message)


def _remember_school(store: Any, school: SchoolSession) -> None:
    """What the layout shows of a school session (name, e-mail, role, its schools), kept in the session."""
    store.update(role=Role.ECOLE.value, name=school.access.full_name, email=school.email, password_due="",
                 schools=[[a.uai, a.school_name] for a in school.access.assignments])


async def school_session_of(store: Any, ip: str = "") -> SchoolSession | None:
    """The live school session of a browser's storage; None (storage cleared) once it ended: idle, revoked, expired,
    or its person holds no role any more. Its scope and grants are computed again each time."""
    session_id = store.get("ecole")
    if not session_id:
        return None
    idle = settings_module.get().session_idle_minutes * 60
    if time.time() - float(store.get("seen") or 0) > idle:
        await end_session(int(session_id), AccessEventKind.EXPIRED, ip=ip, detail="inactivité")
        store.clear()
        return None
    school = await live_school_session(session_id, store.get("ecole_key"))
    if school is None:
        store.clear()
        return None
    _remember_school(store, school)
    return school


async def current_school() -> SchoolSession | None:
    """The school session of the current page (checked by the guard on this request when there is one), or None."""
    try:
        request = context.client.request
        school = getattr(request.state, "school", None)
        if school is not None:
            return school
    except (AttributeError, RuntimeError, AssertionError):
        pass
    try:
        store = _store()
    except RuntimeError:
        return None
    return await school_session_of(store, client_ip())


async def ensure_live_school() -> SchoolSession:
    """Re-read the current page's school session: it, or SchoolSessionEnded when it ended since the page was built."""
    try:
        store = _store()
    except (RuntimeError, AssertionError, KeyError):
        raise SchoolSessionEnded() from None
    school = await school_session_of(store, client_ip())
    if school is None:
        raise SchoolSessionEnded()
    return school


def school_caller(school: SchoolSession, address: str = "",
                  verify: Callable[[], Awaitable[object]] | None = None) -> Caller:
    """The engine's caller of a school session: role `ecole`, its schools, its (UAI, contact role) grants."""
    return Caller.school(school.email, school.access.scope, school.access.grants, address=address, verify=verify)


async def start_school_session(request: Request, school: SchoolSession, key: str) -> None:
    """A link was used: a new session id (the one the browser had is dropped), holding the school session."""
    _store().clear()
    session_id = str(uuid.uuid4())
    request.session["id"] = session_id
    await app.storage._create_user_storage(session_id)  # private in NiceGUI 3.18: per-session storage
    store = _store()
    store.update({"ecole": school.session_id, "ecole_key": key, "seen": time.time()})
    _remember_school(store, school)


# --- Sessions that end while pages are open ---------------------------------------------------------

SESSION_ENDED = "Votre session a pris fin : reconnectez-vous."
ENDED_PAGE = "/login?fin=1"  # the login page, saying that the session ended
DROP_DELAY = 0.5  # seconds for the « go to /login » message to reach the browser before its client is dropped


async def ensure_live_session() -> User:
    """Re-read the current page's session (storage + database): its user, or SessionEnded when it ended."""
    try:
        store = _store()
    except (RuntimeError, AssertionError, KeyError):
        raise SessionEnded() from None
    uid = store.get("uid")
    if not uid:
        raise SessionEnded()
    idle = settings_module.get().session_idle_minutes * 60
    if time.time() - float(store.get("seen") or 0) > idle:
        await log_event(EventKind.SESSION_EXPIRED, user=await active_user(uid), ip=client_ip())
        store.clear()
        raise SessionEnded()
    user = await active_user(uid)
    if user is None or not _same_session(store, user) or store.get("role") != Role(user.role).value:
        store.clear()
        raise SessionEnded()
    return user


def leave_ended_session(exc: SessionEnded) -> None:
    """Tell the person why nothing was done and send the page to /login (a school's person: to /acces)."""
    ui.notify(str(exc), type="warning", multi_line=True, timeout=8000)
    ui.navigate.to(SCHOOL_ENDED_PAGE if isinstance(exc, SchoolSessionEnded) else ENDED_PAGE)


def _is_school_page() -> bool:
    try:
        return bool(_store().get("ecole"))
    except (RuntimeError, AssertionError, KeyError):
        return False


def live_session(handler: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Decorate a page's event handler: it runs only while the session lives, else the page goes to /login."""

    @functools.wraps(handler)
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            if _is_school_page():
                await ensure_live_school()
            else:
                await ensure_live_session()
        except SessionEnded as exc:
            leave_ended_session(exc)
            return None
        result = handler(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    return guarded


def _session_id_of(client: Client) -> str | None:
    """The session id of the page a client shows (None for a client without a request)."""
    try:
        return client.request.session.get("id")
    except (RuntimeError, AssertionError, AttributeError, KeyError):
        return None


def _current_session_id() -> str | None:
    """The session id of the request or page being served now, if any."""
    request = request_contextvar.get()
    try:
        return request.session.get("id") if request is not None else None
    except (AssertionError, AttributeError, KeyError):
        return None


def _close_client(client: Client, target: str = ENDED_PAGE) -> None:
    """Send an open page to /login, then drop it and its websocket (a page that ignores the order is cut)."""
    if client.is_deleted:
        return
    # Not a page already leaving (the tab whose « Se déconnecter » ended the session goes to its own page).
    client.run_javascript(f"if (!window.rentreeLeaving) window.location.href = '{target}';")

    async def drop() -> None:
        await asyncio.sleep(DROP_DELAY)
        if client.is_deleted or client.id not in Client.instances:
            return
        for document_id in list(client._delete_tasks):  # NiceGUI's own delayed deletion, after a disconnect
            client._cancel_delete_task(document_id)
        sockets = list(client._socket_to_document_id)
        client.delete()
        for sid in sockets:  # a reconnection finds no client: the browser reloads, and lands on /login
            with contextlib.suppress(Exception):
                await core.sio.disconnect(sid)

    background_tasks.create(drop(), name=f"end session of client {client.id}")


def end_session_pages(session_id: str, target: str = ENDED_PAGE) -> int:
    """Close every open page of one browser session (logout); return how many."""
    clients = [c for c in list(Client.instances.values()) if _session_id_of(c) == session_id]
    for client in clients:
        _close_client(client, target)
    return len(clients)


def end_school_pages(school_session_ids: set[int]) -> int:
    """Close every open page of school sessions the Région revoked (in this process); return how many."""
    users = app.storage._users  # private in NiceGUI 3.18: the per-session storages by session id
    closed = 0
    for client in list(Client.instances.values()):
        session_id = _session_id_of(client)
        store = users.get(session_id) if session_id else None
        if store is not None and store.get("ecole") in school_session_ids:
            store.clear()
            _close_client(client, SCHOOL_ENDED_PAGE)
            closed += 1
    return closed


def end_user_pages(user_id: int) -> int:
    """Close every open page of a user in this process, but the current session's; return how many."""
    current = _current_session_id()
    users = app.storage._users  # private in NiceGUI 3.18: the per-session storages by session id
    closed = 0
    for client in list(Client.instances.values()):
        session_id = _session_id_of(client)
        if session_id is None or session_id == current:
            continue
        store = users.get(session_id)
        if store is not None and store.get("uid") == user_id:
            _close_client(client)
            closed += 1
    return closed


async def request_user(request: Request) -> User | None:
    """The user of a request: a bearer token, else the session cookie."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return await user_for_token(header[7:].strip())
    return await session_user()


async def api_user(request: Request) -> User:
    """FastAPI dependency: the user of the session or the bearer token, else 401 (French detail)."""
    user = getattr(request.state, "user", None)
    if user is None:
        user = await request_user(request)
    if user is None:
        raise HTTPException(status_code=401, detail=UNAUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})
    return user


def forbidden_message(user: User, roles: frozenset[Role]) -> str:
    """French explanation of a refusal by role."""
    allowed = ", ".join(Role.label_of(r.value) for r in sorted(roles))
    return (f"Accès refusé : votre rôle ({Role.label_of(Role(user.role).value)}) ne le permet pas "
            f"(réservé à : {allowed}). Demandez l'accès à un administrateur si votre travail le nécessite.")


def forbidden_page(message: str) -> None:
    """Render a French 403 page in the current page."""
    context.client.status_code = 403
    with frame("Accès refusé"):
        with ui.card().classes("w-full items-center py-10 gap-3"):
            ui.icon("lock", size="4rem").classes("text-grey-6")
            ui.label("Accès refusé (erreur 403)").classes("text-xl font-semibold")
            ui.label(message).classes("text-grey-8 text-center")
            schools = school_entries()  # a school's person: back to its school's page
            ui.link(f"Retour à {schools[0].label}" if schools else "Retour à l'accueil",
                    schools[0].path if schools else "/")


class RoleGuard:
    """Roles required by a page (used as a decorator) or an API route (used as a dependency)."""

    def __init__(self, roles: frozenset[Role]) -> None:
        self.roles = roles

    def __call__(self, request: Request) -> Any:
        """As a FastAPI dependency: the user (or school session), else 401/403. Given a page function: the page."""
        if not isinstance(request, Request) and callable(request):
            return self.guard_page(request)
        # The middleware has resolved the session or the token of every /api/ request already.
        user = getattr(request.state, "user", None)
        if user is None:
            school = getattr(request.state, "school", None)
            if school is not None:
                if Role.ECOLE not in self.roles:
                    raise HTTPException(status_code=403, detail=SCHOOL_FORBIDDEN)
                return school
            raise HTTPException(status_code=401, detail=UNAUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})
        if Role(user.role) not in self.roles:
            raise HTTPException(status_code=403, detail=forbidden_message(user, self.roles))
        return user

    def guard_page(self, func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        """Wrap a page function: the French 403 page for a role outside the allowed ones."""

        @functools.wraps(func)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            user = await current_user()
            if user is None:
                school = await current_school()
                if school is None:
                    return RedirectResponse("/login", status_code=303)
                if Role.ECOLE not in self.roles:
                    forbidden_page(SCHOOL_FORBIDDEN)
                    return None
            elif Role(user.role) not in self.roles:
                forbidden_page(forbidden_message(user, self.roles))
                return None
            result = func(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        guarded.required_roles = self.roles  # type: ignore[attr-defined]
        return guarded

    def __repr__(self) -> str:
        return f"require_roles({', '.join(sorted(r.value for r in self.roles))})"


def require_roles(*roles: Role | str) -> Any:
    """Roles allowed: `@require_roles(Role.ADMIN)` under `@ui.page`, or `Depends(require_roles(Role.ADMIN))`."""
    return RoleGuard(frozenset(Role(r) for r in roles))


def page(path: str, *, roles: Iterable[Role | str], nav: Nav | None = None, **kwargs: Any) -> Callable[..., Any]:
    """Declare a page with the roles that may open it (and its navigation entry, shown only to them).

    Every page of the app is declared this way: the route matrix fails on a page without declared roles. A school's
    people (role `ecole`) open a page only when `Role.ECOLE` is named: the `ecole:<contact role>` grants of a sheet's
    roles (often passed as `roles=SHEET.read_roles`) open its rows through the engine, not the staff's pages.
    """
    allowed = frozenset(Role(r) for r in roles if not str(r).startswith(f"{Role.ECOLE.value}:"))

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        if nav is not None:
            register_nav(NavEntry(nav.label or path, path, nav.icon, nav.section, nav.order,
                                  frozenset(r.value for r in allowed), nav.demo_only))
        return ui.page(path, **kwargs)(RoleGuard(allowed).guard_page(func))

    return decorate


async def caller_for_page(source: Source = Source.GRID) -> Caller:
    """The logged-in user of the current page as the engine's caller; before each act, the engine re-checks that
    the session is still alive (logout in another tab, account disabled, role or password changed)."""
    user = await current_user()
    if user is None:
        school = await current_school()
        if school is None:  # the guard redirects anonymous visitors before any page is built
            raise SessionEnded()
        sid, scope, grants = school.session_id, school.access.scope, school.access.grants

        async def verify_school() -> None:
            now = await ensure_live_school()
            if now.session_id != sid or now.access.scope != scope or now.access.grants != grants:
                raise SchoolSessionEnded("Vos rôles dans l'établissement ont changé depuis l'ouverture de la page : "
                                         "rien n'a été fait ; demandez un nouveau lien si besoin.")

        return school_caller(school, client_ip(), verify_school)
    uid, role = user.id, Role(user.role).value

    async def verify() -> None:
        now = await ensure_live_session()
        if now.id != uid or Role(now.role).value != role:
            raise SessionEnded()

    return Caller(actor=user.email, role=role, source=source, address=client_ip(), verify=verify)


async def api_caller(request: Request) -> Caller:
    """FastAPI dependency for the engine's endpoints: session cookie (staff or school) or bearer token, else 401."""
    school = getattr(request.state, "school", None)
    if school is not None and getattr(request.state, "user", None) is None:
        return school_caller(school, client_ip(request))
    user = await api_user(request)
    return Caller(actor=user.email, role=Role(user.role).value, source=Source.API, address=client_ip(request))


def required_roles(endpoint: Any) -> frozenset[Role] | None:
    """The roles a page function requires (None: any logged-in user)."""
    return getattr(endpoint, "required_roles", None)


# --- Step-up ----------------------------------------------------------------------------------------

def step_up_ok(user: User) -> bool:
    """True when this session confirmed a TOTP code less than STEP_UP_SECONDS ago."""
    store = _store()
    return store.get("uid") == user.id and time.time() - float(store.get("step_up") or 0) < STEP_UP_SECONDS


async def confirm_step_up(user: User, action: str = "cette action d'administration") -> bool:
    """Ask for a fresh TOTP code before an admin action (skipped when one was given less than 5 min ago)."""
    if step_up_ok(user):
        return True
    if not user.totp_enabled:
        ui.notify("Activez d'abord la double authentification (Mon compte) pour faire cette action.", type="negative")
        return False
    ip = client_ip()
    with ui.dialog().props("persistent") as dialog, ui.card().classes("w-96"):
        ui.label("Confirmation par code").classes("text-lg font-semibold")
        ui.label(f"Pour {action}, saisissez le code à 6 chiffres de votre application "
                 "d'authentification (ou un code de secours).").classes("text-grey-8")
        code = ui.input("Code").props('outlined autofocus inputmode=numeric autocomplete=one-time-code'
                                      ' aria-label="Code de confirmation"').classes("w-full")
        error = ui.label().classes("text-negative")
        failures = {"n": 0}

        async def submit() -> None:
            try:
                await ensure_live_session()
            except SessionEnded as exc:
                dialog.submit(False)
                leave_ended_session(exc)
                return
            if await verify_totp(user, code.value or "") or await use_recovery_code(user, code.value or "", ip):
                _store()["step_up"] = time.time()
                await log_event(EventKind.STEP_UP, user=user, ip=ip, detail=action)
                dialog.submit(True)
                return
            failures["n"] += 1
            await log_event(EventKind.TOTP_FAILED, user=user, ip=ip, detail=f"confirmation : {action}")
            if failures["n"] >= STEP_UP_MAX_FAILURES:  # no guessing codes from an open session
                _store().clear()
                dialog.submit(False)
                ui.navigate.to("/login")
                return
            error.text = "Code refusé (erroné, expiré ou déjà utilisé) : attendez le code suivant et réessayez."

        code.on("keydown.enter", submit)
        with ui.row().classes("w-full justify-end"):
            ui.button("Annuler", on_click=lambda: dialog.submit(False)).props("flat")
            ui.button("Confirmer", on_click=submit)
    result = await dialog
    dialog.delete()
    return bool(result)


# --- Idle sessions on open pages -------------------------------------------------------------------

# Clicks and keys ping the server at most once a minute, and a tick each minute lets it end an idle session.
# (No ui.timer here: a timer awaits the connection, which makes NiceGUI send an async page before it is built.)
_ACTIVITY_JS = """<script>
(() => { let last = 0; const ping = () => { const now = Date.now();
  if (now - last > 60000) { last = now; emitEvent('rentree_activity'); } };
  ['click', 'keydown'].forEach(t => document.addEventListener(t, ping, true));
  addEventListener('beforeunload', () => { window.rentreeLeaving = true; });
  setInterval(() => emitEvent('rentree_tick'), 60000); })();
</script>"""


def watch_session() -> None:
    """On an open page: clicks and keys keep the session alive, and an idle one ends (checked each minute)."""
    try:
        store = _store()
    except RuntimeError:
        return
    if store.get("ecole"):
        _watch_school_session(store)
        return
    if not store.get("uid"):
        return
    idle = settings_module.get().session_idle_minutes * 60

    def touch() -> None:
        if store.get("uid"):
            store["seen"] = time.time()

    async def check() -> None:
        uid = store.get("uid")
        if uid and time.time() - float(store.get("seen") or 0) > idle:
            await log_event(EventKind.SESSION_EXPIRED, user=await active_user(uid), ip=client_ip())
            store.clear()
            ui.navigate.to("/login?expiree=1")
            return
        try:  # ended elsewhere (another process: `users disable`, another instance): leave within the minute
            await ensure_live_session()
        except SessionEnded:
            ui.navigate.to(ENDED_PAGE)

    ui.add_body_html(_ACTIVITY_JS)
    ui.on("rentree_activity", touch)
    ui.on("rentree_tick", check)


def _watch_school_session(store: Any) -> None:
    """watch_session for a school session: activity keeps it, the minute tick ends an idle, revoked or empty one."""

    def touch() -> None:
        if store.get("ecole"):
            store["seen"] = time.time()

    async def check() -> None:
        if await school_session_of(store, client_ip()) is None:
            ui.navigate.to(SCHOOL_ENDED_PAGE)

    ui.add_body_html(_ACTIVITY_JS)
    ui.on("rentree_activity", touch)
    ui.on("rentree_tick", check)


# --- Middleware and routes ---------------------------------------------------------------------------

def _login_redirect(request: Request, **params: str) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    extra = "".join(f"&{k}={v}" for k, v in params.items())
    return RedirectResponse(f"/login?redirect_to={quote(target, safe='/')}{extra}", status_code=303)


class AuthMiddleware(BaseHTTPMiddleware):
    """Every page needs a logged-in user and every /api/ route a user or a token, except the public ones."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        """Redirect anonymous pages to /login, answer 401 to anonymous API calls, expire idle sessions."""
        path = request.url.path
        if is_public(path):
            return await call_next(request)
        store = _store()
        idle = settings_module.get().session_idle_minutes * 60
        # The API, and its schema fetched by a script with its bearer token (as a fuzzer or a client generator does).
        is_api = path == "/api" or path.startswith("/api/") or (path == "/openapi.json"
                                                                 and bool(request.headers.get("authorization")))
        if store.get("ecole") and not (is_api and request.headers.get("authorization")):
            school = await school_session_of(store, client_ip(request))  # scope and grants computed now
            if school is None:
                if is_api:
                    return JSONResponse({"detail": SCHOOL_SESSION_OVER}, status_code=401)
                return RedirectResponse(SCHOOL_ENDED_PAGE, status_code=303)
            store["seen"] = time.time()
            request.state.user = None
            request.state.school = school
            return await call_next(request)
        if is_api:
            uid = store.get("uid")
            if uid and not request.headers.get("authorization"):  # a page's own calls, with the session cookie
                if time.time() - float(store.get("seen") or 0) > idle:
                    await log_event(EventKind.SESSION_EXPIRED, user=await active_user(uid), ip=client_ip(request))
                    store.clear()
                    return JSONResponse({"detail": "Session expirée après une période d'inactivité : "
                                                   "reconnectez-vous sur /login."}, status_code=401)
                store["seen"] = time.time()
            user = await request_user(request)
            if user is None:
                return JSONResponse({"detail": UNAUTHENTICATED}, status_code=401,
                                    headers={"WWW-Authenticate": "Bearer"})
            if pending_step(user):
                return JSONResponse({"detail": "Accès refusé : ce compte doit d'abord changer son mot de passe ou "
                                               "activer la double authentification sur /login."}, status_code=403)
            request.state.user = user
            return await call_next(request)
        uid = store.get("uid")
        if uid and time.time() - float(store.get("seen") or 0) > idle:
            user = await active_user(uid)
            await log_event(EventKind.SESSION_EXPIRED, user=user, ip=client_ip(request))
            store.clear()
            return _login_redirect(request, expiree="1")
        user = await session_user()
        if user is None:
            if uid:
                store.clear()
            return _login_redirect(request)
        store["seen"] = time.time()
        _remember(user)
        step = pending_step(user)
        if step and path not in ALLOWED_WHILE_PENDING:
            return RedirectResponse(step, status_code=303)
        request.state.user = user
        return await call_next(request)


def install(nicegui_app: App) -> None:
    """Add the login guard and the logout route to the app (called at each wiring)."""
    nicegui_app.add_middleware(AuthMiddleware)
    on_sessions_revoked(end_user_pages)  # password, role, activation, TOTP changed in this process: pages close
    on_access_revoked(end_school_pages)  # school sessions revoked by the Région: their open pages close

    @nicegui_app.get(SESSION_PATH, include_in_schema=False)
    async def open_session(request: Request, t: str = "") -> Response:
        """After a login: a new session id (the one used before login is dropped), then the page asked for."""
        entry = _tickets.pop(t, None)
        if entry is None or time.time() - entry[0] > TICKET_SECONDS:
            return RedirectResponse("/login", status_code=303)
        _at, values, target = entry
        _store().clear()
        session_id = str(uuid.uuid4())
        request.session["id"] = session_id
        await app.storage._create_user_storage(session_id)  # private in NiceGUI 3.18: per-session storage
        _store().update(values)
        return RedirectResponse(target, status_code=303)

    @nicegui_app.get("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        store = _store()
        if store.get("ecole"):  # a school session: ended for good, its tabs closed, back to the link form
            await end_session(int(store["ecole"]), AccessEventKind.LOGOUT, ip=client_ip(request))
            store.clear()
            if request.session.get("id"):
                end_session_pages(request.session["id"], SCHOOL_ENDED_PAGE)
            return RedirectResponse(ACCESS_PATH + "?deconnecte=1", status_code=303)
        user = await active_user(store.get("uid"))
        if user is not None:
            await log_event(EventKind.LOGOUT, user=user, ip=client_ip(request))
        store.clear()
        session_id = request.session.get("id")
        if session_id:
            end_session_pages(session_id)  # the session's other tabs stop too, their websockets closed
        return RedirectResponse("/login?deconnecte=1", status_code=303)


class GrantOut(BaseModel):
    """A contact role held in a school (school access)."""

    uai: str
    role: str


class MeOut(BaseModel):
    """The account of the caller (a school session: its schools and contact roles)."""

    email: str
    full_name: str
    role: str
    organisation: str
    totp_enabled: bool
    uais: list[str] = []
    grants: list[GrantOut] = []


def build_router() -> APIRouter:
    """The /api/ routes about accounts."""
    router = APIRouter(prefix="/api", tags=["Comptes"])

    @router.get("/me", response_model=MeOut, summary="Mon compte (ou ma session d'établissement)",
                dependencies=[Depends(require_roles(*STAFF_ROLES, Role.ECOLE))])
    async def me(request: Request) -> dict:
        school = getattr(request.state, "school", None)
        if school is not None and getattr(request.state, "user", None) is None:
            access = school.access
            return {"email": access.email, "full_name": access.full_name, "role": Role.ECOLE.value,
                    "organisation": ", ".join(f"{a.school_name} ({a.uai})" for a in access.assignments),
                    "totp_enabled": False, "uais": list(access.uais),
                    "grants": [{"uai": u, "role": r} for u, r in sorted(access.grants)]}
        user = await api_user(request)
        return {"email": user.email, "full_name": user.full_name, "role": Role(user.role).value,
                "organisation": user.organisation, "totp_enabled": user.totp_enabled, "uais": [], "grants": []}

    @router.get("/users", response_model=list[MeOut], summary="Comptes (administrateurs)",
                dependencies=[Depends(require_roles(Role.ADMIN))])
    async def users() -> list[dict]:
        return [{"email": u.email, "full_name": u.full_name, "role": Role(u.role).value,
                 "organisation": u.organisation, "totp_enabled": u.totp_enabled} for u in await User.all()]

    return router


# --- Pages -------------------------------------------------------------------------------------------

def _safe_target(target: str) -> str:
    """A local path to go to after login (never another site)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or target.startswith("/login"):
        return "/"
    return target


def public_frame(title: str) -> Any:
    """A bare layout for the pages shown before login: header, centered card, security footer."""
    cfg = settings_module.get()
    ui.colors(primary="#1d4e89", secondary="#e2001a", accent="#f5a623")
    ui.page_title(f"{title} · Rentrée")
    with ui.header(elevated=True).classes("items-center px-4 py-2 bg-primary"):
        ui.label("Rentrée").classes("text-2xl font-bold tracking-tight text-white")
        ui.label("Équipement numérique des lycées · Région Île-de-France").classes("text-sm text-white opacity-80")
    with ui.footer().classes("bg-grey-2 text-grey-9 text-sm px-6 py-2 items-center gap-6"):
        ui.space()
        ui.link("Signaler un incident de sécurité", f"mailto:{cfg.rssi_email}").classes("text-red-9")
        ui.link("Fuite de données personnelles", f"mailto:{cfg.dpo_email}").classes("text-red-9")
    return ui.card().classes("w-full max-w-md mx-auto mt-16 p-6 gap-3")


@ui.page("/login")
async def login_page(redirect_to: str = "/", expiree: str = "", deconnecte: str = "",
                     fin: str = "") -> Response | None:
    """Login: e-mail and password, then the TOTP code when the account has it."""
    target = _safe_target(redirect_to)
    if await current_user() is not None:
        return RedirectResponse(target, status_code=303)
    ip = client_ip()
    state: dict[str, Any] = {"user": None}
    with public_frame("Connexion"):
        ui.label("Connexion").classes("text-2xl font-semibold text-primary")
        if expiree:
            ui.label("Votre session a expiré après une période d'inactivité : reconnectez-vous.").classes(
                "text-orange-9")
        if deconnecte:
            ui.label("Vous êtes déconnecté(e).").classes("text-green-8")
        if fin:
            ui.label(SESSION_ENDED).classes("text-orange-9")
        with ui.column().classes("w-full gap-3") as step1:
            email = ui.input("Adresse e-mail").props('outlined autofocus autocomplete=username type=email'
                                                     ' aria-label="Adresse e-mail"').classes("w-full")
            password = ui.input("Mot de passe", password=True, password_toggle_button=True).props(
                'outlined autocomplete=current-password aria-label="Mot de passe"').classes("w-full")
            login_button = ui.button("Se connecter").classes("w-full")
        with ui.column().classes("w-full gap-3") as step2:
            ui.label("Saisissez le code à 6 chiffres affiché par votre application d'authentification, "
                     "ou l'un de vos codes de secours.").classes("text-grey-8")
            code = ui.input("Code de vérification").props('outlined inputmode=numeric autocomplete=one-time-code'
                                                          ' aria-label="Code de vérification"').classes("w-full")
            code_button = ui.button("Valider").classes("w-full")
        step2.visible = False
        error = ui.label().classes("text-negative")
        ui.label("Mot de passe oublié ou compte bloqué : contactez un administrateur de la Région.").classes(
            "text-xs text-grey-7")
        with ui.row().classes("items-center gap-1 text-sm"):
            ui.label("Personnel d'un lycée (chef d'établissement, coordonnateur, ADML…) ?").classes("text-grey-8")
            ui.link("Recevoir un lien d'accès par e-mail", ACCESS_PATH).mark("access-link")

    async def finish(user: User, detail: str = "") -> None:
        await record_login(user, ip, detail)
        # A TOTP code typed at login is a fresh confirmation: no second code asked in the next minutes.
        values = {"uid": user.id, "seen": time.time(), "step_up": time.time() if user.totp_enabled else 0,
                  "pwd": _password_stamp(user), "stamp": user.security_stamp, **_display(user)}
        ticket = _issue_ticket(values, pending_step(user) or target)
        ui.navigate.to(f"{SESSION_PATH}?t={ticket}")

    async def submit_password() -> None:
        login_button.props("loading")
        try:
            result = await authenticate(email.value or "", password.value or "", ip)
            if result.slow_down:
                await asyncio.sleep(result.slow_down)
        finally:
            login_button.props(remove="loading")
        password.value = ""
        if result.user is None:
            error.text = result.message
            return
        error.text = ""
        if result.user.totp_enabled:
            state["user"] = result.user
            step1.visible, step2.visible = False, True
            code.run_method("focus")
            return
        await finish(result.user)

    async def submit_code() -> None:
        user: User | None = state["user"]
        if user is None:
            return
        value = code.value or ""
        code.value = ""
        if await address_lock(ip) is not None:
            state["user"] = None
            step1.visible, step2.visible = True, False
            error.text = ADDRESS_LOCKED_MESSAGE.format(minutes=LOCK_MINUTES)
            return
        if await lock_state(user.email) is None:
            if await verify_totp(user, value):
                await finish(user, "mot de passe + TOTP")
                return
            if await use_recovery_code(user, value, ip):
                await finish(user, "mot de passe + code de secours")
                return
            await log_event(EventKind.LOGIN_FAILED, user=user, ip=ip, detail="code de vérification refusé")
        until = await lock_state(user.email)
        if until is not None:
            state["user"] = None
            step1.visible, step2.visible = True, False
            error.text = ("Trop d'essais infructueux : ce compte est bloqué 15 minutes. Réessayez plus tard, ou "
                          "demandez à un administrateur de vérifier votre compte.")
            return
        error.text = "Code refusé (erroné, expiré ou déjà utilisé) : attendez le code suivant et réessayez."

    login_button.on_click(submit_password)
    password.on("keydown.enter", submit_password)
    code_button.on_click(submit_code)
    code.on("keydown.enter", submit_code)
    return None


@page(PASSWORD_PAGE, roles=STAFF_ROLES)
async def password_page() -> None:
    """Change one's password (forced when it is due or was given by an administrator, R-SEC-2)."""
    user = await current_user()
    assert user is not None  # the middleware lets no anonymous request in
    forced = password_expired(user, settings_module.get().password_max_age_days)
    with frame("Changer mon mot de passe"):
        if forced:
            ui.label("Votre mot de passe doit être changé avant de continuer (mot de passe provisoire, ou "
                     "renouvellement semestriel).").classes("text-orange-9 font-medium")
        with ui.card().classes("w-full max-w-lg gap-3"):
            current = ui.input("Mot de passe actuel", password=True).props(
                'outlined autocomplete=current-password aria-label="Mot de passe actuel"').classes("w-full")
            new = ui.input("Nouveau mot de passe", password=True, password_toggle_button=True).props(
                'outlined autocomplete=new-password aria-label="Nouveau mot de passe"').classes("w-full")
            again = ui.input("Confirmer le nouveau mot de passe", password=True).props(
                'outlined autocomplete=new-password aria-label="Confirmer le nouveau mot de passe"').classes("w-full")
            ui.label("Au moins 12 caractères, ni un mot de passe courant, ni votre adresse e-mail. Une phrase de "
                     "quelques mots est facile à retenir et difficile à deviner.").classes("text-sm text-grey-7")
            error = ui.label().classes("text-negative")

            @live_session
            async def submit() -> None:
                fresh = await User.get(id=user.id)
                if not await check_password_async(fresh.password_hash, current.value or ""):
                    error.text = "Mot de passe actuel incorrect : saisissez-le à nouveau."
                    return
                if (new.value or "") != (again.value or ""):
                    error.text = "Les deux saisies du nouveau mot de passe diffèrent : saisissez-les à nouveau."
                    return
                store = _store()
                store["renewing"] = time.time()  # this session goes on while its stamps change (_same_session)
                try:
                    await set_password(fresh, new.value or "", ip=client_ip())
                except PasswordRefused as exc:
                    error.text = str(exc)
                    return
                else:
                    store.update(pwd=_password_stamp(fresh), stamp=fresh.security_stamp)  # this one goes on
                finally:
                    store.pop("renewing", None)
                ui.notify("Mot de passe changé.", type="positive")
                ui.navigate.to(pending_step(fresh) or "/")

            ui.button("Changer le mot de passe", on_click=submit)


def qr_svg(uri: str) -> str:
    """The QR code of an otpauth URI as inline SVG."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#1d4e89")


@page(TOTP_PAGE, roles=STAFF_ROLES)
async def totp_page() -> None:
    """TOTP enrolment: QR code and key, confirmed by a first code, then ten recovery codes shown once."""
    user = await current_user()
    assert user is not None
    with frame("Double authentification"):
        if user.totp_enabled:
            ui.label("La double authentification est active sur votre compte. Pour changer d'appareil, demandez à "
                     "un administrateur de la réinitialiser.").classes("text-grey-8")
            ui.link("Retour à mon compte", "/compte")
            return
        if needs_totp_enrolment(user):
            ui.label("Les administrateurs doivent activer la double authentification avant toute autre action "
                     "(R-SEC-1).").classes("text-orange-9 font-medium")
        secret = new_totp_secret()
        with ui.card().classes("w-full max-w-2xl gap-3") as enrol:
            ui.label("1. Scannez ce QR code avec votre application d'authentification (FreeOTP, Google "
                     "Authenticator, Microsoft Authenticator…).").classes("font-medium")
            with ui.row().classes("items-center gap-6"):
                ui.html(qr_svg(totp_uri(user.email, secret)), sanitize=False).classes("border rounded")
                with ui.column().classes("gap-1"):
                    ui.label("Ou saisissez la clé à la main :").classes("text-grey-8")
                    ui.label(" ".join(secret[i:i + 4] for i in range(0, len(secret), 4))).classes(
                        "font-mono text-lg select-all").props('data-testid="totp-key"')
                    ui.label("Type : basé sur le temps (TOTP), 6 chiffres, 30 secondes.").classes(
                        "text-xs text-grey-7")
            ui.label("2. Saisissez le code affiché par l'application pour confirmer.").classes("font-medium")
            with ui.row().classes("items-start gap-3"):
                code = ui.input("Code à 6 chiffres").props('outlined inputmode=numeric autocomplete=one-time-code'
                                                           ' aria-label="Code à 6 chiffres"').classes("w-48")
                confirm = ui.button("Activer la double authentification")
            error = ui.label().classes("text-negative")
        done = ui.card().classes("w-full max-w-2xl gap-3")
        done.visible = False

    @live_session
    async def submit() -> None:
        fresh = await User.get(id=user.id)
        codes = await enable_totp(fresh, secret, code.value or "", ip=client_ip())
        if codes is None:
            error.text = "Code refusé : vérifiez l'heure de votre téléphone et saisissez le code affiché maintenant."
            return
        _store()["step_up"] = time.time()
        enrol.visible = False
        with done:
            ui.label("Double authentification activée.").classes("text-lg font-semibold text-green-8")
            ui.label("Voici vos 10 codes de secours, chacun utilisable une fois si vous perdez votre téléphone. "
                     "Notez-les ou imprimez-les maintenant : ils ne seront plus jamais affichés.").classes(
                "text-grey-8")
            with ui.grid(columns=2).classes("gap-x-8 gap-y-1 font-mono text-lg").props('data-testid="recovery"'):
                for c in codes:
                    ui.label(c)
            ui.button("J'ai noté mes codes : continuer", on_click=lambda: ui.navigate.to("/"))
        done.visible = True

    confirm.on_click(submit)
    code.on("keydown.enter", submit)


def fr_datetime(value: datetime | None) -> str:
    """A date and time in Paris, dd/mm/yyyy hh:mm."""
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(settings_module.get().timezone)).strftime("%d/%m/%Y %H:%M")
