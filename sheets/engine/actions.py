"""Row actions declared on a sheet: a label, the roles that may run it, a form built from columns, a handler.

The grid shows a sheet's actions only to the roles that may run them; `POST /api/sheets/<name>/actions/<action>`
with `{"row_ids": [...], "values": {...}}` runs one. Each move of a sheet's life cycle is an action too (named
after the move: `submit`, `validate`, `assign`…). A handler writes only through the engine, with its caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sheets.engine.caller import Caller
from sheets.engine.declaration import Column, Sheet
from sheets.engine.lifecycle import Transition
from sheets.engine.values import CellError, parse_value
from sheets.engine.writes import (
    Conflict,
    Forbidden,
    Issue,
    WriteRefused,
    WriteResult,
    create_rows,
    refuse,
    row_uais,
    set_values,
    unit_of_work,
)

MAX_ACTION_ROWS = 10_000


@dataclass
class ActionContext:
    """What a handler gets: the sheet, the caller, the chosen rows (within the caller's scope), the parsed form."""

    sheet: Sheet
    caller: Caller
    row_ids: list[int]
    values: dict[str, Any]
    batch: str = ""

    async def set(self, values: dict[str, Any], row_ids: list[int] | None = None) -> WriteResult:
        """Set values on the rows (raw values, parsed by column) through the engine."""
        return await set_values(self.sheet, self.row_ids if row_ids is None else row_ids, values, self.caller)

    async def create(self, rows: list[dict[str, Any]], sheet: Sheet | None = None) -> WriteResult:
        """Create rows (of this sheet or another) through the engine."""
        return await create_rows(sheet or self.sheet, rows, self.caller)


Handler = Callable[[ActionContext], Awaitable[str]]


@dataclass(frozen=True)
class RowAction:
    """An action on selected rows (or on the sheet, `rows="none"`), shown only to the roles that may run it."""

    name: str
    label: str
    roles: frozenset[str]
    handler: Handler
    form: tuple[str, ...] = ()  # columns of the sheet asked in the form
    fields: tuple[Column, ...] = ()  # other form fields
    icon: str = "play_arrow"
    confirm: str = ""
    rows: str = "some"  # "some": at least one selected row, "one": exactly one, "none": the sheet itself
    max_rows: int = MAX_ACTION_ROWS
    rule: str = ""
    help: str = ""
    move: Transition | None = field(default=None, compare=False)

    def form_columns(self, sheet: Sheet) -> list[Column]:
        """The form's fields as columns (sheet columns first)."""
        return [sheet.column(n) for n in self.form if sheet.has_column(n)] + list(self.fields)

    def offered_to(self, caller: Caller) -> bool:
        """Whether the grid shows the action to this caller."""
        return caller.allowed(self.roles)


def move_action(sheet: Sheet, move: Transition) -> RowAction:
    """A move of the life cycle as a row action: the move's target and the form's values on each row."""
    assert sheet.lifecycle is not None
    lc = sheet.lifecycle

    async def handler(ctx: ActionContext) -> str:
        result = await ctx.set({lc.field: move.target, **ctx.values})
        return f"« {move.label} » : {result.changed_rows} ligne(s)."

    return RowAction(name=move.name, label=move.label, roles=move.roles, handler=handler, form=move.form_fields,
                     icon="swap_horiz", rule=move.rule, help=move.help, move=move)


def parse_form(sheet: Sheet, action: RowAction, raw: dict[str, Any]) -> dict[str, Any]:
    """The form's values parsed by their columns; unknown fields and bad values refused (French)."""
    columns = {c.field: c for c in action.form_columns(sheet)}
    issues: list[Issue] = []
    out: dict[str, Any] = {}
    for name, value in raw.items():
        column = columns.get(str(name))
        if column is None:
            issues.append(Issue(f"Champ inconnu « {str(name)[:40]} » pour « {action.label} ».", column=str(name)[:60]))
            continue
        try:
            out[column.field] = parse_value(column, value)
        except CellError as exc:
            issues.append(Issue(str(exc), column=column.field, value=value))
    if issues:
        raise WriteRefused(issues)
    return out


async def run_action(sheet: Sheet, name: str, row_ids: list[int], raw: dict[str, Any], caller: Caller) -> WriteResult:
    """Run a declared action on rows, all or nothing: refused if the caller may not, or a row is out of reach."""
    await caller.check()
    action = sheet.action(name)
    if action is None:
        raise refuse(f"Action inconnue « {str(name)[:40]} » sur « {sheet.label} ».", "missing")
    if not sheet.may_read(caller) or not action.offered_to(caller):
        raise refuse(f"« {action.label} » n'est pas permis à votre rôle.", "forbidden")
    ids = list(dict.fromkeys(int(i) for i in row_ids))
    if action.rows == "none":
        ids = []
    elif not ids:
        raise refuse(f"« {action.label} » : sélectionnez au moins une ligne.")
    elif action.rows == "one" and len(ids) != 1:
        raise refuse(f"« {action.label} » porte sur une seule ligne à la fois.")
    if len(ids) > action.max_rows:
        raise refuse(f"« {action.label} » : {action.max_rows} lignes au plus par opération.")
    if ids:
        found = set(await sheet.model.filter(id__in=ids).values_list("id", flat=True)) if len(ids) <= 900 else None
        uais = await row_uais(sheet, ids)
        missing = [i for i in ids if (found is not None and i not in found)
                   or (sheet.school_path and not caller.in_scope(uais.get(i)))]
        if missing:
            raise WriteRefused([Issue("Cette ligne n'existe pas (ou plus).", i, kind="missing") for i in missing[:50]])
        if sheet.school_path and not all(caller.allowed(action.roles, uais.get(i)) for i in ids):
            raise refuse(f"« {action.label} » n'est pas permis pour ces établissements.", "forbidden")
    values = parse_form(sheet, action, raw)
    async with unit_of_work() as uow:
        ctx = ActionContext(sheet, caller, ids, values, uow.batch)
        try:
            message = await action.handler(ctx)
        except Conflict as exc:  # the row clashes with another (409)
            raise refuse(str(exc), "conflict") from None
        except ValueError as exc:  # a handler's own refusal (French)
            raise refuse(str(exc), "forbidden" if isinstance(exc, Forbidden) else "invalid") from None
    return WriteResult(batch=uow.batch, changed_rows=len(ids), message=message)
