from migrations import migration
from tortoise.migrations import operations as ops
from models.audit import Source
from tortoise import fields

# SQLite rebuilds a table to alter a column, and Tortoise 1.1 does not recreate its indexes: put them back.
_AUDIT_INDEXES = (
    'CREATE INDEX IF NOT EXISTS "idx_audit_entry_at_c3f19e" ON "audit_entry" ("at")',
    'CREATE INDEX IF NOT EXISTS "idx_audit_entry_actor_51f72e" ON "audit_entry" ("actor")',
    'CREATE INDEX IF NOT EXISTS "idx_audit_entry_batch_3705f7" ON "audit_entry" ("batch")',
    'CREATE INDEX IF NOT EXISTS "idx_audit_entry_sheet_174561" ON "audit_entry" ("sheet", "row_id", "at")',
    'CREATE INDEX IF NOT EXISTS "idx_audit_entry_actor_856041" ON "audit_entry" ("actor", "at")',
)


async def _restore_audit_indexes(apps, state_editor) -> None:
    if state_editor.client.capabilities.dialect == "sqlite":
        for sql in _AUDIT_INDEXES:
            await state_editor.client.execute_script(sql)


Migration = migration('0007_equipment', [
    ops.CreateModel(
        name='SheetVersion',
        fields=[
            ('sheet', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
            ('version', fields.BigIntField(default=0)),
        ],
        options={'table': 'sheet_version', 'app': 'models', 'pk_attr': 'sheet', 'table_description': "The data version of a sheet: bumped by every write of the engine, in the write's transaction, and read by"},
        bases=['Model'],
    ),
    ops.AlterField(
        model_name='AuditEntry',
        name='source',
        field=fields.CharEnumField(description='GRID: grid\nBULK: bulk\nPASTE: paste\nIMPORT: import\nAPI: api\nCLI: cli\nJOB: job\nUNDO: undo\nACTION: action\nPAGE: page\nSCHOOL: ecole', enum_type=Source, max_length=10),
    ),
    ops.RunPython(_restore_audit_indexes),
    ops.AddField(
        model_name='ContactRoleAssignment',
        name='version',
        field=fields.IntField(default=1),
    ),
])
