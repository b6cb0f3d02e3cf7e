from migrations import migration
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

Migration = migration('0012_tickets', [
    ops.AddIndex(
        model_name='Holder',
        index=Index(fields=['last_name', 'first_name']),
    ),
])
