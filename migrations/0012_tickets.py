from migrations import migration
from tortoise.migrations import operations as ops
from decimal import Decimal
from models.schools import ContactRole
from models.tickets import Channel, Criticality, EventKind, Handling, Profile, SlaState, TicketStatus, VisitKind, VisitStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

# Adding the contact role « acces_tickets » (R-TICKET-3) changes the enum's description of two columns: SQLite
# rebuilds those tables, and Tortoise 1.1 recreates neither their indexes nor their UNIQUE constraints. Put them back.
_RESTORE = (
    'CREATE UNIQUE INDEX IF NOT EXISTS "uid_contact_rol_contact_a4669e" ON "contact_role" ("contact_id", "role")',
    'CREATE INDEX IF NOT EXISTS "idx_contact_rol_role_ff2e5c" ON "contact_role" ("role")',
    'CREATE UNIQUE INDEX IF NOT EXISTS "uid_campaign_ev_year_c1f112" ON "campaign_event" ("year", "slug")',
    'CREATE INDEX IF NOT EXISTS "idx_campaign_ev_year_a95aa9" ON "campaign_event" ("year")',
)


async def _restore_indexes(apps, state_editor) -> None:
    if state_editor.client.capabilities.dialect == "sqlite":
        for sql in _RESTORE:
            await state_editor.client.execute_script(sql)

Migration = migration('0011_holder_situation', [
    ops.CreateModel(
        name='Contractor',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('code', fields.CharField(unique=True, max_length=20)),
            ('name', fields.CharField(max_length=120)),
            ('scope', fields.CharField(default='', max_length=300)),
            ('desk_email', fields.CharField(default='', max_length=254)),
            ('desk_phone', fields.CharField(default='', max_length=40)),
            ('opening_hours', fields.DecimalField(default=Decimal('2'), max_digits=5, decimal_places=2)),
            ('visit_days_per_month', fields.IntField(default=2)),
            ('active', fields.BooleanField(default=True)),
            ('version', fields.IntField(default=1)),
        ],
        options={'table': 'contractor', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A maintenance contractor of the Région and its terms (data: the 2025 contract change is a row edit).'},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='TicketCategory',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('code', fields.CharField(unique=True, max_length=40)),
            ('label', fields.CharField(max_length=120)),
            ('handled', fields.BooleanField(default=True)),
            ('redirect_to', fields.ForeignKeyField('models.SupportDesk', source_field='redirect_to_id', null=True, db_constraint=True, to_field='id', related_name='ticket_categories', on_delete=OnDelete.SET_NULL)),
            ('contractor', fields.ForeignKeyField('models.Contractor', source_field='contractor_id', null=True, db_constraint=True, to_field='id', related_name='categories', on_delete=OnDelete.SET_NULL)),
            ('profile', fields.CharEnumField(default=Profile.TECHNICIAN, description='TECHNICIAN: technicien\nENGINEER: ingenieur\nEXPERT: expert', enum_type=Profile, max_length=12)),
            ('onsite_min_days', fields.IntField(default=1)),
            ('onsite_max_days', fields.IntField(default=3)),
            ('remote_hours', fields.DecimalField(default=Decimal('1'), max_digits=5, decimal_places=2)),
            ('excluded_links', fields.CharField(default='', max_length=200)),
            ('active', fields.BooleanField(default=True)),
            ('version', fields.IntField(default=1)),
        ],
        options={'table': 'ticket_category', 'app': 'models', 'pk_attr': 'id', 'table_description': 'What an incident is about: handled here (contractor, profile, deadlines) or redirected to another desk.'},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='Ticket',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('number', fields.CharField(unique=True, max_length=20)),
            ('school', fields.ForeignKeyField('models.School', source_field='school_id', db_constraint=True, to_field='id', related_name='tickets', on_delete=OnDelete.CASCADE)),
            ('category', fields.ForeignKeyField('models.TicketCategory', source_field='category_id', db_constraint=True, to_field='id', related_name='tickets', on_delete=OnDelete.RESTRICT)),
            ('summary', fields.CharField(max_length=300)),
            ('criticality', fields.CharEnumField(default=Criticality.NORMAL, description='CRITICAL: critique\nHIGH: haute\nNORMAL: normale\nLOW: basse', enum_type=Criticality, max_length=10)),
            ('reported_by', fields.ForeignKeyField('models.Contact', source_field='reported_by_id', null=True, db_constraint=True, to_field='id', related_name='tickets', on_delete=OnDelete.SET_NULL)),
            ('channel', fields.CharEnumField(default=Channel.PHONE, description='PHONE: ligne\nEMAIL: courriel\nSCHOOL: acces_ecole', enum_type=Channel, max_length=12)),
            ('opened_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ('status', fields.CharEnumField(default=TicketStatus.NEW, description='NEW: nouveau\nTAKEN: pris_en_charge\nWAITING: attente_etablissement\nINTERVENTION: en_intervention\nRESOLVED: resolu\nCLOSED: clos\nREDIRECTED: redirige', enum_type=TicketStatus, max_length=24)),
            ('handling', fields.CharEnumField(null=True, description='REMOTE: distance\nONSITE: sur_site', enum_type=Handling, max_length=10)),
            ('contractor', fields.ForeignKeyField('models.Contractor', source_field='contractor_id', null=True, db_constraint=True, to_field='id', related_name='tickets', on_delete=OnDelete.SET_NULL)),
            ('profile', fields.CharEnumField(null=True, description='TECHNICIAN: technicien\nENGINEER: ingenieur\nEXPERT: expert', enum_type=Profile, max_length=12)),
            ('taken_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('risk_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('paused_hours', fields.DecimalField(default=Decimal('0'), max_digits=8, decimal_places=2)),
            ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ('sla_state', fields.CharEnumField(default=SlaState.OK, description='OK: dans_les_delais\nAT_RISK: a_risque\nBREACHED: depasse', enum_type=SlaState, max_length=16)),
            ('late_opening', fields.BooleanField(default=False)),
            ('excluded', fields.BooleanField(default=False)),
            ('redirected_to', fields.ForeignKeyField('models.SupportDesk', source_field='redirected_to_id', null=True, db_constraint=True, to_field='id', related_name='redirected_tickets', on_delete=OnDelete.SET_NULL)),
            ('note', fields.CharField(default='', max_length=1000)),
            ('open_key', fields.CharField(null=True, unique=True, max_length=40)),
            ('version', fields.IntField(default=1)),
            ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
        ],
        options={'table': 'ticket', 'app': 'models', 'indexes': [Index(fields=['status', 'due_at']), Index(fields=['school_id', 'status']), Index(fields=['contractor_id', 'opened_at'])], 'pk_attr': 'id', 'table_description': 'One incident of a school, from the call to its closure, with its deadline and SLA state.'},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='TicketEvent',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('ticket', fields.ForeignKeyField('models.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
            ('school', fields.ForeignKeyField('models.School', source_field='school_id', db_constraint=True, to_field='id', related_name='ticket_events', on_delete=OnDelete.CASCADE)),
            ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ('author', fields.CharField(default='', max_length=254)),
            ('kind', fields.CharEnumField(default=EventKind.STEP, description='CREATED: creation\nSTEP: etape\nHANDLING: traitement\nREPORT: signalement\nCOMMENT: commentaire\nSLA: delai', enum_type=EventKind, max_length=12)),
            ('from_status', fields.CharEnumField(null=True, description='NEW: nouveau\nTAKEN: pris_en_charge\nWAITING: attente_etablissement\nINTERVENTION: en_intervention\nRESOLVED: resolu\nCLOSED: clos\nREDIRECTED: redirige', enum_type=TicketStatus, max_length=24)),
            ('to_status', fields.CharEnumField(null=True, description='NEW: nouveau\nTAKEN: pris_en_charge\nWAITING: attente_etablissement\nINTERVENTION: en_intervention\nRESOLVED: resolu\nCLOSED: clos\nREDIRECTED: redirige', enum_type=TicketStatus, max_length=24)),
            ('text', fields.CharField(default='', max_length=2000)),
        ],
        options={'table': 'ticket_event', 'app': 'models', 'indexes': [Index(fields=['ticket_id', 'at'])], 'pk_attr': 'id', 'table_description': "One line of a ticket's timeline: a step, a report joined, a comment, a deadline mark. Append-only."},
        bases=['Model'],
    ),
    ops.CreateModel(
        name='Visit',
        fields=[
            ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            ('school', fields.ForeignKeyField('models.School', source_field='school_id', db_constraint=True, to_field='id', related_name='visits', on_delete=OnDelete.CASCADE)),
            ('contractor', fields.ForeignKeyField('models.Contractor', source_field='contractor_id', null=True, db_constraint=True, to_field='id', related_name='visits', on_delete=OnDelete.SET_NULL)),
            ('day', fields.DateField()),
            ('kind', fields.CharEnumField(default=VisitKind.PREVENTIVE, description='PREVENTIVE: preventive\nDELIVERY: livraison\nRECYCLING: recyclage\nFIELD_STUDY: etude_terrain', enum_type=VisitKind, max_length=16)),
            ('status', fields.CharEnumField(default=VisitStatus.PLANNED, description='PLANNED: planifiee\nDONE: faite\nCANCELLED: annulee', enum_type=VisitStatus, max_length=10)),
            ('notes', fields.CharField(default='', max_length=300)),
            ('version', fields.IntField(default=1)),
            ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
        ],
        options={'table': 'visit', 'app': 'models', 'indexes': [Index(fields=['school_id', 'day'])], 'pk_attr': 'id', 'table_description': "A contractor's day on site: preventive visit, equipment delivery, recycling inventory (R-TICKET-9)."},
        bases=['Model'],
    ),
    ops.AlterField(
        model_name='CampaignEvent',
        name='cc_role',
        field=fields.CharEnumField(null=True, description='CHEF: chef_etablissement\nCOORDONNATEUR: coordonnateur_numerique\nADML: adml\nRESP_AFFECT_GAR: resp_affect_gar\nLA_POSTE: groupe_la_poste\nCRRE_PRESCRIPTEUR: crre_prescripteur\nCRRE_VALIDEUR: crre_valideur\nRRUPN: rrupn\nTICKETS: acces_tickets', enum_type=ContactRole, max_length=32),
    ),
    ops.AlterField(
        model_name='ContactRoleAssignment',
        name='role',
        field=fields.CharEnumField(db_index=True, description='CHEF: chef_etablissement\nCOORDONNATEUR: coordonnateur_numerique\nADML: adml\nRESP_AFFECT_GAR: resp_affect_gar\nLA_POSTE: groupe_la_poste\nCRRE_PRESCRIPTEUR: crre_prescripteur\nCRRE_VALIDEUR: crre_valideur\nRRUPN: rrupn\nTICKETS: acces_tickets', enum_type=ContactRole, max_length=32),
    ),
    ops.RunPython(_restore_indexes),
])
