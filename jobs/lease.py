"""Which instance runs the jobs: a PostgreSQL advisory lock, or a lease row on SQLite."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import uuid
from urllib.parse import urlsplit

from models.joblease import acquire_lease_row, lease_holder, release_lease_row, take_over_lease_row
from models.outbox import utcnow

log = logging.getLogger("rentree.jobs")

LEASE_NAME = "rentree-jobs"
ADVISORY_KEY = 0x52454E54  # "RENT": one lock for all the jobs of the database


def instance_id() -> str:
    """A name for this process: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _dead_local_process(holder: str) -> bool:
    """True when a holder id names a process of this machine that no longer runs."""
    parts = holder.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, another user's
        return False
    return False


class JobLock:
    """Held by at most one instance per database; `hold()` acquires or renews it and says if we have it."""

    def __init__(self, db_url: str, holder: str | None = None, ttl: dt.timedelta = dt.timedelta(seconds=90)) -> None:
        self.db_url = db_url
        self.holder = holder or instance_id()
        self.ttl = ttl
        self.held = False
        self._pg = None  # a dedicated asyncpg connection holding the advisory lock
        self._guard = asyncio.Lock()  # the jobs of one instance ask concurrently

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL (advisory lock), False on SQLite (lease row)."""
        return not self.db_url.startswith("sqlite://")

    async def hold(self) -> bool:
        """Acquire or renew the lock; True when this instance may run the jobs now."""
        async with self._guard:
            return await self._hold()

    async def _hold(self) -> bool:
        was_held = self.held
        try:
            self.held = await (self._hold_pg() if self.is_postgres else self._hold_row())
        except Exception as exc:  # the database is unreachable: do not run jobs, say why
            log.warning("Verrou des tâches indisponible : %s", exc)
            self.held = False
        if self.held and not was_held:
            log.info("Cette instance (%s) exécute les tâches planifiées.", self.holder)
        return self.held

    async def _hold_row(self) -> bool:
        if await acquire_lease_row(LEASE_NAME, self.holder, self.ttl, utcnow()):
            return True
        # A holder on this machine whose process is gone (killed) cannot renew: take over without waiting.
        holder = await lease_holder(LEASE_NAME)
        if holder and holder != self.holder and _dead_local_process(holder):
            log.warning("Verrou des tâches repris à %s (processus arrêté).", holder)
            return await take_over_lease_row(LEASE_NAME, holder, self.holder, self.ttl, utcnow())
        return False

    async def _hold_pg(self) -> bool:
        import asyncpg

        if self._pg is not None:
            try:
                await self._pg.fetchval("SELECT 1")
                return True
            except Exception:  # connection lost: the lock went with it
                self._pg = None
        parts = urlsplit(self.db_url)
        conn = await asyncpg.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
                                     user=parts.username or "postgres", password=parts.password or None,
                                     database=parts.path.lstrip("/") or "postgres")
        if await conn.fetchval("SELECT pg_try_advisory_lock($1)", ADVISORY_KEY):
            self._pg = conn
            return True
        await conn.close()
        return False

    async def release(self) -> None:
        """Give the lock up (shutdown): another instance takes over at its next job."""
        try:
            if self._pg is not None:
                await self._pg.close()
                self._pg = None
            elif self.held and not self.is_postgres:
                await release_lease_row(LEASE_NAME, self.holder)
        except Exception as exc:  # closing anyway
            log.warning("Libération du verrou des tâches : %s", exc)
        self.held = False
