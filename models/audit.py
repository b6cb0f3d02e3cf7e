"""Audit trail: every change of every sheet, whatever its source, append-only for users."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Source(StrEnum):
    """Where a change came from."""

    GRID = "grid"
    BULK = "bulk"
    PASTE = "paste"
    IMPORT = "import"
    API = "api"
    CLI = "cli"
    JOB = "job"
    UNDO = "undo"


SOURCE_LABELS: dict[str, str] = {
    "grid": "Grille", "bulk": "Modification en masse", "paste": "Collage", "import": "Import Excel",
    "api": "API", "cli": "Ligne de commande", "job": "Tâche planifiée", "undo": "Annulation",
}


class AuditEntry(Model):
    """One changed cell (or a created row when column is '*'), written in the change's own transaction."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)
    actor = fields.CharField(max_length=254, db_index=True)
    sheet = fields.CharField(max_length=40)
    row_id = fields.BigIntField()
    row_key = fields.CharField(max_length=120)
    column = fields.CharField(max_length=60)
    old_value = fields.TextField(null=True)
    new_value = fields.TextField(null=True)
    source = fields.CharEnumField(Source, max_length=10)
    batch = fields.CharField(max_length=32, db_index=True)
    undone = fields.BooleanField(default=False)

    class Meta:
        table = "audit_entry"
        indexes = (("sheet", "row_id", "at"), ("actor", "at"))
