from migrations import migration
from tortoise.migrations import operations as ops
from models.equipment import EquipmentKind, EquipmentStatus, TrackNeed
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

Migration = migration('0006_fleet', [
    ops.CreateModel(
        name='FixedEquipment',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('school', fields.ForeignKeyField('models.School', source_field='school_id', db_constraint=True, to_field='id', related_name='equipment', on_delete=OnDelete.CASCADE)),
            ('room', fields.CharField(max_length=80)),
            ('kind', fields.CharEnumField(default=EquipmentKind.DESKTOP, description='DESKTOP: poste_fixe\nPROJECTOR: videoprojecteur\nSERVER: serveur\nWIFI: borne_wifi\nPRINTER: imprimante\nOTHER: autre', enum_type=EquipmentKind, max_length=16)),
            ('track', fields.CharEnumField(default=TrackNeed.ALL, description='ALL: tous\nGENERALE: generale\nTECHNOLOGIQUE: technologique\nPROFESSIONNELLE: professionnelle', enum_type=TrackNeed, max_length=16)),
            ('quantity', fields.IntField(default=1)),
            ('status', fields.CharEnumField(default=EquipmentStatus.NEED, description='NEED: besoin\nORDERED: commande\nDELIVERED: livre\nINSTALLED: installe\nWITHDRAWN: retire', enum_type=EquipmentStatus, max_length=12)),
            ('ordered_on', fields.DateField(null=True)),
            ('delivered_on', fields.DateField(null=True)),
            ('installed_on', fields.DateField(null=True)),
            ('order_ref', fields.CharField(default='', max_length=40)),
            ('version', fields.IntField(default=1)),
            ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
        ],
        options={'table': 'fixed_equipment', 'app': 'models', 'indexes': [Index(fields=['school_id', 'status']), Index(fields=['track', 'status'])], 'pk_attr': 'id', 'table_description': 'A need of fixed equipment in a room of a school, followed to its installation (R-FLEET-15).'},
        bases=['Model'],
    ),
    ops.AddIndex(
        model_name='Device',
        index=Index(fields=['status', 'loan_accepted_on', 'school_id']),
    ),
])
