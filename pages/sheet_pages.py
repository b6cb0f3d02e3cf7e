"""Generic pages of the engine: any declared sheet at /feuilles/<name>, the audit journal."""

from __future__ import annotations

from nicegui import ui

from pages.errors import not_found
from pages.grid import SheetGrid, caller_for_page
from pages.layout import frame
from sheets.declaration import get_sheet


@ui.page("/feuilles/{name}")
async def sheet_page(name: str) -> None:
    """Any declared sheet as a grid."""
    try:
        sheet = get_sheet(name)
    except KeyError as exc:
        not_found("Feuille introuvable", str(exc.args[0]))
        return
    if sheet.page_path and sheet.page_path != f"/feuilles/{name}":
        ui.navigate.to(sheet.page_path)
        return
    with frame(sheet.label):
        if sheet.description:
            ui.label(sheet.description).classes("text-grey-8")
        SheetGrid(sheet, caller_for_page())


@ui.page("/journal")
async def audit_page() -> None:
    """The audit trail: every change, read-only."""
    sheet = get_sheet("audit")
    with frame(sheet.label, active="/journal"):
        ui.label(sheet.description).classes("text-grey-8")
        SheetGrid(sheet, caller_for_page())
