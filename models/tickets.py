"""Maintenance tickets (R-TICKET-1 … 9): contractors, categories, tickets, their events and the on-site visits.

Contractors, categories and their deadlines are data (the 2025 contract change is an edit of rows, not of code).
The deadlines are computed here by pure functions on working time (Mon–Fri, service hours, French public
holidays excluded, models/workdays.py), from the ticket's events (the pauses while the school is asked something).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tortoise import fields
from tortoise.models import Model

from models.schools import ContactRole
from models.vocab import Labeled
from models.workdays import (
    DAY_END,
    DAY_START,
    add_working_minutes,
    end_of_working_day,
    in_service_hours,
    is_working_day,
    working_days_after,
    working_minutes_between,
)

PARIS = ZoneInfo("Europe/Paris")

# The free maintenance line answers Mon–Fri 8:00–18:00 (R-TICKET-1): the working time of every ticket deadline.
LINE_START, LINE_END = DAY_START, DAY_END
RISK_SHARE = 0.25  # a deadline is « à risque » once less than a quarter of its working time is left


# --- Vocabulary ----------------------------------------------------------------------------------------

class TicketStatus(Labeled):
    """Life cycle of a ticket (R-TICKET-4: each step is mailed to the school)."""

    NEW = "nouveau", "Nouveau"
    TAKEN = "pris_en_charge", "Pris en charge"
    WAITING = "attente_etablissement", "En attente de l'établissement"
    INTERVENTION = "en_intervention", "En intervention"
    RESOLVED = "resolu", "Résolu"
    CLOSED = "clos", "Clos"
    REDIRECTED = "redirige", "Redirigé"


OPEN_STATUSES = (TicketStatus.NEW, TicketStatus.TAKEN, TicketStatus.WAITING, TicketStatus.INTERVENTION)
RUNNING_STATUSES = (TicketStatus.NEW, TicketStatus.TAKEN, TicketStatus.INTERVENTION)  # the SLA clock runs
ENDED_STATUSES = (TicketStatus.RESOLVED, TicketStatus.CLOSED, TicketStatus.REDIRECTED)


class Channel(Labeled):
    """How the incident reached us (R-TICKET-1)."""

    PHONE = "ligne", "N° vert (appel)"
    EMAIL = "courriel", "Courriel à l'adresse Césame"
    SCHOOL = "acces_ecole", "Accès établissement"


class Handling(Labeled):
    """Where the contractor works on it (R-TICKET-6)."""

    REMOTE = "distance", "À distance"
    ONSITE = "sur_site", "Sur site"


class Profile(Labeled):
    """Profile of the contractor's person (R-TICKET-8)."""

    TECHNICIAN = "technicien", "Technicien"
    ENGINEER = "ingenieur", "Ingénieur"
    EXPERT = "expert", "Expert"


class Criticality(Labeled):
    """How badly the school is hit: sets the deadline within the category's range (R-TICKET-6, R-TICKET-7)."""

    CRITICAL = "critique", "Critique (service arrêté)"
    HIGH = "haute", "Haute (service dégradé)"
    NORMAL = "normale", "Normale"
    LOW = "basse", "Basse"


class SlaState(Labeled):
    """Where a ticket stands against its current deadline."""

    OK = "dans_les_delais", "Dans les délais"
    AT_RISK = "a_risque", "À risque"
    BREACHED = "depasse", "Dépassé"


SLA_COLORS: tuple[tuple[str, str], ...] = (("dans_les_delais", "#dcf2e0"), ("a_risque", "#ffe3b3"),
                                           ("depasse", "#f9c6c6"))


class EventKind(Labeled):
    """What a line of a ticket's timeline records."""

    CREATED = "creation", "Ticket ouvert"
    STEP = "etape", "Étape"
    HANDLING = "traitement", "Changement de traitement"
    REPORT = "signalement", "Signalement joint"
    COMMENT = "commentaire", "Commentaire"
    SLA = "delai", "Délai"


class VisitKind(Labeled):
    """Why a contractor comes on site (R-TICKET-9)."""

    PREVENTIVE = "preventive", "Visite préventive"
    DELIVERY = "livraison", "Livraison d'équipement"
    RECYCLING = "recyclage", "Inventaire de recyclage"
    FIELD_STUDY = "etude_terrain", "Étude terrain"


class VisitStatus(Labeled):
    """Where a planned visit stands."""

    PLANNED = "planifiee", "Planifiée"
    DONE = "faite", "Faite"
    CANCELLED = "annulee", "Annulée"


# Who may report an incident and read the school's tickets (R-TICKET-1, R-TICKET-3).
REPORTER_ROLES = frozenset({ContactRole.CHEF.value, ContactRole.COORDONNATEUR.value})
# Who may see a « ne pas diffuser » desk's contact details (R-TICKET-2, R-ORG-3).
RESTRICTED_DESK_ROLES = frozenset({ContactRole.CHEF.value, ContactRole.COORDONNATEUR.value,
                                   ContactRole.TICKETS.value})


# --- Models ----------------------------------------------------------------------------------------------

class Contractor(Model):
    """A maintenance contractor of the Région and its terms (data: the 2025 contract change is a row edit)."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=20, unique=True)
    name = fields.CharField(max_length=120)
    scope = fields.CharField(max_length=300, default="")
    desk_email = fields.CharField(max_length=254, default="")
    desk_phone = fields.CharField(max_length=40, default="")
    opening_hours = fields.DecimalField(max_digits=5, decimal_places=2, default=Decimal("2"))
    visit_days_per_month = fields.IntField(default=2)
    active = fields.BooleanField(default=True)
    version = fields.IntField(default=1)

    class Meta:
        table = "contractor"
        ordering = ["code"]


class TicketCategory(Model):
    """What an incident is about: handled here (contractor, profile, deadlines) or redirected to another desk."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=40, unique=True)
    label = fields.CharField(max_length=120)
    handled = fields.BooleanField(default=True)
    redirect_to: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.SupportDesk", related_name="ticket_categories", null=True, on_delete=fields.SET_NULL)
    contractor: fields.ForeignKeyNullableRelation[Contractor] = fields.ForeignKeyField(
        "models.Contractor", related_name="categories", null=True, on_delete=fields.SET_NULL)
    profile = fields.CharEnumField(Profile, max_length=12, default=Profile.TECHNICIAN)
    onsite_min_days = fields.IntField(default=1)
    onsite_max_days = fields.IntField(default=3)
    remote_hours = fields.DecimalField(max_digits=5, decimal_places=2, default=Decimal("1"))
    excluded_links = fields.CharField(max_length=200, default="")
    active = fields.BooleanField(default=True)
    version = fields.IntField(default=1)

    class Meta:
        table = "ticket_category"
        ordering = ["label"]


class Ticket(Model):
    """One incident of a school, from the call to its closure, with its deadline and SLA state."""

    id = fields.IntField(primary_key=True)
    number = fields.CharField(max_length=20, unique=True)
    school: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.School", related_name="tickets", on_delete=fields.CASCADE)
    category: fields.ForeignKeyRelation[TicketCategory] = fields.ForeignKeyField(
        "models.TicketCategory", related_name="tickets", on_delete=fields.RESTRICT)
    summary = fields.CharField(max_length=300)
    criticality = fields.CharEnumField(Criticality, max_length=10, default=Criticality.NORMAL)
    reported_by: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Contact", related_name="tickets", null=True, on_delete=fields.SET_NULL)
    channel = fields.CharEnumField(Channel, max_length=12, default=Channel.PHONE)
    opened_at = fields.DatetimeField()
    status = fields.CharEnumField(TicketStatus, max_length=24, default=TicketStatus.NEW)
    handling = fields.CharEnumField(Handling, max_length=10, null=True)
    contractor: fields.ForeignKeyNullableRelation[Contractor] = fields.ForeignKeyField(
        "models.Contractor", related_name="tickets", null=True, on_delete=fields.SET_NULL)
    profile = fields.CharEnumField(Profile, max_length=12, null=True)
    taken_at = fields.DatetimeField(null=True)
    due_at = fields.DatetimeField(null=True)
    risk_at = fields.DatetimeField(null=True)
    paused_hours = fields.DecimalField(max_digits=8, decimal_places=2, default=Decimal("0"))
    resolved_at = fields.DatetimeField(null=True)
    sla_state = fields.CharEnumField(SlaState, max_length=16, default=SlaState.OK)
    late_opening = fields.BooleanField(default=False)
    excluded = fields.BooleanField(default=False)
    redirected_to: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.SupportDesk", related_name="redirected_tickets", null=True, on_delete=fields.SET_NULL)
    note = fields.CharField(max_length=1000, default="")
    open_key = fields.CharField(max_length=40, null=True, unique=True)  # school:category while open (R-TICKET-5)
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "ticket"
        indexes = (("status", "due_at"), ("school_id", "status"), ("contractor_id", "opened_at"))


class TicketEvent(Model):
    """One line of a ticket's timeline: a step, a report joined, a comment, a deadline mark. Append-only."""

    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="events", on_delete=fields.CASCADE)
    school: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.School", related_name="ticket_events", on_delete=fields.CASCADE)
    at = fields.DatetimeField()
    author = fields.CharField(max_length=254, default="")
    kind = fields.CharEnumField(EventKind, max_length=12, default=EventKind.STEP)
    from_status = fields.CharEnumField(TicketStatus, max_length=24, null=True)
    to_status = fields.CharEnumField(TicketStatus, max_length=24, null=True)
    text = fields.CharField(max_length=2000, default="")

    class Meta:
        table = "ticket_event"
        indexes = (("ticket_id", "at"),)


class Visit(Model):
    """A contractor's day on site: preventive visit, equipment delivery, recycling inventory (R-TICKET-9)."""

    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.School", related_name="visits", on_delete=fields.CASCADE)
    contractor: fields.ForeignKeyNullableRelation[Contractor] = fields.ForeignKeyField(
        "models.Contractor", related_name="visits", null=True, on_delete=fields.SET_NULL)
    day = fields.DateField()
    kind = fields.CharEnumField(VisitKind, max_length=16, default=VisitKind.PREVENTIVE)
    status = fields.CharEnumField(VisitStatus, max_length=10, default=VisitStatus.PLANNED)
    notes = fields.CharField(max_length=300, default="")
    version = fields.IntField(default=1)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "visit"
        indexes = (("school_id", "day"),)


# --- Deadlines (pure) ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Terms:
    """The deadlines that apply to a ticket: from its contractor (opening) and its category (resolution)."""

    opening_hours: Decimal = Decimal("2")
    onsite_min_days: int = 1
    onsite_max_days: int = 3
    remote_hours: Decimal = Decimal("1")
    excluded_links: str = ""


def code_of(value: Any) -> Any:
    """The code of an enum member (or the value itself)."""
    return value.value if hasattr(value, "value") and not isinstance(value, str | bool | int | Decimal) else value


def onsite_days(terms: Terms, criticality: str | None) -> int:
    """R-TICKET-7: working days allowed on site within the category's range, by criticality (D+min … D+max)."""
    low, high = terms.onsite_min_days, max(terms.onsite_min_days, terms.onsite_max_days)
    level = code_of(criticality) or Criticality.NORMAL.value
    if level == Criticality.CRITICAL:
        return low
    if level == Criticality.HIGH:
        return low + (high - low) // 2
    return high


REMOTE_SHARE = {Criticality.CRITICAL.value: Decimal("0.5"), Criticality.HIGH.value: Decimal("0.75")}


def remote_minutes(terms: Terms, criticality: str | None) -> float:
    """R-TICKET-6: working minutes allowed at a distance: the category's hours, halved for a critical incident."""
    share = REMOTE_SHARE.get(code_of(criticality) or "", Decimal("1"))
    return float(terms.remote_hours * 60 * share)


def opening_due(opened_at: dt.datetime, terms: Terms, tz: dt.tzinfo = PARIS) -> dt.datetime:
    """R-TICKET-1: a call is taken in charge within the opening hours of working time (17:30 → 9:30 next day)."""
    return add_working_minutes(opened_at, float(terms.opening_hours) * 60, tz=tz, start=LINE_START, end=LINE_END)


def onsite_base_due(start: dt.datetime, days: int, tz: dt.tzinfo = PARIS) -> dt.datetime:
    """Closing time of the D+days working day, D being the day the ticket was taken in charge."""
    local_day = start.astimezone(tz).date()
    return end_of_working_day(working_days_after(local_day, days), tz=tz, end=LINE_END)


@dataclass(frozen=True)
class Clock:
    """A ticket's current deadline, when it becomes « à risque », and the working time paused so far."""

    due_at: dt.datetime | None
    risk_at: dt.datetime | None
    paused_minutes: float = 0.0


def pauses_of(events: Iterable[dict[str, Any]]) -> list[tuple[dt.datetime, dt.datetime | None]]:
    """The waiting periods of a ticket from its events: entering « en attente » starts one, leaving it ends it."""
    out: list[tuple[dt.datetime, dt.datetime | None]] = []
    start: dt.datetime | None = None
    for e in sorted(events, key=lambda e: (e["at"], e.get("id") or 0)):
        to_status, from_status = code_of(e.get("to_status")), code_of(e.get("from_status"))
        if to_status == TicketStatus.WAITING and start is None:
            start = e["at"]
        elif from_status == TicketStatus.WAITING and start is not None:
            out.append((start, e["at"]))
            start = None
    if start is not None:
        out.append((start, None))
    return out


def paused_minutes(pauses: Sequence[tuple[dt.datetime, dt.datetime | None]], since: dt.datetime | None,
                   now: dt.datetime, tz: dt.tzinfo = PARIS) -> float:
    """Working minutes spent waiting for the school after `since` (an open pause counts until now)."""
    total = 0.0
    for start, end in pauses:
        if since is not None and (end or now) <= since:
            continue
        first = max(start, since) if since is not None else start
        total += working_minutes_between(first, end or now, tz=tz, start=LINE_START, end=LINE_END)
    return total


def sla_clock(status: str, *, opened_at: dt.datetime, taken_at: dt.datetime | None, handling: str | None,
              criticality: str | None, terms: Terms, paused: float = 0.0, excluded: bool = False,
              tz: dt.tzinfo = PARIS) -> Clock:
    """The deadline of a ticket's current phase.

    Opening (« nouveau »): the opening hours of working time from the call. Resolution (taken in charge): at a
    distance, the remote minutes by criticality from the taking in charge; on site, the closing time of the
    D+n working day (n by criticality within the category's range) — both pushed back by the working time paused
    while waiting for the school. A very-high-speed link excluded from the delay has no resolution deadline.
    """
    state = code_of(status)
    if state == TicketStatus.NEW:
        budget = float(terms.opening_hours) * 60
        return Clock(add_working_minutes(opened_at, budget, tz=tz, start=LINE_START, end=LINE_END),
                     add_working_minutes(opened_at, budget * (1 - RISK_SHARE), tz=tz, start=LINE_START,
                                         end=LINE_END), 0.0)
    start = taken_at or opened_at
    if excluded:
        return Clock(None, None, paused)
    if code_of(handling) == Handling.REMOTE:
        budget = remote_minutes(terms, criticality)
    else:
        base = onsite_base_due(start, onsite_days(terms, criticality), tz)
        budget = working_minutes_between(start, base, tz=tz, start=LINE_START, end=LINE_END)
    due = add_working_minutes(start, budget + paused, tz=tz, start=LINE_START, end=LINE_END)
    risk = add_working_minutes(start, budget * (1 - RISK_SHARE) + paused, tz=tz, start=LINE_START, end=LINE_END)
    return Clock(due, risk, paused)


def sla_state_at(now: dt.datetime, clock: Clock) -> SlaState:
    """The SLA state of a running deadline at a moment."""
    if clock.due_at is None:
        return SlaState.OK
    if now > clock.due_at:
        return SlaState.BREACHED
    if clock.risk_at is not None and now >= clock.risk_at:
        return SlaState.AT_RISK
    return SlaState.OK


def phone_call_refusal(opened_at: dt.datetime, tz: dt.tzinfo = PARIS) -> str:
    """R-TICKET-1: the free line answers Mon–Fri 8:00–18:00 (public holidays excluded); '' when the call fits."""
    if in_service_hours(opened_at, tz=tz, start=LINE_START, end=LINE_END):
        return ""
    local = opened_at.astimezone(tz)
    why = "un jour non ouvré" if not is_working_day(local.date()) else "hors des heures d'ouverture"
    return (f"Appel du {local:%d/%m/%Y à %H:%M} impossible : le N° vert est ouvert du lundi au vendredi de 8 h à "
            f"18 h, hors jours fériés ({why}). Choisissez le canal « courriel » s'il s'agit d'un message (R-TICKET-1).")


def open_key(school_id: int, category_id: int) -> str:
    """The key that makes one open ticket per school and category unique in the database (R-TICKET-5)."""
    return f"{school_id}:{category_id}"


def duplicate_message(number: str, opened_at: dt.datetime, status: str, tz: dt.tzinfo = PARIS) -> str:
    """R-TICKET-5: the French refusal of a second ticket for one incident, naming the open one."""
    return (f"Un ticket est déjà ouvert pour cet incident : {number} (ouvert le "
            f"{opened_at.astimezone(tz):%d/%m/%Y à %H:%M}, « {TicketStatus.label_of(status)} »). Joignez votre "
            f"signalement au ticket {number} au lieu d'en ouvrir un second (R-TICKET-5).")


def remote_refusal(school_uai: str, csn_deployed: bool) -> str:
    """R-TICKET-6: remote handling only where the school has a CSN; '' when allowed."""
    if csn_deployed:
        return ""
    return (f"Traitement à distance impossible : le lycée {school_uai} n'a pas de CSN déployé (R-TICKET-6). "
            "Choisissez « Sur site ».")


def check_category(values: dict[str, Any]) -> None:
    """A category either opens tickets (contractor and deadlines) or sends to another desk, never both."""
    handled, redirect = bool(values.get("handled")), values.get("redirect_to")
    if handled and redirect:
        raise ValueError("Une catégorie traitée ici ne renvoie pas vers un autre support : videz « Rediriger "
                         "vers » ou décochez « Traitée ici » (R-TICKET-2).")
    if not handled and not redirect:
        raise ValueError("Une catégorie non traitée ici doit indiquer le support vers lequel rediriger (R-TICKET-2).")
    if handled and not values.get("contractor"):
        raise ValueError("Une catégorie traitée ici a un prestataire (R-TICKET-8).")
    low, high = values.get("onsite_min_days"), values.get("onsite_max_days")
    if low is not None and high is not None and (low < 0 or high < low):
        raise ValueError(f"Délai sur site incohérent : J+{low} … J+{high} (le minimum ne dépasse pas le maximum).")
    if values.get("remote_hours") is not None and Decimal(str(values["remote_hours"])) <= 0:
        raise ValueError("Le délai à distance est d'au moins quelques minutes (heures > 0).")


# --- Visits (R-TICKET-9) ----------------------------------------------------------------------------------

MONTHS_FR = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
             "novembre", "décembre"]


def visit_refusal(day: dt.date, other_days: Iterable[dt.date], limit: int, uai: str) -> str:
    """R-TICKET-9: a visit falls on a working day, and a school gets at most `limit` visit days a month."""
    if not is_working_day(day):
        return (f"Le {day:%d/%m/%Y} n'est pas un jour ouvré : choisissez un jour du lundi au vendredi, "
                "hors jours fériés.")
    same_month = sorted({d for d in other_days if (d.year, d.month) == (day.year, day.month)})
    if day in same_month or len(same_month) < limit:
        return ""
    listed = ", ".join(f"{d:%d/%m}" for d in same_month)
    return (f"Le lycée {uai} a déjà {len(same_month)} jour(s) de visite en {MONTHS_FR[day.month - 1]} {day.year} "
            f"({listed}) : au plus {limit} jours par mois (R-TICKET-9). Regroupez cette visite avec un de ces jours.")


# --- Statements and breaches (R-TICKET-7, R-TICKET-8) -------------------------------------------------------

@dataclass
class Statement:
    """A contractor's month: its tickets, how many were resolved, the median working time to resolve, breaches."""

    contractor: str
    year: int
    month: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def resolved(self) -> list[dict[str, Any]]:
        """Tickets resolved (or closed) among them."""
        return [r for r in self.rows if r["resolved_at"] is not None]

    @property
    def median_hours(self) -> float | None:
        """Median working hours from opening to resolution."""
        hours = [r["hours_to_resolve"] for r in self.resolved if r["hours_to_resolve"] is not None]
        return round(statistics.median(hours), 2) if hours else None

    @property
    def breaches(self) -> int:
        """Tickets whose resolution deadline was missed."""
        return sum(1 for r in self.rows if code_of(r["sla_state"]) == SlaState.BREACHED)

    @property
    def late_openings(self) -> int:
        """Calls taken in charge after the opening deadline (R-TICKET-1)."""
        return sum(1 for r in self.rows if r["late_opening"])


def month_bounds(year: int, month: int, tz: dt.tzinfo = PARIS) -> tuple[dt.datetime, dt.datetime]:
    """First instant of a month and of the next one, in the app's zone."""
    start = dt.datetime(year, month, 1, tzinfo=tz)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return start, end


async def monthly_statement(contractor_code: str, year: int, month: int, tz: dt.tzinfo = PARIS) -> Statement:
    """R-TICKET-8: the tickets a contractor got in a month (opened then), with times to resolve and breaches."""
    start, end = month_bounds(year, month, tz)
    rows = await Ticket.filter(contractor__code=contractor_code, opened_at__gte=start, opened_at__lt=end).order_by(
        "opened_at", "id").values(
        "number", "school__uai", "school__name", "category__label", "criticality", "channel", "handling", "profile",
        "status", "opened_at", "taken_at", "resolved_at", "due_at", "paused_hours", "sla_state", "late_opening")
    for r in rows:
        r["hours_to_resolve"] = None if r["resolved_at"] is None else round(working_minutes_between(
            r["opened_at"], r["resolved_at"], tz=tz, start=LINE_START, end=LINE_END) / 60 - float(
            r["paused_hours"] or 0), 2)
    return Statement(contractor_code, year, month, rows)


async def breaches_by_contractor() -> list[dict[str, Any]]:
    """R-TICKET-7: per contractor, open tickets, those « à risque » and « dépassé », late openings (one query each)."""
    from tortoise.functions import Count

    out: dict[str, dict[str, Any]] = {}
    for c in await Contractor.all().order_by("code").values("code", "name"):
        out[c["code"]] = {"code": c["code"], "name": c["name"], "open": 0, "a_risque": 0, "depasse": 0,
                          "late_opening": 0, "breached_total": 0}
    rows = await Ticket.filter(status__in=OPEN_STATUSES).group_by("contractor__code", "sla_state").annotate(
        n=Count("id")).values("contractor__code", "sla_state", "n")
    for r in rows:
        entry = out.get(r["contractor__code"])
        if entry is None:
            continue
        entry["open"] += r["n"]
        state = code_of(r["sla_state"])
        if state in ("a_risque", "depasse"):
            entry[state] += r["n"]
    for r in await Ticket.filter(sla_state=SlaState.BREACHED).group_by("contractor__code").annotate(
            n=Count("id")).values("contractor__code", "n"):
        if r["contractor__code"] in out:
            out[r["contractor__code"]]["breached_total"] = r["n"]
    for r in await Ticket.filter(late_opening=True).group_by("contractor__code").annotate(n=Count("id")).values(
            "contractor__code", "n"):
        if r["contractor__code"] in out:
            out[r["contractor__code"]]["late_opening"] = r["n"]
    return list(out.values())


async def status_counts() -> dict[str, int]:
    """Tickets per status (one grouped query)."""
    from tortoise.functions import Count

    counts = {s.value: 0 for s in TicketStatus}
    for r in await Ticket.all().group_by("status").annotate(n=Count("id")).values("status", "n"):
        counts[code_of(r["status"])] = r["n"]
    return counts


def terms_of(contractor: Contractor | None, category: TicketCategory) -> Terms:
    """The deadlines of a ticket from its contractor and category rows."""
    return Terms(opening_hours=contractor.opening_hours if contractor is not None else Decimal("2"),
                 onsite_min_days=category.onsite_min_days, onsite_max_days=category.onsite_max_days,
                 remote_hours=category.remote_hours, excluded_links=category.excluded_links)


# --- Queries the pages use ----------------------------------------------------------------------------------

TICKET_FIELDS = ("id", "number", "version", "school__uai", "school__name", "category__code", "category__label",
                 "summary", "criticality", "channel", "opened_at", "status", "handling", "contractor__code",
                 "contractor__name", "profile", "taken_at", "due_at", "paused_hours", "resolved_at", "sla_state",
                 "late_opening", "excluded", "redirected_to__name", "note", "reported_by__full_name",
                 "category__excluded_links")


async def ticket_by_number(number: str, school_uais: frozenset[str] | None = None) -> dict[str, Any] | None:
    """One ticket as the ticket page shows it (None when absent or outside the given schools)."""
    query = Ticket.filter(number=number.strip().upper())
    if school_uais is not None:
        query = query.filter(school__uai__in=list(school_uais))
    rows = await query.values(*TICKET_FIELDS)
    return rows[0] if rows else None


async def timeline(ticket_id: int) -> list[dict[str, Any]]:
    """Every line of a ticket's timeline, oldest first."""
    return list(await TicketEvent.filter(ticket_id=ticket_id).order_by("at", "id").values(
        "id", "at", "author", "kind", "from_status", "to_status", "text"))


async def school_tickets(school_id: int, closed_limit: int = 20) -> list[dict[str, Any]]:
    """A school's open tickets (all), then its latest ended ones."""
    open_rows = await Ticket.filter(school_id=school_id, status__in=OPEN_STATUSES).order_by("-opened_at").values(
        *TICKET_FIELDS)
    ended = await Ticket.filter(school_id=school_id, status__in=ENDED_STATUSES).order_by("-opened_at").limit(
        closed_limit).values(*TICKET_FIELDS)
    return [*open_rows, *ended]


async def report_categories() -> list[dict[str, Any]]:
    """The categories offered when reporting an incident (those that open a ticket and those that redirect)."""
    return list(await TicketCategory.filter(active=True).order_by("label").values(
        "code", "label", "handled", "redirect_to__name", "excluded_links"))


async def school_reporters(school_id: int) -> list[dict[str, Any]]:
    """The heads and coordinators of a school, who may report an incident (R-TICKET-1)."""
    from models.schools import Contact

    rows = await Contact.filter(school_id=school_id, roles__role__in=[ContactRole.CHEF, ContactRole.COORDONNATEUR,
                                                                      ContactRole.TICKETS]).distinct().order_by(
        "full_name").values("id", "full_name", "email")
    return list(rows)


async def coordinator_access(school_id: int) -> list[dict[str, Any]]:
    """R-TICKET-3: the school's coordinators and, for each, the id of its « accès aux tickets » right (or None)."""
    from models.schools import Contact, ContactRoleAssignment

    coordinators = await Contact.filter(school_id=school_id, roles__role=ContactRole.COORDONNATEUR).distinct(
        ).order_by("full_name").values("id", "full_name", "email")
    grants = dict(await ContactRoleAssignment.filter(contact__school_id=school_id, role=ContactRole.TICKETS
                                                     ).values_list("contact_id", "id"))
    return [{**c, "grant_id": grants.get(c["id"])} for c in coordinators]


async def school_visits(school_id: int, since: dt.date) -> list[dict[str, Any]]:
    """A school's visits from a day on (R-TICKET-9)."""
    return list(await Visit.filter(school_id=school_id, day__gte=since).order_by("day").values(
        "id", "day", "kind", "status", "contractor__name", "notes"))


async def contractor_codes() -> list[str]:
    """The contractors' codes."""
    return list(await Contractor.all().order_by("code").values_list("code", flat=True))


async def open_ticket_for(uai: str, category_code: str) -> dict[str, Any] | None:
    """The open ticket of a school for a category (R-TICKET-5: the one a second report joins)."""
    rows = await Ticket.filter(school__uai=uai, category__code=category_code, status__in=OPEN_STATUSES).order_by(
        "opened_at").values("id", "number")
    return rows[0] if rows else None
