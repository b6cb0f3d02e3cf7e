"""Shared fixtures: isolated settings per test, fresh SQLite or PostgreSQL databases, factories."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import settings as settings_module  # noqa: E402

SHARED = ROOT.parent / "shared"


def _own_nicegui_storage() -> None:
    """NiceGUI keeps browser sessions in `.nicegui/` of the working folder, and the `user` fixture empties that
    folder after each test: with two test processes (pytest -n 2), one would empty the other's sessions. Each
    process, and the apps it starts, get their own folder."""
    import tempfile

    from nicegui.storage import Storage

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    path = Path(tempfile.gettempdir()) / f"rentree-nicegui-{worker}-{os.getpid()}"
    os.environ["NICEGUI_STORAGE_PATH"] = str(path)
    Storage.path = path.resolve()


_own_nicegui_storage()


def _patient_user() -> None:
    """NiceGUI's simulated user looks for an element 3 times, 0.1 s apart: after a click whose handler writes
    through the engine and queues a mail, a loaded CI machine (two test processes on two cores) can take longer
    than 0.3 s, and the test failed though the page was right (CI, test_r_slot_1_la_poste_member_books…). The
    simulated user now waits up to 5 s by default; a test that passes an explicit `retries` keeps it."""
    import functools

    from nicegui.testing.user import User

    original = User.should_see

    @functools.wraps(original)
    async def should_see(self, *args, retries: int = 50, **kwargs):  # type: ignore[no-untyped-def]
        await original(self, *args, retries=retries, **kwargs)

    User.should_see = should_see  # type: ignore[method-assign]


_patient_user()
IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


def shared_file(relative: str) -> Path:
    """A file of ../shared, or skip the test with the reason when it is absent (a clone elsewhere)."""
    path = SHARED / relative
    if not path.is_file():
        pytest.skip(f"{path} absent : ce test lit les données publiques de ../shared (clone hors de l'atelier).")
    return path


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once per test session: each test's database starts as a copy of it (the same
    schema a fresh migration gives, in milliseconds instead of a second of DDL and fsyncs)."""
    from models import db as database

    path = tmp_path_factory.mktemp("template") / "migrated.sqlite3"

    async def build() -> None:
        await database.init(f"sqlite://{path}")
        await database.close()

    asyncio.run(build())
    return path


def migrated_copy(template: Path, target: Path) -> Path:
    """A fresh database file at `target`, a copy of the migrated template."""
    import shutil

    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    return target


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
                      ) -> Iterator[Path]:
    """Every test gets its own data folder, SQLite file and settings; no demo seeding unless asked. Under the
    `user` fixture (the app started in the test's process), the app's file starts as a migrated copy."""
    data = tmp_path / "data"
    if "user" in request.fixturenames:
        migrated_copy(request.getfixturevalue("sqlite_template"), data / "test.sqlite3")
    monkeypatch.setenv("RENTREE_ENV", "demo")
    monkeypatch.setenv("RENTREE_DATA_DIR", str(data))
    monkeypatch.setenv("DATABASE_URL", f"sqlite://{data / 'test.sqlite3'}")
    monkeypatch.setenv("STORAGE_SECRET", "test-" + "x" * 40)
    monkeypatch.setenv("SEED_DEMO", "false")
    monkeypatch.setenv("SCHEDULER_ENABLED", "false")  # no scheduler under the `user` fixture unless a test asks
    monkeypatch.setenv("DEMO_SMTP_SERVER", "false")
    settings_module.set_current(None)
    yield data
    settings_module.set_current(None)


# --- PostgreSQL ------------------------------------------------------------------------------------

def _pg_reachable() -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(PG_ADMIN_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test session (created and dropped); skips where no server answers."""
    if not _pg_reachable():
        if IN_CI:
            pytest.fail(f"PostgreSQL injoignable ({PG_ADMIN_URL}) alors que CI=true : ces tests ne doivent pas sauter.")
        pytest.skip(f"PostgreSQL injoignable sur {PG_ADMIN_URL} (serveur absent sur ce poste).")
    import asyncpg

    name = f"rentree_test_{os.getpid()}_{secrets.token_hex(3)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _reset_pg(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


def _migration_count() -> int:
    return len([p for p in (ROOT / "migrations").glob("[0-9]*.py")])


async def _fresh_pg(url: str) -> None:
    """An empty database at the current migration: the tables emptied when the schema is complete (TRUNCATE …
    RESTART IDENTITY, a tenth of a second), else the schema dropped for the next init to migrate."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        tables = [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        applied = 0
        if "tortoise_migrations" in tables:
            applied = await conn.fetchval("SELECT count(*) FROM tortoise_migrations")
        others = [t for t in tables if t != "tortoise_migrations"]
        if applied == _migration_count() and others:
            await conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in others) + " RESTART IDENTITY CASCADE")
        else:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, isolated_settings: Path) -> str:
    """A fresh, empty database URL: an SQLite file, then PostgreSQL (both backends run the test)."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        return f"sqlite://{migrated_copy(template, isolated_settings / 'param.sqlite3')}"
    url = request.getfixturevalue("pg_database")
    asyncio.run(_fresh_pg(url))
    return url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[str]:
    """Tortoise initialised on a fresh migrated database of each backend."""
    from models import db as database

    await database.init(db_url)
    try:
        yield db_url
    finally:
        await database.close()


@pytest.fixture
async def sqlite_db(isolated_settings: Path, sqlite_template: Path) -> AsyncIterator[str]:
    """Tortoise initialised on a fresh migrated SQLite file only (for tests about one backend's behaviour)."""
    from models import db as database

    url = f"sqlite://{migrated_copy(sqlite_template, isolated_settings / 'only.sqlite3')}"
    await database.init(url)
    try:
        yield url
    finally:
        await database.close()


# --- SMTP (real aiosmtpd on loopback) --------------------------------------------------------------

@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A real SMTP server on a free loopback port per test; SMTP_HOST/SMTP_PORT point to it."""
    from tests.smtp import smtp_server

    with smtp_server() as server:
        monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("SMTP_PORT", str(server.port))
        settings_module.set_current(None)
        yield server


# --- Accounts --------------------------------------------------------------------------------------

@pytest.fixture(autouse=True, scope="session")
def _light_password_hashing() -> None:
    """Argon2id with small parameters in this process (apps started as subprocesses keep the real ones)."""
    from models.accounts import use_light_hashing

    use_light_hashing()


@pytest.fixture
async def http(user: object) -> AsyncIterator[object]:
    """An HTTP client on the app the `user` fixture started, without a session (cookies kept between its
    requests; a bearer token where a test gives one, see tests.factories.bearer)."""
    import httpx
    from nicegui import app

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as client:
        yield client


@pytest.fixture
async def logged_in(user: object) -> object:
    """The simulated `user`, logged in through the login page as an agent (an account of the Région team)."""
    from tests.factories import login

    return await login(user, "agent")


# --- Timing (RENTREE_TEST_TIMES=<file>: each test's duration appended as it ends, to find the slow ones) -------

def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    target = os.environ.get("RENTREE_TEST_TIMES")
    if target and report.when in ("setup", "call", "teardown"):
        with open(target, "a", encoding="utf-8") as out:
            out.write(f"{report.duration:.2f}\t{report.when}\t{report.outcome}\t{report.nodeid}\n")
