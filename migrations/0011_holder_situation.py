from migrations import migration
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

Migration = migration('0010_school_access', [
    ops.AddIndex(
        model_name='Holder',
        index=Index(fields=['situation', 'school_id']),
    ),
])
