"""Issue 10 (hardening): headers, trusted proxies, address lock, sessions that end everywhere, secrets at rest,
offline API docs, backups. Each test failed on the code before issue 10.

Pages modules are imported inside the tests, never at module level (the `user` fixture re-imports them).
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import sqlite3
import stat
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from nicegui import ui
from nicegui.testing import User

import settings as settings_module
from models.accounts import (
    ADDRESS_LOCK_AFTER,
    LOCK_MINUTES,
    EventKind,
    Role,
    SecurityEvent,
    authenticate,
    change_role,
    reset_password,
    reset_totp,
    set_active,
    totp_secret_of,
    verify_totp,
)
from models.accounts import User as Account
from tests.cli import run_cli
from tests.factories import TEST_PASSWORD, login, make_account, make_school, see

HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


@pytest.fixture
async def anonymous(user: User) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client without any session (server errors answered, not raised)."""
    from nicegui import app

    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def _check_headers(response: httpx.Response, what: str) -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (what, name, dict(response.headers))
    csp = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "object-src 'none'" in csp, what
    assert "strict-transport-security" not in response.headers, what  # no https PUBLIC_URL here


# --- Headers ---------------------------------------------------------------------------------------

async def test_security_headers_on_pages_api_static_redirects_and_errors(user: User,
                                                                      anonymous: httpx.AsyncClient) -> None:
    from fastapi import APIRouter
    from nicegui import app

    from models.accounts import create_token

    router = APIRouter(prefix="/api")

    @router.get("/essai-erreur-serveur")
    async def broken() -> dict:
        raise RuntimeError("panne simulée")

    app.include_router(router)
    _token, secret = await create_token(await make_account("agent"), "essai")
    bearer = {"Authorization": f"Bearer {secret}"}
    import nicegui

    static = f"/_nicegui/{nicegui.__version__}/static/nicegui.js"
    cases = {
        "page": await anonymous.get("/login"),
        "redirect": await anonymous.get("/ecoles"),
        "api 401": await anonymous.get("/api/me"),
        "api 200": await anonymous.get("/api/me", headers=bearer),
        "api 404": await anonymous.get("/api/schools/0000000A", headers=bearer),
        "static": await anonymous.get(static),
        "server error": await anonymous.get("/api/essai-erreur-serveur", headers=bearer),
    }
    assert cases["page"].status_code == 200 and cases["redirect"].status_code == 303
    assert cases["api 401"].status_code == 401 and cases["api 200"].status_code == 200
    assert cases["api 404"].status_code == 404 and cases["server error"].status_code == 500
    assert cases["static"].status_code == 200, static
    assert "Erreur interne du serveur" in cases["server error"].json()["detail"]
    for what, response in cases.items():
        _check_headers(response, what)
    await login(user, "lecteur")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test",
                                 cookies=user.http_client.cookies) as http:
        missing = await http.get("/page-qui-n-existe-pas")
        assert missing.status_code == 404 and "Page introuvable" in missing.text
        _check_headers(missing, "404 page")


@pytest.fixture
def https_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """PUBLIC_URL in https, set before the app is wired."""
    monkeypatch.setenv("PUBLIC_URL", "https://rentree.iledefrance.fr")


async def test_https_public_url_makes_the_cookie_secure_and_sends_hsts(https_public_url: None,
                                                                        anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/login")
    cookie = response.headers["set-cookie"].lower()
    assert "; secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    assert (await anonymous.get("/api/me")).headers["strict-transport-security"] == "max-age=31536000"


def test_public_url_and_trusted_proxies_are_checked() -> None:
    from settings import SettingsError, load

    assert load({"PUBLIC_URL": "https://rentree.iledefrance.fr"}, dotenv=Path("/nonexistent")).secure_cookie
    assert not load({"PUBLIC_URL": "http://127.0.0.1:8080"}, dotenv=Path("/nonexistent")).secure_cookie
    assert load({"COOKIE_SECURE": "true"}, dotenv=Path("/nonexistent")).secure_cookie  # still honoured
    with pytest.raises(SettingsError, match="PUBLIC_URL"):
        load({"PUBLIC_URL": "rentree.iledefrance.fr"}, dotenv=Path("/nonexistent"))
    with pytest.raises(SettingsError, match=re.escape("« 10.0.0.300 »")):
        load({"TRUSTED_PROXIES": "10.0.0.1, 10.0.0.300"}, dotenv=Path("/nonexistent"))
    networks = load({"TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/24, ::1"}, dotenv=Path("/nonexistent")).proxy_networks
    assert [str(n) for n in networks] == ["10.0.0.1/32", "192.168.0.0/24", "::1/128"]


# --- Trusted proxies ---------------------------------------------------------------------------------

async def _through_layer(trusted: str, peer: str, headers: dict[str, str]) -> dict[str, Any]:
    """Send one request from `peer` through the security layer; return the client and scheme the app saw."""
    from pages.security import SecurityLayer
    from settings import load

    seen: dict[str, Any] = {}

    async def app(scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]) -> None:
        seen.update(client=scope["client"][0], scheme=scope["scheme"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    layer = SecurityLayer(app, load({"TRUSTED_PROXIES": trusted}, dotenv=Path("/nonexistent")))
    transport = httpx.ASGITransport(layer, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/", headers=headers)
    _check_headers(response, "layer")
    return seen


async def test_forwarded_headers_are_believed_only_from_trusted_proxies() -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.5, 10.0.0.9", "X-Forwarded-Proto": "https"}
    # From a trusted proxy: the last hop that is not one of ours, and https.
    assert await _through_layer("10.0.0.0/8", "10.0.0.2", forwarded) == {"client": "203.0.113.5", "scheme": "https"}
    # From anyone else, even loopback when it is not listed: the TCP peer, headers ignored.
    assert await _through_layer("10.0.0.0/8", "198.51.100.20", forwarded) == {"client": "198.51.100.20",
                                                                               "scheme": "http"}
    assert await _through_layer("", "127.0.0.1", forwarded) == {"client": "127.0.0.1", "scheme": "http"}
    # A client cannot push a trusted address in front: the nearest untrusted hop is taken.
    spoofed = {"X-Forwarded-For": "10.0.0.7, 198.51.100.99"}
    assert (await _through_layer("10.0.0.0/8", "10.0.0.2", spoofed))["client"] == "198.51.100.99"
    assert (await _through_layer("10.0.0.0/8", "10.0.0.2", {"X-Forwarded-For": "pas une adresse"}))[
        "client"] == "10.0.0.2"


@pytest.fixture
def behind_local_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """TRUSTED_PROXIES=127.0.0.1 (the test client's address), set before the app is wired."""
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1")


async def test_the_journal_records_the_address_a_trusted_proxy_forwards(behind_local_proxy: None, user: User) -> None:
    await make_account("agent", email="paul.proxy@iledefrance.fr")
    user.http_client.headers["X-Forwarded-For"] = "198.51.100.42"
    await user.open("/login")
    user.find(kind=ui.input, content="Adresse e-mail").type("paul.proxy@iledefrance.fr")
    user.find(kind=ui.input, content="Mot de passe").type("mauvais mot de passe")
    user.find(kind=ui.button, content="Se connecter").click()
    for _ in range(200):
        if await SecurityEvent.filter(kind=EventKind.LOGIN_FAILED).exists():
            break
        await asyncio.sleep(0.02)
    event = await SecurityEvent.get(kind=EventKind.LOGIN_FAILED)
    assert event.ip == "198.51.100.42"


# --- Lock per client address -------------------------------------------------------------------------

async def test_an_address_failing_on_many_accounts_is_locked_and_journaled(db: str) -> None:
    victim = await make_account("agent")
    for i in range(ADDRESS_LOCK_AFTER - 1):  # one try per account: no account lock ever triggers
        result = await authenticate(f"essai{i}@iledefrance.fr", "mauvais mot de passe", "192.0.2.50")
        assert "adresse réseau" not in result.message
    last = await authenticate("essai-dernier@iledefrance.fr", "mauvais mot de passe", "192.0.2.50")
    assert f"pendant {LOCK_MINUTES} minute(s)" in last.message and "adresse réseau" in last.message
    lock = await SecurityEvent.get(kind=EventKind.LOCKOUT, ip="192.0.2.50")
    assert "adresse bloquée" in lock.detail and str(ADDRESS_LOCK_AFTER) in lock.detail
    # Even the right password is refused from that address, and nothing is checked.
    refused = await authenticate(victim.email, TEST_PASSWORD, "192.0.2.50")
    assert refused.user is None and "adresse réseau" in refused.message
    assert await SecurityEvent.filter(kind=EventKind.LOGIN_LOCKED, ip="192.0.2.50", detail="adresse bloquée").exists()
    # Another address is not concerned; and the lock ends 15 minutes after the last failure.
    assert (await authenticate(victim.email, TEST_PASSWORD, "192.0.2.51")).user is not None
    from datetime import timedelta

    from tortoise import timezone

    await SecurityEvent.filter(ip="192.0.2.50").update(created_at=timezone.now() - timedelta(minutes=LOCK_MINUTES + 1))
    assert (await authenticate(victim.email, TEST_PASSWORD, "192.0.2.50")).user is not None


# --- Sessions that end everywhere ----------------------------------------------------------------------

async def elsewhere(action: Awaitable[Any]) -> Any:
    """Run an account change as another page or process would: outside this test's page context."""
    return await asyncio.create_task(_await(action), context=contextvars.Context())


async def _await(action: Awaitable[Any]) -> Any:
    return await action


async def _dropped(client: Any, seconds: float = 5) -> bool:
    """True once the page's client is deleted (its websocket dropped), within a few seconds."""
    for _ in range(int(seconds / 0.05)):
        if client.is_deleted:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_ensure_live_session_ends_with_each_account_change_and_pages_are_dropped(user: User) -> None:
    from pages.auth import SESSION_ENDED, SessionEnded, ensure_live_session

    assert SESSION_ENDED == "Votre session a pris fin : reconnectez-vous."
    changes: dict[str, Callable[[Account], Awaitable[Any]]] = {
        "compte désactivé": lambda a: set_active(a, False),
        "rôle changé": lambda a: change_role(a, Role.LECTEUR),
        "mot de passe réinitialisé": lambda a: reset_password(a),
        "double authentification réinitialisée": lambda a: reset_totp(a),
    }
    for what, change in changes.items():
        account = await make_account("agent", totp=True)
        await user.http_client.get("/logout")
        await login(user, account=account)
        await user.open("/ecoles")
        page = user.client
        with user:
            assert (await ensure_live_session()).id == account.id, what
        await elsewhere(change(await Account.get(id=account.id)))
        with user, pytest.raises(SessionEnded, match=re.escape(SESSION_ENDED)):
            await ensure_live_session()
        assert await _dropped(page), f"{what}: the open page was not dropped"


async def test_logout_in_another_tab_drops_the_sessions_pages(user: User) -> None:
    from nicegui import app

    from pages.auth import SessionEnded, ensure_live_session

    await login(user, "agent")
    await user.open("/ecoles")
    page = user.client
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test",
                                 cookies=user.http_client.cookies) as other_tab:
        assert (await other_tab.get("/logout")).status_code == 303
    with user, pytest.raises(SessionEnded):
        await ensure_live_session()
    assert await _dropped(page)


async def _grid_edit(user: User, school: Any, value: str) -> None:
    """What the browser's grid sends when a person edits the « commune » cell of a school."""
    from nicegui import ui as nicegui_ui

    user.find(nicegui_ui.aggrid).trigger("cellValueChanged", {
        "data": {"id": school.id, "version": school.version}, "colId": "commune",
        "oldValue": school.commune, "newValue": value})


async def test_an_open_grid_saves_nothing_once_the_account_is_disabled_elsewhere(user: User) -> None:
    """`users disable` runs in another process: the open grid's next edit is refused and the page leaves."""
    from models.audit import AuditEntry
    from models.schools import School

    school = await make_school(name="Lycée Grille", commune="Avant")
    account = await login(user, "agent")
    await user.open("/ecoles")
    await _grid_edit(user, school, "Pendant")  # the control: a live session saves
    for _ in range(100):
        if (await School.get(id=school.id)).commune == "Pendant":
            break
        await asyncio.sleep(0.02)
    school = await School.get(id=school.id)
    assert school.commune == "Pendant"
    audits = await AuditEntry.all().count()
    await Account.filter(id=account.id).update(is_active=False)  # what the CLI does, from another process
    await _grid_edit(user, school, "Après")
    await see(user, "Mot de passe oublié ou compte bloqué")  # sent to the login page
    assert (await School.get(id=school.id)).commune == "Pendant"
    assert await AuditEntry.all().count() == audits


async def test_users_page_handlers_stop_once_the_session_ended(user: User) -> None:
    admin = await login(user, "admin")
    await user.open("/utilisateurs")
    await user.should_see("Ajouter un utilisateur")
    await Account.filter(id=admin.id).update(security_stamp="changé ailleurs")  # another instance reset it
    user.find("Ajouter un utilisateur").click()
    await see(user, "Mot de passe oublié ou compte bloqué")
    await user.should_not_see("Nouvel utilisateur")


async def test_a_role_change_from_the_users_page_drops_the_users_open_pages(user: User) -> None:
    from nicegui import app
    from nicegui.storage import request_contextvar

    from pages.auth import SessionEnded, ensure_live_session

    agent = await make_account("agent", full_name="Agathe Ouverte")
    other = User(httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test"))  # another browser
    await login(other, account=agent)
    await other.open("/ecoles")
    agent_page = other.client
    await login(user, "admin")
    await user.open("/utilisateurs")
    user.find(ui.table).trigger("edit", agent.id)
    await see(user, "Compte actif")
    select = next(e for e in user.find(kind=ui.select).elements if e.value == "agent")
    with user:
        select.value = "lecteur"
    user.find(kind=ui.button, content="Enregistrer").click()
    # NiceGUI's simulated users share `ui.notify`: it goes to whichever User object was touched last, and the agent's
    # page being closed touches `other` (seen under load: the admin's message in other.notify). Either list counts.
    for _ in range(100):
        if any("Compte enregistré." in m for m in user.notify.messages + other.notify.messages):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("« Compte enregistré. » never notified")
    assert (await Account.get(id=agent.id)).role == "lecteur"
    assert await _dropped(agent_page)
    assert not user.client.is_deleted  # the admin's own page goes on
    request_contextvar.set(agent_page.request)  # the agent's session, as its page's handlers see it
    with pytest.raises(SessionEnded):
        await ensure_live_session()
    await other.http_client.aclose()


# --- Secrets at rest ------------------------------------------------------------------------------------

async def test_totp_secrets_are_encrypted_at_rest_and_old_plaintext_rows_get_encrypted(db: str) -> None:
    import pyotp
    from tortoise import connections

    from models.accounts import enable_totp, seal_plaintext_rows

    enrolled = await make_account("agent")
    secret = pyotp.random_base32(32)
    assert await enable_totp(enrolled, secret, pyotp.TOTP(secret).now()) is not None
    legacy = await make_account("lecteur")
    old_secret = pyotp.random_base32(32)
    await Account.filter(id=legacy.id).update(totp_secret=old_secret, totp_enabled=True)  # as stored before
    conn = connections.get("default")
    rows = await conn.execute_query_dict("SELECT email, totp_secret FROM app_user")
    raw = {r["email"]: r["totp_secret"] for r in rows}
    assert raw[enrolled.email].startswith("fernet:") and secret not in raw[enrolled.email]
    assert raw[legacy.email] == old_secret
    assert await seal_plaintext_rows() == 1
    assert await seal_plaintext_rows() == 0
    stored = (await Account.get(id=legacy.id)).totp_secret
    assert stored.startswith("fernet:") and old_secret not in stored
    fresh = await Account.get(id=legacy.id)
    assert totp_secret_of(fresh) == old_secret
    assert await verify_totp(fresh, pyotp.TOTP(old_secret).now())  # still logs in


def test_demo_secret_key_is_generated_once_with_mode_600(isolated_settings: Path) -> None:
    settings = settings_module.load()
    first = settings_module.ensure_secret_key(settings)
    path = isolated_settings / "secret_key.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings_module.ensure_secret_key(settings).secret_key == first.secret_key
    assert len(first.secret_keys) == 1 and len(first.secret_keys[0]) == 44


def test_production_refuses_to_start_without_secret_key() -> None:
    base = {"RENTREE_ENV": "production", "STORAGE_SECRET": "s" * 40}
    missing = run_cli("migrate", env={**base, "SECRET_KEY": ""})
    assert missing.returncode == 2 and "SECRET_KEY est obligatoire en production" in missing.stderr
    bad = run_cli("migrate", env={**base, "SECRET_KEY": "trop-courte"})
    assert bad.returncode == 2 and "n'est pas une clé valide" in bad.stderr


def test_keys_rotate_reencrypts_with_the_new_key(isolated_settings: Path) -> None:
    import pyotp
    from cryptography.fernet import Fernet, InvalidToken

    old = run_cli("keys", "generate").stdout.strip()
    new = run_cli("keys", "generate").stdout.strip()
    assert old != new and len(old) == 44
    db_file = isolated_settings / "test.sqlite3"
    added = run_cli("users", "add", "rotation@iledefrance.fr", "--role", "agent", env={"SECRET_KEY": old})
    assert added.returncode == 0, added.stderr
    secret = pyotp.random_base32(32)

    async def enrol() -> None:
        from models import crypto
        from models import db as database
        from models.accounts import enable_totp, find_user

        crypto.use_keys([old])
        await database.init(f"sqlite://{db_file}")
        try:
            assert await enable_totp(await find_user("rotation@iledefrance.fr"), secret, pyotp.TOTP(secret).now())
        finally:
            await database.close()
            crypto.use_keys(None)

    asyncio.run(enrol())

    def stored() -> bytes:
        with sqlite3.connect(db_file) as con:
            value = con.execute("SELECT totp_secret FROM app_user WHERE email = ?",
                                ("rotation@iledefrance.fr",)).fetchone()[0]
        assert value.startswith("fernet:")
        return value[len("fernet:"):].encode()

    assert Fernet(old.encode()).decrypt(stored()).decode() == secret
    wrong = run_cli("keys", "rotate", env={"SECRET_KEY": new})  # the old key forgotten too early
    assert wrong.returncode == 1 and "Remettez l'ancienne clé" in wrong.stderr
    rotated = run_cli("keys", "rotate", env={"SECRET_KEY": f"{new},{old}"})
    assert rotated.returncode == 0, rotated.stderr
    assert "1 secret(s) chiffré(s) à nouveau" in rotated.stdout and "retirez-les de SECRET_KEY" in rotated.stdout
    assert Fernet(new.encode()).decrypt(stored()).decode() == secret
    with pytest.raises(InvalidToken):
        Fernet(old.encode()).decrypt(stored())


# --- API docs without the internet ------------------------------------------------------------------------

async def test_docs_page_and_every_asset_it_references_come_from_the_app(user: User,
                                                                      anonymous: httpx.AsyncClient) -> None:
    from nicegui import app

    assert (await anonymous.get("/docs")).status_code == 303  # behind the login, like the rest
    await login(user, "lecteur")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test",
                                 cookies=user.http_client.cookies) as http:
        page = await http.get("/docs")
        assert page.status_code == 200, page.text[:500]
        html = page.text
        refs = set(re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html))
        refs |= set(re.findall(r"""url:\s*['"]([^'"]+)['"]""", html))  # the OpenAPI document Swagger UI loads
        assert {"/docs-static/swagger-ui-bundle.js", "/docs-static/swagger-ui.css", "/openapi.json"} <= refs, refs
        for ref in sorted(refs):
            assert ref.startswith("/") and not ref.startswith("//"), f"{ref}: not served by the app itself"
            asset = await http.get(ref)
            assert asset.status_code == 200 and len(asset.content) > 100, ref
        assert "SwaggerUIBundle" in (await http.get("/docs-static/swagger-ui-bundle.js")).text
        spec = (await http.get("/openapi.json")).json()
        assert spec["info"]["title"] == "Rentrée" and "/api/schools" in spec["paths"]


# --- Backups -------------------------------------------------------------------------------------------

class Writer(threading.Thread):
    """Inserts journal rows as fast as it can, each in its own transaction, noting when each committed."""

    def __init__(self, db_file: Path) -> None:
        super().__init__(daemon=True)
        self.db_file = db_file
        self.committed: list[tuple[int, float]] = []  # (id, monotonic time after COMMIT)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.longest_wait = 0.0

    def run(self) -> None:
        """Write until told to stop."""
        try:
            con = sqlite3.connect(self.db_file, timeout=30, isolation_level=None)
            con.execute("PRAGMA busy_timeout = 30000")
            n = 0
            while not self.stop.is_set():
                n += 1
                started = time.monotonic()
                con.execute("BEGIN IMMEDIATE")
                cur = con.execute(
                    "INSERT INTO securityevent (created_at, kind, email, actor_email, ip, detail) "
                    "VALUES (datetime('now'), 'login_failed', ?, '', '192.0.2.1', 'écriture concurrente')",
                    (f"w{n}@essai.fr",))
                con.execute("COMMIT")
                done = time.monotonic()
                self.longest_wait = max(self.longest_wait, done - started)
                self.committed.append((int(cur.lastrowid), done))
                time.sleep(0.002)
            con.close()
        except BaseException as exc:  # reported by the test
            self.error = exc


def test_backup_of_a_live_database_under_writes_then_restore_keeps_every_committed_row(
        isolated_settings: Path, tmp_path: Path) -> None:
    migrated = run_cli("migrate")
    assert migrated.returncode == 0, migrated.stderr
    db_file = isolated_settings / "test.sqlite3"
    with sqlite3.connect(db_file) as con:  # enough pages that the copy takes a while
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        con.executemany("INSERT INTO securityevent (created_at, kind, email, actor_email, ip, detail) "
                        "VALUES (datetime('now'), 'logout', ?, '', '192.0.2.9', ?)",
                        ((f"seed{i}@essai.fr", "x" * 400) for i in range(150_000)))
    writer = Writer(db_file)
    writer.start()
    time.sleep(0.5)
    began = time.monotonic()
    backup_file = tmp_path / "sauvegardes" / "rentree.sqlite3"
    done = run_cli("backup", str(backup_file))
    ended = time.monotonic()
    time.sleep(0.3)
    writer.stop.set()
    writer.join(10)
    assert writer.error is None, writer.error
    assert done.returncode == 0, done.stderr
    assert "intégrité vérifiée" in done.stdout
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600
    before = {i for i, at in writer.committed if at < began}
    during = [i for i, at in writer.committed if began <= at <= ended]
    assert len(before) > 10 and len(during) > 10, (len(before), len(during))  # the writer went on meanwhile
    # Restore into another data folder: every row committed before the backup began is there.
    target = tmp_path / "restauree"
    env = {"RENTREE_DATA_DIR": str(target), "DATABASE_URL": f"sqlite://{target / 'rentree.sqlite3'}"}
    restored = run_cli("restore", str(backup_file), env=env)
    assert restored.returncode == 0, restored.stderr
    with sqlite3.connect(target / "rentree.sqlite3") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        ids = {r[0] for r in con.execute("SELECT id FROM securityevent WHERE detail = 'écriture concurrente'")}
        assert con.execute("SELECT count(*) FROM securityevent WHERE email LIKE 'seed%'").fetchone()[0] == 150_000
    assert before <= ids, len(before - ids)
    assert ids <= {i for i, _at in writer.committed}  # nothing that was never committed
    print(f"{done.stdout.strip()} | command {ended - began:.2f} s, {len(during)} commits during it, longest "
          f"writer wait {writer.longest_wait * 1000:.0f} ms, {len(ids)} writer rows in the copy")


def test_restore_refuses_to_replace_a_running_apps_database_without_force(tmp_path: Path) -> None:
    from tests.browser import running_app

    data = tmp_path / "data"
    db_file = data / "app.sqlite3"
    env = {"RENTREE_DATA_DIR": str(data), "DATABASE_URL": f"sqlite://{db_file}"}
    with running_app(data, env={"SEED_DEMO": "false"}):
        backup = run_cli("backup", str(tmp_path / "copie.sqlite3"), env=env)  # the app goes on meanwhile
        assert backup.returncode == 0, backup.stderr
        with sqlite3.connect(db_file) as con:
            con.execute("INSERT INTO securityevent (created_at, kind, email, actor_email, ip, detail) "
                        "VALUES (datetime('now'), 'logout', 'apres@essai.fr', '', '', 'après la sauvegarde')")
        refused = run_cli("restore", str(tmp_path / "copie.sqlite3"), env=env)
        assert refused.returncode == 1
        assert "Une application Rentrée tourne sur cette base : arrêtez-la avant de restaurer" in refused.stderr
        assert "--force" in refused.stderr
        with sqlite3.connect(db_file) as con:  # untouched
            assert con.execute("SELECT count(*) FROM securityevent WHERE email = 'apres@essai.fr'").fetchone()[0] == 1
    restored = run_cli("restore", str(tmp_path / "copie.sqlite3"), env=env)  # the app stopped
    assert restored.returncode == 0, restored.stderr
    safety = re.search(r"gardée dans (\S+)\.", restored.stdout)
    assert safety and Path(safety.group(1)).is_file()  # the replaced base is kept aside
    with sqlite3.connect(db_file) as con:
        assert con.execute("SELECT count(*) FROM securityevent WHERE email = 'apres@essai.fr'").fetchone()[0] == 0
    not_a_backup = tmp_path / "faux.sqlite3"
    not_a_backup.write_bytes(b"pas une base")
    wrong = run_cli("restore", str(not_a_backup), env=env)
    assert wrong.returncode == 1 and "n'est pas une sauvegarde SQLite de Rentrée" in wrong.stderr


def test_postgres_backup_and_restore_through_pg_dump(pg_database: str, tmp_path: Path) -> None:
    import shutil as sh

    if sh.which("pg_dump") is None:
        pytest.skip("pg_dump absent (paquet postgresql-client)")
    from tests.conftest import _reset_pg

    asyncio.run(_reset_pg(pg_database))
    env = {"DATABASE_URL": pg_database}
    assert run_cli("users", "add", "avant@iledefrance.fr", "--role", "agent", env=env).returncode == 0
    dump = tmp_path / "rentree.dump"
    done = run_cli("backup", str(dump), env=env)
    assert done.returncode == 0, done.stderr
    assert "Commande : pg_dump --format=custom" in done.stdout and stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert run_cli("users", "add", "apres@iledefrance.fr", "--role", "agent", env=env).returncode == 0

    async def hold_a_connection() -> int:
        import asyncpg

        from jobs.backup import pg_other_connections

        conn = await asyncpg.connect(pg_database)  # as a running app would
        try:
            count = await pg_other_connections(pg_database)
            refused = await asyncio.to_thread(run_cli, "restore", str(dump), env=env)
            assert refused.returncode == 1 and "arrêtez-la avant de restaurer" in refused.stderr
            return count
        finally:
            await conn.close()

    assert asyncio.run(hold_a_connection()) >= 1
    restored = run_cli("restore", str(dump), env=env)
    assert restored.returncode == 0, restored.stderr
    emails = run_cli("users", "list", env=env).stdout
    assert "avant@iledefrance.fr" in emails and "apres@iledefrance.fr" not in emails


def test_every_new_setting_is_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for name in ("PUBLIC_URL", "TRUSTED_PROXIES", "SECRET_KEY"):
        assert f"| `{name}` |" in readme, name
    assert "## Sécurité" in readme and "keys rotate" in readme and "crontab" in readme.lower()
