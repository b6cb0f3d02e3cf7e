from migrations import migration
from tortoise.migrations import operations as ops
from models.accounts import EventKind, Role
from tortoise.fields.base import OnDelete
from tortoise import fields

Migration = migration('0004_saved_views', [
    ops.CreateModel(
        name='User',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('email', fields.CharField(unique=True, max_length=254)),
            ('full_name', fields.CharField(max_length=120)),
            ('role', fields.CharEnumField(description='ADMIN: admin\nAGENT: agent\nLECTEUR: lecteur\nLAPOSTE: laposte\nUNOWHY: unowhy\nMAINTENANCE: maintenance', enum_type=Role, max_length=16)),
            ('organisation', fields.CharField(default='', max_length=120)),
            ('is_active', fields.BooleanField(default=True)),
            ('password_hash', fields.CharField(default='', max_length=255)),
            ('password_changed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('must_change_password', fields.BooleanField(default=True)),
            ('totp_secret', fields.CharField(default='', max_length=64)),
            ('totp_enabled', fields.BooleanField(default=False)),
            ('totp_last_step', fields.BigIntField(default=0)),
            ('last_login_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
        ],
        options={'table': 'app_user', 'app': 'models', 'pk_attr': 'id', 'table_description': "A person who logs in: the Région's team or a partner."},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='ApiToken',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='tokens', on_delete=OnDelete.CASCADE)),
            ('name', fields.CharField(max_length=100)),
            ('prefix', fields.CharField(max_length=16)),
            ('token_hash', fields.CharField(unique=True, max_length=64)),
            ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
        ],
        options={'table': 'apitoken', 'app': 'models', 'pk_attr': 'id', 'table_description': "A bearer token for partners and scripts, stored hashed, carrying its user's rights."},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='RecoveryCode',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='recovery_codes', on_delete=OnDelete.CASCADE)),
            ('code_hash', fields.CharField(max_length=64)),
            ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
        ],
        options={'table': 'recoverycode', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A one-time TOTP recovery code, stored hashed.'},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='SecurityEvent',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ('kind', fields.CharEnumField(description='LOGIN_OK: login_ok\nLOGIN_FAILED: login_failed\nLOGIN_LOCKED: login_locked\nLOCKOUT: lockout\nLOGOUT: logout\nSESSION_EXPIRED: session_expired\nTOTP_ENROLLED: totp_enrolled\nTOTP_RESET: totp_reset\nTOTP_FAILED: totp_failed\nRECOVERY_CODE_USED: recovery_code_used\nSTEP_UP: step_up\nPASSWORD_CHANGED: password_changed\nPASSWORD_RESET: password_reset\nUSER_CREATED: user_created\nROLE_CHANGED: role_changed\nUSER_DISABLED: user_disabled\nUSER_ENABLED: user_enabled\nTOKEN_CREATED: token_created\nTOKEN_REVOKED: token_revoked', enum_type=EventKind, max_length=32)),
            ('email', fields.CharField(default='', db_index=True, max_length=254)),
            ('user', fields.ForeignKeyField('models.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='security_events', on_delete=OnDelete.SET_NULL)),
            ('actor_email', fields.CharField(default='', max_length=254)),
            ('ip', fields.CharField(default='', db_index=True, max_length=64)),
            ('detail', fields.CharField(default='', max_length=500)),
        ],
        options={'table': 'securityevent', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One entry of the security journal: logins, lockouts, TOTP, roles, tokens.'},
        bases=['Model'],
    ),
])
