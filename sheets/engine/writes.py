"""Writing to a sheet: validated changes with optimistic concurrency and audit in one transaction; undo."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.audit import AuditEntry, Source
from sheets.engine.declaration import Column, Sheet, get_sheet
from sheets.engine.query import COUNTS
from sheets.engine.values import CellError, parse_value, same, to_json, to_text


@dataclass
class Issue:
    """A refused cell or row: where, what value, why (French)."""

    message: str
    row_id: int | None = None
    row_key: str = ""
    column: str = ""
    value: Any = None
    line: int | None = None  # line of a pasted block or an imported file, 1-based as the user sees it

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the grid and reports."""
        return {"message": self.message, "row_id": self.row_id, "row_key": self.row_key, "column": self.column,
                "value": None if self.value is None else str(self.value), "line": self.line}


class WriteRefused(Exception):
    """A change refused whole; `issues` says every reason, nothing was written."""

    def __init__(self, issues: list[Issue], conflict: bool = False) -> None:
        super().__init__("; ".join(i.message for i in issues[:5]))
        self.issues = issues
        self.conflict = conflict


@dataclass
class RowChange:
    """New values (raw or parsed) for one row, with the version the user saw (None: don't check)."""

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


def _encode(column: Column | None, value: Any) -> str | None:
    """A value as JSON text in the audit (exact enough to undo)."""
    if value is None:
        return None
    if column is not None:
        value = to_json(column, value)
    elif isinstance(value, dt.date | dt.datetime):
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
    parsed = parse_value(key_column, key)
    row = await target.model.get_or_none(**{key_column.field: parsed}).only("id")
    if row is None:
        raise CellError(f"« {key} » : aucune ligne de « {target.label} » n'a ce {key_column.label}.")
    return row.id


async def current_value(sheet: Sheet, column: Column, instance: Any) -> Any:
    """The value of a column on a loaded row (a reference gives the key of the referenced row)."""
    if column.kind == "reference":
        assert column.reference is not None
        related = getattr(instance, column.field)
        if hasattr(related, "fetch_related") or related is None or not hasattr(related, column.reference[1]):
            await instance.fetch_related(column.field)
            related = getattr(instance, column.field)
        return None if related is None else getattr(related, column.reference[1])
    return getattr(instance, column.field)


async def parse_changes(sheet: Sheet, changes: list[RowChange]) -> tuple[list[RowChange], list[Issue]]:
    """Parse the raw values of changes by column type; unknown or read-only columns are issues."""
    parsed: list[RowChange] = []
    issues: list[Issue] = []
    for change in changes:
        values: dict[str, Any] = {}
        for name, raw in change.values.items():
            if not sheet.has_column(name):
                issues.append(Issue(f"Colonne inconnue « {name} ».", change.row_id, column=name, line=change.line))
                continue
            column = sheet.column(name)
            if not column.editable:
                issues.append(Issue(f"La colonne « {column.label} » n'est pas modifiable.", change.row_id,
                                    column=name, value=raw, line=change.line))
                continue
            try:
                values[name] = parse_value(column, raw)
            except CellError as exc:
                issues.append(Issue(str(exc), change.row_id, column=name, value=raw, line=change.line))
        parsed.append(RowChange(change.row_id, values, change.expected_version, change.line))
    return parsed, issues


async def apply_changes(sheet: Sheet, changes: list[RowChange], *, actor: str, source: Source,
                        batch: str | None = None, role: str | None = None) -> WriteResult:
    """Validate and write changes in one transaction with their audit; refuse all of them on any issue.

    Values must already be parsed (see parse_changes). A row whose version differs from the expected
    one is a conflict: nothing is written, and the issue gives the current value.
    """
    if not sheet.may_edit(role):
        raise WriteRefused([Issue(f"Vous n'avez pas le droit de modifier « {sheet.label} ».")])
    result = WriteResult(batch=batch or uuid.uuid4().hex)
    issues: list[Issue] = []
    audit: list[AuditEntry] = []
    async with in_transaction():
        ids = [c.row_id for c in changes]
        instances = {r.id: r for r in await sheet.model.filter(id__in=ids)}
        for change in changes:
            instance = instances.get(change.row_id)
            if instance is None:
                issues.append(Issue("Cette ligne n'existe plus (supprimée entre-temps).", change.row_id,
                                    line=change.line))
                continue
            row_key = str(getattr(instance, sheet.key))
            if (sheet.versioned and change.expected_version is not None
                    and instance.version != change.expected_version):
                current = {name: to_text(sheet.column(name), await current_value(sheet, sheet.column(name), instance))
                           for name in change.values}
                shown = ", ".join(f"{sheet.column(n).label} = « {v} »" for n, v in current.items())
                issues.append(Issue(
                    f"Conflit : la ligne {row_key} a été modifiée par quelqu'un d'autre depuis son affichage "
                    f"(valeur actuelle : {shown}). Rechargez et refaites la modification si elle est toujours utile.",
                    change.row_id, row_key, line=change.line))
                continue
            new_values: dict[str, Any] = {}
            try:
                for name, value in change.values.items():
                    column = sheet.column(name)
                    old = await current_value(sheet, column, instance)
                    if same(old, value):
                        continue
                    new_values[name] = value
                if sheet.change_hook is not None and new_values:
                    new_values = await sheet.change_hook(sheet, instance, new_values, actor, role)
                if sheet.row_validator is not None and new_values:
                    merged = {c.field: await current_value(sheet, c, instance) for c in sheet.columns}
                    merged.update(new_values)
                    sheet.row_validator(merged)
            except (CellError, ValueError) as exc:
                issues.append(Issue(str(exc), change.row_id, row_key, line=change.line))
                continue
            if not new_values:
                continue
            for name, value in new_values.items():
                column = sheet.column(name) if sheet.has_column(name) else None  # hooks may set other fields
                old = await current_value(sheet, column, instance) if column else getattr(instance, name)
                if column is not None and column.kind == "reference":
                    try:
                        setattr(instance, f"{column.field}_id", await _resolve_reference(column, value))
                    except CellError as exc:
                        issues.append(Issue(str(exc), change.row_id, row_key, name, value, change.line))
                        break
                else:
                    setattr(instance, name, value)
                audit.append(AuditEntry(actor=actor, sheet=sheet.name, row_id=instance.id, row_key=row_key,
                                        column=name, old_value=_encode(column, old),
                                        new_value=_encode(column, value), source=source, batch=result.batch))
                result.changed_cells += 1
            else:
                fields_ = [f"{n}_id" if sheet.has_column(n) and sheet.column(n).kind == "reference" else n
                           for n in new_values]
                if sheet.versioned:
                    instance.version += 1
                    fields_.append("version")
                try:
                    await instance.save(update_fields=fields_)
                except ValueError as exc:  # a model's own check (French message), e.g. an e-mail or a window
                    issues.append(Issue(str(exc), change.row_id, row_key, line=change.line))
                    continue
                result.changed_rows += 1
        if issues:
            raise WriteRefused(issues, conflict=any(i.message.startswith("Conflit") for i in issues))
        if audit:
            await AuditEntry.bulk_create(audit, batch_size=1000)
    COUNTS.bump(sheet.name)
    return result


async def bulk_set(sheet: Sheet, row_ids: list[int], field_name: str, raw: Any, *, actor: str,
                   role: str | None = None, source: Source = Source.BULK) -> WriteResult:
    """Set one column to one value on many rows, in one transaction with audit rows (fast path)."""
    if not sheet.may_edit(role):
        raise WriteRefused([Issue(f"Vous n'avez pas le droit de modifier « {sheet.label} ».")])
    column = sheet.column(field_name)
    if not column.editable:
        raise WriteRefused([Issue(f"La colonne « {column.label} » n'est pas modifiable.", column=field_name)])
    try:
        value = parse_value(column, raw)
    except CellError as exc:
        raise WriteRefused([Issue(str(exc), column=field_name, value=raw)]) from None
    if sheet.bulk_hook is not None:
        fast = await sheet.bulk_hook(sheet, row_ids, field_name, value, actor, role, source)
        if fast is not None:
            return fast
    if sheet.change_hook is not None or sheet.row_validator is not None or column.kind == "reference":
        changes = [RowChange(i, {field_name: value}) for i in row_ids]
        return await apply_changes(sheet, changes, actor=actor, source=source, role=role)
    result = WriteResult(batch=uuid.uuid4().hex)
    async with in_transaction():
        audit: list[AuditEntry] = []
        chunk = 900  # stays under SQLite's bound-parameter limit
        for start in range(0, len(row_ids), chunk):
            part = row_ids[start:start + chunk]
            olds = await sheet.model.filter(id__in=part).values_list("id", sheet.key, field_name)
            changed = [(rid, key, old) for rid, key, old in olds if not same(old, value)]
            if not changed:
                continue
            update: dict[str, Any] = {field_name: value}
            if sheet.versioned:
                update["version"] = F("version") + 1
            await sheet.model.filter(id__in=[c[0] for c in changed]).update(**update)
            encoded_new = _encode(column, value)
            audit.extend(AuditEntry(actor=actor, sheet=sheet.name, row_id=rid, row_key=str(key), column=field_name,
                                    old_value=_encode(column, old), new_value=encoded_new, source=source,
                                    batch=result.batch) for rid, key, old in changed)
            result.changed_rows += len(changed)
            result.changed_cells += len(changed)
        await AuditEntry.bulk_create(audit, batch_size=2000)
    COUNTS.bump(sheet.name)
    return result


async def undo_last(actor: str, role: str | None = None) -> tuple[str, WriteResult] | None:
    """Undo the actor's last change (cell, bulk, paste or import): the label of what was undone and the write.

    Refused whole (WriteRefused) when a cell was changed by someone else since.
    """
    last = await AuditEntry.filter(actor=actor, undone=False).exclude(source=Source.UNDO).order_by("-id").first()
    if last is None:
        return None
    entries = await AuditEntry.filter(batch=last.batch, undone=False).order_by("id")
    sheet = get_sheet(last.sheet)
    by_row: dict[int, dict[str, Any]] = {}
    issues: list[Issue] = []
    instances = {r.id: r for r in await sheet.model.filter(id__in={e.row_id for e in entries})}
    for e in entries:
        if e.column == "*":
            issues.append(Issue("Une création de ligne ne s'annule pas ici.", e.row_id, e.row_key))
            continue
        column = sheet.column(e.column)
        instance = instances.get(e.row_id)
        if instance is None:
            issues.append(Issue("La ligne n'existe plus.", e.row_id, e.row_key))
            continue
        now = to_json(column, await current_value(sheet, column, instance))
        if now != decode(e.new_value):
            issues.append(Issue(
                f"Impossible d'annuler : « {column.label} » de la ligne {e.row_key} a changé depuis "
                f"(valeur actuelle « {to_text(column, now)} »).", e.row_id, e.row_key, e.column))
            continue
        by_row.setdefault(e.row_id, {})[e.column] = decode(e.old_value)
    if issues:
        raise WriteRefused(issues)
    changes, parse_issues = await parse_changes(sheet, [RowChange(rid, vals) for rid, vals in by_row.items()])
    if parse_issues:
        raise WriteRefused(parse_issues)
    async with in_transaction():
        result = await apply_changes(sheet, changes, actor=actor, source=Source.UNDO, role=role)
        await AuditEntry.filter(batch=last.batch).update(undone=True)
    label = f"{len(entries)} modification(s) de « {sheet.label} » ({last.source.value})"
    return label, result


async def row_history(sheet: Sheet, row_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """Every change of a row, newest first: who, when, column, old → new, source."""
    entries = await AuditEntry.filter(sheet=sheet.name, row_id=row_id).order_by("-id").limit(limit)
    out = []
    for e in entries:
        column = sheet.column(e.column) if sheet.has_column(e.column) else None
        label = column.label if column else e.column
        old, new = decode(e.old_value), decode(e.new_value)
        out.append({"at": e.at, "actor": e.actor, "column": label,
                    "old": to_text(column, old) if column else str(old or ""),
                    "new": to_text(column, new) if column else str(new or ""),
                    "source": e.source.value, "undone": e.undone})
    return out


async def create_rows(sheet: Sheet, rows: list[dict[str, Any]], *, actor: str, source: Source,
                      batch: str | None = None, lines: list[int] | None = None) -> WriteResult:
    """Create rows (values already parsed, by field) in one transaction, each with an audit entry column '*'.

    Refused whole (WriteRefused, French) when the sheet does not accept new rows or a row is invalid;
    `lines` gives each row's line in the user's file for the messages.
    """
    if not sheet.can_create:
        raise WriteRefused([Issue(f"La feuille « {sheet.label} » n'accepte pas de nouvelles lignes : seules les "
                                  "lignes existantes peuvent être modifiées.")])
    result = WriteResult(batch=batch or uuid.uuid4().hex)
    issues: list[Issue] = []
    audit: list[AuditEntry] = []
    fields_map = sheet.model._meta.fields_map
    async with in_transaction():
        for n, values in enumerate(rows):
            line = lines[n] if lines else None
            key = values.get(sheet.key)
            kwargs: dict[str, Any] = {}
            try:
                for name, value in values.items():
                    column = sheet.column(name)
                    if column.kind == "reference":
                        kwargs[f"{column.field}_id"] = await _resolve_reference(column, value)
                    elif value is None and name in fields_map and not fields_map[name].null:
                        continue  # the model's default applies
                    else:
                        kwargs[name] = value
                if sheet.row_validator is not None:
                    sheet.row_validator({c.field: values.get(c.field) for c in sheet.columns})
                instance = sheet.model(**kwargs)
                async with in_transaction():  # a savepoint: a refused row does not abort the others (PostgreSQL)
                    await instance.save()
            except (CellError, ValueError) as exc:
                issues.append(Issue(str(exc), row_key=str(key or ""), line=line))
                continue
            except Exception as exc:  # integrity errors differ by backend
                issues.append(Issue(f"Ligne {key} refusée par la base : {exc}", row_key=str(key or ""), line=line))
                continue
            row_key = str(getattr(instance, sheet.key))
            created = {c.field: to_json(c, values.get(c.field)) for c in sheet.columns if c.field in values}
            audit.append(AuditEntry(actor=actor, sheet=sheet.name, row_id=instance.id, row_key=row_key, column="*",
                                    old_value=None, new_value=json.dumps(created, ensure_ascii=False, default=str),
                                    source=source, batch=result.batch))
            result.changed_rows += 1
        if issues:
            raise WriteRefused(issues)
        await AuditEntry.bulk_create(audit, batch_size=1000)
    COUNTS.bump(sheet.name)
    return result
