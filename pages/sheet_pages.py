"""Generic pages of the engine: any declared sheet at /feuilles/<name>, the audit journal."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from nicegui import ui

from models.accounts import Role
from pages.auth import forbidden_page, require_roles
from pages.components.frame import frame
from pages.components.grid import SheetGrid, caller_for_page
from pages.errors import not_found
from sheets.engine.declaration import Sheet, get_sheet


def filter_from_query(sheet: Sheet, params: dict[str, str]) -> dict[str, Any] | None:
    """An initial grid filter from the page's query string: `?school=0750001A&status=livre` (a text, choice or
    reference column equal to a value, `vide` for an empty one); other parameters are ignored."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if not sheet.has_column(name) or sheet.column(name).kind not in ("text", "choice", "reference"):
            continue
        column = sheet.column(name)
        value = value.strip()
        if value == "vide":
            out[name] = {"filterType": "text", "type": "blank"}
        elif value:
            out[name] = {"filterType": "text", "type": "equals",
                         "filter": value.upper() if column.kind == "reference" else value}
    return out or None


@ui.page("/feuilles/{name}")
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
    caller = await caller_for_page()
    if not sheet.may_read(caller.role):
        forbidden_page(f"Votre rôle ne donne pas accès à « {sheet.label} » (R-SEC-4).")
        return
    with frame(sheet.label, active=f"/feuilles/{name}"):
        if sheet.description:
            ui.label(sheet.description).classes("text-grey-8")
        SheetGrid(sheet, caller, initial_filter=filter_from_query(sheet, dict(request.query_params)))


@ui.page("/journal")
@require_roles(Role.ADMIN)
async def audit_page() -> None:
    """The audit trail: every change, read-only (admins, R-SEC-4)."""
    sheet = get_sheet("audit")
    caller = await caller_for_page()
    with frame(sheet.label, active="/journal"):
        ui.label(sheet.description).classes("text-grey-8")
        SheetGrid(sheet, caller)
