from migrations import migration
from tortoise.migrations import operations as ops
from models.fleet import DeviceKind, EndChoice, Grade, HolderKind, RestockStatus, Shipping, Situation, Status
from models.schools import Level, Track
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

Migration = migration('0005_accounts', [
    ops.CreateModel(
        name='Holder',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('ident', fields.CharField(unique=True, max_length=20)),
            ('kind', fields.CharEnumField(default=HolderKind.STUDENT, description='STUDENT: eleve\nTEACHER: enseignant\nSTAFF: personnel', enum_type=HolderKind, max_length=12)),
            ('last_name', fields.CharField(max_length=80)),
            ('first_name', fields.CharField(default='', max_length=80)),
            ('school', fields.ForeignKeyField('models.School', source_field='school_id', null=True, db_constraint=True, to_field='id', related_name='holders', on_delete=OnDelete.SET_NULL)),
            ('class_name', fields.CharField(default='', max_length=20)),
            ('level', fields.CharEnumField(null=True, description='SECONDE: 2de\nPREMIERE: 1re\nTERMINALE: Tle\nBMA1: BMA1\nBMA2: BMA2\nCAP1: CAP1\nCAP2: CAP2\nTROISIEME_PM: 3PM\nMCFC: MCFC', enum_type=Level, max_length=8)),
            ('track', fields.CharEnumField(null=True, description='GENERALE: generale\nTECHNOLOGIQUE: technologique\nPROFESSIONNELLE: professionnelle', enum_type=Track, max_length=16)),
            ('situation', fields.CharEnumField(default=Situation.IN_SCHOOL, description='IN_SCHOOL: scolarise\nMOVED_IDF: mute_idf\nLEFT_IDF: parti_hors_idf\nFINISHED: fin_scolarite\nRETIRED: retraite', enum_type=Situation, max_length=16)),
            ('end_choice', fields.CharEnumField(null=True, description='KEEP: garder\nRETURN: restituer', enum_type=EndChoice, max_length=10)),
            ('version', fields.IntField(default=1)),
            ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
        ],
        options={'table': 'holder', 'app': 'models', 'indexes': [Index(fields=['school_id', 'kind', 'last_name']), Index(fields=['school_id', 'level', 'end_choice'])], 'pk_attr': 'id', 'table_description': 'A person holding (or due to hold) a device, only what the work needs (R-SEC-4).'},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='Device',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('serial', fields.CharField(unique=True, max_length=32)),
            ('kind', fields.CharEnumField(default=DeviceKind.STUDENT_LAPTOP, description='STUDENT_LAPTOP: pc_eleve\nTEACHER_LAPTOP: pc_enseignant\nSTAFF_LAPTOP: pc_personnel\nSCREEN: eni\nOPS: ops', enum_type=DeviceKind, max_length=16)),
            ('model', fields.CharField(default='', max_length=60)),
            ('supplier', fields.CharField(default='Unowhy', max_length=60)),
            ('school', fields.ForeignKeyField('models.School', source_field='school_id', null=True, db_constraint=True, to_field='id', related_name='devices', on_delete=OnDelete.SET_NULL)),
            ('holder', fields.ForeignKeyField('models.Holder', source_field='holder_id', null=True, db_constraint=True, to_field='id', related_name='devices', on_delete=OnDelete.SET_NULL)),
            ('status', fields.CharEnumField(default=Status.STOCK, description='STOCK: stock\nASSIGNED: affecte\nDELIVERED: livre\nDISTRIBUTED: remis\nKEPT: conserve\nTO_RETURN: a_restituer\nRETURNED: restitue\nRECONDITIONED: reinitialise\nAFTER_SALES: sav\nSTOLEN: vole\nLOST: perdu', enum_type=Status, max_length=16)),
            ('grade', fields.CharEnumField(null=True, description='AS_NEW: comme_neuf\nFAIR: correct\nWORN: degrade', enum_type=Grade, max_length=12)),
            ('computer', fields.BooleanField(default=True)),
            ('mdm_enrolled', fields.BooleanField(default=False)),
            ('mdm_unenroll_by', fields.DateField(null=True)),
            ('loan_accepted_on', fields.DateField(null=True)),
            ('delivered_on', fields.DateField(null=True)),
            ('distributed_on', fields.DateField(null=True)),
            ('office_installed', fields.BooleanField(default=False)),
            ('evidence_ref', fields.CharField(default='', max_length=60)),
            ('wave', fields.IntField(null=True)),
            ('training_done', fields.BooleanField(default=False)),
            ('restock_id', fields.IntField(null=True)),
            ('version', fields.IntField(default=1)),
            ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
        ],
        options={'table': 'device', 'app': 'models', 'indexes': [Index(fields=['school_id', 'status', 'serial']), Index(fields=['status', 'serial']), Index(fields=['holder_id', 'status'])], 'pk_attr': 'id', 'table_description': "A laptop or a screen of the Région's fleet (R-FLEET-1)."},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='RestockRequest',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('school', fields.ForeignKeyField('models.School', source_field='school_id', db_constraint=True, to_field='id', related_name='restocks', on_delete=OnDelete.CASCADE)),
            ('quantity', fields.IntField()),
            ('reason', fields.CharField(default='Nouveaux élèves', max_length=120)),
            ('shipping', fields.CharEnumField(default=Shipping.PARCEL, description='CARRIER: transporteur\nPARCEL: colissimo', enum_type=Shipping, max_length=12)),
            ('status', fields.CharEnumField(default=RestockStatus.REQUESTED, description='REQUESTED: demande\nSHIPPED: expedie\nRECEIVED: recu\nSIGNED: attestation_signee\nASSIGNED: affecte', enum_type=RestockStatus, max_length=20)),
            ('requested_on', fields.DateField(null=True)),
            ('received_on', fields.DateField(null=True)),
            ('signed_by', fields.CharField(default='', max_length=160)),
            ('version', fields.IntField(default=1)),
            ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
        ],
        options={'table': 'restock_request', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A restock during the year for new students (R-FLEET-12).'},
        bases=['Model'],
    ),
])
