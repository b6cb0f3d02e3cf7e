"""The data version of each sheet, kept in the database: caches are valid only for the version they saw."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from tortoise import connections

T = TypeVar("T")

_BUMP = ("INSERT INTO sheet_version (sheet, version) VALUES ({p}, 1) "
         "ON CONFLICT (sheet) DO UPDATE SET version = sheet_version.version + 1")
_local: dict[str, int] = {}  # writes of this process not yet seen by a read, so a cache never outlives them


def _placeholder() -> str:
    return "$1" if connections.get("default").capabilities.dialect == "postgres" else "?"


async def bump_versions(sheets: Iterable[str]) -> None:
    """Bump the data version of sheets (inside the write's transaction, in sorted order: no deadlock)."""
    conn = connections.get("default")
    sql = _BUMP.format(p=_placeholder())
    for name in sorted(set(sheets)):
        await conn.execute_query(sql, [name])


def forget_local(sheets: Iterable[str]) -> None:
    """After a commit: this process's caches of those sheets are stale even before they read the database."""
    for name in sheets:
        _local[name] = _local.get(name, 0) + 1


async def data_version(sheet: str) -> tuple[int, int]:
    """The sheet's version in the database (and this process's own write counter): a cache key part."""
    rows = await connections.get("default").execute_query_dict(
        f"SELECT version FROM sheet_version WHERE sheet = {_placeholder()}", [sheet])
    return (int(rows[0]["version"]) if rows else 0, _local.get(sheet, 0))


async def bump_all() -> None:
    """Every sheet's caches are stale (after a seed or a restore that wrote around the engine)."""
    from sheets.engine.declaration import all_sheets

    await bump_versions(s.name for s in all_sheets())
    forget_local(s.name for s in all_sheets())


class VersionedCache:
    """Values computed from some sheets (steering figures, counts by school), kept while none of those sheets'
    data versions changes: any write through the engine, in any process, makes them stale.

    `get` recomputes a stale value before answering. `latest` answers at once with the last value computed (and
    when), recomputing a stale one in the background: a steering page over 500,000 rows stays fast, its figures
    at most one computation old, and it says when they were computed.
    """

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._data: dict[Any, tuple[tuple[tuple[int, int], ...], Any, float]] = {}
        self._running: dict[Any, asyncio.Task[Any]] = {}

    async def _versions(self, sheets: Iterable[str]) -> tuple[tuple[int, int], ...]:
        return tuple([await data_version(s) for s in sheets])

    async def _compute(self, key: Any, versions: tuple[tuple[int, int], ...],
                       compute: Callable[[], Awaitable[T]]) -> T:
        value = await compute()
        if len(self._data) >= self.size and key not in self._data:
            self._data.pop(next(iter(self._data)))
        self._data[key] = (versions, value, time.time())
        return value

    async def get(self, key: Any, sheets: Iterable[str], compute: Callable[[], Awaitable[T]]) -> T:
        """The value of `key`, recomputed first when one of `sheets` changed since."""
        sheets = tuple(sheets)
        versions = await self._versions(sheets)
        hit = self._data.get(key)
        if hit is not None and hit[0] == versions:
            return hit[1]
        return await self._compute(key, versions, compute)

    async def latest(self, key: Any, sheets: Iterable[str], compute: Callable[[], Awaitable[T]],
                     wait: float = 0.2) -> tuple[T, float, bool]:
        """(value, when it was computed, whether it is current): a stale value is recomputed, waited for `wait`
        seconds, and served stale while its recomputation goes on in the background; only the very first
        computation is always awaited."""
        sheets = tuple(sheets)
        versions = await self._versions(sheets)
        hit = self._data.get(key)
        if hit is None:
            value = await self._compute(key, versions, compute)
            return value, self._data[key][2], True
        if hit[0] == versions:
            return hit[1], hit[2], True
        running = self._running.get(key)
        if running is None or running.done():
            running = asyncio.get_running_loop().create_task(self._compute(key, versions, compute))
            self._running[key] = running
            running.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
        try:  # a quick recomputation (a small fleet) is waited for; a long one goes on in the background
            value = await asyncio.wait_for(asyncio.shield(running), timeout=wait)
            return value, self._data[key][2], True
        except TimeoutError:
            return hit[1], hit[2], False


STEERING = VersionedCache()


def forget_everything() -> None:
    """Another database opened: no cache of the engine may answer for it."""
    from sheets.engine.query import BOUNDARIES, COUNTS, LANDMARKS

    _local.clear()
    STEERING._data.clear()
    COUNTS._data.clear()
    BOUNDARIES._data.clear()
    LANDMARKS._data.clear()


def _register() -> None:
    from models import db

    if forget_everything not in db.ON_OPEN:
        db.ON_OPEN.append(forget_everything)


_register()
