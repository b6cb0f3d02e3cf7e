"""Audit trail: every change of every sheet, whatever its source, append-only for users."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.vocab import Labeled


class Source(Labeled):
    """Where a change came from."""

    GRID = "grid", "Grille"
    BULK = "bulk", "Modification en masse"
    PASTE = "paste", "Collage"
    IMPORT = "import", "Import Excel"
    API = "api", "API"
    CLI = "cli", "Ligne de commande"
    JOB = "job", "Tâche planifiée"
    UNDO = "undo", "Annulation"
    ACTION = "action", "Action sur des lignes"
    PAGE = "page", "Page de l'application"
    SCHOOL = "ecole", "Lien e-mail (établissement)"


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


class SheetVersion(Model):
    """The data version of a sheet: bumped by every write of the engine, in the write's transaction, and read by
    every cache (row counts, block cursors), so several app processes on one database never serve stale rows."""

    sheet = fields.CharField(max_length=40, primary_key=True)
    version = fields.BigIntField(default=0)

    class Meta:
        table = "sheet_version"
