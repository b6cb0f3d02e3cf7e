from migrations import migration
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

Migration = migration('0003_reminders', [
    ops.CreateModel(
        name='SavedView',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('owner', fields.CharField(max_length=254)),
            ('sheet', fields.CharField(max_length=40)),
            ('name', fields.CharField(max_length=80)),
            ('state', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
            ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
        ],
        options={'table': 'saved_view', 'app': 'models', 'unique_together': (('owner', 'sheet', 'name'),), 'pk_attr': 'id', 'table_description': 'A named view of a sheet, owned by one user.'},
        bases=['Model'],
    ),
])
