"""Generic pages of the engine: any declared sheet at /feuilles/<name> (or its own path), the audit journal."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from nicegui import ui

from models.accounts import STAFF_ROLES, Role
from pages.auth import caller_for_page, forbidden_page, page
from pages.components.frame import frame
from pages.components.grid import SheetGrid
from pages.errors import not_found
from sheets.engine.declaration import Sheet, get_sheet

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _is_day(value: str) -> bool:
    import datetime as dt

    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def filter_from_query(sheet: Sheet, params: dict[str, str]) -> dict[str, Any] | None:
    """An initial grid filter from the page's query string: `?school=0750001A&status=livre&loan_accepted_on=vide`
    (a text, choice or reference column equal to a value, a whole number, a date column on a day `AAAA-MM-JJ`, a
    Oui/Non column with `oui` or `non`, `vide` for an empty cell of any column); other parameters are ignored. A link
    of the home or of a chart opens the grid on the rows it counted."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if not sheet.has_column(name):
            continue
        column = sheet.column(name)
        value = value.strip()[:100]
        family = {"date": "date", "datetime": "date", "integer": "number", "decimal": "number",
                  "euro": "number"}.get(column.kind, "text")
        if value == "vide":
            out[name] = {"filterType": family, "type": "blank"}
        elif family == "date" and _ISO_DAY.fullmatch(value) and _is_day(value):
            out[name] = {"filterType": "date", "type": "equals", "dateFrom": value}
        elif family == "number" and re.fullmatch(r"-?\d{1,12}", value):
            out[name] = {"filterType": "number", "type": "equals", "filter": int(value)}
        elif column.kind == "boolean" and value.lower() in ("oui", "non"):
            out[name] = {"filterType": "text", "type": "equals", "filter": value.capitalize()}
        elif value and column.kind in ("text", "choice", "reference"):
            out[name] = {"filterType": "text", "type": "equals",
                         "filter": value.upper() if column.kind == "reference" else value}
    return out or None


async def sheet_grid_page(sheet: Sheet, request: Request | None = None, *, intro: str = "",
                          height: str | None = None, initial: dict[str, Any] | None = None) -> None:
    """A sheet's page: its label, description and grid, for a caller who may read it (else the 403 page)."""
    caller = await caller_for_page()
    if not sheet.may_read(caller):
        forbidden_page(f"Accès refusé : votre rôle ne donne pas accès à « {sheet.label} » (R-SEC-4).")
        return
    query = filter_from_query(sheet, dict(request.query_params)) if request is not None else None
    with frame(sheet.label, active=sheet.path, fill=height is None):
        if intro or sheet.description:
            ui.label(intro or sheet.description).classes("text-grey-8")
        SheetGrid(sheet, caller, height=height, initial_filter={**(initial or {}), **(query or {})} or None)


@page("/feuilles/{name}", roles=STAFF_ROLES)
async def sheet_page(name: str, request: Request) -> None:
    """Any declared sheet as a grid, filtered by the query string when it names columns."""
    try:
        sheet = get_sheet(name)
    except KeyError as exc:
        not_found("Feuille introuvable", str(exc.args[0]))
        return
    if sheet.page_path and sheet.page_path != f"/feuilles/{name}":
        ui.navigate.to(sheet.page_path)
        return
    await sheet_grid_page(sheet, request)


@page("/journal", roles={Role.ADMIN})
async def audit_page(request: Request) -> None:
    """The audit trail: every change, read-only (admins, R-SEC-4)."""
    await sheet_grid_page(get_sheet("audit"), request)
