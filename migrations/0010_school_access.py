from migrations import migration
from tortoise.migrations import operations as ops
from models.access import AccessEventKind
from models.accounts import Role
from models.fleet import HolderKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

Migration = migration('0009_security', [
    ops.CreateModel(
        name='AccessEvent',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ('kind', fields.CharEnumField(description='REQUESTED: requested\nISSUED: issued\nUNKNOWN: unknown\nGENERIC: generic\nLIMITED: limited\nOPENED: opened\nREFUSED: refused\nEXPIRED: expired\nLOGOUT: logout\nREVOKED: revoked\nENDED: ended', enum_type=AccessEventKind, max_length=16)),
            ('email', fields.CharField(default='', max_length=254)),
            ('ip', fields.CharField(default='', max_length=64)),
            ('uais', fields.CharField(default='', max_length=40)),
            ('actor', fields.CharField(default='', max_length=254)),
            ('detail', fields.CharField(default='', max_length=300)),
        ],
        options={'table': 'access_event', 'app': 'models', 'indexes': [Index(fields=['email', 'at']), Index(fields=['ip', 'at'])], 'pk_attr': 'id', 'table_description': 'One entry of the access journal: requests, links sent, sessions opened, refused, ended, revoked.'},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='AccessSession',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('email', fields.CharField(db_index=True, max_length=254)),
            ('key_hash', fields.CharField(unique=True, max_length=64)),
            ('token_id', fields.IntField(null=True)),
            ('opened_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('end_reason', fields.CharField(default='', max_length=16)),
            ('ip', fields.CharField(default='', max_length=64)),
        ],
        options={'table': 'access_session', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A school session opened by a link: its person (e-mail), its secret (hashed), when it ends.'},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='AccessToken',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('email', fields.CharField(db_index=True, max_length=254)),
            ('token_hash', fields.CharField(unique=True, max_length=64)),
            ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('ip', fields.CharField(default='', max_length=64)),
            ('used_ip', fields.CharField(default='', max_length=64)),
        ],
        options={'table': 'access_token', 'app': 'models', 'pk_attr': 'id', 'table_description': "A single-use link sent to a contact's own address, stored as its SHA-256."},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='ListUpload',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('school', fields.ForeignKeyField('models.School', source_field='school_id', db_constraint=True, to_field='id', related_name='list_uploads', on_delete=OnDelete.CASCADE)),
            ('kind', fields.CharEnumField(description='STUDENT: eleve\nTEACHER: enseignant\nSTAFF: personnel', enum_type=HolderKind, max_length=12)),
            ('uploaded_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ('uploaded_by', fields.CharField(default='', max_length=254)),
            ('new', fields.IntField(default=0)),
            ('moved', fields.IntField(default=0)),
            ('updated', fields.IntField(default=0)),
            ('left', fields.IntField(default=0)),
            ('version', fields.IntField(default=1)),
        ],
        options={'table': 'list_upload', 'app': 'models', 'indexes': [Index(fields=['school_id', 'kind', 'uploaded_at'])], 'pk_attr': 'id', 'table_description': 'One student or teacher list applied for a school: when, by whom, what it changed.'},
        bases=['Model'],
    ),
    ops.AlterField(
        model_name='User',
        name='role',
        field=fields.CharEnumField(description='ADMIN: admin\nAGENT: agent\nLECTEUR: lecteur\nLAPOSTE: laposte\nUNOWHY: unowhy\nMAINTENANCE: maintenance\nECOLE: ecole', enum_type=Role, max_length=16),
    ),
])
