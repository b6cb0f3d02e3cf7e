"""Grid queries: AG Grid's block request (sort and filter models) → one whitelisted Tortoise query."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from settings import tz
from sheets.engine.caller import Caller
from sheets.engine.dataversion import data_version
from sheets.engine.declaration import Column, Sheet, model_field, number_bounds
from sheets.engine.textindex import quick_condition
from sheets.engine.values import MAX_DATE, MIN_DATE, CellError, fold, parse_value, to_json

log = logging.getLogger("rentree.query")

MAX_BLOCK = 1000
MAX_NUMBER = 10**15


class QueryError(ValueError):
    """A sort or filter the sheet does not allow; the message is French."""


@dataclass
class BlockRequest:
    """AG Grid's infinite-model request, plus our quick search."""

    start_row: int = 0
    end_row: int = 100
    sort_model: list[dict[str, Any]] = field(default_factory=list)
    filter_model: dict[str, Any] = field(default_factory=dict)
    quick: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BlockRequest:
        """Build from the JSON body the grid sends ({startRow, endRow, sortModel, filterModel, quick})."""
        try:
            start = max(0, int(data.get("startRow", 0)))
            end = int(data.get("endRow", start + 100))
        except (TypeError, ValueError):
            raise QueryError("startRow et endRow doivent être des entiers.") from None
        if end <= start:
            raise QueryError("endRow doit être supérieur à startRow.")
        end = min(end, start + MAX_BLOCK)
        sort_model = data.get("sortModel") or []
        filter_model = data.get("filterModel") or {}
        if not isinstance(sort_model, list) or not isinstance(filter_model, dict):
            raise QueryError("sortModel doit être une liste et filterModel un objet.")
        return cls(start, end, sort_model, filter_model, str(data.get("quick") or ""))


def _column(sheet: Sheet, col_id: str) -> Column:
    if not sheet.has_column(str(col_id)):
        raise QueryError(f"Colonne inconnue « {str(col_id)[:40]} » dans la feuille {sheet.label}.")
    return sheet.column(str(col_id))


def _value(column: Column, raw: Any, bounds: tuple[Any, Any] | None = None) -> Any:
    """A filter operand converted to the column's type: a number within what its database field holds (±10^15 at
    most), a date within MIN_DATE–MAX_DATE; anything else is a QueryError in French."""
    if isinstance(raw, dict | list):
        raise QueryError(f"Filtre sur « {column.label} » : valeur simple attendue.")
    if isinstance(raw, str) and len(raw) > 200:
        raise QueryError(f"Filtre sur « {column.label} » : valeur trop longue (200 caractères au plus).")
    if column.kind == "reference":
        return str(raw).strip().upper() if raw is not None else None
    probe = Column(column.field, column.label, kind=column.kind, choices=column.choices, bounds=bounds)
    try:
        value = parse_value(probe, raw)
    except CellError as exc:
        raise QueryError(f"Filtre sur « {column.label} » : {exc}") from None
    if column.kind in ("integer", "decimal", "euro") and value is not None and abs(value) > MAX_NUMBER:
        raise QueryError(f"Filtre sur « {column.label} » : nombre hors limites (±10^15).")
    return value


def _date_operand(column: Column, raw: Any) -> Any:
    if raw in (None, ""):
        raise QueryError(f"Filtre sur « {column.label} » : date manquante.")
    if not isinstance(raw, str):
        raise QueryError(f"Filtre sur « {column.label} » : date attendue (aaaa-mm-jj).")
    text = raw[:10]
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise QueryError(f"Filtre sur « {column.label} » : date « {raw[:20]} » illisible "
                         "(attendu aaaa-mm-jj).") from None
    if not MIN_DATE <= day <= MAX_DATE:
        raise QueryError(f"Filtre sur « {column.label} » : date hors des années {MIN_DATE.year}–{MAX_DATE.year}.")
    return day


def _storable(field_: Any, value: Any) -> bool:
    """Whether a value passes the model field's own checks (length, validators, enum, the range of its database
    type): one that does not can equal no stored row, and must not reach the query, which would fail instead."""
    if field_ is None:
        return True
    try:
        stored = field_.to_db_value(value, field_.model)
    except Exception:  # tortoise's ValidationError, an enum's ValueError…: the value cannot be stored
        return False
    bounds = number_bounds(field_)
    return bounds is None or not isinstance(stored, int | float | Decimal) or bounds[0] <= stored <= bounds[1]


def _blank(sheet: Sheet, column: Column, blank: bool) -> Q:
    """« Vide » / « Non vide » on any column: no value, or an empty text (compared without the field's validators,
    which refuse an empty UAI or e-mail that is nonetheless what the filter looks for)."""
    path = column.db_field
    if column.kind == "reference" and not column.path:
        return Q(**{f"{column.field}_id__isnull": blank})  # no join for an empty reference
    field_ = model_field(sheet.model, path)
    texty = column.kind in ("text", "reference") or isinstance(getattr(field_, "max_length", None), int)
    if blank:
        return (Q(**{f"{path}__isnull": True}) | Q(**{f"{path}__iexact": ""})) if texty else Q(
            **{f"{path}__isnull": True})
    q = Q(**{f"{path}__isnull": False})
    return (q & ~Q(**{f"{path}__iexact": ""})) if texty else q


_NUMBER_OPS = {"equals": "", "notEqual": None, "lessThan": "__lt", "lessThanOrEqual": "__lte",
               "greaterThan": "__gt", "greaterThanOrEqual": "__gte"}
_TEXT_OPS = {"contains": "__icontains", "notContains": None, "equals": "__iexact", "notEqual": "!",
             "startsWith": "__istartswith", "endsWith": "__iendswith"}
_DATE_KINDS = ("date", "datetime")
_NUMBER_KINDS = ("integer", "decimal", "euro")


def _condition(sheet: Sheet, column: Column, cond: dict[str, Any]) -> Q:
    """One AG Grid filter condition on one column as a Q. The column's kind decides what the operator means (the
    client's filterType only says whether a list of values is given): every operator on every kind is either
    answered or refused in French, never passed raw to the database."""
    if not isinstance(cond, dict):
        raise QueryError(f"Filtre illisible sur « {column.label} » : objet attendu.")
    path = column.db_field
    kind = cond.get("filterType") or "text"
    op = cond.get("type") or ("in" if kind == "set" else "equals")
    if not isinstance(kind, str) or not isinstance(op, str):
        raise QueryError(f"Filtre illisible sur « {column.label} ».")
    if op in ("blank", "notBlank"):
        return _blank(sheet, column, op == "blank")
    field_ = model_field(sheet.model, path)
    if kind == "set" or op == "in":
        values = cond.get("values")
        if not isinstance(values, list) or len(values) > 1000:
            raise QueryError(f"Filtre sur « {column.label} » : liste de valeurs attendue (1 000 au plus).")
        parsed = [_value(column, v) for v in values]
        field_ = model_field(sheet.model, path)
        q = Q(**{f"{path}__in": [v for v in parsed if v not in (None, "") and _storable(field_, v)]})
        return (q | _blank(sheet, column, True)) if any(v in (None, "") for v in parsed) else q  # [] matches nothing
    if column.kind == "boolean":
        if op not in ("equals", "notEqual"):
            raise QueryError(f"Filtre « {op[:30]} » non pris en charge pour Oui/Non.")
        value = _value(Column(column.field, column.label, kind="boolean", required=True),
                       cond.get("filter", cond.get("value")))
        return Q(**{path: value if op == "equals" else not value})
    if column.kind in _DATE_KINDS:
        start = _date_operand(column, cond.get("dateFrom", cond.get("filter")))
        if column.kind == "datetime":
            lo = dt.datetime.combine(start, dt.time(), tz())
            hi = lo + dt.timedelta(days=1)
            ops = {"equals": Q(**{f"{path}__gte": lo, f"{path}__lt": hi}),
                   "notEqual": Q(**{f"{path}__lt": lo}) | Q(**{f"{path}__gte": hi}),
                   "lessThan": Q(**{f"{path}__lt": lo}), "greaterThan": Q(**{f"{path}__gte": hi})}
            if op == "inRange":
                end = _date_operand(column, cond.get("dateTo"))
                return Q(**{f"{path}__gte": lo, f"{path}__lt": dt.datetime.combine(end, dt.time(), tz()) +
                            dt.timedelta(days=1)})
        else:
            ops = {"equals": Q(**{path: start}), "notEqual": ~Q(**{path: start}),
                   "lessThan": Q(**{f"{path}__lt": start}), "greaterThan": Q(**{f"{path}__gt": start})}
            if op == "inRange":
                end = _date_operand(column, cond.get("dateTo"))
                return Q(**{f"{path}__gte": start, f"{path}__lte": end})
        if op not in ops:
            raise QueryError(f"Filtre « {op[:30]} » non pris en charge pour une date.")
        return ops[op]
    if column.kind in _NUMBER_KINDS:
        if op != "inRange" and op not in _NUMBER_OPS:
            raise QueryError(f"Filtre « {op[:30]} » non pris en charge pour un nombre.")
        bounds = number_bounds(field_) if field_ is not None else None
        number = Column(column.field, column.label, kind=column.kind, required=True)
        value = _value(number, cond.get("filter"), bounds)
        if op == "inRange":
            return Q(**{f"{path}__gte": value, f"{path}__lte": _value(number, cond.get("filterTo"), bounds)})
        suffix = _NUMBER_OPS[op]
        return ~Q(**{path: value}) if suffix is None else Q(**{f"{path}{suffix}": value})
    raw = cond.get("filter")
    if isinstance(raw, dict | list):
        raise QueryError(f"Filtre sur « {column.label} » : valeur simple attendue.")
    text = "" if raw is None else str(raw)
    if len(text) > 200:
        raise QueryError(f"Filtre sur « {column.label} » : valeur trop longue (200 caractères au plus).")
    if column.kind == "choice":
        folded = fold(text)
        matches = [code for code, label in column.choices
                   if (op in ("equals", "notEqual") and folded in (fold(code), fold(label)))
                   or (op in ("contains", "notContains") and (folded in fold(label) or folded in fold(code)))
                   or (op == "startsWith" and (fold(label).startswith(folded) or fold(code).startswith(folded)))
                   or (op == "endsWith" and (fold(label).endswith(folded) or fold(code).endswith(folded)))]
        if op not in _TEXT_OPS:
            raise QueryError(f"Filtre « {op[:30]} » non pris en charge pour une liste de choix.")
        return ~Q(**{f"{path}__in": matches}) if op in ("notEqual", "notContains") else Q(**{f"{path}__in": matches})
    if column.kind == "reference":
        text = text.strip()
        if op == "equals" and column.reference is not None:
            # The referenced row's id through a subquery, not a JOIN: the planner then uses the indexes that
            # start with the foreign key (e.g. device school_id + status + serial) instead of a scan.
            from sheets.engine.declaration import get_sheet

            target = get_sheet(column.reference[0]).model
            ids = Subquery(target.filter(**{f"{column.reference[1]}__iexact": text}).values("id"))
            return Q(**{f"{column.field}_id__in": ids})
    if op not in _TEXT_OPS:
        raise QueryError(f"Filtre « {op[:30]} » non pris en charge pour un texte.")
    if op == "notContains":
        return ~Q(**{f"{path}__icontains": text})
    if op == "notEqual":
        return ~Q(**{f"{path}__iexact": text})
    return Q(**{f"{path}{_TEXT_OPS[op]}": text})


def scope_q(sheet: Sheet, caller: Caller | None) -> Q:
    """The rows a caller may see: those of its schools when it is scoped (a regional sheet: all, or none when the
    sheet has no school and the caller is scoped to schools but may read it anyway, e.g. a catalogue)."""
    if caller is None or caller.scope is None or not sheet.school_path:
        return Q()
    return Q(**{f"{sheet.school_path}__in": sorted(caller.scope)})


def filter_q(sheet: Sheet, filter_model: dict[str, Any], quick: str = "", caller: Caller | None = None) -> Q:
    """The whole filter model (and the quick search) as one Q; unknown columns are refused."""
    q = scope_q(sheet, caller)
    for col_id, model in filter_model.items():
        column = _column(sheet, col_id)
        if not isinstance(model, dict):
            raise QueryError(f"Filtre illisible sur « {column.label} ».")
        conditions = model.get("conditions")
        if conditions is not None and (not isinstance(conditions, list) or len(conditions) > 5
                                       or not all(isinstance(c, dict) for c in conditions)):
            raise QueryError(f"Filtre illisible sur « {column.label} » : conditions attendues (5 au plus).")
        if conditions:
            parts = [_condition(sheet, column, {**c, "filterType": c.get("filterType", model.get("filterType"))})
                     for c in conditions]
            combined = parts[0]
            for part in parts[1:]:
                combined = (combined | part) if str(model.get("operator", "AND")).upper() == "OR" else combined & part
            q &= combined
        else:
            q &= _condition(sheet, column, model)
    text = quick.strip()
    if text:
        indexed, scanned = quick_condition(sheet, text)  # the text index where the sheet has one
        search = indexed if indexed is not None else Q()
        for column in scanned:
            if column.is_searchable:
                if column.kind == "choice":
                    codes = [c for c, label in column.choices if fold(text) in fold(label)]
                    if codes:
                        search |= Q(**{f"{column.db_field}__in": codes})
                else:
                    search |= Q(**{f"{column.db_field}__icontains": text})
        q &= search
    return q


def order_by(sheet: Sheet, sort_model: list[dict[str, Any]]) -> list[str]:
    """ORDER BY terms of a sort model (whitelisted), with the id as the last tie-breaker."""
    terms: list[str] = []
    for item in sort_model:
        if not isinstance(item, dict):
            raise QueryError("sortModel illisible.")
        column = _column(sheet, item.get("colId", ""))
        direction = item.get("sort", "asc")
        if direction not in ("asc", "desc"):
            raise QueryError(f"Tri « {direction} » inconnu (asc ou desc).")
        terms.append(("-" if direction == "desc" else "") + column.db_field)
    if not terms:
        terms = list(sheet.default_sort)
    if not any(t.lstrip("-") == "id" for t in terms):
        terms.append("-id" if terms and terms[-1].startswith("-") else "id")
    return terms


def base_query(sheet: Sheet, filter_model: dict[str, Any] | None = None, quick: str = "",
               caller: Caller | None = None) -> QuerySet:
    """The sheet's rows with a filter applied, within the caller's scope."""
    return sheet.model.filter(filter_q(sheet, filter_model or {}, quick, caller))


def value_paths(sheet: Sheet) -> list[str]:
    """The fields read for a row: id, version and each column's path."""
    paths = ["id"] + (["version"] if sheet.versioned else [])
    return paths + [c.db_field for c in sheet.columns if c.db_field not in paths]


def to_row(sheet: Sheet, record: dict[str, Any]) -> dict[str, Any]:
    """A database record (from .values) as a grid row keyed by column field."""
    row = {"id": record["id"]}
    if sheet.versioned:
        row["version"] = record.get("version")
    for c in sheet.columns:
        row[c.field] = to_json(c, record.get(c.db_field))
    stored = dict(row)
    for c in sheet.columns:
        if c.display is not None:
            row[c.field] = c.display(stored[c.field], stored)
    return row


def _scope_key(caller: Caller | None) -> str:
    return "*" if caller is None or caller.scope is None else ",".join(sorted(caller.scope))


class CountCache:
    """Row counts per (sheet, filter, scope), valid for the sheet's data version they were counted at."""

    def __init__(self, ttl: float = 30.0, size: int = 512) -> None:
        self.ttl, self.size = ttl, size
        self._data: OrderedDict[str, tuple[float, tuple[int, int], int]] = OrderedDict()

    async def count(self, sheet: Sheet, filter_model: dict[str, Any], quick: str, caller: Caller | None = None,
                    version: tuple[int, int] | None = None) -> int:
        """The number of rows matching a filter, cached until the sheet's data version changes."""
        key = sheet.name + _scope_key(caller) + json.dumps([filter_model, quick], sort_keys=True, default=str)
        gen = version if version is not None else await data_version(sheet.name)
        hit = self._data.get(key)
        if hit and hit[1] == gen and time.monotonic() - hit[0] < self.ttl:
            self._data.move_to_end(key)
            return hit[2]
        n = await base_query(sheet, filter_model, quick, caller).count()
        self._data[key] = (time.monotonic(), gen, n)
        while len(self._data) > self.size:
            self._data.popitem(last=False)
        return n


COUNTS = CountCache()


class Boundaries:
    """Keyset cursors: the sort values of the last row of each block served, per (sheet, filter, sort).

    The next block then starts with a WHERE on those values instead of an OFFSET (constant time at any depth
    while a person scrolls). Forgotten when the sheet changes (see CountCache.generation).
    """

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._data: OrderedDict[tuple[Any, ...], tuple[Any, ...]] = OrderedDict()

    def key(self, sheet: Sheet, request: BlockRequest, row: int, version: tuple[int, int],
            caller: Caller | None = None) -> tuple[Any, ...]:
        """Cache key of a block boundary (the sheet's data version and the caller's scope included)."""
        spec = json.dumps([request.filter_model, request.sort_model, request.quick], sort_keys=True, default=str)
        return (sheet.name, version, _scope_key(caller), spec, row)

    def get(self, key: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """The cursor ending just before a row, if known."""
        return self._data.get(key)

    def put(self, key: tuple[Any, ...], values: tuple[Any, ...]) -> None:
        """Remember a cursor."""
        self._data[key] = values
        while len(self._data) > self.size:
            self._data.popitem(last=False)


BOUNDARIES = Boundaries()


class Landmarks:
    """Every LANDMARK_STEP-th row's sort values for a (sheet, filter, sort, scope) at a data version: a jump to any
    depth then starts from the landmark before it (a keyset WHERE) instead of an OFFSET over every matching row.

    Built once, in the background, after the first block of a large filtered view is served (one pass that reads
    only the sort columns), and forgotten when the sheet's data version changes.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._data: OrderedDict[tuple[Any, ...], list[tuple[Any, ...]]] = OrderedDict()
        self._building: set[tuple[Any, ...]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def key(self, sheet: Sheet, request: BlockRequest, version: tuple[int, int], caller: Caller | None) -> tuple:
        """Cache key of a view's landmarks."""
        spec = json.dumps([request.filter_model, request.sort_model, request.quick], sort_keys=True, default=str)
        return (sheet.name, version, _scope_key(caller), spec)

    def get(self, key: tuple[Any, ...]) -> list[tuple[Any, ...]] | None:
        """The landmarks of a view, if built."""
        return self._data.get(key)

    async def build(self, sheet: Sheet, base: QuerySet, terms: list[str], key: tuple[Any, ...]) -> None:
        """Read the view's sort columns in order, keep every LANDMARK_STEP-th row's values."""
        from sheets.engine.exporter import fetch_raw, raw_converter

        if key in self._data or key in self._building:
            return
        self._building.add(key)
        try:
            paths = [t.lstrip("-") for t in terms]
            converters = [raw_converter(sheet, p) or (lambda v: v) for p in paths]
            rows = await fetch_raw(base.order_by(*terms), paths)
            marks = [tuple(convert(value) for convert, value in zip(converters, rows[i], strict=True))
                     for i in range(LANDMARK_STEP - 1, len(rows), LANDMARK_STEP)]
            self._data[key] = marks
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        finally:
            self._building.discard(key)

    def schedule(self, sheet: Sheet, base: QuerySet, terms: list[str], key: tuple[Any, ...]) -> None:
        """Build a view's landmarks in the background (errors only logged: the offset path still answers)."""
        if key in self._data or key in self._building:
            return

        async def run() -> None:
            try:
                await self.build(sheet, base, terms, key)
            except Exception:  # the database closed, a filter the raw path cannot read…: jumps use offsets
                log.debug("landmarks of %s not built", sheet.name, exc_info=True)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


LANDMARK_STEP = 100
LANDMARK_MIN_ROWS = 5_000
LANDMARKS = Landmarks()


def after_cursor(terms: list[str], values: tuple[Any, ...]) -> Q:
    """Rows strictly after a cursor in the order of `terms` (lexicographic, each term asc or desc)."""
    q = Q()
    ors = []
    for i, term in enumerate(terms):
        path = term.lstrip("-")
        cond = Q(**{f"{path}__lt" if term.startswith("-") else f"{path}__gt": values[i]})
        for j in range(i):
            cond &= Q(**{terms[j].lstrip("-"): values[j]})
        ors.append(cond)
    for cond in ors:
        q = cond if not q.children and not q.filters else (q | cond)
    # The same bound, inclusive, on the first term alone: lets the planner use an index range.
    first = terms[0].lstrip("-")
    return Q(**{f"{first}__lte" if terms[0].startswith("-") else f"{first}__gte": values[0]}) & q


def _reverse(terms: list[str]) -> list[str]:
    return [t[1:] if t.startswith("-") else "-" + t for t in terms]


async def _offset_block(sheet: Sheet, base: QuerySet, terms: list[str], offset: int, limit: int,
                        paths: list[str]) -> list[dict[str, Any]]:
    """Rows at an offset: a small offset reads them directly; a deep one first walks the ids alone (a deferred
    join: the skipped rows are read from an index, without their joined columns), then reads those rows."""
    if offset < 1000:
        return await base.order_by(*terms).offset(offset).limit(limit).values(*paths)
    ids = await base.order_by(*terms).offset(offset).limit(limit).values_list("id", flat=True)
    if not ids:
        return []
    rows = {r["id"]: r for r in await sheet.model.filter(id__in=list(ids)).values(*paths)}
    return [rows[i] for i in ids if i in rows]


async def fetch_block(sheet: Sheet, request: BlockRequest, caller: Caller | None = None) -> dict[str, Any]:
    """One block of rows and the row count for AG Grid's infinite model ({rows, lastRow}).

    Paths, fastest first: a keyset cursor left by the previous block (scrolling); reversed order with a
    small offset for blocks past the middle (a jump to the end); a plain offset otherwise.
    """
    size = request.end_row - request.start_row
    terms = order_by(sheet, request.sort_model)
    paths = value_paths(sheet)
    sort_paths = [t.lstrip("-") for t in terms]
    base = base_query(sheet, request.filter_model, request.quick, caller)
    version = await data_version(sheet.name)
    cursor = BOUNDARIES.get(BOUNDARIES.key(sheet, request, request.start_row, version, caller)) \
        if request.start_row else None
    records: list[dict[str, Any]]
    marks_key = LANDMARKS.key(sheet, request, version, caller)
    marks = LANDMARKS.get(marks_key) if request.start_row >= LANDMARK_STEP and cursor is None else None
    step = request.start_row // LANDMARK_STEP
    if marks is not None and 0 < step <= len(marks) and None not in marks[step - 1]:
        cursor, skip = marks[step - 1], request.start_row - step * LANDMARK_STEP  # a jump: from the landmark before
        query = base.filter(after_cursor(terms, cursor)).order_by(*terms)
        if skip:
            query = query.offset(skip)
        records = await query.limit(size).values(*paths, *[p for p in sort_paths if p not in paths])
    elif cursor is not None and None not in cursor:
        records = await base.filter(after_cursor(terms, cursor)).order_by(*terms).limit(size).values(
            *paths, *[p for p in sort_paths if p not in paths])
    else:
        total = await COUNTS.count(sheet, request.filter_model, request.quick, caller, version) \
            if request.start_row else None
        if total is not None and request.start_row >= total:
            records = []  # past the end (note: Tortoise's limit(0) would mean "no limit")
        elif total is not None and request.start_row > total // 2:
            from_end = max(0, total - request.end_row)
            take = min(size, total - request.start_row)
            records = list(reversed(await _offset_block(sheet, base, _reverse(terms), from_end, take,
                                                        [*paths, *[p for p in sort_paths if p not in paths]])))
        else:
            records = await _offset_block(sheet, base, terms, request.start_row, size,
                                          [*paths, *[p for p in sort_paths if p not in paths]])
    if records:
        last = records[-1]
        BOUNDARIES.put(BOUNDARIES.key(sheet, request, request.start_row + len(records), version, caller),
                       tuple(last[p] for p in sort_paths))
    rows = [to_row(sheet, r) for r in records]
    if len(rows) < size and (rows or request.start_row == 0):
        last_row = request.start_row + len(rows)
    else:
        last_row = await COUNTS.count(sheet, request.filter_model, request.quick, caller, version)
    if last_row >= LANDMARK_MIN_ROWS:
        LANDMARKS.schedule(sheet, base, terms, marks_key)
    return {"rows": rows, "lastRow": last_row}


def cli_filters(sheet: Sheet, pairs: list[str]) -> dict[str, Any]:
    """`col=value` pairs of the CLI and the export URL as a filter model (equals; choices by code or label)."""
    model: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise QueryError(f"Filtre « {pair} » illisible : attendu colonne=valeur.")
        name, _, value = pair.partition("=")
        column = _column(sheet, name.strip())
        kind = {"integer": "number", "decimal": "number", "euro": "number", "date": "date", "datetime": "date",
                "boolean": "boolean"}.get(column.kind, "text")
        cond: dict[str, Any] = {"filterType": kind, "type": "equals"}
        cond["dateFrom" if kind == "date" else "filter"] = value
        model[column.field] = cond
    return model
