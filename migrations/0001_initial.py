from migrations import migration
from tortoise.migrations import operations as ops
from models.schools import Academie, ContactRole, Level, Mode, SchoolType, Track
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

Migration = migration(None, [
    ops.CreateModel(
        name='School',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('uai', fields.CharField(unique=True, max_length=8)),
            ('name', fields.CharField(max_length=200)),
            ('type', fields.CharEnumField(default=SchoolType.LPO, description='LEGT: LEGT\nLPO: LPO\nLP: LP\nLGT: LGT\nEREA: EREA\nLA: LA', enum_type=SchoolType, max_length=8)),
            ('departement', fields.CharField(db_index=True, max_length=2)),
            ('academie', fields.CharEnumField(db_index=True, description='PARIS: paris\nCRETEIL: creteil\nVERSAILLES: versailles', enum_type=Academie, max_length=12)),
            ('commune', fields.CharField(default='', max_length=120)),
            ('postal_code', fields.CharField(default='', max_length=5)),
            ('mode', fields.CharEnumField(default=Mode.NUMERIQUE, description='NUMERIQUE: numerique\nPAPIER: papier', enum_type=Mode, max_length=10)),
            ('track_generale', fields.BooleanField(default=False)),
            ('track_technologique', fields.BooleanField(default=False)),
            ('track_professionnelle', fields.BooleanField(default=False)),
            ('csn_deployed', fields.BooleanField(default=False)),
            ('wifi_mdm_configured', fields.BooleanField(default=False)),
            ('wifi_ssid', fields.CharField(default='', max_length=64)),
            ('wifi_code_changed', fields.BooleanField(default=False)),
            ('version', fields.IntField(default=1)),
            ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
        ],
        options={'table': 'school', 'app': 'models', 'indexes': [Index(fields=['academie', 'name'])], 'pk_attr': 'id', 'table_description': 'A public lycée, identified by its UAI (R-SCH-1 … R-SCH-7).'},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='Contact',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('school', fields.ForeignKeyField('models.School', source_field='school_id', db_constraint=True, to_field='id', related_name='contacts', on_delete=OnDelete.CASCADE)),
            ('full_name', fields.CharField(max_length=160)),
            ('email', fields.CharField(db_index=True, max_length=254)),
            ('until', fields.DateField(null=True)),
            ('version', fields.IntField(default=1)),
            ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
        ],
        options={'table': 'contact', 'app': 'models', 'unique_together': (('school', 'email'),), 'pk_attr': 'id', 'table_description': 'A person of a school with an e-mail (R-SCH-5), possibly also in another school (R-ORG-1).'},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='ContactRoleAssignment',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('contact', fields.ForeignKeyField('models.Contact', source_field='contact_id', db_constraint=True, to_field='id', related_name='roles', on_delete=OnDelete.CASCADE)),
            ('role', fields.CharEnumField(db_index=True, description='CHEF: chef_etablissement\nCOORDONNATEUR: coordonnateur_numerique\nADML: adml\nRESP_AFFECT_GAR: resp_affect_gar\nLA_POSTE: groupe_la_poste\nCRRE_PRESCRIPTEUR: crre_prescripteur\nCRRE_VALIDEUR: crre_valideur\nRRUPN: rrupn', enum_type=ContactRole, max_length=32)),
        ],
        options={'table': 'contact_role', 'app': 'models', 'unique_together': (('contact', 'role'),), 'pk_attr': 'id', 'table_description': 'One role held by a contact in its school (R-SCH-5).'},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='Enrolment',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('school', fields.ForeignKeyField('models.School', source_field='school_id', db_constraint=True, to_field='id', related_name='enrolments', on_delete=OnDelete.CASCADE)),
            ('track', fields.CharEnumField(description='GENERALE: generale\nTECHNOLOGIQUE: technologique\nPROFESSIONNELLE: professionnelle', enum_type=Track, max_length=16)),
            ('level', fields.CharEnumField(description='SECONDE: 2de\nPREMIERE: 1re\nTERMINALE: Tle\nBMA1: BMA1\nBMA2: BMA2\nCAP1: CAP1\nCAP2: CAP2\nTROISIEME_PM: 3PM\nMCFC: MCFC', enum_type=Level, max_length=8)),
            ('students', fields.IntField(default=0)),
        ],
        options={'table': 'enrolment', 'app': 'models', 'unique_together': (('school', 'track', 'level'),), 'pk_attr': 'id', 'table_description': 'Number of students of a school per track and level (for budgets, R-BASKET-1).'},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='SupportDesk',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('name', fields.CharField(unique=True, max_length=120)),
            ('topic', fields.CharField(default='', max_length=200)),
            ('audience', fields.CharField(default='', max_length=200)),
            ('hours', fields.CharField(default='', max_length=120)),
            ('phone', fields.CharField(default='', max_length=40)),
            ('email', fields.CharField(default='', max_length=254)),
            ('address', fields.CharField(default='', max_length=200)),
            ('do_not_share', fields.BooleanField(default=False)),
            ('version', fields.IntField(default=1)),
        ],
        options={'table': 'support_desk', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A support desk of the directory (R-ORG-3), generic desks only, never a named person.'},
        bases=['Model'],
    ),
], initial=True)
