from migrations import migration
from tortoise.migrations import operations as ops
from models.campaign import Audience
from models.outbox import MailStatus
from models.schools import ContactRole
from tortoise import fields
from tortoise.indexes import Index

Migration = migration('0002_audit', [
    ops.CreateModel(
        name='CampaignEvent',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('year', fields.IntField(db_index=True)),
            ('slug', fields.CharField(max_length=60)),
            ('rule_id', fields.CharField(max_length=20)),
            ('title', fields.CharField(max_length=200)),
            ('action', fields.TextField(default='', unique=False)),
            ('where', fields.CharField(default='', max_length=200)),
            ('starts_on', fields.DateField(null=True)),
            ('due_on', fields.DateField()),
            ('audience', fields.CharEnumField(default=Audience.ALL, description='ALL: all\nNUMERIQUE: numerique\nPAPIER: papier', enum_type=Audience, max_length=12)),
            ('cc_role', fields.CharEnumField(null=True, description='CHEF: chef_etablissement\nCOORDONNATEUR: coordonnateur_numerique\nADML: adml\nRESP_AFFECT_GAR: resp_affect_gar\nLA_POSTE: groupe_la_poste\nCRRE_PRESCRIPTEUR: crre_prescripteur\nCRRE_VALIDEUR: crre_valideur\nRRUPN: rrupn', enum_type=ContactRole, max_length=32)),
            ('remind_days', fields.CharField(default='14,7,2,0', max_length=60)),
            ('note', fields.CharField(default='', max_length=300)),
            ('version', fields.IntField(default=1)),
        ],
        options={'table': 'campaign_event', 'app': 'models', 'unique_together': (('year', 'slug'),), 'pk_attr': 'id', 'table_description': 'A dated event of a campaign year, its audience and when to remind the schools of it.'},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='JobLease',
        fields=[
            ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=60)),
            ('holder', fields.CharField(max_length=80)),
            ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
        ],
        options={'table': 'job_lease', 'app': 'models', 'pk_attr': 'name', 'table_description': 'The instance holding the right to run jobs until a time (renewed while it lives).'},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='JobState',
        fields=[
            ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=60)),
            ('last_run_on', fields.DateField(null=True)),
            ('last_run_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('last_result', fields.TextField(default='', unique=False)),
        ],
        options={'table': 'job_state', 'app': 'models', 'pk_attr': 'name', 'table_description': 'When a scheduled job last ran (to run a missed daily job once after downtime).'},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='OutboxMail',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('key', fields.CharField(unique=True, max_length=200)),
            ('kind', fields.CharField(default='digest', max_length=40)),
            ('school_uai', fields.CharField(null=True, db_index=True, max_length=8)),
            ('recipients', fields.TextField(unique=False)),
            ('subject', fields.CharField(max_length=300)),
            ('body_text', fields.TextField(unique=False)),
            ('body_html', fields.TextField(default='', unique=False)),
            ('items', fields.TextField(default='[]', unique=False)),
            ('message_id', fields.CharField(max_length=120)),
            ('status', fields.CharEnumField(default=MailStatus.PENDING, db_index=True, description='PENDING: pending\nSENDING: sending\nSENT: sent\nFAILED: failed', enum_type=MailStatus, max_length=10)),
            ('attempts', fields.IntField(default=0)),
            ('last_error', fields.TextField(default='', unique=False)),
            ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('claim_token', fields.CharField(null=True, db_index=True, max_length=40)),
            ('claimed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
        ],
        options={'table': 'outbox_mail', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': 'One mail to send, identified by its idempotency key (rule + school + deadline + day).'},
        bases=['Model'],
    ),
])
