"""The data version of each sheet, kept in the database: caches are valid only for the version they saw."""

from __future__ import annotations

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
    data versions changes: any write through the engine, in any process, makes the next read recompute."""

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._data: dict[Any, tuple[tuple[tuple[int, int], ...], Any]] = {}

    async def get(self, key: Any, sheets: Iterable[str], compute: Callable[[], Awaitable[T]]) -> T:
        """The cached value of `key`, or `compute()` when one of `sheets` changed since."""
        versions = tuple([await data_version(s) for s in sheets])
        hit = self._data.get(key)
        if hit is not None and hit[0] == versions:
            return hit[1]
        value = await compute()
        if len(self._data) >= self.size:
            self._data.pop(next(iter(self._data)))
        self._data[key] = (versions, value)
        return value


STEERING = VersionedCache()
