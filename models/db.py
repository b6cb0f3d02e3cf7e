"""Database wiring: Tortoise configuration, start/stop, migrations and SQLite tuning."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tortoise import Tortoise, connections
from tortoise.backends.base.executor import EXECUTOR_CACHE

from models import model_modules

APP_LABEL = "models"
SQLITE_PRAGMAS: dict[str, Any] = {
    "journal_mode": "WAL",
    "busy_timeout": 10000,
    "synchronous": "NORMAL",
    "foreign_keys": "ON",
    "cache_size": -64000,
}


def build_config(db_url: str) -> dict[str, Any]:
    """Tortoise config dict for a database URL (sqlite://path or postgres://...)."""
    parts = urlsplit(db_url)
    if parts.scheme == "sqlite":
        path = db_url[len("sqlite://"):]
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection: dict[str, Any] = {
            "engine": "tortoise.backends.sqlite",
            "credentials": {"file_path": path, **SQLITE_PRAGMAS},
        }
    elif parts.scheme in {"postgres", "postgresql", "asyncpg"}:
        connection = {
            "engine": "tortoise.backends.asyncpg",
            "credentials": {
                "host": parts.hostname or "127.0.0.1",
                "port": parts.port or 5432,
                "user": parts.username or "postgres",
                "password": parts.password or "",
                "database": parts.path.lstrip("/") or "postgres",
                "minsize": 1,
                "maxsize": 10,
            },
        }
    else:
        raise ValueError(
            f"DATABASE_URL non reconnue : « {db_url} » (attendu sqlite://chemin ou postgres://...)."
        )
    return {
        "connections": {"default": connection},
        "apps": {
            APP_LABEL: {
                "models": list(model_modules()),
                "default_connection": "default",
                "migrations": "migrations",
            }
        },
        "use_tz": True,
        "timezone": "Europe/Paris",
    }


def is_sqlite(db_url: str) -> bool:
    """True when the URL points to an SQLite database."""
    return db_url.startswith("sqlite://")


async def migrate(db_url: str) -> None:
    """Apply every committed migration to the database (creates it when empty)."""
    from tortoise.migrations.api import migrate as run_migrations

    await run_migrations(config=build_config(db_url))
    await Tortoise.close_connections()
    # Tortoise 1.1 caches each table's INSERT/DELETE SQL under (connection name, table), not the
    # dialect: a process that reopens another backend (tests: SQLite then PostgreSQL) would reuse
    # SQLite's `?` placeholders. Forget it whenever the connections close.
    EXECUTOR_CACHE.clear()


ON_OPEN: list[Callable[[], None]] = []  # called when a database opens (the engine forgets its caches)
AFTER_OPEN: list[Callable[[], Awaitable[None]]] = []  # then awaited (the engine builds what it keeps in the database)


async def init(db_url: str, *, apply_migrations: bool = True) -> None:
    """Migrate then open the connections, usable from NiceGUI pages and CLI alike."""
    if apply_migrations:
        await migrate(db_url)
    await Tortoise.init(config=build_config(db_url), _enable_global_fallback=True)
    for hook in ON_OPEN:
        hook()
    for after in AFTER_OPEN:
        await after()


async def close() -> None:
    """Close every database connection and forget the global context (so a later init starts clean)."""
    await Tortoise.close_connections()
    # Tortoise 1.1 caches each table's INSERT/DELETE SQL under (connection name, table), not the
    # dialect: a process that reopens another backend (tests: SQLite then PostgreSQL) would reuse
    # SQLite's `?` placeholders. Forget it whenever the connections close.
    EXECUTOR_CACHE.clear()


async def analyze() -> None:
    """Refresh the planner's statistics after a bulk load (SQLite ANALYZE / PostgreSQL ANALYZE)."""
    conn = connections.get("default")
    if conn.capabilities.dialect == "sqlite":
        await conn.execute_script("ANALYZE; PRAGMA optimize;")
    else:
        await conn.execute_script("ANALYZE;")


# For `tortoise makemigrations` (config in pyproject's [tool.tortoise]).
TORTOISE_ORM = build_config(os.environ.get("DATABASE_URL") or "sqlite://data/rentree.sqlite3")
