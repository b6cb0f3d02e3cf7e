"""The header's search: a UAI, a school name, a serial number, a holder's identifier or name, a ticket number.

Each area registers what it finds, on the sheet whose rights apply: a provider runs only for a caller who may read
its sheet, within the caller's scope (a school's people: their school), and a column the caller may not read (a
device's holder for maintenance) is neither matched nor shown. Every lookup is an index range (`q <= col < q'`, q' the
query with its last character + 1), so it stays within milliseconds at 500,000 devices and holders; only the ~470 school
names are scanned.

    @search_provider("appareil", DEVICES, order=30)
    async def devices(q: Query, caller: Caller) -> list[Hit]: ...
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tortoise.expressions import Q

from sheets.engine.caller import Caller
from sheets.engine.declaration import Sheet
from sheets.engine.query import scope_q

MAX_QUERY = 100
PER_KIND = 8
MAX_HITS = 20


@dataclass(frozen=True)
class Query:
    """What was typed, cleaned: `text` as typed (spaces folded), `upper` for codes (UAI, serial, INE, ticket)."""

    text: str

    @property
    def upper(self) -> str:
        return self.text.upper().replace(" ", "")

    def spellings(self) -> list[str]:
        """How a name may be stored: as typed, in capitals, with a capital first letter (each an index range)."""
        forms = [self.text, self.text.upper(), self.text[:1].upper() + self.text[1:].lower(), self.text.title()]
        return list(dict.fromkeys(f for f in forms if f))


@dataclass(frozen=True)
class Hit:
    """One result: what it is, how it reads, where it opens, how well it matches (0 exact, 1 start, 2 inside)."""

    kind: str
    label: str
    url: str
    rank: int = 1

    def out(self) -> dict[str, str]:
        return {"kind": self.kind, "label": self.label, "url": self.url}


Find = Callable[[Query, Caller], Awaitable[list[Hit]]]


@dataclass(frozen=True)
class Provider:
    kind: str
    sheet: Sheet
    order: int
    find: Find


_PROVIDERS: dict[str, Provider] = {}


def search_provider(kind: str, sheet: Sheet, *, order: int = 100) -> Callable[[Find], Find]:
    """Register what an area finds (same kind again replaces it); it runs for the readers of `sheet` only."""

    def decorate(find: Find) -> Find:
        _PROVIDERS[kind] = Provider(kind, sheet, order, find)
        return find

    return decorate


def clean(raw: str) -> str:
    """The query as searched: control characters dropped, spaces folded, at most 100 characters."""
    text = "".join(ch for ch in str(raw) if unicodedata.category(ch)[0] != "C")
    return " ".join(text.split())[:MAX_QUERY]


async def search(raw: str, caller: Caller, limit: int = MAX_HITS) -> list[Hit]:
    """Best first: exact matches, then the starts, then the rest; by area order within each."""
    text = clean(raw)
    if len(text) < 2:
        return []
    query = Query(text)
    found: list[tuple[int, int, Hit]] = []
    for provider in sorted(_PROVIDERS.values(), key=lambda p: (p.order, p.kind)):
        if provider.sheet.may_read(caller):
            found.extend((hit.rank, provider.order, hit) for hit in await provider.find(query, caller))
    found.sort(key=lambda t: (t[0], t[1]))
    return [hit for _rank, _order, hit in found[:max(1, min(limit, MAX_HITS))]]


def starting(field: str, value: str) -> Q:
    """`field` starts with `value`, as an index range `value <= field < value with its last character + 1` (both
    databases use the index, whatever their collation; LIKE would not everywhere)."""
    last = value[-1]
    if ord(last) >= 0x10FFFF:
        return Q(**{f"{field}__gte": value})
    return Q(**{f"{field}__gte": value, f"{field}__lt": value[:-1] + chr(ord(last) + 1)})


async def rows_starting(sheet: Sheet, caller: Caller, field: str, values: list[str], fields: list[str],
                        order: str) -> list[dict[str, Any]]:
    """The rows (within the caller's scope) whose `field` equals or starts with one of `values`."""
    seen: dict[Any, dict[str, Any]] = {}
    longest = getattr(sheet.model._meta.fields_map[field], "max_length", None) or 10_000
    for value in values:
        if not value or len(value) > longest:  # longer than the column: nothing can match
            continue
        rows = await (sheet.model.filter(scope_q(sheet, caller)).filter(starting(field, value))
                      .order_by(order).limit(PER_KIND).values("id", *fields))
        for row in rows:
            seen.setdefault(row["id"], row)
        if len(seen) >= PER_KIND:
            break
    return list(seen.values())[:PER_KIND]


def url_with(path: str, **params: str) -> str:
    """A grid's address filtered on its columns (see pages.sheet_pages.filter_from_query)."""
    return path + "?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
