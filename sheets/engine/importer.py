"""Excel in: read an .xlsx or .csv (bounded: xlsx_read.py), match its rows on the sheet's key, preview, apply.

Rules (see README « Import Excel »):
- the first row of the first sheet is the header; a header matches a column by its label, field name
  or one of its aliases, ignoring case, accents, spaces and punctuation; unknown columns are listed
  and ignored, read-only columns are ignored (except the key);
- the key column is required (and, when the file creates rows, every required column);
- each row is matched on the sheet's key: new, changed, unchanged or refused (with every reason);
- formulas: the value Excel last computed (cached in the file) is imported, and the report warns
  with the cells concerned; a formula without a cached value leaves its cell empty;
- numbers and dates written as text are converted when unambiguous (with a warning), refused otherwise;
- the file is checked before it is loaded: not an xlsx or csv, empty, password-protected, merged header
  cells, more than `max_rows` rows, any size limit of xlsx_read.py are refused with a French message,
  and nothing is written; reading and analysing run in worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import gc
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from models.audit import Source
from sheets.engine.caller import Caller
from sheets.engine.declaration import Column, Sheet, get_sheet
from sheets.engine.exporter import raw_converter
from sheets.engine.values import MAX_DATE, MIN_DATE, CellError, fold, parse_value, same, to_text
from sheets.engine.writes import (
    Issue,
    RowChange,
    WriteRefused,
    apply_changes,
    create_rows,
    uai_of_values,
    unit_of_work,
)
from sheets.engine.xlsx import XlsxColumn, column_letter, write_xlsx
from sheets.engine.xlsx_read import (
    DEFAULT_MAX_COLUMNS,
    MAX_ROWS,
    OLE_MAGIC,
    QUOTE_CHARS,
    ImportFileError,
    XlsxFile,
    clip,
    max_columns_for,
    read_table,
)

CHUNK_ROWS = 2000  # rows analysed per step
LOOKUP_KEYS = 2000  # keys per IN (...) query (under SQLite's 32,766 and asyncpg's 32,767 bound parameters)
APPLY_ROWS = 500  # rows per apply_changes call (all inside one transaction)
PREVIEW_LIMIT = 1000  # changes kept for the preview (all are counted and applied)
GC_THRESHOLD = 50_000  # first threshold of the cyclic GC while an import analyses (Python's default: 700)
MEMO_VALUES = 5_000  # distinct values of one column whose parsing is remembered during one import
ERRORS_COLUMN = "erreurs"

_OLE_MAGIC = OLE_MAGIC
_AMBIGUOUS_NUMBER = re.compile(r"[+-]?\d{1,3}[.,]\d{3}")
_TEXT_DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y")
_TEXT_DATETIME_FORMATS = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S",
                          "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
Progress = Callable[[int, int], object]


# --- Reading -----------------------------------------------------------------------------------------

def _read(path: Path, max_rows: int, max_columns: int = DEFAULT_MAX_COLUMNS) -> XlsxFile:
    """Check and open an .xlsx or .csv within every limit (synchronous; see read_xlsx and xlsx_read.py)."""
    return read_table(path, max_rows, max_columns)


async def read_xlsx(path: str | Path, *, max_rows: int = MAX_ROWS, max_columns: int = DEFAULT_MAX_COLUMNS) -> XlsxFile:
    """Check and open an .xlsx or .csv in a worker thread; ImportFileError (French) when the file is refused."""
    return await asyncio.to_thread(_read, Path(path), max_rows, max_columns)


async def row_chunks(source: XlsxFile, columns: set[int] | None = None,
                     size: int = CHUNK_ROWS) -> AsyncIterator[list[tuple[int, list[Any]]]]:
    """The data rows of an opened file, (line number, values), read in a worker thread a chunk at a time."""
    rows = source.numbered_rows(columns)
    while chunk := await asyncio.to_thread(lambda: list(islice(rows, size))):
        yield chunk


# --- Cells ---------------------------------------------------------------------------------------------

def _text_number_problem(column: Column, raw: str) -> str | None:
    """Why a number written as text is ambiguous (None when it converts unambiguously)."""
    text = raw.strip().replace("\u202f", "").replace("\xa0", "").replace(" ", "").replace("€", "")
    if "," in text and "." in text and text.rfind(".") > text.rfind(","):
        return (f"« {raw} » refusé pour « {column.label} » : nombre écrit comme du texte au format anglais "
                "(1,234.50) ; saisissez-le comme un nombre dans Excel (ex. 1234,50).")
    if _AMBIGUOUS_NUMBER.fullmatch(text):
        return (f"« {raw} » refusé pour « {column.label} » : nombre écrit comme du texte et ambigu (séparateur de "
                "milliers ou décimal ?) ; saisissez-le comme un nombre dans Excel.")
    return None


def _text_date(column: Column, raw: str) -> dt.date | dt.datetime:
    """A date (or date and time) written as text, when its format is unambiguous; CellError otherwise."""
    text = raw.strip()
    formats = _TEXT_DATETIME_FORMATS + _TEXT_DATE_FORMATS if column.kind == "datetime" else _TEXT_DATE_FORMATS
    for fmt in formats:
        try:
            value = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return value if column.kind == "datetime" else value.date()
    raise CellError(f"« {raw} » refusé pour « {column.label} » : date écrite comme du texte dans un format ambigu "
                    "ou inconnu ; attendu jj/mm/aaaa (année sur 4 chiffres), ou une vraie date Excel.")


@functools.lru_cache(maxsize=256)
def _choice_codes(column: Column) -> dict[str, str]:
    """Exact label or code → code of a choice column (the fast path of parse_cell)."""
    codes = {code: code for code, _ in column.choices}
    codes.update({label: code for code, label in column.choices})
    return codes


def parse_cell(column: Column, raw: Any) -> tuple[Any, str | None]:
    """A cell read from a file as the column's value, and the kind of conversion done ('number', 'date')."""
    if column.validator is None:  # fast paths for the common cells; parse_value handles the rest
        kind, cls = column.kind, raw.__class__
        if kind == "text" and cls is str:
            text = raw.strip()
            if (text or not column.required) and (column.max_length is None or len(text) <= column.max_length):
                return text, None
        if kind == "choice" and cls is str and raw in _choice_codes(column):
            return _choice_codes(column)[raw], None
        if kind == "date" and cls is dt.date and MIN_DATE <= raw <= MAX_DATE:
            return raw, None
        if kind == "integer" and cls is float and raw.is_integer() and (
                column.bounds is None or column.bounds[0] <= raw <= column.bounds[1]):
            return int(raw), None
        if kind == "boolean" and cls is bool:
            return raw, None
    if isinstance(raw, str) and raw.strip():
        if column.kind in ("integer", "decimal", "euro"):
            problem = _text_number_problem(column, raw)
            if problem:
                raise CellError(problem)
            return parse_value(column, raw), "number"
        if column.kind in ("date", "datetime"):
            return parse_value(column, _text_date(column, raw)), "date"
    if isinstance(raw, dt.time) and column.kind not in ("text",):
        raise CellError(f"« {raw} » refusé pour « {column.label} » : une heure seule n'est pas une date.")
    if isinstance(raw, dt.timedelta):
        raw = str(raw)
    return parse_value(column, raw), None


# --- Report --------------------------------------------------------------------------------------------

@dataclass
class ImportReport:
    """What an import found (dry run) or did: counts, preview of changes, refused rows with reasons."""

    sheet: str
    sheet_label: str
    file_name: str
    dry_run: bool = True
    all_or_nothing: bool = False
    rows: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    refused: int = 0
    changed_cells: int = 0
    fatal: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # file header → column label
    unknown_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    preview: list[dict[str, Any]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    errors_by_line: dict[int, list[str]] = field(default_factory=dict)
    applied: bool = False
    written_rows: int = 0
    created_rows: int = 0
    batch: str | None = None
    path: Path | None = None
    may_create: bool = True
    pending_changes: list[RowChange] = field(default_factory=list, repr=False)
    pending_new: list[tuple[int, Any, dict[str, Any]]] = field(default_factory=list, repr=False)
    foreign_lines: list[int] = field(default_factory=list, repr=False)  # rows of schools outside the caller's scope

    @property
    def ok(self) -> bool:
        """True when the file was readable and no row was refused."""
        return not self.fatal and self.refused == 0

    def refuse(self, line: int, issues: list[Issue]) -> None:
        """Record a refused row (every reason)."""
        self.refused += 1
        self.issues.extend(issues)
        self.errors_by_line.setdefault(line, []).extend(i.message for i in issues)

    def summary(self) -> str:
        """The counts in one French sentence."""
        if self.fatal:
            return "Fichier refusé : " + " ".join(self.fatal)
        text = (f"{self.rows} ligne(s) lue(s) : {self.new} nouvelle(s), {self.changed} modifiée(s) "
                f"({self.changed_cells} cellule(s)), {self.unchanged} inchangée(s), {self.refused} refusée(s).")
        if self.dry_run:
            return text + " Simulation : rien n'a été enregistré."
        if self.applied:
            return text + f" Enregistré : {self.written_rows} ligne(s) modifiée(s), {self.created_rows} créée(s)."
        return text + " Rien n'a été enregistré."

    def as_dict(self) -> dict[str, Any]:
        """JSON form (page, API)."""
        return {
            "sheet": self.sheet, "sheet_label": self.sheet_label, "file_name": self.file_name,
            "dry_run": self.dry_run, "all_or_nothing": self.all_or_nothing, "ok": self.ok,
            "rows": self.rows, "new": self.new, "changed": self.changed, "unchanged": self.unchanged,
            "refused": self.refused, "changed_cells": self.changed_cells, "fatal": self.fatal,
            "warnings": self.warnings, "columns": self.columns, "unknown_columns": self.unknown_columns,
            "missing_columns": self.missing_columns, "preview": self.preview,
            "preview_truncated": self.changed_cells + self.new > len(self.preview),
            "issues": [i.as_dict() for i in self.issues[:PREVIEW_LIMIT]],
            "applied": self.applied, "written_rows": self.written_rows, "created_rows": self.created_rows,
            "batch": self.batch, "summary": self.summary(),
        }

    def write_report(self, target: str | Path) -> int:
        """Write the downloadable report: the file's original rows plus an « erreurs » column (synchronous).

        For a big file, call it through asyncio.to_thread. Returns the number of data rows written.
        """
        info = [("Feuille", self.sheet_label), ("Fichier", self.file_name), ("Résultat", self.summary())]
        info += [("Avertissement", w) for w in self.warnings]
        if self.fatal or self.path is None:
            rows = [[m] for m in self.fatal] or [["Aucune ligne lue."]]
            return write_xlsx(target, [XlsxColumn(ERRORS_COLUMN, width=100)], rows, sheet_title="Rapport", info=info)
        source = _read(self.path, max(MAX_ROWS, self.rows + 1))
        try:
            width = len(source.headers)
            columns = [XlsxColumn(h or f"Colonne {column_letter(i)}") for i, h in enumerate(source.headers)]
            columns.append(XlsxColumn(ERRORS_COLUMN, width=80))
            errors = self.errors_by_line
            first = source.first_row + 1

            def rows() -> Iterator[list[Any]]:
                for n, row in enumerate(source.iter_rows()):
                    values = [None if v == "" else v for v in (list(row[:width]) + [None] * (width - len(row)))]
                    yield [*values, " ; ".join(errors.get(first + n, ()))]

            return write_xlsx(target, columns, rows(), sheet_title="Rapport", info=info)
        finally:
            source.close()


# --- Import --------------------------------------------------------------------------------------------

def _match_headers(sheet: Sheet, headers: list[str], report: ImportReport) -> dict[int, Column]:
    """File column index → sheet column, by label, field name or alias (folded)."""
    names: dict[str, Column] = {}
    for column in sheet.columns:
        for name in (column.label, column.field, *column.aliases):
            names.setdefault(fold(name), column)
    mapping: dict[int, Column] = {}
    seen: dict[str, int] = {}
    for i, header in enumerate(headers):
        if not header:
            continue
        column = names.get(fold(header))
        if column is None:
            if fold(header) != ERRORS_COLUMN:
                report.unknown_columns.append(f"{clip(header)} (colonne {column_letter(i)})")
            continue
        if column.field in seen:
            if column.field != sheet.key and not (column.editable or column.required):
                continue  # a read-only column twice (a code and a name, as in open data): ignored both times
            report.fatal.append(
                f"La colonne « {column.label} » apparaît deux fois (colonnes {column_letter(seen[column.field])} "
                f"et {column_letter(i)}) : gardez-en une seule.")
            continue
        seen[column.field] = i
        mapping[i] = column
        report.columns[header] = column.label
    return mapping


def _short(value: Any) -> Any:
    """A value as kept in an issue: long text cut to a short prefix."""
    return clip(value) if isinstance(value, str) and len(value) > QUOTE_CHARS else value


def _quoted(exc: Exception, raw: Any) -> str:
    """The message of a refused cell, quoting at most a short prefix of its value."""
    message = str(exc)
    text = str(raw)
    return message.replace(text, clip(text)) if len(text) > QUOTE_CHARS else message


@dataclass(slots=True)
class _Row:
    """One analysed file row."""

    line: int
    key: Any
    raw_key: Any
    values: dict[str, Any]
    issues: list[Issue]


def _parse_rows(sheet: Sheet, mapping: dict[int, Column], rows: list[tuple[int, list[Any]]],
                conversions: dict[tuple[str, str], list[Any]], memo: dict[Any, Any] | None = None) -> list[_Row]:
    """Parse a chunk of file rows by column type (runs in a worker thread); `memo` keeps parsed values per column."""
    memo = {} if memo is None else memo
    memos = {i: memo.setdefault(i, {}) for i in mapping}
    key_index = next(i for i, c in mapping.items() if c.field == sheet.key)
    key_column = sheet.key_column
    auto_key = sheet.can_create and sheet.key == "id"  # new rows leave the N° empty, the database numbers them
    plan: list[tuple[int, Column, Column | None]] = []  # file index, column, key column of a reference
    for i, column in mapping.items():
        if column.field == sheet.key or column.path or not (column.editable or column.required or column.on_create):
            continue
        target = None
        if column.kind == "reference" and column.reference is not None:
            target = get_sheet(column.reference[0]).column(column.reference[1])
        plan.append((i, column, target))
    out: list[_Row] = []
    for line, raw_row in rows:  # the reader gives only rows with a value in a column read
        raw_key = raw_row[key_index] if key_index < len(raw_row) else ""
        issues: list[Issue] = []
        key: Any = None
        if raw_key in ("", None) or (isinstance(raw_key, str) and not raw_key.strip()):
            if not auto_key:  # a sheet numbered by the database takes an empty N° as a new row
                issues.append(Issue(f"{key_column.label} manquant : chaque ligne doit indiquer son "
                                    f"{key_column.label}, qui la relie à la base.", column=key_column.label,
                                    line=line))
        else:
            try:
                key, _ = parse_cell(key_column, raw_key)
            except CellError as exc:
                issues.append(Issue(_quoted(exc, raw_key), row_key=clip(raw_key), column=key_column.label,
                                    value=_short(raw_key), line=line))
        values: dict[str, Any] = {}
        for i, column, target in plan:
            raw = raw_row[i] if i < len(raw_row) else ""
            known = memos[i]
            memo_key = raw if raw.__class__ is str else (raw.__class__, raw)  # True == 1.0: keep types apart
            hit = known.get(memo_key)
            if hit is None:  # values repeat (statuses, schools, dates): each distinct one is parsed once
                try:
                    if target is not None:
                        hit = (None if raw in ("", None) else parse_cell(target, raw)[0], None, None)
                    else:
                        hit = (*parse_cell(column, raw), None)
                except CellError as exc:
                    hit = (None, None, exc)
                if len(known) < MEMO_VALUES:  # a column of mostly distinct values stops being remembered
                    known[memo_key] = hit
            value, converted, error = hit
            if error is not None:
                issues.append(Issue(_quoted(error, raw), row_key=clip(raw_key or ""), column=column.label,
                                    value=_short(raw), line=line))
                continue
            values[column.field] = value
            if converted:
                seen = conversions.setdefault((converted, column.label), [0, line, raw])
                seen[0] += 1
        out.append(_Row(line, key, raw_key, values, issues))
    return out


def _same(old: Any, new: Any) -> bool:
    """Stored and imported values are equal (empty text and NULL too)."""
    if old == new and old.__class__ is new.__class__:
        return True
    if old in (None, "") and new in (None, ""):
        return True
    return same(old, new)


_KEY_SQL: dict[tuple[Any, ...], str] = {}


async def _fetch_by_keys(model: Any, key: str, keys: list[Any], fetch: list[str]) -> list[Any]:
    """Raw rows of `model` whose `key` is in `keys` (the SQL is built once per shape, not per chunk)."""
    qs = model.filter(**{f"{key}__in": keys})
    db = model._meta.db
    shape = (model, type(db), key, len(keys), tuple(fetch))  # SQL differs per dialect (SQLite ?, PostgreSQL $1)
    sql = _KEY_SQL.get(shape)
    field_object = model._meta.fields_map.get(key)
    if sql is not None and field_object is not None:
        params = [field_object.to_db_value(k, model) for k in keys]
        _, rows = await db.execute_query(sql, params)
        return list(rows)
    query = qs.values_list(*fetch)
    try:
        query._choose_db_if_not_chosen()
        query._make_query()
        sql, params = query.query.get_parameterized_sql()
        _, rows = await query._db.execute_query(sql, params)
    except AttributeError:  # another Tortoise version: the slower public path
        return list(await query)
    if field_object is not None and len(params) == len(keys) and len(_KEY_SQL) < 256:
        _KEY_SQL[shape] = sql
    return list(rows)


def _fetch_plan(sheet: Sheet, paths: list[str]) -> tuple[list[str], list[tuple[int, Callable[[Any], Any]]]]:
    """Fields fetched for the rows of a chunk's keys — key, id, version, *paths — and their typing."""
    head = ["id", "version"] if sheet.versioned else ["id", "id"]
    fetch = [sheet.key, *head, *paths]
    return fetch, [(i, conv) for i, conv in enumerate(raw_converter(sheet, p) for p in fetch) if conv is not None]


def _reference_columns(sheet: Sheet) -> list[Column]:
    """The reference columns of a sheet (their keys must exist in the referenced sheet)."""
    return [c for c in sheet.columns if c.kind == "reference" and c.reference is not None]


def _lookups(sheet: Sheet, rows: list[_Row], known: dict[str, set[Any]]) -> tuple[list[Any], dict[str, list[Any]]]:
    """What a chunk needs from the database: its keys, and the reference keys not found in earlier chunks."""
    keys = list(dict.fromkeys(r.key for r in rows if r.key is not None))
    references: dict[str, list[Any]] = {}
    for column in _reference_columns(sheet):
        name = column.field
        wanted = {v for r in rows if (v := r.values.get(name)) not in (None, "")}
        references[name] = list(wanted - known.get(name, set()))
    return keys, references


async def _fetch_lookups(sheet: Sheet, keys: list[Any], references: dict[str, list[Any]],
                         fetch: list[str]) -> tuple[list[Any], dict[str, set[Any]]]:
    """Raw database rows of the keys, and the reference keys that exist (awaited on the loop, nothing else)."""
    records: list[Any] = []
    for start in range(0, len(keys), LOOKUP_KEYS):
        records += await _fetch_by_keys(sheet.model, sheet.key, keys[start:start + LOOKUP_KEYS], fetch)
    found: dict[str, set[Any]] = {}
    for column in _reference_columns(sheet):
        wanted = references.get(column.field) or []
        target, field_name = get_sheet(column.reference[0]), column.reference[1]  # type: ignore[index]
        found[column.field] = set()
        for start in range(0, len(wanted), LOOKUP_KEYS):
            found[column.field].update(r[0] for r in await _fetch_by_keys(
                target.model, field_name, wanted[start:start + LOOKUP_KEYS], [field_name]))
    return records, found


def _typed_records(records: list[Any], typing: list[tuple[int, Callable[[Any], Any]]]) -> dict[Any, tuple[Any, ...]]:
    """Raw database rows typed as the model's values: key → (id, version, *paths)."""
    existing: dict[Any, tuple[Any, ...]] = {}
    for record in records:
        row = list(record)
        for i, convert in typing:
            row[i] = convert(row[i])
        existing[row[0]] = tuple(row[1:])
    return existing


def _mark_missing_references(sheet: Sheet, rows: list[_Row], asked: dict[str, list[Any]], found: dict[str, set[Any]],
                             known: dict[str, set[Any]]) -> None:
    """Add an issue to rows whose reference keys exist nowhere in the referenced sheet (`known` grows)."""
    for column in _reference_columns(sheet):
        seen = known.setdefault(column.field, set())
        exists = found.get(column.field, set())
        if len(seen) < 1_000_000:
            seen.update(exists)
        if not set(asked.get(column.field) or ()) - exists:
            continue  # every key of this chunk exists
        target = get_sheet(column.reference[0])  # type: ignore[index]
        label = target.column(column.reference[1]).label  # type: ignore[index]
        for row in rows:
            value = row.values.get(column.field)
            if value not in (None, "") and value not in seen and value not in exists:
                row.issues.append(Issue(f"« {clip(value)} » : aucune ligne de « {target.label} » n'a ce {label}.",
                                        row_key=clip(row.key), column=column.label, value=_short(value),
                                        line=row.line))


async def import_xlsx(sheet: Sheet, path: str | Path, *, caller: Caller, dry_run: bool = True,
                      all_or_nothing: bool = False, max_rows: int = MAX_ROWS,
                      progress: Progress | None = None) -> ImportReport:
    """Import an .xlsx into a sheet: analyse every row, then (unless dry run) write in one transaction.

    Nothing is written when the file is refused, on a dry run, or when rows are refused and
    `all_or_nothing` is set. Changes go through apply_changes (source import, one batch so that
    undo_last can undo them); new rows through create_rows (their own batch, written first).
    `progress(done, total)` is called after each chunk of rows.
    """
    path = Path(path)
    report = ImportReport(sheet.name, sheet.label, path.name, dry_run, all_or_nothing, path=path)
    await caller.check()
    if not sheet.may_edit(caller) and not sheet.may_create(caller):
        report.fatal.append(f"Vous n'avez pas le droit de modifier « {sheet.label} » : import impossible.")
        return report
    report.may_create = sheet.may_create(caller)
    try:
        source = await read_xlsx(path, max_rows=max_rows, max_columns=max_columns_for(len(sheet.columns)))
    except ImportFileError as exc:
        report.fatal.append(str(exc))
        return report
    try:
        await _analyse(sheet.seen_by(caller), source, report, progress, caller)  # a hidden column: unknown
    finally:
        source.close()
    if not report.fatal:
        await _refuse_other_schools(sheet, report, caller)
    if report.fatal or dry_run:
        return report
    if all_or_nothing and report.refused:
        report.warnings.append(f"Rien n'a été enregistré : {report.refused} ligne(s) refusée(s) et l'option "
                               "« tout ou rien » est choisie. Corrigez-les puis importez à nouveau.")
        return report
    await _apply(sheet, report, caller.using(Source.IMPORT), all_or_nothing)
    return report


_GC_LOCK = threading.Lock()
_GC_USERS = [0, 0]  # imports running, the first threshold of the cyclic GC before the first of them


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Raise the cyclic GC's first threshold while imports run: they allocate millions of short-lived rows,
    and collecting every 700 of them cost a quarter of a 500,000-row dry run (measured); restored after."""
    with _GC_LOCK:
        if _GC_USERS[0] == 0:
            _GC_USERS[1] = gc.get_threshold()[0]
            gc.set_threshold(max(_GC_USERS[1], GC_THRESHOLD), *gc.get_threshold()[1:])
        _GC_USERS[0] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_USERS[0] -= 1
            if _GC_USERS[0] == 0:
                gc.set_threshold(_GC_USERS[1], *gc.get_threshold()[1:])


async def _analyse(sheet: Sheet, source: XlsxFile, report: ImportReport, progress: Progress | None,
                   caller: Caller | None = None) -> None:
    """Match headers and classify each row (new, changed, unchanged, refused); keep what apply needs."""
    with _fewer_collections():
        await _analyse_rows(sheet, source, report, progress, caller)


async def _refuse_other_schools(sheet: Sheet, report: ImportReport, caller: Caller) -> None:
    """A scoped caller's file that names a row of another school (existing, or new for another school) is refused
    whole: nothing is written and nothing of that row is shown (no preview of its values)."""
    if caller.scope is None or not sheet.school_path:
        return
    lines = list(report.foreign_lines)
    for line, _key, values in report.pending_new:
        if not caller.in_scope(await uai_of_values(sheet, values)):
            lines.append(line)
    if lines:
        lines.sort()
        shown = ", ".join(str(n) for n in lines[:10]) + (" …" if len(lines) > 10 else "")
        _abandon(report, f"{len(lines)} ligne(s) du fichier désignent des lignes d'un autre établissement que les "
                         f"vôtres (ligne(s) {shown}) : un import ne porte que sur vos établissements. Retirez ces "
                         "lignes puis importez à nouveau ; rien n'a été enregistré.")


async def _analyse_rows(sheet: Sheet, source: XlsxFile, report: ImportReport, progress: Progress | None,
                        caller: Caller | None = None) -> None:
    """The body of _analyse."""
    mapping = _match_headers(sheet, source.headers, report)
    present = {c.field for c in mapping.values()}
    if sheet.key not in present:
        report.missing_columns.append(sheet.key_column.label)
        report.fatal.append(
            f"Colonne obligatoire absente : « {sheet.key_column.label} » (la clé qui relie chaque ligne à la base). "
            f"Colonnes reconnues : {', '.join(c.label for c in sheet.columns)}.")
    if report.fatal:
        return
    missing_required = [c.label for c in sheet.columns if c.required and c.field not in present]
    ignored = [c.label for c in mapping.values() if not c.editable and c.field != sheet.key and not c.required]
    if report.unknown_columns:
        report.warnings.append("Colonnes inconnues, ignorées : " + ", ".join(report.unknown_columns) + ".")
    if ignored:
        report.warnings.append("Colonnes en lecture seule, ignorées : " + ", ".join(ignored) + ".")
    if source.merged_data:
        report.warnings.append(
            f"Cellules fusionnées dans les données ({', '.join(source.merged_data[:5])}) : seule la première "
            "cellule de chaque zone a une valeur, les autres sont lues vides.")
    # the stored values needed: every column for a row validator, else only the editable ones the file has
    compared = list(sheet.columns) if sheet.row_validator is not None else [
        c for c in sheet.columns if c.editable and c.field in present and c.field != sheet.key]
    paths = [c.db_field for c in compared]
    scope = caller.scope if caller is not None and sheet.school_path else None
    if scope is not None:  # the school of each matched row, to refuse the file when one is not the caller's
        paths.append(sheet.school_path)  # type: ignore[arg-type]
    state = _Classify(sheet, report, {c.field: 2 + i for i, c in enumerate(compared)},
                      {c.field for c in sheet.columns if c.editable}, scope, 2 + len(compared))
    conversions: dict[tuple[str, str], list[Any]] = {}
    memo: dict[Any, Any] = {}
    known: dict[str, set[Any]] = {}
    wanted = {i for i, c in mapping.items() if c.field == sheet.key or c.editable or c.required}
    rows_iter = source.numbered_rows(wanted)
    fetch, typing = _fetch_plan(sheet, paths)

    def read_chunk() -> tuple[int, list[_Row], tuple[list[Any], dict[str, list[Any]]]]:
        chunk = list(islice(rows_iter, CHUNK_ROWS))
        parsed = _parse_rows(sheet, mapping, chunk, conversions, memo)
        return len(chunk), parsed, _lookups(sheet, parsed, known)

    def classify(parsed: list[_Row], asked: dict[str, list[Any]], records: list[Any],
                 found: dict[str, set[Any]]) -> None:
        _mark_missing_references(sheet, parsed, asked, found, known)
        state.rows(parsed, _typed_records(records, typing))

    # One step at a time: reading the next chunk while the database answers was slower on two shared cores.
    done = 0
    try:
        while True:
            count, parsed, (keys, references) = await asyncio.to_thread(read_chunk)
            if not count:
                break
            done += count
            report.rows += len(parsed)
            records, found = await _fetch_lookups(sheet, keys, references, fetch)
            await asyncio.to_thread(classify, parsed, references, records, found)
            if progress is not None:
                progress(done, max(done, source.row_count))
    except ImportFileError as exc:  # a limit met while streaming the rows: the whole file is refused
        _abandon(report, str(exc))
        return
    if source.formula_count:
        report.warnings.append(
            f"Le fichier contient {source.formula_count} formule(s) (ex. {', '.join(source.formula_cells[:5])}) : "
            "c'est la dernière valeur calculée par Excel qui est importée, pas la formule. Vérifiez ces cellules "
            "(ou remplacez les formules par leurs valeurs : Copier puis Collage spécial › Valeurs).")
    if state.duplicates:
        _refuse_first_duplicates(sheet, report, state.duplicates, state.refused_lines)
    for (kind, label), (count, first_line, raw) in conversions.items():
        if source.kind == "csv":
            break  # every value of a CSV is text: converting it is the normal case, not worth a warning
        what = "nombre(s)" if kind == "number" else "date(s)"
        report.warnings.append(f"Colonne « {label} » : {count} {what} écrit(e)s comme du texte, converti(e)s "
                               f"(ex. ligne {first_line} : « {clip(raw)} »). Vérifiez le résultat dans l'aperçu.")
    if report.pending_new and missing_required:
        report.missing_columns.extend(missing_required)
        report.fatal.append(f"Colonne(s) obligatoire(s) absente(s) pour créer les {len(report.pending_new)} "
                            f"nouvelle(s) ligne(s) : {', '.join(missing_required)}. Ajoutez-les au fichier.")


def _abandon(report: ImportReport, message: str) -> None:
    """Refuse the whole file after part of it was analysed: forget every row counted so far."""
    report.fatal.append(message)
    report.rows = report.new = report.changed = report.unchanged = report.refused = report.changed_cells = 0
    report.preview.clear()
    report.issues.clear()
    report.errors_by_line.clear()
    report.pending_changes.clear()
    report.pending_new.clear()


@dataclass
class _Classify:
    """Classify analysed rows against the database (new, changed, unchanged, refused); runs in a worker thread."""

    sheet: Sheet
    report: ImportReport
    index: dict[str, int]
    editable: set[str]
    scope: frozenset[str] | None = None
    scope_at: int = 0
    seen: dict[Any, int] = field(default_factory=dict)
    duplicates: dict[Any, list[int]] = field(default_factory=dict)
    refused_lines: set[int] = field(default_factory=set)

    def rows(self, parsed: list[_Row], existing: dict[Any, tuple[Any, ...]]) -> None:
        """Classify one chunk of rows."""
        sheet, report, index, editable, seen = self.sheet, self.report, self.index, self.editable, self.seen
        changes, new_rows = report.pending_changes, report.pending_new
        for row in parsed:
            if row.key is not None:
                if row.key in seen:
                    self.duplicates.setdefault(row.key, [seen[row.key]]).append(row.line)
                    row.issues.append(Issue(
                        f"{sheet.key_column.label} « {clip(row.key)} » en double : déjà ligne {seen[row.key]} du "
                        f"fichier. Gardez une seule ligne par {sheet.key_column.label}.", row_key=str(row.key),
                        column=sheet.key_column.label, value=row.raw_key, line=row.line))
                else:
                    seen[row.key] = row.line
            record = existing.get(row.key) if row.key is not None else None
            if record is not None and self.scope is not None and record[self.scope_at] not in self.scope:
                report.foreign_lines.append(row.line)  # another school's row: nothing of it is kept or shown
                continue
            if not row.issues and record is None and not report.may_create:
                row.issues.append(Issue(
                    f"{sheet.key_column.label} « {clip(row.key)} » absent de la base : cet import ne crée pas de "
                    f"ligne dans « {sheet.label} » (droit de création : {_creators(sheet)}), il met à jour les lignes "
                    f"existantes. Vérifiez le {sheet.key_column.label}.",
                    row_key=str(row.key), column=sheet.key_column.label, value=row.raw_key, line=row.line))
            if not row.issues and sheet.row_validator is not None:
                merged = {c.field: (record[index[c.field]] if record is not None else None) for c in sheet.columns}
                merged.update(row.values)
                merged[sheet.key] = row.key
                try:
                    sheet.row_validator(merged)
                except ValueError as exc:
                    row.issues.append(Issue(str(exc), row_key=str(row.key), line=row.line))
            if row.issues:
                report.refuse(row.line, row.issues)
                self.refused_lines.add(row.line)
                continue
            if record is None:
                report.new += 1
                new_rows.append((row.line, row.key, {sheet.key: row.key, **row.values}))
                if len(report.preview) < PREVIEW_LIMIT:
                    report.preview.append({"line": row.line, "key": str(row.key), "column": "(nouvelle ligne)",
                                           "old": "", "new": ""})
                continue
            diff = {name: value for name, value in row.values.items() if name in editable and not (
                (old := record[index[name]]) == value and old.__class__ is value.__class__) and not _same(old, value)}
            if not diff:
                report.unchanged += 1
                continue
            report.changed += 1
            report.changed_cells += len(diff)
            changes.append(RowChange(record[0], diff, record[1] if sheet.versioned else None, row.line))
            for name, value in diff.items():
                if len(report.preview) < PREVIEW_LIMIT:
                    column = sheet.column(name)
                    report.preview.append({"line": row.line, "key": str(row.key), "column": column.label,
                                           "old": to_text(column, record[index[name]]),
                                           "new": to_text(column, value)})


def _creators(sheet: Sheet) -> str:
    return ", ".join(sorted(sheet.create_roles)) or "personne"


def _refuse_first_duplicates(sheet: Sheet, report: ImportReport, duplicates: dict[Any, list[int]],
                             refused_lines: set[int]) -> None:
    """Refuse the first occurrence of each duplicated key too (which line is right is not known)."""
    firsts = {lines[0]: key for key, lines in duplicates.items()}
    changed_lines = {c.line for c in report.pending_changes}
    new_lines = {n[0] for n in report.pending_new}
    for change in report.pending_changes:
        if change.line in firsts:
            report.changed -= 1
            report.changed_cells -= len(change.values)
    report.pending_changes[:] = [c for c in report.pending_changes if c.line not in firsts]
    report.new -= sum(1 for n in report.pending_new if n[0] in firsts)
    report.pending_new[:] = [n for n in report.pending_new if n[0] not in firsts]
    report.preview[:] = [p for p in report.preview if p["line"] not in firsts]
    label = sheet.key_column.label
    for line, key in firsts.items():
        issue = Issue(f"{label} « {key} » en double : présent aux lignes {', '.join(map(str, duplicates[key]))} "
                      f"du fichier. Gardez une seule ligne par {label}.", row_key=str(key), column=label, value=key,
                      line=line)
        if line in refused_lines:  # already refused for another reason: add this one
            report.issues.append(issue)
            report.errors_by_line.setdefault(line, []).append(issue.message)
            continue
        if line not in changed_lines and line not in new_lines:
            report.unchanged -= 1
        report.refuse(line, [issue])


def _drop_refused(report: ImportReport, issues: list[Issue]) -> set[Any]:
    """Record rows refused while writing (one count per row); their lines."""
    by_line: dict[int, list[Issue]] = {}
    for issue in issues:
        by_line.setdefault(issue.line or 0, []).append(issue)
    for line, row_issues in by_line.items():
        report.refuse(line, row_issues)
    return set(by_line)


async def _apply(sheet: Sheet, report: ImportReport, caller: Caller, all_or_nothing: bool) -> None:
    """Write new rows then changes, in one transaction and one batch (see import_xlsx)."""
    new_rows = report.pending_new
    try:
        async with unit_of_work() as uow:
            batch = uow.batch
            while new_rows:
                try:
                    created = await create_rows(sheet, [values for _, _, values in new_rows], caller, parsed=True,
                                                lines=[line for line, _, _ in new_rows])
                except WriteRefused as exc:
                    bad = _drop_refused(report, exc.issues)
                    if all_or_nothing or not bad & {n[0] for n in new_rows}:
                        raise
                    report.new -= sum(1 for n in new_rows if n[0] in bad)
                    new_rows = [n for n in new_rows if n[0] not in bad]
                    continue
                report.created_rows = created.changed_rows
                break
            changes = report.pending_changes
            for start in range(0, len(changes), APPLY_ROWS):
                part = changes[start:start + APPLY_ROWS]
                while part:
                    try:
                        result = await apply_changes(sheet, part, caller)
                    except WriteRefused as exc:
                        bad = _drop_refused(report, exc.issues)
                        if all_or_nothing or not bad & {c.line for c in part}:
                            raise
                        report.changed -= sum(1 for c in part if c.line in bad)
                        part = [c for c in part if c.line not in bad]
                        continue
                    report.written_rows += result.changed_rows
                    break
    except WriteRefused:
        report.written_rows = report.created_rows = 0
        report.warnings.append("Rien n'a été enregistré : des lignes ont été refusées à l'enregistrement "
                               "(voir les erreurs).")
        return
    report.applied = True
    report.batch = batch if report.written_rows or report.created_rows else None
