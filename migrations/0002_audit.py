from migrations import migration
from tortoise.migrations import operations as ops
from models.audit import Source
from tortoise import fields
from tortoise.indexes import Index

Migration = migration('0001_initial', [
    ops.CreateModel(
        name='AuditEntry',
        fields=[
            ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ('actor', fields.CharField(db_index=True, max_length=254)),
            ('sheet', fields.CharField(max_length=40)),
            ('row_id', fields.BigIntField()),
            ('row_key', fields.CharField(max_length=120)),
            ('column', fields.CharField(max_length=60)),
            ('old_value', fields.TextField(null=True, unique=False)),
            ('new_value', fields.TextField(null=True, unique=False)),
            ('source', fields.CharEnumField(description='GRID: grid\nBULK: bulk\nPASTE: paste\nIMPORT: import\nAPI: api\nCLI: cli\nJOB: job\nUNDO: undo', enum_type=Source, max_length=10)),
            ('batch', fields.CharField(db_index=True, max_length=32)),
            ('undone', fields.BooleanField(default=False)),
        ],
        options={'table': 'audit_entry', 'app': 'models', 'indexes': [Index(fields=['sheet', 'row_id', 'at']), Index(fields=['actor', 'at'])], 'pk_attr': 'id', 'table_description': "One changed cell (or a created row when column is '*'), written in the change's own transaction."},
        bases=['Model'],
    ),
])
