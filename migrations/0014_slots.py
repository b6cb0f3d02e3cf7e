from migrations import migration
from tortoise.migrations import operations as ops
from models.slots import SlotStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

Migration = migration('0013_search', [
    ops.CreateModel(
        name='DeliveryDay',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('day', fields.DateField(unique=True)),
            ('capacity', fields.IntField(default=20)),
            ('booked', fields.IntField(default=0)),
            ('note', fields.CharField(default='', max_length=200)),
            ('version', fields.IntField(default=1)),
        ],
        options={'table': 'delivery_day', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A day La Poste delivers, and how many schools it can deliver that day (capacity), with the booked count.'},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='Slot',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('school', fields.ForeignKeyField('models.School', source_field='school_id', db_constraint=True, to_field='id', related_name='slots', on_delete=OnDelete.CASCADE)),
            ('year', fields.IntField(db_index=True)),
            ('laptops', fields.IntField(default=0)),
            ('status', fields.CharEnumField(default=SlotStatus.TO_BOOK, db_index=True, description='TO_BOOK: a_reserver\nBOOKED: reserve\nDELIVERED: livre\nDISTRIBUTED: distribue\nCLOSED: clos\nCANCELLED: annule', enum_type=SlotStatus, max_length=12)),
            ('delivery_on', fields.DateField(null=True, db_index=True)),
            ('booked_by', fields.ForeignKeyField('models.Contact', source_field='booked_by_id', null=True, db_constraint=True, to_field='id', related_name='booked_slots', on_delete=OnDelete.SET_NULL)),
            ('booked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('rooms', fields.IntField(default=1)),
            ('distribution_on', fields.DateField(null=True, db_index=True)),
            ('class_order', fields.TextField(default='', unique=False)),
            ('class_order_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('accounts_ready', fields.BooleanField(default=False)),
            ('rooms_ready', fields.BooleanField(default=False)),
            ('start_person', fields.CharField(default='', max_length=120)),
            ('end_person', fields.CharField(default='', max_length=120)),
            ('delivery_note_signed_by', fields.ForeignKeyField('models.Contact', source_field='delivery_note_signed_by_id', null=True, db_constraint=True, to_field='id', related_name='signed_delivery_notes', on_delete=OnDelete.SET_NULL)),
            ('boxes_collect_by', fields.DateField(null=True)),
            ('boxes_collected_on', fields.DateField(null=True)),
            ('certificate_signed_by', fields.ForeignKeyField('models.Contact', source_field='certificate_signed_by_id', null=True, db_constraint=True, to_field='id', related_name='signed_certificates', on_delete=OnDelete.SET_NULL)),
            ('certificate_signed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('intervention_note', fields.TextField(default='', unique=False)),
            ('version', fields.IntField(default=1)),
            ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
        ],
        options={'table': 'slot', 'app': 'models', 'unique_together': (('school', 'year'),), 'pk_attr': 'id', 'table_description': "One school's delivery and distribution of a campaign year, from the booking to the signed certificates."},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='Session',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('school', fields.ForeignKeyField('models.School', source_field='school_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
            ('slot', fields.ForeignKeyField('models.Slot', source_field='slot_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
            ('day', fields.DateField()),
            ('starts_at', fields.CharField(max_length=5)),
            ('room', fields.IntField(default=1)),
            ('class_name', fields.CharField(max_length=20)),
            ('students', fields.IntField(default=0)),
            ('position', fields.IntField(default=1)),
            ('roll_call_done', fields.BooleanField(default=False)),
            ('version', fields.IntField(default=1)),
        ],
        options={'table': 'distribution_session', 'app': 'models', 'indexes': [Index(fields=['slot_id', 'position'])], 'pk_attr': 'id', 'table_description': "One class's passage at the distribution: the plan of a school (R-SLOT-6), one row per class."},
        bases=['Model'],
    ),
])
