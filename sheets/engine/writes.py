"""The one door for every write: rights, scope, life cycle, validation, guarded version, audit and data version.

Every change of a declared sheet — grid cell, bulk, paste, undo, import, API, a page's dialog, a row action, a
job — comes here with its `Caller`. In one transaction (a unit of work) the engine checks the caller's rights
(sheet, column, move of the life cycle, school scope), validates, writes each row with a guarded version
(`UPDATE … SET version = version + 1 WHERE id = ? AND version = ?`: no row means someone else changed it),
writes the audit, and bumps the sheet's data version in the database, which every cache checks.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError, OperationalError, TransactionManagementError, ValidationError
from tortoise.expressions import F
from tortoise.models import Model
from tortoise.transactions import in_transaction

from models.audit import AuditEntry, Source
from settings import today
from sheets.engine.caller import Caller
from sheets.engine.dataversion import bump_versions, forget_local
from sheets.engine.declaration import Column, Sheet, get_sheet
from sheets.engine.lifecycle import Transition
from sheets.engine.values import CellError, parse_value, same, to_json, to_text

CHUNK = 900  # ids per statement: under SQLite's bound-parameter limit


@dataclass
class Issue:
    """A refused cell or row: where, what value, why (French)."""

    message: str
    row_id: int | None = None
    row_key: str = ""
    column: str = ""
    value: Any = None
    line: int | None = None  # line of a pasted block or an imported file, 1-based as the user sees it
    kind: str = "invalid"  # invalid, forbidden, conflict, missing

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the grid and reports (a long value is cut: a message never repeats a whole file)."""
        value = None if self.value is None else str(self.value)
        if value is not None and len(value) > 80:
            value = value[:60] + "…"
        return {"message": self.message, "row_id": self.row_id, "row_key": self.row_key, "column": self.column,
                "value": value, "line": self.line}


class WriteRefused(Exception):
    """A change refused whole; `issues` says every reason, nothing was written."""

    def __init__(self, issues: list[Issue], conflict: bool = False) -> None:
        super().__init__("; ".join(i.message for i in issues[:5]))
        self.issues = issues
        self.conflict = conflict or any(i.kind == "conflict" for i in issues)

    @property
    def status(self) -> int:
        """The HTTP status of the refusal: 409 conflict, 403 forbidden, 404 missing rows, 422 invalid values."""
        kinds = {i.kind for i in self.issues}
        if self.conflict:
            return 409
        if kinds == {"forbidden"}:
            return 403
        if kinds == {"missing"}:
            return 404
        return 422


class Forbidden(ValueError):
    """A hook's refusal for lack of rights (French), reported as such."""


class Conflict(ValueError):
    """A hook's refusal because the row clashes with another one (French), answered 409 (e.g. a second ticket for
    an incident that already has an open one)."""


def refuse(message: str, kind: str = "invalid", **where: Any) -> WriteRefused:
    """A refusal with one reason."""
    return WriteRefused([Issue(message, kind=kind, **where)])


@dataclass
class RowChange:
    """New values (raw or parsed) for one row, with the version the user saw (None: the one read now)."""

    row_id: int
    values: dict[str, Any]
    expected_version: int | None = None
    line: int | None = None


@dataclass
class WriteResult:
    """What a write did."""

    batch: str
    changed_rows: int = 0
    changed_cells: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    created: list[tuple[int, str]] = field(default_factory=list)  # (id, key) of each created row
    message: str = ""


async def rows_updated(query: Any, **values: Any) -> int:
    """UPDATE the rows of `query`; the number of rows the statement itself changed. Tortoise's count on SQLite is
    the connection's total changes, which include what triggers wrote (the text index's companion rows): a guarded
    bulk update compares the statement's own count, `changes()`, with the rows it meant to change."""
    from tortoise import connections

    n = await query.update(**values)
    connection = connections.get("default")
    if connection.capabilities.dialect == "sqlite":  # inside the unit of work: the same connection, next statement
        rows = await connection.execute_query_dict("SELECT changes() AS n")
        return int(rows[0]["n"])
    return n


# --- Unit of work ----------------------------------------------------------------------------------

@dataclass
class UnitOfWork:
    """One transaction of the engine: its batch (what undo reverts) and the sheets it touched."""

    batch: str
    touched: set[str] = field(default_factory=set)
    # Effects that concern a whole batch, not each row (a school's plan after its holders changed): run once per
    # key, in the same transaction, once every row is written (see `once_per_batch`).
    deferred: dict[Hashable, Callable[[], Awaitable[Any]]] = field(default_factory=dict)

    async def run_deferred(self) -> None:
        done: set[Hashable] = set()
        for _ in range(10_000):  # an effect may defer others; each key runs once
            pending = [k for k in self.deferred if k not in done]
            if not pending:
                return
            done.add(pending[0])
            await self.deferred[pending[0]]()
        raise RuntimeError("deferred effects do not settle")


def once_per_batch(key: Hashable, effect: Callable[[], Awaitable[Any]]) -> None:
    """Run `effect` once for this key at the end of the current write (after its last row, before the commit, in
    its transaction; a refusal there refuses the whole write). A per-row effect whose work is per school or per
    table uses it so that 10,000 rows cost one run, and the run sees every row written."""
    uow = _UOW.get()
    if uow is None:
        raise RuntimeError("once_per_batch outside a unit of work")
    uow.deferred.setdefault(key, effect)


_UOW: ContextVar[UnitOfWork | None] = ContextVar("rentree_unit_of_work", default=None)


def _db_refusal(exc: Exception) -> WriteRefused:
    text = str(exc).lower()
    if any(w in text for w in ("locked", "deadlock", "could not serialize", "busy")):
        return refuse("Conflit : une autre modification des mêmes lignes était en cours. Rechargez et recommencez.",
                      "conflict")
    if isinstance(exc, IntegrityError):
        return refuse(integrity_message(exc))
    return refuse(f"Refusé par la base de données : {str(exc)[:160]}")


def integrity_message(exc: Exception, sheet: Sheet | None = None, key: str = "") -> str:
    """A database constraint's refusal in French: an empty value where one is needed, or a duplicate."""
    text = str(exc)
    lower = text.lower()
    label = ""
    if sheet is not None:
        for c in sheet.columns:
            if f".{c.field}" in lower or f'"{c.field}"' in lower or f".{c.field}_id" in lower:
                label = c.label
                break
    where = f" « {label} »" if label else ""
    if "null" in lower:
        return f"Valeur obligatoire manquante{where} : ce champ ne peut pas être vide."
    if "foreign key" in lower:
        return f"Référence inconnue{where} : la ligne liée n'existe pas (ou plus)."
    if key:
        return f"La ligne « {key[:40]} » existe déjà (valeur unique en double)."
    return f"Valeur refusée{where} : elle existe déjà sur une autre ligne (valeur unique)."


def _refused_value(exc: ValidationError, sheet: Sheet) -> str:
    """A model field's own refusal (its validators, its NULL rule) in French, naming the column."""
    name, _, why = str(exc).partition(": ")
    label = sheet.column(name).label if sheet.has_column(name) else name
    if "must not be none" in why.lower():
        return f"« {label} » ne peut pas être vide."
    return f"Valeur refusée pour « {label} » : {why[:160] or str(exc)[:160]}"


def empty_refused(column: Column, value: Any) -> str | None:
    """The refusal of an empty value in a column whose row must hold one (its model field is NOT NULL)."""
    if value is None and not column.nullable:
        choices = column.kind == "choice"
        return (f"« {column.label} » ne peut pas être vide" + (" : choisissez une des valeurs proposées." if choices
                                                               else "."))
    return None


@asynccontextmanager
async def unit_of_work(batch: str | None = None) -> AsyncIterator[UnitOfWork]:
    """One transaction for a write and everything it triggers; nested calls join the outer one."""
    outer = _UOW.get()
    if outer is not None:
        async with in_transaction():  # a savepoint: a nested write refused whole leaves nothing behind
            yield outer
        return
    uow = UnitOfWork(batch or uuid.uuid4().hex)
    token = _UOW.set(uow)
    try:
        async with in_transaction():
            yield uow
            await uow.run_deferred()
            if uow.touched:
                await bump_versions(sorted(uow.touched))
    except (OperationalError, TransactionManagementError, IntegrityError, ValidationError) as exc:
        raise _db_refusal(exc) from None
    finally:
        _UOW.reset(token)
    forget_local(uow.touched)


def touch(*sheet_names: str) -> None:
    """Mark sheets changed in the current unit of work (a derived table an effect recomputed, such as the
    allocations of baskets): their data version is bumped at commit, so every cache reloads them."""
    uow = _UOW.get()
    if uow is not None:
        uow.touched.update(sheet_names)


async def _finish(uow: UnitOfWork, sheet: Sheet, issues: list[Issue], audit: list[AuditEntry]) -> None:
    """End a write: refused whole on any issue, else its audit written and the sheet marked changed."""
    if issues:
        raise WriteRefused(issues)
    if audit:
        await AuditEntry.bulk_create(audit, batch_size=1000)
        uow.touched.add(sheet.name)


def _is_postgres() -> bool:
    return connections.get("default").capabilities.dialect == "postgres"


# --- Values ----------------------------------------------------------------------------------------

def encode(column: Column | None, value: Any) -> str | None:
    """A value as JSON text in the audit (exact enough to undo)."""
    if value is None:
        return None
    if column is not None:
        value = to_json(column, value)
    elif hasattr(value, "value") and not isinstance(value, str | bool | int | float | Decimal):
        value = value.value
    if isinstance(value, dt.date | dt.datetime):
        value = value.isoformat()
    elif isinstance(value, Decimal):
        value = str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def decode(text: str | None) -> Any:
    """The JSON value of an audit cell."""
    return None if text is None else json.loads(text)


async def _resolve_reference(column: Column, key: Any) -> int | None:
    """Id of the row of the referenced sheet whose key is `key`, or CellError in French."""
    if key is None or key == "":
        if column.required:
            raise CellError(f"« {column.label} » est obligatoire.")
        return None
    assert column.reference is not None
    target = get_sheet(column.reference[0])
    key_column = target.column(column.reference[1])
    try:
        parsed = parse_value(key_column, key)
    except CellError:
        raise CellError(f"« {str(key)[:40]} » : aucune ligne de « {target.label} » n'a ce "
                        f"{key_column.label}.") from None
    row = await target.model.get_or_none(**{key_column.field: parsed}).only("id")
    if row is None:
        raise CellError(f"« {str(key)[:40]} » : aucune ligne de « {target.label} » n'a ce {key_column.label}.")
    return row.id


async def resolve_references(sheet: Sheet, rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """The ids of the keys that rows name in their reference columns, a query per column and chunk (not per row)."""
    known: dict[tuple[str, str], int] = {}
    for column in sheet.columns:
        if column.kind != "reference" or column.reference is None or column.path:
            continue
        keys = {str(r[column.field]) for r in rows if r.get(column.field) not in (None, "")}
        if not keys:
            continue
        target = get_sheet(column.reference[0])
        key_column = target.column(column.reference[1])
        parsed: dict[Any, str] = {}
        for key in keys:
            try:
                parsed[parse_value(key_column, key)] = key
            except CellError:
                continue  # refused later, row by row, with its message
        values = list(parsed)
        for start in range(0, len(values), CHUNK):
            for found, rid in await target.model.filter(**{f"{key_column.field}__in": values[start:start + CHUNK]}
                                                        ).values_list(key_column.field, "id"):
                if found in parsed:
                    known[(column.field, parsed[found])] = rid
    return known


async def current_value(sheet: Sheet, column: Column, instance: Any) -> Any:
    """The value of a column on a loaded row (a reference gives the key of the referenced row)."""
    if column.path:
        rows = await sheet.model.filter(id=instance.id).values_list(column.path, flat=True)
        return rows[0] if rows else None
    if column.kind == "reference":
        assert column.reference is not None
        fk = getattr(instance, f"{column.field}_id", None)
        if fk is None:
            return None
        target = get_sheet(column.reference[0])
        keys = await target.model.filter(id=fk).values_list(column.reference[1], flat=True)
        return keys[0] if keys else None
    return getattr(instance, column.field)


async def row_uais(sheet: Sheet, ids: list[int]) -> dict[int, str | None]:
    """The school (UAI) of each row, for the scope and the per-school rights (regional sheets: None)."""
    if not sheet.school_path or not ids:
        return {}
    out: dict[int, str | None] = {}
    for start in range(0, len(ids), CHUNK):
        for rid, uai in await sheet.model.filter(id__in=ids[start:start + CHUNK]).values_list("id",
                                                                                              sheet.school_path):
            out[rid] = uai
    return out


async def uai_of_values(sheet: Sheet, values: dict[str, Any]) -> str | None:
    """The school a new or moved row names, through its school path: the row's own UAI column (`uai`), a reference
    to the schools (`school__uai`), or a reference to a row that has one (`contact__school__uai`)."""
    path = sheet.school_path
    if not path:
        return None
    head, _, rest = path.partition("__")
    if head not in values:
        return None
    value = values[head]
    if value in (None, ""):
        return None
    if not rest:
        return str(value).upper()
    if not sheet.has_column(head):
        return None
    column = sheet.column(head)
    if column.kind != "reference" or column.reference is None:
        return None
    target_name, key = column.reference
    if rest == key:
        return str(value).upper()
    found = await get_sheet(target_name).model.filter(**{key: value}).values_list(rest, flat=True)
    return str(found[0]).upper() if found and found[0] else None


def _out_of_scope(uai: str | None) -> str:
    return (f"L'établissement {uai} est hors de votre périmètre." if uai else
            "Cette ligne ne désigne aucun de vos établissements : vérifiez l'établissement indiqué.")


# --- Write context ---------------------------------------------------------------------------------

@dataclass
class WriteContext:
    """What a hook, a check or an effect sees: the sheet, the caller, the row (None on creation), the values
    about to be written (by field; references by key; it may add or change some), the batch, today, the move."""

    sheet: Sheet
    caller: Caller
    instance: Model | None
    values: dict[str, Any]
    batch: str
    today: dt.date
    uai: str | None = None
    move: Transition | None = None

    async def current(self, name: str) -> Any:
        """The value of a field before the change (a reference: its key)."""
        if self.instance is None:
            return None
        if self.sheet.has_column(name):
            return await current_value(self.sheet, self.sheet.column(name), self.instance)
        return getattr(self.instance, name, None)

    async def after(self, name: str) -> Any:
        """The value a field will have once written."""
        return self.values[name] if name in self.values else await self.current(name)

    async def row_after(self) -> dict[str, Any]:
        """Every column's value once written (for row validators and life-cycle needs)."""
        out = {c.field: await self.after(c.field) for c in self.sheet.columns}
        out.update({k: v for k, v in self.values.items() if k not in out})
        return out

    async def write(self, sheet_name: str, row_id: int, values: dict[str, Any]) -> WriteResult:
        """Change another row as an effect of this one: same transaction, batch and author, the system's rights."""
        other = get_sheet(sheet_name)
        return await apply_changes(other, [RowChange(row_id, values)], self.caller.elevated(), parsed=False)

    async def create(self, sheet_name: str, rows: list[dict[str, Any]]) -> WriteResult:
        """Create rows of a sheet as an effect of this change (same transaction and author)."""
        return await create_rows(get_sheet(sheet_name), rows, self.caller.elevated())


# --- Parsing ---------------------------------------------------------------------------------------

async def parse_changes(sheet: Sheet, changes: list[RowChange], *,
                        internal: bool = False) -> tuple[list[RowChange], list[Issue]]:
    """Parse the raw values of changes by column type; unknown or read-only columns are issues.

    `internal` (the system's own writes): a model field that is not a column (a link such as restock_id) passes
    as it is, audited like the others.
    """
    parsed: list[RowChange] = []
    issues: list[Issue] = []
    model_fields = sheet.model._meta.fields_map
    for change in changes:
        values: dict[str, Any] = {}
        for name, raw in change.values.items():
            if internal and not sheet.has_column(name) and name in model_fields and name not in ("id", "version"):
                values[name] = raw
                continue
            if not sheet.has_column(name):
                issues.append(Issue(f"Colonne inconnue « {str(name)[:40]} ».", change.row_id, column=str(name)[:60],
                                    line=change.line))
                continue
            column = sheet.column(name)
            lifecycle = sheet.lifecycle is not None and sheet.lifecycle.field == name
            if not column.editable and not lifecycle:
                issues.append(Issue(f"La colonne « {column.label} » n'est pas modifiable.", change.row_id,
                                    column=name, value=raw, line=change.line))
                continue
            try:
                values[name] = parse_value(column, raw)
            except CellError as exc:
                issues.append(Issue(str(exc), change.row_id, column=name, value=raw, line=change.line))
        parsed.append(RowChange(change.row_id, values, change.expected_version, change.line))
    return parsed, issues


# --- Changes ---------------------------------------------------------------------------------------

async def _plan(ctx: WriteContext) -> None:
    """Complete and check a change: the sheet's hook, then the life cycle's move, then the row validator."""
    sheet = ctx.sheet
    if sheet.change_hook is not None and not is_quiet(sheet, ctx.values):
        await sheet.change_hook(ctx)
    lc = sheet.lifecycle
    if lc is not None and lc.field in ctx.values:
        old, new = await ctx.current(lc.field), ctx.values[lc.field]
        if same(old, new):
            del ctx.values[lc.field]
        else:
            move = lc.move(old, new)
            if move is None:
                raise ValueError(lc.impossible(old, new))
            if not ctx.caller.allowed(move.roles, ctx.uai):
                raise Forbidden(lc.forbidden(move, ctx.caller.role))
            ctx.move = move
            for name in move.clears:
                ctx.values[name] = None
            if move.derive is not None:
                for name, value in move.derive(await ctx.row_after(), ctx.today).items():
                    ctx.values.setdefault(name, value)
            after = await ctx.row_after()
            for need in move.needs:
                if after.get(need.field) in (None, ""):
                    raise ValueError(f"« {move.label} » impossible : {need.message}.")
            if move.check is not None:
                await move.check(ctx)
    if sheet.row_validator is not None and ctx.values:
        sheet.row_validator(await ctx.row_after())


def is_quiet(sheet: Sheet, values: dict[str, Any]) -> bool:
    """True when a change touches only the sheet's quiet fields: no hook, no after_change, fast bulk path."""
    return bool(values) and set(values) <= sheet.quiet_fields


def _auto_now(model: type[Model]) -> list[str]:
    return [name for name, f in model._meta.fields_map.items() if getattr(f, "auto_now", False)]


async def _write_row(ctx: WriteContext, version: int | None, audit: list[AuditEntry], result: WriteResult,
                     source: Source, row_key: str) -> bool:
    """Write one planned change with its audit; False when someone else changed the row (conflict)."""
    sheet, instance = ctx.sheet, ctx.instance
    assert instance is not None
    update_fields: list[str] = []
    entries: list[AuditEntry] = []
    for name, value in ctx.values.items():
        column = sheet.column(name) if sheet.has_column(name) else None
        old = await ctx.current(name)
        if same(old, value):
            continue
        if column is not None and column.kind == "reference":
            setattr(instance, f"{name}_id", await _resolve_reference(column, value))
            update_fields.append(f"{name}_id")
        else:
            setattr(instance, name, value)
            update_fields.append(name)
        entries.append(AuditEntry(actor=ctx.caller.actor, sheet=sheet.name, row_id=instance.id, row_key=row_key,
                                  column=name, old_value=encode(column, old), new_value=encode(column, value),
                                  source=source, batch=ctx.batch))
    if not update_fields:
        return True
    async with in_transaction():  # a savepoint: a refused row leaves the transaction usable (PostgreSQL)
        if sheet.versioned:
            expected = instance.version if version is None else version  # type: ignore[attr-defined]
            claimed = await sheet.model.filter(id=instance.id, version=expected).update(version=F("version") + 1)
            if not claimed:
                return False
            instance.version = expected + 1  # type: ignore[attr-defined]
            update_fields.append("version")
        await instance.save(update_fields=[*update_fields, *_auto_now(sheet.model)])
    audit.extend(entries)
    result.changed_cells += len(entries)
    result.changed_rows += 1
    return True


def _conflict_issue(sheet: Sheet, row_id: int, row_key: str, shown: str, line: int | None) -> Issue:
    return Issue(f"Conflit : la ligne {row_key} a été modifiée par quelqu'un d'autre depuis son affichage"
                 + (f" (valeur actuelle : {shown})" if shown else "")
                 + ". Rechargez et refaites la modification si elle est toujours utile.",
                 row_id, row_key, line=line, kind="conflict")


async def apply_changes(sheet: Sheet, changes: list[RowChange], caller: Caller, *, parsed: bool = True,
                        batch: str | None = None) -> WriteResult:
    """Check and write changes in one transaction with their audit; refuse all of them on any issue.

    `parsed`: values already parsed by column (see parse_changes); raw values otherwise. A row whose version
    differs from the expected one (or changes under us) is a conflict: nothing is written.
    """
    await caller.check()
    if not sheet.may_edit(caller):
        raise refuse(f"Vous n'avez pas le droit de modifier « {sheet.label} ».", "forbidden")
    if not parsed:
        changes, issues = await parse_changes(sheet, changes, internal=caller.is_system)
        if issues:
            raise WriteRefused(issues)
    source = caller.source
    day = today()
    async with unit_of_work(batch) as uow:
        result = WriteResult(batch=uow.batch)
        issues: list[Issue] = []
        audit: list[AuditEntry] = []
        ids = list(dict.fromkeys(c.row_id for c in changes))
        instances: dict[int, Any] = {}
        for start in range(0, len(ids), CHUNK):
            query = sheet.model.filter(id__in=ids[start:start + CHUNK])
            if _is_postgres():
                query = query.select_for_update()
            instances.update({r.id: r for r in await query})
        uais = await row_uais(sheet, ids)
        for change in changes:
            instance = instances.get(change.row_id)
            uai = uais.get(change.row_id)
            if instance is None or (sheet.school_path and not caller.in_scope(uai)):
                issues.append(Issue("Cette ligne n'existe pas (ou plus).", change.row_id, line=change.line,
                                    kind="missing"))
                continue
            row_key = str(getattr(instance, sheet.key))
            if (sheet.versioned and change.expected_version is not None
                    and instance.version != change.expected_version):
                parts = []
                for n in change.values:
                    if sheet.has_column(n):
                        column = sheet.column(n)
                        now = to_text(column, await current_value(sheet, column, instance))
                        parts.append(f"{column.label} = « {now} »")
                shown = ", ".join(parts)
                issues.append(_conflict_issue(sheet, change.row_id, row_key, shown, change.line))
                continue
            values: dict[str, Any] = {}
            refused = False
            for name, value in change.values.items():
                if not sheet.has_column(name):  # a model field outside the columns: the system's own writes only
                    if not caller.is_system or name not in sheet.model._meta.fields_map:
                        issues.append(Issue(f"Colonne inconnue « {str(name)[:40]} ».", change.row_id, row_key,
                                            line=change.line, kind="forbidden"))
                        refused = True
                    elif not same(getattr(instance, name, None), value):
                        values[name] = value
                    continue
                column = sheet.column(name)
                if not sheet.may_edit_column(caller, column, uai):
                    issues.append(Issue(f"Vous n'avez pas le droit de modifier « {column.label} ».", change.row_id,
                                        row_key, name, line=change.line, kind="forbidden"))
                    refused = True
                    continue
                empty = empty_refused(column, value)
                if empty:
                    issues.append(Issue(empty, change.row_id, row_key, name, line=change.line))
                    refused = True
                    continue
                if not same(await current_value(sheet, column, instance), value):
                    values[name] = value
            if refused or not values:
                continue
            ctx = WriteContext(sheet, caller, instance, values, uow.batch, day, uai)
            quiet = is_quiet(sheet, values)
            try:
                await _plan(ctx)
                moved_to = await uai_of_values(sheet, ctx.values)
                if moved_to is not None and not caller.in_scope(moved_to):
                    raise Forbidden(_out_of_scope(moved_to))
                written = await _write_row(ctx, change.expected_version, audit, result, source, row_key)
            except Forbidden as exc:
                issues.append(Issue(str(exc), change.row_id, row_key, line=change.line, kind="forbidden"))
                continue
            except Conflict as exc:
                issues.append(Issue(str(exc), change.row_id, row_key, line=change.line, kind="conflict"))
                continue
            except (CellError, ValueError) as exc:
                issues.append(Issue(str(exc), change.row_id, row_key, line=change.line))
                continue
            except ValidationError as exc:
                issues.append(Issue(_refused_value(exc, sheet), change.row_id, row_key, line=change.line))
                continue
            except IntegrityError as exc:
                issues.append(Issue(integrity_message(exc, sheet), change.row_id, row_key, line=change.line))
                continue
            if not written:
                issues.append(_conflict_issue(sheet, change.row_id, row_key, "", change.line))
                continue
            effects = [h for h in (ctx.move.effect if ctx.move else None,
                                   None if quiet else sheet.after_change) if h is not None]
            for effect in effects:
                try:
                    await effect(ctx)
                except WriteRefused as exc:
                    issues.extend(exc.issues)
                    break
                except Conflict as exc:
                    issues.append(Issue(str(exc), change.row_id, row_key, line=change.line, kind="conflict"))
                    break
                except (CellError, ValueError) as exc:
                    issues.append(Issue(str(exc), change.row_id, row_key, line=change.line))
                    break
        await _finish(uow, sheet, issues, audit)
    return result


async def set_values(sheet: Sheet, row_ids: list[int], raw: dict[str, Any], caller: Caller) -> WriteResult:
    """Set the same values on many rows (bulk edit, row actions): one transaction, all or nothing.

    A plain column, or a move whose rules are pure (no per-row hook), takes a fast path of a few UPDATEs per
    chunk; anything else goes row by row through apply_changes. Same rules either way.
    """
    await caller.check()
    if not sheet.may_edit(caller):
        raise refuse(f"Vous n'avez pas le droit de modifier « {sheet.label} ».", "forbidden")
    changes, issues = await parse_changes(sheet, [RowChange(0, raw)], internal=caller.is_system)
    if issues:
        raise WriteRefused(issues)
    values = changes[0].values
    row_ids = list(dict.fromkeys(int(i) for i in row_ids))
    if _fast_path(sheet, values):
        return await _bulk_fast(sheet, row_ids, values, caller)
    result = WriteResult(batch="")
    async with unit_of_work() as uow:
        result.batch = uow.batch
        for start in range(0, len(row_ids), 500):
            part = await apply_changes(sheet, [RowChange(i, dict(values)) for i in row_ids[start:start + 500]],
                                       caller)
            result.changed_rows += part.changed_rows
            result.changed_cells += part.changed_cells
    return result


async def bulk_set(sheet: Sheet, row_ids: list[int], field_name: str, raw: Any, caller: Caller) -> WriteResult:
    """Set one column to one value on many rows."""
    return await set_values(sheet, row_ids, {field_name: raw}, caller.using(
        Source.BULK if caller.source in (Source.GRID, Source.API) else caller.source))


def _fast_path(sheet: Sheet, values: dict[str, Any]) -> bool:
    """Whether a bulk change can skip the per-row path: no row validator, and no hook concerned by its fields
    (a sheet says which fields call its hooks, or which do not: its quiet ones)."""
    if sheet.row_validator is not None or not sheet.versioned:
        return False
    hooked = sheet.change_hook is not None or sheet.after_change is not None
    return not hooked or is_quiet(sheet, values) or (
        sheet.hook_fields is not None and not (set(values) & sheet.hook_fields))


async def _bulk_fast(sheet: Sheet, row_ids: list[int], values: dict[str, Any], caller: Caller) -> WriteResult:
    """Many rows, same values, pure rules: rows grouped by (final values, version), a few guarded UPDATEs."""
    lc = sheet.lifecycle
    day = today()
    model_fields = sheet.model._meta.fields_map
    refs = {}
    for name, value in values.items():
        column = sheet.column(name)
        empty = empty_refused(column, value)
        if empty:
            raise refuse(empty, column=name)
        if column.kind == "reference":
            try:
                refs[name] = await _resolve_reference(column, value)
            except CellError as exc:
                raise refuse(str(exc), column=name) from None
    read = ["id", "version", sheet.key, *[n for n in model_fields if n in {c.field for c in sheet.columns}
                                          and sheet.column(n).kind != "reference" and not sheet.column(n).path]]
    read += [f"{c.field}__{c.reference[1]}" for c in sheet.columns if c.kind == "reference" and c.reference]
    read += [n for n in values if not sheet.has_column(n)]
    if sheet.school_path and sheet.school_path not in read:
        read.append(sheet.school_path)
    for t in (lc.transitions if lc else ()):
        read += [n for n in (*t.clears, *(x.field for x in t.needs))  # a column is read already (a reference by key)
                 if n in sheet.model._meta.fields_db_projection and n not in read and not sheet.has_column(n)]
    read = list(dict.fromkeys(read))
    async with unit_of_work() as uow:
        result = WriteResult(batch=uow.batch)
        issues: list[Issue] = []
        audit: list[AuditEntry] = []
        groups: dict[tuple[Any, ...], list[int]] = {}
        slow: list[int] = []
        for start in range(0, len(row_ids), CHUNK):
            part = row_ids[start:start + CHUNK]
            query = sheet.model.filter(id__in=part)
            if _is_postgres():
                query = query.select_for_update()
            found = {r["id"]: r for r in await query.values(*read)}
            for rid in part:
                r = found.get(rid)
                uai = r.get(sheet.school_path) if (r and sheet.school_path) else None
                if r is None or (sheet.school_path and not caller.in_scope(uai)):
                    issues.append(Issue("Cette ligne n'existe pas (ou plus).", rid, kind="missing"))
                    continue
                key = str(r[sheet.key])
                row = {c.field: r.get(c.db_field) for c in sheet.columns}
                new: dict[str, Any] = {}
                try:
                    for name, value in values.items():
                        if sheet.has_column(name) and not sheet.may_edit_column(caller, sheet.column(name), uai):
                            raise Forbidden(f"Vous n'avez pas le droit de modifier « {sheet.column(name).label} ».")
                        if not same(row.get(name, r.get(name)), value):
                            new[name] = value
                    if lc is not None and lc.field in new:
                        move = lc.move(row.get(lc.field), new[lc.field])
                        if move is None:
                            raise ValueError(lc.impossible(row.get(lc.field), new[lc.field]))
                        if not caller.allowed(move.roles, uai):
                            raise Forbidden(lc.forbidden(move, caller.role))
                        if move.check is not None or move.effect is not None:
                            slow.append(rid)  # a move with a per-row check or effect: the row-by-row path
                            continue
                        for name in move.clears:
                            new[name] = None
                        after = {**row, **{k: v for k, v in r.items() if k not in row}, **new}
                        if move.derive is not None:
                            for name, value in move.derive(after, day).items():
                                new.setdefault(name, value)
                            after.update(new)
                        for need in move.needs:
                            if after.get(need.field) in (None, ""):
                                raise ValueError(f"« {move.label} » impossible : {need.message}.")
                except Forbidden as exc:
                    issues.append(Issue(str(exc), rid, key, kind="forbidden"))
                    continue
                except ValueError as exc:
                    if len(issues) < 500:
                        issues.append(Issue(str(exc), rid, key))
                    continue
                new = {k: v for k, v in new.items() if not same(row.get(k, r.get(k)), v)}
                if not new:
                    continue
                groups.setdefault((tuple(sorted((k, _hashable(v)) for k, v in new.items())), r["version"]),
                                  []).append(rid)
                for name, value in new.items():
                    column = sheet.column(name) if sheet.has_column(name) else None
                    audit.append(AuditEntry(actor=caller.actor, sheet=sheet.name, row_id=rid, row_key=key, column=name,
                                            old_value=encode(column, row.get(name, r.get(name))),
                                            new_value=encode(column, value), source=caller.source, batch=uow.batch))
                result.changed_cells += len(new)
        if issues:
            raise WriteRefused(issues[:500])
        stamp = {name: dt.datetime.now(dt.UTC) for name in _auto_now(sheet.model)}
        for (items, version), ids in groups.items():
            update: dict[str, Any] = {}
            for name, value in items:
                column = sheet.column(name) if sheet.has_column(name) else None
                if column is not None and column.kind == "reference":
                    update[f"{name}_id"] = refs[name] if name in refs else await _resolve_reference(column, value)
                else:
                    update[name] = value
            for start in range(0, len(ids), CHUNK):
                part = ids[start:start + CHUNK]
                n = await rows_updated(sheet.model.filter(id__in=part, version=version),
                                       **update, **stamp, version=F("version") + 1)
                if n != len(part):
                    raise refuse("Conflit : des lignes ont été modifiées par quelqu'un d'autre pendant l'opération. "
                                 "Rechargez et recommencez.", "conflict")
            result.changed_rows += len(ids)
        if audit:
            await AuditEntry.bulk_create(audit, batch_size=2000)
            uow.touched.add(sheet.name)
        for start in range(0, len(slow), 500):
            part = await apply_changes(sheet, [RowChange(i, dict(values)) for i in slow[start:start + 500]], caller)
            result.changed_rows += part.changed_rows
            result.changed_cells += part.changed_cells
    return result


def _hashable(value: Any) -> Any:
    return value.value if hasattr(value, "value") and not isinstance(value, str | bool | int) else value


# --- Creation and deletion -------------------------------------------------------------------------

async def create_rows(sheet: Sheet, rows: list[dict[str, Any]], caller: Caller, *, parsed: bool = False,
                      lines: list[int] | None = None, batch: str | None = None) -> WriteResult:
    """Create rows in one transaction, each with an audit entry (column « * »); refused whole on any issue.

    `rows`: raw values by field (parsed by column unless `parsed`); `lines` gives each row's line in the user's
    file for the messages. The life cycle's column starts in its initial state (or one it allows at creation).
    """
    await caller.check()
    if not sheet.may_create(caller):
        raise refuse(f"Vous ne pouvez pas ajouter de lignes à « {sheet.label} »." if sheet.can_create else
                     f"La feuille « {sheet.label} » n'accepte pas de nouvelles lignes : seules les lignes existantes "
                     "peuvent être modifiées.", "forbidden")
    lc = sheet.lifecycle
    fields_map = sheet.model._meta.fields_map
    day = today()
    async with unit_of_work(batch) as uow:
        result = WriteResult(batch=uow.batch)
        issues: list[Issue] = []
        audit: list[AuditEntry] = []
        known = await resolve_references(sheet, rows) if len(rows) > 1 else {}
        for n, raw in enumerate(rows):
            line = lines[n] if lines else n + 1
            values: dict[str, Any] = {}
            row_issues: list[Issue] = []
            for name, value in raw.items():
                if not sheet.has_column(name) or not sheet.may_read_column(caller, sheet.column(name)):
                    row_issues.append(Issue(f"Colonne inconnue « {str(name)[:40]} ».", column=str(name)[:60],
                                            line=line))
                    continue
                column = sheet.column(name)
                if not column.creatable and not (lc is not None and lc.field == name) and name != sheet.key:
                    if value not in (None, ""):
                        row_issues.append(Issue(f"« {column.label} » ne se saisit pas à la création.", column=name,
                                                line=line))
                    continue
                try:
                    values[name] = value if parsed else parse_value(column, value)
                except CellError as exc:
                    row_issues.append(Issue(str(exc), column=name, value=value, line=line))
            refused_columns = {i.column for i in row_issues}
            for column in sheet.columns:
                if column.required and column.creatable and values.get(column.field) in (None, "") and not (
                        column.field == sheet.key and sheet.key == "id") and column.field not in refused_columns:
                    row_issues.append(Issue(f"« {column.label} » est obligatoire.", column=column.field, line=line))
            key = values.get(sheet.key)
            if row_issues:
                for i in row_issues:
                    i.row_key = str(key or "")
                issues.extend(row_issues)
                continue
            try:
                uai = await uai_of_values(sheet, values)
                if sheet.school_path and not caller.in_scope(uai):
                    raise Forbidden(_out_of_scope(uai))
                if not sheet.may_create(caller, uai):
                    raise Forbidden(f"Vous ne pouvez pas ajouter de lignes à « {sheet.label} » pour {uai}.")
                if lc is not None:
                    start = values.get(lc.field) or lc.initial
                    allowed = lc.creatable or (lc.initial,)
                    if start not in allowed:
                        raise ValueError(f"Une nouvelle ligne commence à « {lc.label(lc.initial)} », "
                                         f"pas à « {lc.label(start)} ».")
                    values[lc.field] = start
                ctx = WriteContext(sheet, caller, None, values, uow.batch, day, uai)
                if sheet.create_hook is not None:
                    await sheet.create_hook(ctx)
                if sheet.row_validator is not None:
                    sheet.row_validator({c.field: values.get(c.field) for c in sheet.columns} | values)
                kwargs: dict[str, Any] = {}
                for name, value in values.items():
                    column = sheet.column(name) if sheet.has_column(name) else None
                    if column is not None and column.kind == "reference":
                        rid = known.get((name, str(value))) if value not in (None, "") else None
                        kwargs[f"{name}_id"] = rid if rid is not None else await _resolve_reference(column, value)
                    elif value is None and name in fields_map and not fields_map[name].null:
                        continue  # the model's default applies
                    elif name == "id" and value is None:
                        continue
                    else:
                        kwargs[name] = value
                instance = sheet.model(**kwargs)
                async with in_transaction():  # a savepoint: a refused row does not abort the others (PostgreSQL)
                    await instance.save()
                    if sheet.after_create is not None:
                        ctx.instance = instance
                        await sheet.after_create(ctx)
            except Forbidden as exc:
                issues.append(Issue(str(exc), row_key=str(key or ""), line=line, kind="forbidden"))
                continue
            except Conflict as exc:
                issues.append(Issue(str(exc), row_key=str(key or ""), line=line, kind="conflict"))
                continue
            except WriteRefused as exc:  # an effect's own write refused
                issues.extend(exc.issues)
                continue
            except (CellError, ValueError) as exc:
                issues.append(Issue(str(exc), row_key=str(key or ""), line=line))
                continue
            except ValidationError as exc:
                issues.append(Issue(_refused_value(exc, sheet), row_key=str(key or ""), line=line))
                continue
            except IntegrityError as exc:
                issues.append(Issue(integrity_message(exc, sheet, str(key or "")), row_key=str(key or ""),
                                    line=line))
                continue
            row_key = str(getattr(instance, sheet.key))
            created = {c.field: to_json(c, values.get(c.field)) for c in sheet.columns if c.field in values}
            audit.append(AuditEntry(actor=caller.actor, sheet=sheet.name, row_id=instance.id, row_key=row_key,
                                    column="*", old_value=None,
                                    new_value=json.dumps(created, ensure_ascii=False, default=str),
                                    source=caller.source, batch=uow.batch))
            result.created.append((instance.id, row_key))
            result.changed_rows += 1
        await _finish(uow, sheet, issues, audit)
    return result


async def delete_rows(sheet: Sheet, row_ids: list[int], caller: Caller) -> WriteResult:
    """Remove rows (audited with their last values, column « * »); refused whole on any issue."""
    await caller.check()
    if not sheet.may_delete(caller):
        raise refuse(f"Vous ne pouvez pas supprimer de lignes de « {sheet.label} ».", "forbidden")
    from sheets.engine.query import to_row, value_paths

    async with unit_of_work() as uow:
        result = WriteResult(batch=uow.batch)
        issues: list[Issue] = []
        audit: list[AuditEntry] = []
        ids = list(dict.fromkeys(int(i) for i in row_ids))
        uais = await row_uais(sheet, ids)
        records = {r["id"]: r for r in await sheet.model.filter(id__in=ids).values(*value_paths(sheet))}
        for rid in ids:
            uai = uais.get(rid)
            if rid not in records or (sheet.school_path and not caller.in_scope(uai)):
                issues.append(Issue("Cette ligne n'existe pas (ou plus).", rid, kind="missing"))
                continue
            if not sheet.may_delete(caller, uai):
                issues.append(Issue(f"Vous ne pouvez pas supprimer cette ligne de « {sheet.label} ».", rid,
                                    kind="forbidden"))
                continue
            row = to_row(sheet, records[rid])
            audit.append(AuditEntry(actor=caller.actor, sheet=sheet.name, row_id=rid,
                                    row_key=str(row.get(sheet.key, rid))[:120], column="*",
                                    old_value=json.dumps({k: v for k, v in row.items() if k not in ("id", "version")},
                                                         ensure_ascii=False, default=str),
                                    new_value=None, source=caller.source, batch=uow.batch))
        if issues:
            raise WriteRefused(issues)
        if sheet.delete_hook is not None:
            try:
                await sheet.delete_hook(ids, caller)
            except ValueError as exc:
                raise refuse(str(exc)) from None
        for start in range(0, len(ids), CHUNK):
            await sheet.model.filter(id__in=ids[start:start + CHUNK]).delete()
        result.changed_rows = len(ids)
        await AuditEntry.bulk_create(audit, batch_size=1000)
        uow.touched.add(sheet.name)
    return result


# --- Undo and history ------------------------------------------------------------------------------

async def undo_last(caller: Caller) -> tuple[str, WriteResult] | None:
    """Undo the caller's last change (cell, bulk, paste, import, creation): a label and the write.

    Refused whole (WriteRefused) when a cell was changed by someone else since, or a created row since edited.
    """
    await caller.check()
    last = await AuditEntry.filter(actor=caller.actor, undone=False).exclude(source=Source.UNDO).order_by("-id").first()
    if last is None:
        return None
    entries = await AuditEntry.filter(batch=last.batch, undone=False).order_by("id")
    sheet = get_sheet(last.sheet)
    if any(e.sheet != sheet.name for e in entries):
        entries = [e for e in entries if e.sheet == sheet.name]
    by_row: dict[int, dict[str, Any]] = {}
    created: list[int] = []
    issues: list[Issue] = []
    instances = {r.id: r for r in await sheet.model.filter(id__in={e.row_id for e in entries})}
    for e in entries:
        if e.column == "*":
            if e.old_value is not None:
                issues.append(Issue("Une suppression de ligne ne s'annule pas ici : recréez la ligne.", e.row_id,
                                    e.row_key))
            elif await AuditEntry.filter(sheet=sheet.name, row_id=e.row_id, id__gt=e.id).exists():
                issues.append(Issue(f"La ligne {e.row_key} créée a été modifiée depuis : annulez d'abord ces "
                                    "modifications.", e.row_id, e.row_key))
            else:
                created.append(e.row_id)
            continue
        instance = instances.get(e.row_id)
        if instance is None:
            issues.append(Issue("La ligne n'existe plus.", e.row_id, e.row_key, kind="missing"))
            continue
        column = sheet.column(e.column) if sheet.has_column(e.column) else None
        now = to_json(column, await current_value(sheet, column, instance)) if column else encode(
            None, getattr(instance, e.column, None))
        expected = decode(e.new_value) if column else e.new_value
        if now != expected:
            label = column.label if column else e.column
            shown = to_text(column, now) if column else str(now)
            issues.append(Issue(f"Impossible d'annuler : « {label} » de la ligne {e.row_key} a changé depuis "
                                f"(valeur actuelle « {shown} »).", e.row_id, e.row_key, e.column, kind="conflict"))
            continue
        by_row.setdefault(e.row_id, {})[e.column] = decode(e.old_value)
    if issues:
        raise WriteRefused(issues)
    undo = caller.using(Source.UNDO)
    async with unit_of_work() as uow:
        result = WriteResult(batch=uow.batch)
        if by_row:
            changes = []
            for rid, vals in by_row.items():
                plain = {k: v for k, v in vals.items() if sheet.has_column(k)}
                extra = {k: v for k, v in vals.items() if not sheet.has_column(k)}
                parsed, parse_issues = await _parse_for_undo(sheet, rid, plain)
                if parse_issues:
                    raise WriteRefused(parse_issues)
                changes.append(RowChange(rid, {**parsed, **extra}))
            result = await _apply_undo(sheet, changes, undo)
        if created:
            await sheet.model.filter(id__in=created).delete()
            await AuditEntry.bulk_create([AuditEntry(actor=caller.actor, sheet=sheet.name, row_id=rid,
                                                     row_key=str(rid), column="*", old_value=json.dumps("créée"),
                                                     new_value=None, source=Source.UNDO, batch=uow.batch)
                                          for rid in created])
            uow.touched.add(sheet.name)
            result.changed_rows += len(created)
        await AuditEntry.filter(batch=last.batch).update(undone=True)
    label = f"{len(entries)} modification(s) de « {sheet.label} » ({Source.label_of(last.source)})"
    return label, result


async def _parse_for_undo(sheet: Sheet, row_id: int, values: dict[str, Any]) -> tuple[dict[str, Any], list[Issue]]:
    out: dict[str, Any] = {}
    issues: list[Issue] = []
    for name, raw in values.items():
        column = sheet.column(name)
        try:
            out[name] = None if raw is None and not column.required else parse_value(
                Column(column.field, column.label, kind=column.kind, choices=column.choices,
                       reference=column.reference), raw)
        except CellError as exc:
            issues.append(Issue(str(exc), row_id, column=name))
    return out, issues


async def _apply_undo(sheet: Sheet, changes: list[RowChange], caller: Caller) -> WriteResult:
    """Put back the old values: an undo is not a new decision, so it skips the life cycle's move rules but keeps
    the author's rights to edit the sheet, the scope, the guarded version and the audit."""
    if not sheet.may_edit(caller):
        raise refuse(f"Vous n'avez pas le droit de modifier « {sheet.label} ».", "forbidden")
    async with unit_of_work() as uow:
        result = WriteResult(batch=uow.batch)
        audit: list[AuditEntry] = []
        uais = await row_uais(sheet, [c.row_id for c in changes])
        instances = {r.id: r for r in await sheet.model.filter(id__in=[c.row_id for c in changes])}
        for change in changes:
            instance = instances[change.row_id]
            if sheet.school_path and not caller.in_scope(uais.get(change.row_id)):
                raise refuse("Cette ligne n'existe pas (ou plus).", "missing")
            ctx = WriteContext(sheet, caller, instance, change.values, uow.batch, today(), uais.get(change.row_id))
            if not await _write_row(ctx, None, audit, result, Source.UNDO, str(getattr(instance, sheet.key))):
                raise refuse("Conflit pendant l'annulation : rechargez et recommencez.", "conflict")
        if audit:
            await AuditEntry.bulk_create(audit, batch_size=1000)
            uow.touched.add(sheet.name)
    return result


async def row_history(sheet: Sheet, row_id: int, caller: Caller, limit: int = 200) -> list[dict[str, Any]]:
    """Every change of a row the caller may read, newest first: who, when, column, old → new, source."""
    await caller.check()
    if sheet.school_path:
        uais = await row_uais(sheet, [row_id])
        if row_id in uais and not caller.in_scope(uais[row_id]):
            return []
        if row_id not in uais and caller.scope is not None:
            return []
    entries = await AuditEntry.filter(sheet=sheet.name, row_id=row_id).order_by("-id").limit(limit)
    whole = get_sheet(sheet.name)
    out = []
    for e in entries:
        if whole.has_column(e.column) and not sheet.may_read_column(caller, whole.column(e.column)):
            continue  # a column this caller may not see (R-SEC-4): its changes neither
        column = sheet.column(e.column) if sheet.has_column(e.column) else None
        label = column.label if column else ("Ligne" if e.column == "*" else e.column)
        old, new = decode(e.old_value), decode(e.new_value)
        if e.column == "*":
            old_text = "" if old is None else ("(supprimée)" if isinstance(old, dict) else str(old))
            new_text = "créée" if isinstance(new, dict) else ""
        else:
            old_text = to_text(column, old) if column else str(old or "")
            new_text = to_text(column, new) if column else str(new or "")
        out.append({"at": e.at, "actor": e.actor, "column": label, "old": old_text, "new": new_text,
                    "source": e.source.value, "undone": e.undone})
    return out
