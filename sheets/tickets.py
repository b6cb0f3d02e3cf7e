"""Maintenance tickets as sheets (R-TICKET-1 … 9): contractors, categories, tickets with their life cycle, their
timeline, and the on-site visits. Every step of a ticket writes a `ticket_events` row and queues one mail to the
school in the same transaction (R-TICKET-4): never lost, never twice (idempotency key per step)."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

import settings as settings_module
from emails.tickets import TicketMail, render_ticket_breach, render_ticket_step
from models.outbox import InvalidRecipient, enqueue, enqueue_many, validate_recipient
from models.schools import Contact, School, SupportDesk, normalize_email
from models.tickets import (
    ENDED_STATUSES,
    OPEN_STATUSES,
    REPORTER_ROLES,
    RESTRICTED_DESK_ROLES,
    RUNNING_STATUSES,
    SLA_COLORS,
    Channel,
    Contractor,
    Criticality,
    EventKind,
    Handling,
    Profile,
    SlaState,
    Ticket,
    TicketCategory,
    TicketEvent,
    TicketStatus,
    Visit,
    VisitKind,
    VisitStatus,
    check_category,
    code_of,
    duplicate_message,
    month_bounds,
    open_key,
    paused_minutes,
    pauses_of,
    phone_call_refusal,
    remote_refusal,
    sla_clock,
    sla_state_at,
    terms_of,
    visit_refusal,
)
from sheets.engine.actions import ActionContext, RowAction
from sheets.engine.caller import ECOLE, REGION_EDITORS, Caller
from sheets.engine.declaration import Column, Nav, Sheet, register
from sheets.engine.lifecycle import LifeCycle, Need, Transition
from sheets.engine.writes import Conflict, Forbidden, WriteContext, create_rows

log = logging.getLogger("rentree.tickets")

REGION = REGION_EDITORS
OPS = frozenset({"admin", "agent", "maintenance"})  # who moves tickets: the Région's agents and the contractors
READERS = frozenset({"admin", "agent", "lecteur", "maintenance"})
# R-TICKET-3: heads by default, coordinators once granted the right (a contact role, audited).
SCHOOL = frozenset({"ecole:chef_etablissement", "ecole:acces_tickets"})
ROLE_NAMES = {"admin": "l'administration", "agent": "les agents de la Région", "maintenance": "les prestataires",
              "ecole:chef_etablissement": "le chef d'établissement",
              "ecole:acces_tickets": "les coordonnateurs ayant l'accès aux tickets"}


def now() -> dt.datetime:
    """The app's clock (tests move it)."""
    return settings_module.now()


def _tz() -> dt.tzinfo:
    return settings_module.tz()


def _email_or_blank(value: str) -> str:
    return normalize_email(value) if value else ""


# --- Contractors and categories (data: the 2025 contract change is an edit of these rows) ------------------

def _positive_int(value: int | None) -> int | None:
    if value is not None and value < 0:
        raise ValueError("Un nombre positif ou nul est attendu.")
    return value


CONTRACTORS = register(Sheet(
    name="contractors",
    label="Maintenance : prestataires",
    model=Contractor,
    read_roles=READERS,
    edit_roles=REGION,
    create_roles=REGION,
    key="code",
    default_sort=("code",),
    nav=Nav("Maintenance", "engineering", 40, "Prestataires"),
    description="Les prestataires du marché de maintenance et leurs engagements (R-TICKET-8) : le changement de "
                "marché de 2025 se fait ici et dans les catégories, sans toucher au code.",
    columns=(
        Column("code", "Code", required=True, on_create=True, width=100),
        Column("name", "Nom", editable=True, required=True, width=180),
        Column("scope", "Périmètre", editable=True, width=320),
        Column("desk_email", "E-mail du plateau (dépassements)", editable=True, validator=_email_or_blank,
               width=240),
        Column("desk_phone", "Téléphone du plateau", editable=True, width=140),
        Column("opening_hours", "Prise en charge (heures ouvrées)", kind="decimal", editable=True, width=150,
               help="Délai pour prendre en charge un appel (R-TICKET-1 : 2 h, du lundi au vendredi 8 h–18 h)."),
        Column("visit_days_per_month", "Jours de visite par mois et lycée", kind="integer", editable=True,
               validator=_positive_int, width=150, help="R-TICKET-9 : au plus 2 jours par mois."),
        Column("active", "Actif", kind="boolean", editable=True, width=80),
    ),
))


CATEGORIES = register(Sheet(
    name="ticket_categories",
    label="Maintenance : catégories",
    model=TicketCategory,
    read_roles=READERS | SCHOOL,
    edit_roles=REGION,
    create_roles=REGION,
    key="code",
    default_sort=("label",),
    row_validator=check_category,
    nav=Nav("Maintenance", "category", 30, "Catégories"),
    description="Ce qui ouvre un ticket (prestataire, profil, délais sur site J+min…J+max et à distance) ou ce qui "
                "relève d'un autre support de l'annuaire (R-TICKET-2, R-TICKET-6, R-TICKET-7, R-TICKET-8).",
    columns=(
        Column("code", "Code", required=True, on_create=True, width=150),
        Column("label", "Catégorie", editable=True, required=True, width=220),
        Column("handled", "Traitée ici", kind="boolean", editable=True, width=100),
        Column("redirect_to", "Rediriger vers", kind="reference", reference=("support_desks", "name"),
               editable=True, width=220, help="Support de l'annuaire qui traite ce sujet (R-TICKET-2)."),
        Column("contractor", "Prestataire", kind="reference", reference=("contractors", "code"), editable=True,
               width=110),
        Column("profile", "Profil", kind="choice", choices=Profile, editable=True, width=110),
        Column("onsite_min_days", "Sur site : J+ min", kind="integer", editable=True, validator=_positive_int,
               width=110),
        Column("onsite_max_days", "Sur site : J+ max", kind="integer", editable=True, validator=_positive_int,
               width=110),
        Column("remote_hours", "À distance (heures)", kind="decimal", editable=True, width=110),
        Column("excluded_links", "Liens exclus du délai", editable=True, width=220,
               help="Ex. liens très haut débit : hors du délai J+1…J+3."),
        Column("active", "Proposée", kind="boolean", editable=True, width=90),
    ),
))


# --- Support desks seen by whom (R-TICKET-2) ----------------------------------------------------------

def may_see_restricted_desk(caller: Caller, uai: str | None) -> bool:
    """« Ne pas diffuser » desks: the Région's team and a school's heads and coordinators only (R-ORG-3)."""
    if caller.is_system or caller.role in ("admin", "agent", "lecteur"):
        return True
    if caller.role != ECOLE:
        return False
    return any(role in RESTRICTED_DESK_ROLES and (uai is None or school == uai) for school, role in caller.grants)


def desk_lines(desk: SupportDesk, visible: bool) -> list[tuple[str, str]]:
    """A desk's contact details as (label, value) lines; a restricted desk's are hidden from other callers."""
    if desk.do_not_share and not visible:
        return [("Contact", "réservé aux chefs d'établissement et coordonnateurs numériques : adressez-vous à "
                            "votre direction")]
    lines = [("Sujet", desk.topic), ("Téléphone", desk.phone), ("Horaires", desk.hours), ("E-mail", desk.email),
             ("Adresse", desk.address)]
    return [(label, value) for label, value in lines if value]


def redirect_message(category: TicketCategory, desk: SupportDesk, visible: bool) -> str:
    """R-TICKET-2: the French answer to a report that is not ours: the desk and how to reach it."""
    details = " ; ".join(f"{label.lower()} : {value}" for label, value in desk_lines(desk, visible))
    return (f"« {category.label} » n'ouvre pas de ticket de maintenance : adressez-vous à « {desk.name} »"
            + (f" ({details})" if details else "") + " (R-TICKET-2).")


async def route_report(category_code: str, caller: Caller, uai: str | None) -> dict[str, Any]:
    """Where a report of a category goes: a ticket here, or a desk of the directory with what the caller may see."""
    category = await TicketCategory.get_or_none(code=category_code).prefetch_related("redirect_to")
    if category is None:
        raise ValueError(f"Catégorie « {category_code[:40]} » inconnue.")
    if category.redirect_to is None:
        return {"ticket": True, "category": category}
    desk = category.redirect_to
    visible = may_see_restricted_desk(caller, uai)
    return {"ticket": False, "category": category, "desk": desk, "lines": desk_lines(desk, visible),
            "restricted": desk.do_not_share and not visible}


# --- Events and mails of a ticket (R-TICKET-4) --------------------------------------------------------------

async def write_event(caller: Caller, ticket: Ticket, kind: EventKind, text: str = "", *, from_status: Any = None,
                      to_status: Any = None, at: dt.datetime | None = None) -> int:
    """One line of the ticket's timeline, through the engine (same transaction as the step); its id."""
    school_uai = (await School.filter(id=ticket.school_id).values_list("uai", flat=True))[0]
    result = await create_rows(EVENTS, [{
        "ticket": ticket.number, "school": school_uai, "at": at or now(), "author": caller.actor[:254],
        "kind": kind.value, "from_status": code_of(from_status), "to_status": code_of(to_status),
        "text": text[:2000]}], caller.elevated(), parsed=False)
    return result.created[0][0]


async def school_recipients(ticket: Ticket) -> tuple[School, list[str]]:
    """The school and its recipients: the generic address ce.UAI and the reporter (R-TICKET-4)."""
    school = await School.get(id=ticket.school_id)
    recipients = [school.generic_email]
    if ticket.reported_by_id is not None:
        emails = await Contact.filter(id=ticket.reported_by_id).values_list("email", flat=True)
        for email in emails:
            try:
                recipients.append(validate_recipient(email))
            except InvalidRecipient as exc:
                log.warning("Ticket %s : déclarant écarté (%s)", ticket.number, exc)
    return school, list(dict.fromkeys(recipients))


async def mail_for(ticket: Ticket, step: str, note: str = "", desk: SupportDesk | None = None) -> TicketMail:
    """What a mail about a ticket says, read from the database."""
    school = await School.get(id=ticket.school_id)
    category = await TicketCategory.get(id=ticket.category_id)
    contractor = await Contractor.get_or_none(id=ticket.contractor_id) if ticket.contractor_id else None
    status = code_of(ticket.status)
    base = settings_module.get().public_url.rstrip("/")
    return TicketMail(
        number=ticket.number, school_name=school.name, school_uai=school.uai, summary=ticket.summary,
        category=category.label, status=TicketStatus.label_of(status), step=step, note=note,
        handling=Handling.label_of(code_of(ticket.handling)) if ticket.handling else "",
        contractor=contractor.name if contractor else "",
        due_at=ticket.due_at if status in {s.value for s in RUNNING_STATUSES} | {TicketStatus.WAITING.value}
        else None,
        paused=status == TicketStatus.WAITING,
        desk={"name": desk.name, "lines": desk_lines(desk, True)} if desk is not None else {},
        app_url=f"{base}/" if base else "")


async def mail_step(ticket: Ticket, event_id: int, step: str, note: str = "", desk: SupportDesk | None = None) -> None:
    """Queue the step's mail to the school, keyed by the step's event: one mail per step, never twice."""
    school, recipients = await school_recipients(ticket)
    built = render_ticket_step(await mail_for(ticket, step, note, desk))
    await enqueue(f"ticket:{ticket.number}:{event_id}", recipients, built.subject, built.text, built.html,
                  kind="ticket", school_uai=school.uai)


STEP_TEXT = {
    TicketStatus.NEW.value: "ticket ouvert",
    TicketStatus.TAKEN.value: "pris en charge",
    TicketStatus.WAITING.value: "en attente d'une réponse de l'établissement",
    TicketStatus.INTERVENTION.value: "intervention en cours",
    TicketStatus.RESOLVED.value: "résolu",
    TicketStatus.CLOSED.value: "clos",
    TicketStatus.REDIRECTED.value: "redirigé vers un autre support",
}


# --- Breaches: the contractor's desk is told once per breach (R-TICKET-1, R-TICKET-7) ----------------------

BREACH_FIELDS = ("id", "number", "status", "due_at", "summary", "handling", "school__uai", "school__name",
                 "category__label", "contractor__name", "contractor__desk_email")


def breach_text(phase: str, due_at: dt.datetime, tz: dt.tzinfo) -> str:
    """The timeline's line of a breach."""
    what = "Délai d'ouverture dépassé" if phase == "opening" else "Délai de résolution dépassé"
    return f"{what} (échéance {due_at.astimezone(tz):%d/%m/%Y %H:%M})"


def breach_mail_row(row: dict[str, Any], phase: str) -> dict[str, Any] | None:
    """The outbox row of a breach mail to the contractor's desk, keyed once per ticket and phase (None without a
    valid desk address)."""
    try:
        recipient = validate_recipient(row["contractor__desk_email"])
    except InvalidRecipient:
        log.warning("Ticket %s : pas d'adresse valide pour le plateau du prestataire.", row["number"])
        return None
    status = code_of(row["status"])
    built = render_ticket_breach(TicketMail(
        number=str(row["number"]), school_name=str(row["school__name"]), school_uai=str(row["school__uai"]),
        summary=str(row["summary"]), category=str(row["category__label"]), status=TicketStatus.label_of(status),
        step="délai dépassé", handling=Handling.label_of(code_of(row["handling"])) if row["handling"] else "",
        contractor=str(row["contractor__name"] or ""), due_at=row["due_at"]), phase)
    return {"key": f"ticket-breach:{row['number']}:{phase}", "kind": "ticket_breach",
            "school_uai": row["school__uai"], "recipients": recipient, "subject": built.subject,
            "body_text": built.text, "body_html": built.html, "items": "[]"}


async def notice_breach(caller: Caller, ticket: Ticket) -> None:
    """A deadline found missed by a step (a call recorded late, a deadline moved into the past): its timeline line
    and the desk's mail, as the SLA watch does for the ones it finds."""
    rows = await Ticket.filter(id=ticket.id).values(*BREACH_FIELDS)
    if not rows or rows[0]["due_at"] is None:
        return
    row = rows[0]
    phase = "opening" if code_of(row["status"]) == TicketStatus.NEW else "resolution"
    await write_event(caller, ticket, EventKind.SLA, breach_text(phase, row["due_at"], _tz()))
    mail = breach_mail_row(row, phase)
    if mail is not None:
        await enqueue_many([mail])


# --- Tickets: creation -----------------------------------------------------------------------------------

async def _next_number(year: int) -> str:
    prefix = f"T{year}-"
    last = await Ticket.filter(number__startswith=prefix).order_by("-number").values_list("number", flat=True)
    n = int(last[0][len(prefix):]) + 1 if last else 1
    return f"{prefix}{n:05d}"


async def _reporter_check(contact_id: int, school: School) -> Contact:
    """R-TICKET-1 / R-TICKET-3: the reporter is a head or a coordinator of that school."""
    contact = await Contact.get_or_none(id=contact_id).prefetch_related("roles")
    if contact is None or contact.school_id != school.id:
        raise ValueError(f"Le contact n° {contact_id} n'est pas une personne du lycée {school.uai}.")
    roles = {code_of(r.role) for r in contact.roles}
    if not roles & (REPORTER_ROLES | {"acces_tickets"}):
        raise ValueError(f"{contact.full_name} n'est ni chef d'établissement ni coordonnateur numérique du lycée "
                         f"{school.uai} : le N° vert et les tickets leur sont réservés (R-TICKET-1, R-TICKET-3).")
    return contact


async def _open_duplicate(school_id: int, category_id: int, exclude: int | None = None) -> Ticket | None:
    query = Ticket.filter(school_id=school_id, category_id=category_id, status__in=OPEN_STATUSES)
    if exclude is not None:
        query = query.exclude(id=exclude)
    return await query.order_by("opened_at", "id").first()


async def ticket_create_hook(ctx: WriteContext) -> None:
    """A new ticket: routing (R-TICKET-2), one per incident (R-TICKET-5), reporter, line hours (R-TICKET-1),
    handling (R-TICKET-6), contractor and profile from the category (R-TICKET-8), number and opening deadline."""
    v, caller, moment, tz = ctx.values, ctx.caller, now(), _tz()
    school = await School.get_or_none(uai=ctx.uai or "")
    if school is None:
        raise ValueError(f"« {ctx.uai or ''} » : aucun lycée n'a cet UAI.")
    category = await TicketCategory.get_or_none(code=str(v.get("category") or "")).prefetch_related(
        "contractor", "redirect_to")
    if category is None:
        raise ValueError(f"Catégorie « {str(v.get('category') or '')[:40]} » inconnue.")
    if caller.role == ECOLE:  # a school's own report: now, through school access, by the person signed in
        v["channel"] = Channel.SCHOOL.value
        v["opened_at"] = moment
        if not v.get("reported_by"):
            contact = await Contact.filter(school_id=school.id, email=caller.actor.strip().lower()).first()
            if contact is not None:
                v["reported_by"] = str(contact.id)
    if category.redirect_to is not None:
        raise ValueError(redirect_message(category, category.redirect_to, may_see_restricted_desk(caller, school.uai)))
    if not category.handled or not category.active or category.contractor is None:
        raise ValueError(f"« {category.label} » n'ouvre pas de ticket : choisissez une autre catégorie.")
    duplicate = await _open_duplicate(school.id, category.id)
    if duplicate is not None:
        raise Conflict(duplicate_message(duplicate.number, duplicate.opened_at, code_of(duplicate.status), tz))
    opened = v.get("opened_at") or moment
    if opened > moment + dt.timedelta(minutes=5):
        raise ValueError(f"« Reçu le » {opened.astimezone(tz):%d/%m/%Y %H:%M} est dans le futur.")
    v["opened_at"] = opened
    channel = v.get("channel") or Channel.PHONE.value
    v["channel"] = channel
    if channel == Channel.PHONE:
        refusal = phone_call_refusal(opened, tz)
        if refusal:
            raise ValueError(refusal)
    if v.get("reported_by"):
        await _reporter_check(int(v["reported_by"]), school)
    v["criticality"] = v.get("criticality") or Criticality.NORMAL.value
    if v.get("handling") == Handling.REMOTE:
        refusal = remote_refusal(school.uai, school.csn_deployed)
        if refusal:
            raise ValueError(refusal)
    if v.get("excluded") and not category.excluded_links:
        raise ValueError(f"« {category.label} » n'exclut aucun lien du délai.")
    v["contractor"] = category.contractor.code
    if not v.get("profile") or caller.role == ECOLE:
        v["profile"] = code_of(category.profile)
    v["number"] = await _next_number(opened.astimezone(tz).year)
    v["status"] = TicketStatus.NEW.value
    clock = sla_clock(TicketStatus.NEW.value, opened_at=opened, taken_at=None, handling=None,
                      criticality=v["criticality"], terms=terms_of(category.contractor, category), tz=tz)
    state = sla_state_at(moment, clock)
    v.update(due_at=clock.due_at, risk_at=clock.risk_at, sla_state=state.value,
             late_opening=state == SlaState.BREACHED, paused_hours=Decimal("0"),
             open_key=open_key(school.id, category.id), taken_at=None, resolved_at=None, redirected_to=None, note="")


async def ticket_created(ctx: WriteContext) -> None:
    """The opening step: its event and its mail to the school (R-TICKET-4)."""
    ticket = ctx.instance
    assert isinstance(ticket, Ticket)
    received = ticket.opened_at.astimezone(_tz())
    text = f"{Channel.label_of(code_of(ticket.channel))}, reçu le {received:%d/%m/%Y à %H:%M} : {ticket.summary}"
    event = await write_event(ctx.caller, ticket, EventKind.CREATED, text, to_status=TicketStatus.NEW)
    await mail_step(ticket, event, STEP_TEXT[TicketStatus.NEW.value])
    if ticket.sla_state == SlaState.BREACHED:  # recorded after its opening deadline
        await notice_breach(ctx.caller, ticket)


# --- Tickets: changes ------------------------------------------------------------------------------------

_BEFORE = "_ticket_status_before"  # the status a change starts from, kept on the write context for the effect
_SLA_BEFORE = "_ticket_sla_before"


async def ticket_hook(ctx: WriteContext) -> None:
    """Every change of a ticket: its category and handling rules, the step's dates, and its deadline recomputed
    from its events (pauses while waiting for the school, R-TICKET-7)."""
    v, ticket, moment, tz = ctx.values, ctx.instance, now(), _tz()
    assert isinstance(ticket, Ticket)
    old = code_of(ticket.status)
    new = code_of(v.get("status", old))
    moving = "status" in v
    ctx.__dict__[_BEFORE] = old
    ctx.__dict__[_SLA_BEFORE] = code_of(ticket.sla_state)
    ended = {s.value for s in ENDED_STATUSES}
    if moving and "note" not in v:
        v["note"] = ""  # a step's message is its own: a previous one never answers a step's need
    if old in ended and not moving and set(v) - {"note"}:
        raise ValueError(f"Le ticket {ticket.number} est « {TicketStatus.label_of(old)} » : il ne change plus.")
    school = await School.get(id=ticket.school_id)
    category = await TicketCategory.get(id=ticket.category_id).prefetch_related("contractor")
    if "category" in v:
        category = await TicketCategory.get_or_none(code=str(v["category"] or "")).prefetch_related(
            "contractor", "redirect_to")
        if category is None:
            raise ValueError(f"Catégorie « {str(v['category'])[:40]} » inconnue.")
        if category.redirect_to is not None or not category.handled or category.contractor is None:
            raise ValueError(f"« {category.label} » relève d'un autre support : utilisez « Rediriger vers un autre "
                             "support » (R-TICKET-2).")
        duplicate = await _open_duplicate(ticket.school_id, category.id, exclude=ticket.id)
        if duplicate is not None:
            raise Conflict(duplicate_message(duplicate.number, duplicate.opened_at, code_of(duplicate.status), tz))
        v["contractor"] = category.contractor.code
        v.setdefault("profile", code_of(category.profile))
        if new not in ended:
            v["open_key"] = open_key(ticket.school_id, category.id)
    handling = code_of(v.get("handling", ticket.handling))
    if moving and old == TicketStatus.NEW and new == TicketStatus.TAKEN:
        if handling is None:  # R-TICKET-6: at a distance where the school has a CSN, else on site
            handling = Handling.REMOTE.value if school.csn_deployed else Handling.ONSITE.value
            v["handling"] = handling
        v["taken_at"] = moment
        if ticket.due_at is not None and moment > ticket.due_at:
            v["late_opening"] = True  # R-TICKET-1: taken in charge after the opening deadline
    if handling == Handling.REMOTE and ("handling" in v or "status" in v):
        refusal = remote_refusal(school.uai, school.csn_deployed)
        if refusal:
            raise ValueError(refusal)
    if v.get("excluded") and not category.excluded_links:
        raise ValueError(f"« {category.label} » n'exclut aucun lien du délai.")
    if moving and new == TicketStatus.RESOLVED:
        v["resolved_at"] = moment
    if moving and old == TicketStatus.RESOLVED and new == TicketStatus.TAKEN:  # reopened
        duplicate = await _open_duplicate(ticket.school_id, category.id, exclude=ticket.id)
        if duplicate is not None:
            raise Conflict(duplicate_message(duplicate.number, duplicate.opened_at, code_of(duplicate.status), tz))
        v["resolved_at"] = None
        v["open_key"] = open_key(ticket.school_id, category.id)
    if moving and new in ended:
        v["open_key"] = None
    if moving or any(k in v for k in ("handling", "criticality", "category", "excluded")):
        await _recompute(ctx, ticket, category, old, new, moment, tz)


async def _recompute(ctx: WriteContext, ticket: Ticket, category: TicketCategory, old: str, new: str,
                     moment: dt.datetime, tz: dt.tzinfo) -> None:
    """The deadline of the phase the ticket enters (or stays in), from its events."""
    v = ctx.values
    if new == TicketStatus.WAITING:
        v["risk_at"] = None  # the clock stops; the deadline moves back when the school answers
        return
    if new == TicketStatus.RESOLVED:
        late = ticket.sla_state == SlaState.BREACHED or (ticket.due_at is not None and moment > ticket.due_at)
        v["sla_state"] = (SlaState.BREACHED if late else SlaState.OK).value
        v["risk_at"] = None
        return
    if new in (TicketStatus.CLOSED, TicketStatus.REDIRECTED):
        v["risk_at"] = None
        return
    contractor = category.contractor
    if "contractor" in v:
        contractor = await Contractor.get_or_none(code=v["contractor"])
    elif ticket.contractor_id is not None and (contractor is None or contractor.id != ticket.contractor_id):
        contractor = await Contractor.get_or_none(id=ticket.contractor_id)
    events = list(await TicketEvent.filter(ticket_id=ticket.id).values("id", "at", "from_status", "to_status"))
    if old == TicketStatus.WAITING and new != TicketStatus.WAITING:
        events.append({"id": None, "at": moment, "from_status": TicketStatus.WAITING.value, "to_status": new})
    taken_at = v.get("taken_at", ticket.taken_at)
    paused = paused_minutes(pauses_of(events), taken_at, moment, tz) if new != TicketStatus.NEW else 0.0
    clock = sla_clock(new, opened_at=ticket.opened_at, taken_at=taken_at,
                      handling=code_of(v.get("handling", ticket.handling)),
                      criticality=code_of(v.get("criticality", ticket.criticality)),
                      terms=terms_of(contractor, category), paused=paused,
                      excluded=bool(v.get("excluded", ticket.excluded)), tz=tz)
    v["due_at"], v["risk_at"] = clock.due_at, clock.risk_at
    v["paused_hours"] = Decimal(str(round(paused / 60, 2)))
    state = sla_state_at(moment, clock)
    same_phase = (old == TicketStatus.NEW) == (new == TicketStatus.NEW)
    if same_phase and ticket.sla_state == SlaState.BREACHED and not (old == TicketStatus.RESOLVED):
        state = SlaState.BREACHED  # a missed deadline stays missed within its phase
    v["sla_state"] = state.value


async def ticket_effects(ctx: WriteContext) -> None:
    """After a ticket's change: a step (status or handling) gets its event and its mail; a lone note, an event."""
    ticket = ctx.instance
    assert isinstance(ticket, Ticket)
    v = ctx.values
    note = str(v.get("note") or "")
    if ctx.move is not None:
        desk = None
        text = note
        if ctx.move.target == TicketStatus.REDIRECTED and ticket.redirected_to_id is not None:
            desk = await SupportDesk.get(id=ticket.redirected_to_id)
            text = f"Redirigé vers « {desk.name} »" + (f" : {note}" if note else "")
        event = await write_event(ctx.caller, ticket, EventKind.STEP, text,
                                  from_status=ctx.__dict__.get(_BEFORE), to_status=ctx.move.target)
        await mail_step(ticket, event, STEP_TEXT.get(ctx.move.target, ctx.move.label), note, desk)
    elif "handling" in v:
        label = Handling.label_of(code_of(v["handling"]))
        step = ("intervention sur site après échec à distance (R-TICKET-6)" if v["handling"] == Handling.ONSITE
                else f"traitement {label.lower()}")
        event = await write_event(ctx.caller, ticket, EventKind.HANDLING, f"Traitement : {label}"
                                  + (f" — {note}" if note else ""))
        await mail_step(ticket, event, step, note)
    elif note:
        await write_event(ctx.caller, ticket, EventKind.COMMENT, note)
    before = ctx.__dict__.get(_SLA_BEFORE)
    if v.get("sla_state") == SlaState.BREACHED and before != SlaState.BREACHED and \
            code_of(ticket.status) in {s.value for s in RUNNING_STATUSES}:
        await notice_breach(ctx.caller, ticket)  # a step found the deadline already missed


# --- Row actions -------------------------------------------------------------------------------------------

async def attach_report(ctx: ActionContext) -> str:
    """R-TICKET-5: a second report of an open incident is joined to its ticket (event and mail), not a new ticket."""
    ticket = await Ticket.get(id=ctx.row_ids[0])
    if code_of(ticket.status) not in {s.value for s in OPEN_STATUSES}:
        raise ValueError(f"Le ticket {ticket.number} est « {TicketStatus.label_of(code_of(ticket.status))} » : "
                         "signalez un nouvel incident.")
    text = str(ctx.values.get("text") or "").strip()
    who = ctx.caller.actor
    event = await write_event(ctx.caller, ticket, EventKind.REPORT, f"Signalement de {who} : {text}")
    await mail_step(ticket, event, "nouveau signalement joint au ticket", text)
    return f"Signalement joint au ticket {ticket.number}."


async def remote_failed(ctx: ActionContext) -> str:
    """R-TICKET-6: when the remote handling fails, the ticket goes on site (its deadline becomes the on-site one)."""
    ticket = await Ticket.get(id=ctx.row_ids[0])
    if code_of(ticket.handling) != Handling.REMOTE or code_of(ticket.status) not in {
            s.value for s in OPEN_STATUSES}:
        raise ValueError(f"Le ticket {ticket.number} n'est pas en cours de traitement à distance.")
    await ctx.set({"handling": Handling.ONSITE.value, **({"note": ctx.values["note"]} if ctx.values.get("note")
                                                            else {})})
    return f"Ticket {ticket.number} : intervention sur site."


TICKET_LIFECYCLE = LifeCycle(
    field="status",
    states=TicketStatus.choices(),
    initial=TicketStatus.NEW.value,
    role_labels=ROLE_NAMES,
    transitions=(
        Transition("take", "Prendre en charge", (TicketStatus.NEW.value,), TicketStatus.TAKEN.value, OPS,
                   form=("handling", "profile", "note"), rule="R-TICKET-1",
                   help="À distance si le lycée a un CSN, sinon sur site (R-TICKET-6)."),
        Transition("wait", "Attendre l'établissement", (TicketStatus.TAKEN.value, TicketStatus.INTERVENTION.value),
                   TicketStatus.WAITING.value, OPS,
                   needs=(Need("note", "indiquez ce qui est attendu de l'établissement"),), rule="R-TICKET-7",
                   help="Le délai est suspendu jusqu'à la réponse."),
        Transition("answer", "Réponse de l'établissement", (TicketStatus.WAITING.value,), TicketStatus.TAKEN.value,
                   OPS | SCHOOL, form=("note",), rule="R-TICKET-7", help="Le délai reprend."),
        Transition("intervene", "Intervention", (TicketStatus.TAKEN.value, TicketStatus.WAITING.value),
                   TicketStatus.INTERVENTION.value, OPS, form=("note",)),
        Transition("resolve", "Résolu", (TicketStatus.TAKEN.value, TicketStatus.INTERVENTION.value),
                   TicketStatus.RESOLVED.value, OPS, needs=(Need("note", "décrivez la solution apportée"),)),
        Transition("close", "Clore", (TicketStatus.RESOLVED.value,), TicketStatus.CLOSED.value, OPS | SCHOOL,
                   form=("note",)),
        Transition("reopen", "Rouvrir (incident non résolu)", (TicketStatus.RESOLVED.value,),
                   TicketStatus.TAKEN.value, OPS | SCHOOL,
                   needs=(Need("note", "dites ce qui ne fonctionne toujours pas"),)),
        Transition("redirect", "Rediriger vers un autre support", (TicketStatus.NEW.value, TicketStatus.TAKEN.value),
                   TicketStatus.REDIRECTED.value, REGION,
                   needs=(Need("redirected_to", "choisissez le support de l'annuaire"),),
                   form=("redirected_to", "note"), rule="R-TICKET-2"),
    ),
)

TICKETS = register(Sheet(
    name="tickets",
    label="Maintenance : tickets",
    model=Ticket,
    read_roles=READERS | SCHOOL,
    edit_roles=OPS | SCHOOL,
    create_roles=REGION | SCHOOL,
    key="number",
    default_sort=("-opened_at",),
    school_path="school__uai",
    lifecycle=TICKET_LIFECYCLE,
    create_hook=ticket_create_hook,
    after_create=ticket_created,
    change_hook=ticket_hook,
    after_change=ticket_effects,
    quiet_fields=frozenset({"sla_state", "late_opening"}),
    actions=(
        RowAction("attach", "Joindre un signalement", OPS | SCHOOL, attach_report, rows="one",
                  fields=(Column("text", "Signalement", required=True, max_length=1000),), icon="attach_file",
                  rule="R-TICKET-5", help="Un même incident n'ouvre qu'un ticket : le signalement y est ajouté."),
        RowAction("remote_failed", "Échec à distance : intervention sur site", OPS, remote_failed, rows="one",
                  form=("note",), icon="directions_car", rule="R-TICKET-6"),
    ),
    page_path="/maintenance/tickets",
    nav=Nav("Maintenance", "confirmation_number", 20, "Tickets"),
    description="Incidents d'infrastructure des lycées : chaque étape est écrite dans l'historique du ticket et "
                "envoyée par courriel au lycée (R-TICKET-4). Échéances en jours et heures ouvrés.",
    columns=(
        Column("number", "N°", width=120, link="/maintenance/ticket?n={value}"),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), required=True, on_create=True,
               width=110, link="/maintenance/ecoles/{value}", aliases=("uai", "etablissement")),
        Column("school_name", "Établissement", path="school__name", width=200),
        Column("category_label", "Catégorie", path="category__label", width=170),
        Column("summary", "Incident", editable=True, required=True, edit_roles=OPS, width=260),
        Column("status", "Étape", kind="choice", choices=TicketStatus, width=170,
               help="Cycle de vie : seuls les passages permis à votre rôle sont proposés."),
        Column("sla_state", "Délai", kind="choice", choices=SlaState, editable=True, edit_roles=frozenset(),
               colors=SLA_COLORS, width=130, help="Calculé par la veille des délais (à risque, dépassé)."),
        Column("due_at", "Échéance", kind="datetime", width=140),
        Column("criticality", "Criticité", kind="choice", choices=Criticality, editable=True, edit_roles=OPS,
               width=130),
        Column("handling", "Traitement", kind="choice", choices=Handling, editable=True, edit_roles=OPS, width=110),
        Column("contractor", "Prestataire", kind="reference", reference=("contractors", "code"), width=100),
        Column("profile", "Profil", kind="choice", choices=Profile, editable=True, edit_roles=OPS, width=110),
        Column("channel", "Canal", kind="choice", choices=Channel, on_create=True, width=150),
        Column("opened_at", "Reçu le", kind="datetime", on_create=True, width=140),
        Column("reported_by", "Déclarant (n° de contact)", kind="reference", reference=("contacts", "id"),
               on_create=True, width=110),
        Column("reporter_name", "Signalé par", path="reported_by__full_name", width=160),
        Column("taken_at", "Pris en charge le", kind="datetime", width=140),
        Column("paused_hours", "Pause (h ouvrées)", kind="decimal", width=110),
        Column("resolved_at", "Résolu le", kind="datetime", width=140),
        Column("late_opening", "Ouverture tardive", kind="boolean", editable=True, edit_roles=frozenset(),
               width=110, help="Pris en charge après le délai d'ouverture (R-TICKET-1)."),
        Column("excluded", "Lien exclu du délai", kind="boolean", editable=True, edit_roles=OPS, width=110),
        Column("redirected_to", "Redirigé vers", kind="reference", reference=("support_desks", "name"),
               editable=True, edit_roles=REGION, width=180),
        Column("note", "Dernier message", editable=True, width=240),
        Column("category", "Catégorie (code)", kind="reference", reference=("ticket_categories", "code"),
               editable=True, required=True, edit_roles=OPS, width=130),
        Column("updated_at", "Modifié le", kind="datetime", width=140),
    ),
))


# --- Timeline --------------------------------------------------------------------------------------------

async def event_create_hook(ctx: WriteContext) -> None:
    """A line added by hand is a comment of its author, now, on a ticket of the same school."""
    v = ctx.values
    if ctx.caller.is_system and v.get("ticket") and v.get("school"):  # the app's own lines (steps, SLA marks)
        v.setdefault("at", now())
        return
    ticket = await Ticket.get_or_none(number=str(v.get("ticket") or "")).prefetch_related("school")
    if ticket is None:
        raise ValueError(f"Ticket « {str(v.get('ticket') or '')[:40]} » introuvable.")
    if v.get("school") and v["school"] != ticket.school.uai:
        raise Forbidden(f"Le ticket {ticket.number} n'est pas du lycée {v['school']}.")
    v["school"] = ticket.school.uai
    if not ctx.caller.is_system:
        if not str(v.get("text") or "").strip():
            raise ValueError("« Texte » est obligatoire.")
        v.update(at=now(), author=ctx.caller.actor[:254], kind=EventKind.COMMENT.value, from_status=None,
                 to_status=None)
    v.setdefault("at", now())


EVENTS = register(Sheet(
    name="ticket_events",
    label="Maintenance : historique des tickets",
    model=TicketEvent,
    read_roles=READERS | SCHOOL,
    edit_roles=frozenset(),
    create_roles=OPS,
    key="id",
    versioned=False,
    default_sort=("-at", "-id"),
    school_path="school__uai",
    create_hook=event_create_hook,
    description="Chaque étape d'un ticket, son auteur, son heure et son texte (ajout seulement) ; le délai se "
                "calcule à partir de ces lignes (pauses en attente de l'établissement).",
    columns=(
        Column("id", "N°", kind="integer", width=80),
        Column("ticket", "Ticket", kind="reference", reference=("tickets", "number"), required=True, on_create=True,
               width=120, link="/maintenance/ticket?n={value}"),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), on_create=True, width=110),
        Column("at", "Le", kind="datetime", on_create=True, width=140),
        Column("author", "Auteur", on_create=True, width=200),
        Column("kind", "Type", kind="choice", choices=EventKind, on_create=True, width=150),
        Column("from_status", "De", kind="choice", choices=TicketStatus, on_create=True, width=150),
        Column("to_status", "Vers", kind="choice", choices=TicketStatus, on_create=True, width=150),
        Column("text", "Texte", on_create=True, width=360),
    ),
))


# --- Visits (R-TICKET-9) ------------------------------------------------------------------------------------

async def visit_hook(ctx: WriteContext) -> None:
    """R-TICKET-9: a visit on a working day, at most the contractor's days per month in one school."""
    if not {"school", "day", "status", "contractor"} & set(ctx.values):
        return
    row = await ctx.row_after()
    if code_of(row.get("status")) == VisitStatus.CANCELLED or not row.get("day") or not row.get("school"):
        return
    contractor = await Contractor.get_or_none(code=str(row.get("contractor") or ""))
    limit = contractor.visit_days_per_month if contractor is not None else 2
    start, end = month_bounds(row["day"].year, row["day"].month)
    query = Visit.filter(school__uai=row["school"], day__gte=start.date(), day__lt=end.date()).exclude(
        status=VisitStatus.CANCELLED)
    if ctx.instance is not None:
        query = query.exclude(id=ctx.instance.id)
    days = await query.values_list("day", flat=True)
    refusal = visit_refusal(row["day"], days, limit, row["school"])
    if refusal:
        raise ValueError(refusal)


VISITS = register(Sheet(
    name="visits",
    label="Maintenance : visites sur site",
    model=Visit,
    read_roles=READERS | SCHOOL,
    edit_roles=OPS,
    create_roles=OPS,
    delete_roles=REGION,
    key="id",
    default_sort=("day", "id"),
    school_path="school__uai",
    create_hook=visit_hook,
    change_hook=visit_hook,
    nav=Nav("Maintenance", "event_available", 50, "Visites sur site"),
    description="Visites préventives planifiées (au plus 2 jours par mois et par lycée), livraisons d'équipement "
                "et inventaires de recyclage (R-TICKET-9).",
    columns=(
        Column("id", "N°", kind="integer", width=80),
        Column("school", "UAI", kind="reference", reference=("schools", "uai"), editable=True, required=True,
               width=110, link="/maintenance/ecoles/{value}"),
        Column("school_name", "Établissement", path="school__name", width=200),
        Column("contractor", "Prestataire", kind="reference", reference=("contractors", "code"), editable=True,
               required=True, width=110),
        Column("day", "Jour", kind="date", editable=True, required=True, width=110),
        Column("kind", "Objet", kind="choice", choices=VisitKind, editable=True, width=180),
        Column("status", "État", kind="choice", choices=VisitStatus, editable=True, width=110),
        Column("notes", "Notes", editable=True, width=260),
        Column("updated_at", "Modifié le", kind="datetime", width=140),
    ),
))


# --- Monthly statement per contractor (R-TICKET-8) --------------------------------------------------------------

STATEMENT_COLUMNS = (
    ("number", "N° ticket", "text"), ("school__uai", "UAI", "text"), ("school__name", "Établissement", "text"),
    ("category__label", "Catégorie", "text"), ("criticality", "Criticité", "text"), ("channel", "Canal", "text"),
    ("handling", "Traitement", "text"), ("profile", "Profil", "text"), ("status", "Étape", "text"),
    ("opened_at", "Reçu le", "datetime"), ("taken_at", "Pris en charge le", "datetime"),
    ("due_at", "Échéance", "datetime"), ("resolved_at", "Résolu le", "datetime"),
    ("paused_hours", "Pause (h ouvrées)", "decimal"), ("hours_to_resolve", "Résolution (h ouvrées)", "decimal"),
    ("sla_state", "Délai", "text"), ("late_opening", "Ouverture tardive", "boolean"),
)
_LABELS = {"criticality": Criticality, "channel": Channel, "handling": Handling, "profile": Profile,
           "status": TicketStatus, "sla_state": SlaState}


def statement_rows(statement: Any) -> list[list[Any]]:
    """The statement's tickets as rows of cells (labels in French, datetimes in the app's zone)."""
    tz = _tz()
    out = []
    for r in statement.rows:
        row = []
        for name, _label, kind in STATEMENT_COLUMNS:
            value = r.get(name)
            if name in _LABELS:
                value = _LABELS[name].label_of(code_of(value)) if value is not None else ""
            elif kind == "datetime" and value is not None:
                value = value.astimezone(tz).replace(tzinfo=None)
            row.append(value)
        out.append(row)
    return out


def statement_info(statement: Any, contractor_name: str) -> list[tuple[str, Any]]:
    """The statement's summary: counts, median time to resolve, breaches, late openings."""
    from models.tickets import MONTHS_FR

    median = statement.median_hours
    return [("Prestataire", f"{contractor_name} ({statement.contractor})"),
            ("Mois", f"{MONTHS_FR[statement.month - 1]} {statement.year}"),
            ("Tickets reçus", len(statement.rows)), ("Tickets résolus", len(statement.resolved)),
            ("Délai médian de résolution (heures ouvrées)", "" if median is None else median),
            ("Délais dépassés", statement.breaches), ("Ouvertures tardives (R-TICKET-1)", statement.late_openings),
            ("Édité le", now().strftime("%d/%m/%Y %H:%M"))]


def write_statement(statement: Any, contractor_name: str, target: Any) -> int:
    """The monthly statement of a contractor as an .xlsx file (tickets, then an « Informations » summary)."""
    from sheets.engine.xlsx import XlsxColumn, write_xlsx

    columns = [XlsxColumn(label, kind=kind) for _name, label, kind in STATEMENT_COLUMNS]
    return write_xlsx(target, columns, statement_rows(statement), sheet_title=f"Relevé {statement.contractor}"[:31],
                      info=statement_info(statement, contractor_name))
