"""Excel out: stream a sheet's rows (filters and sort applied) from the database into an .xlsx file.

The database is read in chunks on the event loop (keyset pagination when the order allows it, so
memory does not grow with the row count) and handed through a bounded queue to the synchronous
writer (`sheets.engine.xlsx.write_xlsx`) running in a worker thread: the event loop stays free.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import queue
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from sheets.engine.caller import Caller
from sheets.engine.declaration import Column, Sheet
from sheets.engine.query import QueryError, after_cursor, base_query, order_by
from sheets.engine.values import PARIS
from sheets.engine.xlsx import XlsxColumn, write_xlsx

CHUNK_ROWS = 5000
QUEUE_CHUNKS = 3
_DONE = object()

Progress = Callable[[int, int], object]

_OPS = {
    "equals": "égal à", "notEqual": "différent de", "contains": "contient", "notContains": "ne contient pas",
    "startsWith": "commence par", "endsWith": "finit par", "lessThan": "inférieur à",
    "lessThanOrEqual": "inférieur ou égal à", "greaterThan": "supérieur à",
    "greaterThanOrEqual": "supérieur ou égal à", "inRange": "entre", "blank": "vide", "notBlank": "non vide",
}


def xlsx_columns(sheet: Sheet) -> list[XlsxColumn]:
    """The writer's columns of a sheet: labels, kinds, widths (pixels → characters), choice labels."""
    out = []
    for c in sheet.columns:
        kind = {"reference": "text", "boolean": "choice"}.get(c.kind, c.kind)
        if c.kind == "integer" and c.plain:
            kind = "number"  # an id, a year: 2024, not 2 024
        width = round(c.width / 7, 1) if c.width else None
        choices = ("Oui", "Non") if c.kind == "boolean" else tuple(label for _, label in c.choices)
        out.append(XlsxColumn(c.label, kind, width, choices))
    return out


def _converter(column: Column) -> Callable[[Any], Any]:
    """A function turning a database value into what the cell shows (choice → label)."""
    if column.kind == "choice":
        labels = {code: label for code, label in column.choices}

        def choice(value: Any) -> Any:
            if value is None:
                return None
            code = getattr(value, "value", value)
            return labels.get(code, str(code))

        return choice
    if column.kind == "reference":
        return lambda value: None if value is None else str(value)
    if column.kind == "boolean":  # as on screen, and read back by the import
        return lambda value: None if value is None else ("Oui" if value else "Non")
    if column.kind == "datetime":
        return lambda value: value.astimezone(PARIS).replace(tzinfo=None) if (
            isinstance(value, dt.datetime) and value.tzinfo is not None) else value
    return _same_value


def _same_value(value: Any) -> Any:
    """No conversion."""
    return value


def _condition_text(column: Column, cond: dict[str, Any]) -> str:
    """One filter condition in French."""
    op = cond.get("type") or ("in" if cond.get("filterType") == "set" else "equals")

    def shown(value: Any) -> str:
        if column.kind == "choice":
            return column.choice_label(value) if any(value == c for c, _ in column.choices) else str(value)
        if column.kind == "boolean":
            return "Oui" if str(value).lower() in ("true", "1", "oui") else "Non"
        if column.kind in ("date", "datetime") and value:
            try:
                return dt.date.fromisoformat(str(value)[:10]).strftime("%d/%m/%Y")
            except ValueError:
                return str(value)
        return str(value)

    if cond.get("filterType") == "set" or op == "in":
        return "parmi " + ", ".join(f"« {shown(v)} »" for v in cond.get("values") or [])
    if op in ("blank", "notBlank"):
        return _OPS[op]
    first = cond.get("dateFrom", cond.get("filter")) if column.kind in ("date", "datetime") else cond.get("filter")
    if op == "inRange":
        last = cond.get("dateTo") if column.kind in ("date", "datetime") else cond.get("filterTo")
        return f"entre « {shown(first)} » et « {shown(last)} »"
    return f"{_OPS.get(op, op)} « {shown(first)} »"


def describe_filters(sheet: Sheet, filter_model: dict[str, Any] | None, quick: str = "") -> str:
    """The filters of an export in French (« Aucun filtre » when there is none)."""
    parts = []
    for col_id, model in (filter_model or {}).items():
        column = sheet.column(col_id) if sheet.has_column(col_id) else Column(col_id, col_id)
        if isinstance(model, dict) and model.get("conditions"):
            joiner = " ou " if str(model.get("operator", "AND")).upper() == "OR" else " et "
            text = joiner.join(_condition_text(column, {**c, "filterType": c.get("filterType", model.get(
                "filterType"))}) for c in model["conditions"])
        else:
            text = _condition_text(column, model if isinstance(model, dict) else {})
        parts.append(f"{column.label} {text}")
    if quick.strip():
        parts.append(f"recherche « {quick.strip()} »")
    return " ; ".join(parts) if parts else "Aucun filtre (toutes les lignes)"


def describe_sort(sheet: Sheet, terms: list[str]) -> str:
    """The order of an export in French."""
    by_path = {c.db_field: c.label for c in sheet.columns}
    shown = [f"{by_path.get(t.lstrip('-'), t.lstrip('-'))} ({'décroissant' if t.startswith('-') else 'croissant'})"
             for t in terms if t.lstrip("-") != "id"]
    return ", ".join(shown) or "ordre de création"


def _keyset_ok(sheet: Sheet, terms: list[str]) -> bool:
    """Whether rows can be paged by keyset on these terms (every term a non-null field of the model)."""
    fields_map = sheet.model._meta.fields_map
    for term in terms:
        name = term.lstrip("-")
        if "__" in name or name not in fields_map or getattr(fields_map[name], "null", False):
            return False
    return True


def raw_converter(sheet: Sheet, path: str) -> Callable[[Any], Any] | None:
    """Typing of a raw database value of a model field (SQLite gives dates as text, booleans as 0/1)."""
    field = None if "__" in path else sheet.model._meta.fields_map.get(path)
    kind = getattr(field, "field_type", None)
    if kind is dt.datetime:
        def to_datetime(value: Any) -> Any:
            if isinstance(value, str):
                value = dt.datetime.fromisoformat(value)
            if isinstance(value, dt.datetime) and value.tzinfo is None:
                value = value.replace(tzinfo=dt.UTC)
            return value
        return to_datetime
    if kind is dt.date:
        return lambda value: dt.date.fromisoformat(value) if isinstance(value, str) else value
    if kind is bool:
        return lambda value: value if value is None or isinstance(value, bool) else bool(value)
    if kind is Decimal:
        return lambda value: value if value is None or isinstance(value, Decimal) else Decimal(str(value))
    return None


async def fetch_raw(qs: Any, fetch: list[str]) -> list[Any]:
    """Rows of a query as raw database tuples (Tortoise's per-value conversion is the export's bottleneck)."""
    query = qs.values_list(*fetch)
    try:
        query._choose_db_if_not_chosen()
        query._make_query()
        _, rows = await query._db.execute_query(*query.query.get_parameterized_sql())
    except AttributeError:  # another Tortoise version: the slower public path
        return await query
    return rows


async def _chunks(sheet: Sheet, filter_model: dict[str, Any] | None, quick: str, terms: list[str],
                  paths: list[str], size: int | None = None, caller: Caller | None = None) -> Any:
    """Yield lists of raw rows (values in `paths` order, maybe followed by sort fields), in the order of `terms`."""
    size = size or CHUNK_ROWS
    keyset = _keyset_ok(sheet, terms)
    sort_fields = [t.lstrip("-") for t in terms]
    fetch = paths + [f for f in sort_fields if f not in paths]
    index = {name: fetch.index(name) for name in sort_fields}
    typing = {name: raw_converter(sheet, name) or (lambda v: v) for name in sort_fields}
    offset = 0
    last: dict[str, Any] | None = None
    while True:
        qs = base_query(sheet, filter_model, quick, caller)
        if keyset and last is not None:
            qs = qs.filter(after_cursor(terms, tuple(last[t.lstrip('-')] for t in terms)))
        qs = qs.order_by(*terms)
        qs = qs.limit(size) if keyset else qs.offset(offset).limit(size)
        records = await fetch_raw(qs, fetch)
        if not records:
            return
        if keyset:
            tail = records[-1]
            last = {name: typing[name](tail[i]) for name, i in index.items()}
        offset += len(records)
        yield records
        if len(records) < size:
            return


async def export_sheet(sheet: Sheet, target_path: str | os.PathLike[str], *, filter_model: dict[str, Any] | None = None,
                       quick: str = "", sort_model: list[dict[str, Any]] | None = None,
                       caller: Caller | None = None, progress: Progress | None = None) -> int:
    """Write the sheet's rows (filters and sort applied) to an .xlsx file; return the number of rows.

    `progress(done, total)` is called from the event loop after each chunk. The file is written by a
    worker thread; on any error the partial file is removed and the error re-raised (QueryError in
    French for a bad filter or sort).
    """
    if caller is not None:
        await caller.check()
        if not sheet.may_read(caller):
            raise QueryError(f"Vous n'avez pas accès à « {sheet.label} ».")
    if caller is not None:
        sheet = sheet.seen_by(caller)  # the columns this caller may not see stay out of the file
    terms = order_by(sheet, sort_model or [])
    total = await base_query(sheet, filter_model, quick, caller).count()
    paths = [c.db_field for c in sheet.columns]
    special: list[tuple[int, Callable[[Any], Any]]] = []  # columns whose raw value needs converting
    for i, column in enumerate(sheet.columns):
        raw, shown = raw_converter(sheet, column.db_field), _converter(column)
        if raw is not None:
            special.append((i, (lambda v, r=raw, s=shown: s(r(v))) if shown is not _same_value else raw))
        elif shown is not _same_value:
            special.append((i, shown))
    width = len(paths)
    fields = [c.field for c in sheet.columns]
    shown_by_row = [(i, c.display) for i, c in enumerate(sheet.columns) if c.display is not None]
    now = dt.datetime.now(PARIS)
    info = [
        ("Feuille", sheet.label),
        ("Exporté le", now.strftime("%d/%m/%Y %H:%M") + " (heure de Paris)"),
        ("Par", caller.actor if caller else "inconnu"),
        ("Filtres", describe_filters(sheet, filter_model, quick)),
        ("Tri", describe_sort(sheet, terms)),
        ("Lignes", total),
    ]
    chunks: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_CHUNKS)

    def rows() -> Iterator[tuple[Any, ...]]:
        while True:
            item = chunks.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            for record in item:
                row = list(record)
                if len(row) != width:
                    del row[width:]
                for i, convert in special:
                    row[i] = convert(row[i])
                if shown_by_row:
                    by_field = dict(zip(fields, row, strict=True))
                    for i, display in shown_by_row:
                        row[i] = display(row[i], by_field)
                yield row

    def write() -> int:
        return write_xlsx(target_path, xlsx_columns(sheet), rows(), sheet_title=_title(sheet), info=info)

    writer = asyncio.ensure_future(asyncio.to_thread(write))

    async def put(item: Any) -> bool:
        """Hand an item to the writer without blocking the loop; False when the writer has stopped."""
        while not writer.done():
            try:
                chunks.put_nowait(item)
                return True
            except queue.Full:
                await asyncio.sleep(0.005)
        return False

    done = 0
    try:
        async for chunk in _chunks(sheet, filter_model, quick, terms, paths, caller=caller):
            if not await put(chunk):
                break
            done += len(chunk)
            if progress is not None:
                progress(done, max(total, done))
        await put(_DONE)
    except BaseException as exc:
        if not writer.done():
            await put(exc if isinstance(exc, Exception) else RuntimeError("export interrompu"))
        try:
            await writer
        except Exception:
            pass
        _remove(target_path)
        raise
    return await writer


def _remove(path: str | os.PathLike[str]) -> None:
    """Delete a partial export, if any."""
    try:
        os.unlink(path)
    except OSError:
        pass


def _title(sheet: Sheet) -> str:
    """The data sheet's tab name (Excel: 31 characters, no []:*?/\\; one space between words)."""
    title = " ".join("".join(" " if ch in "[]:*?/\\" else ch for ch in sheet.label).split())[:31]
    return title or "Données"


def export_filename(sheet: Sheet, day: dt.date | None = None) -> str:
    """A French file name for an export: `parc-appareils-2024-09-12.xlsx`."""
    import unicodedata

    from settings import today

    ascii_label = unicodedata.normalize("NFKD", sheet.label).encode("ascii", "ignore").decode("ascii").lower()
    slug = "-".join("".join(ch if ch.isalnum() else " " for ch in ascii_label).split()) or sheet.name
    return f"{slug}-{(day or today()).isoformat()}.xlsx"
