"""The audit trail as a read-only sheet."""

from __future__ import annotations

from models.audit import AuditEntry, Source
from sheets.engine.declaration import Column, Nav, Sheet, register

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
        Column("sheet", "Feuille", width=110),
        Column("row_key", "Ligne", width=120),
        Column("column", "Colonne", width=150),
        Column("old_value", "Avant", width=200),
        Column("new_value", "Après", width=200),
        Column("source", "Source", kind="choice", width=140, choices=Source),
        Column("undone", "Annulé", kind="boolean", width=90),
    ),
))
