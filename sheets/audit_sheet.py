"""The audit trail as a read-only sheet."""

from __future__ import annotations

import json
from typing import Any

from models.audit import AuditEntry, Source
from sheets.engine.declaration import Column, Nav, Sheet, get_sheet, register
from sheets.engine.values import to_text


def _sheet(name: Any) -> Sheet | None:
    try:
        return get_sheet(str(name))
    except KeyError:
        return None


def sheet_label(value: Any, row: dict[str, Any]) -> str:
    """The sheet's French label for its name."""
    sheet = _sheet(value)
    return sheet.label if sheet else str(value or "")


def column_label(value: Any, row: dict[str, Any]) -> str:
    """The column's French label (« * »: the whole row, created or removed)."""
    if value == "*":
        return "Ligne entière"
    sheet = _sheet(row.get("sheet"))
    return sheet.column(value).label if sheet and sheet.has_column(str(value)) else str(value or "")


def value_text(value: Any, row: dict[str, Any]) -> str:
    """A stored value (JSON) as the grid shows it: « Oui », 12/09/2024, the choice's label…"""
    if value is None:
        return ""
    try:
        decoded = json.loads(value)
    except (TypeError, ValueError):
        return str(value)
    sheet = _sheet(row.get("sheet"))
    name = str(row.get("column") or "")
    if isinstance(decoded, dict):  # a row created or removed: its values, labelled
        parts = []
        for key, item in decoded.items():
            column = sheet.column(key) if sheet and sheet.has_column(key) else None
            parts.append(f"{column.label if column else key} : {to_text(column, item) if column else item}")
        return " · ".join(parts)
    if sheet is not None and sheet.has_column(name):
        return to_text(sheet.column(name), decoded)
    return "" if decoded is None else str(decoded)


AUDIT = register(Sheet(
    name="audit",
    label="Journal des modifications",
    model=AuditEntry,
    read_roles=frozenset({"admin"}),
    key="id",
    personal_data=True,
    default_sort=("-id",),
    edit_roles=frozenset(),
    versioned=False,
    page_path="/journal",
    nav=Nav("Administration", "manage_history", 30),
    description="Chaque modification, quelle que soit sa source : qui, quand, quoi, avant → après.",
    columns=(
        Column("id", "N°", kind="integer", width=90),
        Column("at", "Date", kind="datetime", width=150),
        Column("actor", "Auteur", width=200),
        Column("sheet", "Feuille", width=170, display=sheet_label),
        Column("row_key", "Ligne", width=120),
        Column("column", "Colonne", width=170, display=column_label),
        Column("old_value", "Avant", width=220, display=value_text),
        Column("new_value", "Après", width=220, display=value_text),
        Column("source", "Source", kind="choice", width=140, choices=Source),
        Column("undone", "Annulé", kind="boolean", width=90),
    ),
))
