from migrations import migration
from tortoise.migrations import operations as ops
from tortoise import fields

Migration = migration('0008_engine', [
    ops.AlterField(
        model_name='User',
        name='totp_secret',
        field=fields.CharField(default='', max_length=255),
    ),
    ops.AddField(
        model_name='User',
        name='security_stamp',
        field=fields.CharField(default='', max_length=32),
    ),
])
