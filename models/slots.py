"""Delivery and distribution slots (R-SLOT-1 … 9): La Poste's delivery days, one slot per school and campaign year,
and the distribution plan (sessions), with the pure planner (R-SLOT-6) and the slots' reminder rules.

Dates of a campaign (booking window, delivery window) are data of the year (models/campaign.py), never constants.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise import fields
from tortoise.models import Model

from models.reminders import PendingItem, ReminderRule, register
from models.school_lists import register_delivery_dates
from models.schools import ContactRole, Mode, School
from models.vocab import Labeled
from models.workdays import is_working_day, working_days_after, working_days_between

# --- Vocabulary and the livret's figures --------------------------------------------------------------------

ROOM_THRESHOLD = 250  # R-SLOT-5: two rooms in parallel for deliveries of more than 250 laptops
CLASS_MINUTES = 30  # R-SLOT-6: 30 minutes per class
AGENTS_BEFORE = 30  # R-SLOT-6: agents on site 30 minutes before
HALF_DAYS = ((dt.time(9, 0), dt.time(12, 0)), (dt.time(14, 0), dt.time(17, 0)))  # R-SLOT-6: 9:00 or 14:00
DISTRIBUTION_MIN, DISTRIBUTION_MAX = 2, 3  # R-SLOT-6: 2 or 3 working days after delivery
CLASS_ORDER_DAYS = 3  # R-SLOT-4: class order at the latest 3 days before distribution
BOXES_DAYS = 5  # R-SLOT-8: boxes collected within 5 days after distribution
BOOKING_RULE = "R-SLOT-1"
DELIVERY_RULE = "R-SLOT-3"


class SlotStatus(Labeled):
    """Life cycle of a school's slot."""

    TO_BOOK = "a_reserver", "À réserver"
    BOOKED = "reserve", "Réservé"
    DELIVERED = "livre", "Livré"
    DISTRIBUTED = "distribue", "Distribué"
    CLOSED = "clos", "Clos"
    CANCELLED = "annule", "Annulé"


def code_of(value: Any) -> Any:
    """The stored code of an enum member (or the value itself)."""
    return getattr(value, "value", value)


def rooms_for(laptops: int) -> int:
    """R-SLOT-5: one room, or two rooms in parallel above 250 laptops."""
    return 2 if laptops > ROOM_THRESHOLD else 1


def default_distribution(delivery: dt.date) -> dt.date:
    """R-SLOT-6: the distribution 2 working days after the delivery."""
    return working_days_after(delivery, DISTRIBUTION_MIN)


def distribution_refusal(delivery: dt.date | None, distribution: dt.date | None) -> str:
    """R-SLOT-6: French refusal when the distribution is not 2 or 3 working days after the delivery ('' if fine)."""
    if distribution is None:
        return ""
    if delivery is None:
        return "Réservez d'abord le jour de livraison : la distribution a lieu 2 ou 3 jours ouvrés après (R-SLOT-6)."
    if not 0 < (distribution - delivery).days <= 10:
        first = working_days_after(delivery, DISTRIBUTION_MIN)
        last = working_days_after(delivery, DISTRIBUTION_MAX)
        return (f"La distribution a lieu 2 ou 3 jours ouvrés après la livraison du {delivery:%d/%m/%Y} : le "
                f"{first:%d/%m/%Y} ou le {last:%d/%m/%Y} (R-SLOT-6).")
    if not is_working_day(distribution):
        return f"Le {distribution:%d/%m/%Y} n'est pas un jour ouvré : choisissez un autre jour de distribution."
    gap = working_days_between(delivery, distribution)
    if distribution <= delivery or not DISTRIBUTION_MIN <= gap <= DISTRIBUTION_MAX:
        first = working_days_after(delivery, DISTRIBUTION_MIN)
        last = working_days_after(delivery, DISTRIBUTION_MAX)
        return (f"La distribution a lieu 2 ou 3 jours ouvrés après la livraison du {delivery:%d/%m/%Y} : le "
                f"{first:%d/%m/%Y} ou le {last:%d/%m/%Y} (R-SLOT-6).")
    return ""


def class_order_due(distribution: dt.date) -> dt.date:
    """R-SLOT-4: the class order is due 3 days before the distribution."""
    return distribution - dt.timedelta(days=CLASS_ORDER_DAYS)


def boxes_due(distribution: dt.date) -> dt.date:
    """R-SLOT-8: the empty boxes are collected within 5 days after the distribution."""
    return distribution + dt.timedelta(days=BOXES_DAYS)


# --- The planner (R-SLOT-6), pure --------------------------------------------------------------------------

@dataclass(frozen=True)
class PlannedSession:
    """One class's passage: day, start (HH:MM), room, class, students, position in the order."""

    day: dt.date
    starts_at: str
    room: int
    class_name: str
    students: int
    position: int

    @property
    def start(self) -> dt.time:
        """The start as a time."""
        hours, minutes = self.starts_at.split(":")
        return dt.time(int(hours), int(minutes))

    @property
    def end(self) -> dt.time:
        """The end (30 minutes later)."""
        moment = dt.datetime.combine(self.day, self.start) + dt.timedelta(minutes=CLASS_MINUTES)
        return moment.time()


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key reading the numbers in a class name as numbers (2GT2 before 2GT10)."""
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def ordered_classes(classes: dict[str, int], order: Sequence[str] = ()) -> list[tuple[str, int]]:
    """The classes in the school's order (R-SLOT-4): the named ones first, in that order, then the others by name."""
    named = [c for c in dict.fromkeys(o.strip() for o in order) if c in classes]
    rest = sorted((c for c in classes if c not in named), key=natural_key)
    return [(c, classes[c]) for c in (*named, *rest)]


def plan_distribution(classes: Sequence[tuple[str, int]], start: dt.date, rooms: int) -> list[PlannedSession]:
    """R-SLOT-6: classes one after the other, 30 minutes each, from 9:00 or 14:00, in `rooms` rooms in parallel,
    never split across half-days, continuing the next working day when one day is not enough."""
    rooms = max(1, min(2, rooms))
    per_half = [int((dt.datetime.combine(start, end) - dt.datetime.combine(start, begin)).total_seconds()
                    // 60 // CLASS_MINUTES) for begin, end in HALF_DAYS]
    out: list[PlannedSession] = []
    day = start if is_working_day(start) else working_days_after(start, 1)
    half, turn = 0, 0
    for position, (name, students) in enumerate(classes, start=1):
        index = position - 1
        room = index % rooms + 1
        if room == 1 and index:
            turn += 1
            if turn >= per_half[half]:
                turn = 0
                half += 1
                if half >= len(HALF_DAYS):
                    half = 0
                    day = working_days_after(day, 1)
        begin = dt.datetime.combine(day, HALF_DAYS[half][0]) + dt.timedelta(minutes=CLASS_MINUTES * turn)
        out.append(PlannedSession(day, f"{begin:%H:%M}", room, name, students, position))
    return out


def agents_arrive(session: PlannedSession, first_of_half: bool) -> str:
    """R-SLOT-6: the agents are on site 30 minutes before the first class of a half-day ('' for the others)."""
    if not first_of_half:
        return ""
    moment = dt.datetime.combine(session.day, session.start) - dt.timedelta(minutes=AGENTS_BEFORE)
    return f"{moment:%H:%M}"


def plan_problems(plan: Sequence[PlannedSession], rooms: int, delivery: dt.date | None = None) -> list[str]:
    """The R-SLOT-6 invariants a plan breaks (empty when it holds): every class once, 30 min in a half-day starting
    at 9:00 or 14:00, no two classes in one room at once, rooms within 1…rooms, working days, 2–3 days after."""
    problems: list[str] = []
    names = [s.class_name for s in plan]
    if len(set(names)) != len(names):
        problems.append("une classe figure deux fois")
    seen: set[tuple[dt.date, str, int]] = set()
    for s in plan:
        if not 1 <= s.room <= rooms:
            problems.append(f"{s.class_name} : salle {s.room} hors de 1…{rooms}")
        half = next((h for h in HALF_DAYS if h[0] <= s.start and s.end <= h[1]), None)
        if half is None:
            problems.append(f"{s.class_name} : {s.starts_at} déborde d'une demi-journée")
        elif (dt.datetime.combine(s.day, s.start) - dt.datetime.combine(s.day, half[0])).seconds % (
                CLASS_MINUTES * 60):
            problems.append(f"{s.class_name} : {s.starts_at} n'est pas sur un pas de 30 minutes")
        if (s.day, s.starts_at, s.room) in seen:
            problems.append(f"{s.class_name} : salle {s.room} déjà occupée à {s.starts_at}")
        seen.add((s.day, s.starts_at, s.room))
        if not is_working_day(s.day):
            problems.append(f"{s.class_name} : {s.day:%d/%m/%Y} n'est pas un jour ouvré")
    if delivery is not None and plan:
        refusal = distribution_refusal(delivery, plan[0].day)
        if refusal:
            problems.append(refusal)
    ordered = sorted(plan, key=lambda s: s.position)
    keys = [(s.day, s.start, s.room) for s in ordered]
    if keys != sorted(keys, key=lambda k: (k[0], k[1], k[2])):
        problems.append("l'ordre des classes n'est pas respecté")
    return problems


# --- Models ----------------------------------------------------------------------------------------------

class DeliveryDay(Model):
    """A day La Poste delivers, and how many schools it can deliver that day (capacity), with the booked count."""

    id = fields.IntField(primary_key=True)
    day = fields.DateField(unique=True)
    capacity = fields.IntField(default=20)
    booked = fields.IntField(default=0)
    note = fields.CharField(max_length=200, default="")
    version = fields.IntField(default=1)

    class Meta:
        table = "delivery_day"
        ordering = ["day"]


class Slot(Model):
    """One school's delivery and distribution of a campaign year, from the booking to the signed certificates."""

    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.School", related_name="slots", on_delete=fields.CASCADE)
    year = fields.IntField(db_index=True)
    laptops = fields.IntField(default=0)
    status = fields.CharEnumField(SlotStatus, max_length=12, default=SlotStatus.TO_BOOK, db_index=True)
    delivery_on = fields.DateField(null=True, db_index=True)
    booked_by: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Contact", related_name="booked_slots", null=True, on_delete=fields.SET_NULL)
    booked_at = fields.DatetimeField(null=True)
    rooms = fields.IntField(default=1)
    distribution_on = fields.DateField(null=True, db_index=True)
    class_order = fields.TextField(default="")
    class_order_at = fields.DatetimeField(null=True)
    accounts_ready = fields.BooleanField(default=False)
    rooms_ready = fields.BooleanField(default=False)
    start_person = fields.CharField(max_length=120, default="")
    end_person = fields.CharField(max_length=120, default="")
    delivery_note_signed_by: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Contact", related_name="signed_delivery_notes", null=True, on_delete=fields.SET_NULL)
    boxes_collect_by = fields.DateField(null=True)
    boxes_collected_on = fields.DateField(null=True)
    certificate_signed_by: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Contact", related_name="signed_certificates", null=True, on_delete=fields.SET_NULL)
    certificate_signed_at = fields.DatetimeField(null=True)
    intervention_note = fields.TextField(default="")
    version = fields.IntField(default=1)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "slot"
        unique_together = (("school", "year"),)
        ordering = ["delivery_on", "id"]


class Session(Model):
    """One class's passage at the distribution: the plan of a school (R-SLOT-6), one row per class."""

    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.School", related_name="sessions", on_delete=fields.CASCADE)
    slot: fields.ForeignKeyRelation[Slot] = fields.ForeignKeyField(
        "models.Slot", related_name="sessions", on_delete=fields.CASCADE)
    day = fields.DateField()
    starts_at = fields.CharField(max_length=5)
    room = fields.IntField(default=1)
    class_name = fields.CharField(max_length=20)
    students = fields.IntField(default=0)
    position = fields.IntField(default=1)
    roll_call_done = fields.BooleanField(default=False)
    version = fields.IntField(default=1)

    class Meta:
        table = "distribution_session"
        ordering = ["day", "starts_at", "room"]
        indexes = (("slot_id", "position"),)


# --- Campaign dates (data) ------------------------------------------------------------------------------------

async def window(rule_id: str, year: int) -> tuple[dt.date, dt.date] | None:
    """The first and last day of the calendar events of a rule for a year (booking R-SLOT-1, delivery R-SLOT-3)."""
    from models.campaign import CampaignEvent

    days = [d for row in await CampaignEvent.filter(rule_id=rule_id, year=year).values("starts_on", "due_on")
            for d in (row["starts_on"], row["due_on"]) if d is not None]
    return (min(days), max(days)) if days else None


ENTRY_LEVELS = {"2de": "2", "CAP1": "1CAP", "3PM": "3PM"}  # the levels whose students receive a laptop
TRACK_PREFIX = {"generale": "GT", "technologique": "T", "professionnelle": "PRO"}
CLASS_SIZE = 35


def estimated_classes(enrolments: Iterable[tuple[str, str, int]]) -> dict[str, int]:
    """Before the lists are uploaded, the entering classes estimated from the enrolments (track, level, students):
    classes of at most 35, students spread evenly (e.g. 2GT1 … 2GT9)."""
    out: dict[str, int] = {}
    for track, level, students in enrolments:
        prefix = ENTRY_LEVELS.get(code_of(level))
        if prefix is None or students <= 0:
            continue
        name = prefix + TRACK_PREFIX.get(code_of(track), "") if prefix == "2" else prefix
        count = -(-students // CLASS_SIZE)
        for n in range(count):
            out[f"{name}{n + 1}"] = students // count + (1 if n < students % count else 0)
    return out


def estimated_laptops(enrolments: Iterable[tuple[str, str, int]]) -> int:
    """The laptops of a delivery estimated from the entering students (before devices are assigned)."""
    return sum(estimated_classes(enrolments).values())


async def school_classes(school_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """The classes of each school with their number of students: its students in school with a class once its student
    list (SIECLE) is uploaded, else the entering classes estimated from its enrolments (its holders when it has
    none)."""
    from models.fleet import Holder, HolderKind, Situation
    from models.school_lists import ListUpload
    from models.schools import Enrolment

    out: dict[int, dict[str, int]] = {}
    ids = list(school_ids)
    estimated: set[int] = set()
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        listed = set(await ListUpload.filter(school_id__in=part, kind=HolderKind.STUDENT).values_list(
            "school_id", flat=True))
        counted = set(await Enrolment.filter(school_id__in=part).values_list("school_id", flat=True))
        estimated |= {i for i in part if i in counted and i not in listed}
    from_lists = [i for i in ids if i not in estimated]
    for start in range(0, len(from_lists), 500):
        rows = await Holder.filter(school_id__in=from_lists[start:start + 500], kind=HolderKind.STUDENT,
                                   situation=Situation.IN_SCHOOL).exclude(class_name="").values_list(
            "school_id", "class_name")
        for school_id, name in rows:
            classes = out.setdefault(school_id, {})
            classes[name] = classes.get(name, 0) + 1
    missing = [i for i in ids if i in estimated]
    by_school: dict[int, list[tuple[str, str, int]]] = {}
    for start in range(0, len(missing), 500):
        for school_id, track, level, students in await Enrolment.filter(
                school_id__in=missing[start:start + 500]).values_list("school_id", "track", "level", "students"):
            by_school.setdefault(school_id, []).append((track, level, students))
    for school_id, enrolments in by_school.items():
        out[school_id] = estimated_classes(enrolments)
    return out


def plan_lines(plan: Sequence[PlannedSession], rooms: int) -> list[str]:
    """A plan as text, half-day by half-day, room by room (the CLI's `plan <UAI>`)."""
    lines: list[str] = []
    current: tuple[dt.date, int] | None = None
    for s in sorted(plan, key=lambda s: (s.day, s.start, s.room)):
        half = 0 if s.start < HALF_DAYS[1][0] else 1
        if (s.day, half) != current:
            current = (s.day, half)
            begin = HALF_DAYS[half][0]
            arrive = (dt.datetime.combine(s.day, begin) - dt.timedelta(minutes=AGENTS_BEFORE)).time()
            lines.append(f"{s.day:%d/%m/%Y} {'matin' if half == 0 else 'après-midi'} — agents sur place à "
                         f"{arrive:%H:%M}")
        lines.append(f"  {s.starts_at}–{s.end:%H:%M}  salle {s.room}/{rooms}  n° {s.position:>2}  {s.class_name:<10} "
                     f"{s.students} élève(s)")
    return lines


async def laptops_of(school_ids: Iterable[int]) -> dict[int, int]:
    """The student laptops assigned to each school's holders for the delivery (assigned or delivered)."""
    from tortoise.functions import Count

    from models.fleet import Device, DeviceKind, Status

    ids = list(school_ids)
    out: dict[int, int] = {}
    for start in range(0, len(ids), 500):
        rows = await Device.filter(holder__school_id__in=ids[start:start + 500], kind=DeviceKind.STUDENT_LAPTOP,
                                   status__in=(Status.ASSIGNED, Status.DELIVERED)).annotate(
            n=Count("id")).group_by("holder__school_id").values_list("holder__school_id", "n")
        out.update({sid: n for sid, n in rows})
    return out


# --- Reminders ------------------------------------------------------------------------------------------------

@register_delivery_dates
async def booked_delivery_dates(school_ids: list[int]) -> dict[int, dt.date]:
    """R-SLOT-2: a school's delivery date is its booked slot's (the lists are due 7 working days before it)."""
    out: dict[int, dt.date] = {}
    for start in range(0, len(school_ids), 500):
        rows = await Slot.filter(school_id__in=school_ids[start:start + 500], delivery_on__not_isnull=True).exclude(
            status=SlotStatus.CANCELLED).order_by("-year").values_list("school_id", "delivery_on")
        for school_id, day in rows:
            out.setdefault(school_id, day)
    return out


async def booking_pending(today: dt.date, horizon: dt.date) -> list[PendingItem]:
    """R-SLOT-1: numérique schools without a booked slot while the booking window closes within [today, horizon]."""
    from models.campaign import CampaignEvent

    closes = await CampaignEvent.filter(rule_id=BOOKING_RULE, due_on__gte=today, due_on__lte=horizon,
                                        slug="slot-booking-close").values("year", "due_on", "title", "action", "where")
    items: list[PendingItem] = []
    for row in closes:
        year, due = row["year"], row["due_on"]
        opened = await window(BOOKING_RULE, year)
        if opened is not None and today < opened[0]:
            continue
        booked = set(await Slot.filter(year=year).exclude(status__in=(SlotStatus.TO_BOOK, SlotStatus.CANCELLED))
                     .values_list("school_id", flat=True))
        for school in await School.filter(mode=Mode.NUMERIQUE).order_by("uai"):
            if school.id in booked:
                continue
            items.append(PendingItem(
                school=school, due=due, rule_id=BOOKING_RULE, title=row["title"] or "Réserver le créneau de livraison",
                action=row["action"] or "Un membre du groupe « La Poste » de l'établissement réserve le jour de "
                                        "livraison.",
                where=row["where"] or "Rentrée › Mon établissement › Livraison et distribution des PC",
                cc_roles=(ContactRole.LA_POSTE,), key=f"slots:booking:{year}:{due.isoformat()}"))
    return items


async def class_order_pending(today: dt.date, horizon: dt.date) -> list[PendingItem]:
    """R-SLOT-4: booked slots whose class order is not given, from each school's own distribution date."""
    rows = await Slot.filter(status__in=(SlotStatus.BOOKED, SlotStatus.DELIVERED), class_order_at__isnull=True,
                             distribution_on__gte=today + dt.timedelta(days=CLASS_ORDER_DAYS),
                             distribution_on__lte=horizon + dt.timedelta(days=CLASS_ORDER_DAYS)).prefetch_related(
        "school")
    items = []
    for slot in rows:
        due = class_order_due(slot.distribution_on)
        items.append(PendingItem(
            school=slot.school, due=due, rule_id="R-SLOT-4", title="Donner l'ordre de passage des classes",
            action=f"L'ordre de passage des classes pour la distribution du {slot.distribution_on:%d/%m/%Y} est à "
                   "donner au plus tard 3 jours avant.",
            where="Rentrée › Mon établissement › Livraison et distribution",
            cc_roles=(ContactRole.CHEF, ContactRole.COORDONNATEUR), key=f"slots:order:{slot.year}:{due.isoformat()}"))
    return items


register(ReminderRule(code="slots.booking", label="Réservation du créneau de livraison (R-SLOT-1)",
                      list_pending=booking_pending, days_before=(14, 7, 2, 0), supersedes=("slot-booking-close",),
                      tracks_state=True, url="/feuilles/slots?status=a_reserver"))
register(ReminderRule(code="slots.class_order", label="Ordre de passage des classes (R-SLOT-4)",
                      list_pending=class_order_pending, days_before=(7, 2, 0), tracks_state=True,
                      url="/feuilles/slots?status=reserve"))


# --- Follow-up lists ------------------------------------------------------------------------------------------

async def boxes_overdue(today: dt.date) -> list[Slot]:
    """R-SLOT-8: distributed slots whose empty boxes are not collected after their collection date."""
    return await Slot.filter(status__in=(SlotStatus.DISTRIBUTED, SlotStatus.CLOSED), boxes_collected_on__isnull=True,
                             boxes_collect_by__lt=today).prefetch_related("school").order_by("boxes_collect_by")


def slot_due_dates(slot: Slot) -> dict[str, dt.date | None]:
    """A slot's own deadlines: lists (R-SLOT-2), class order (R-SLOT-4), boxes (R-SLOT-8)."""
    from models.school_lists import lists_due

    return {"lists": lists_due(slot.delivery_on) if slot.delivery_on else None,
            "class_order": class_order_due(slot.distribution_on) if slot.distribution_on else None,
            "boxes": slot.boxes_collect_by or (boxes_due(slot.distribution_on) if slot.distribution_on else None)}


def class_names(order: str) -> list[str]:
    """The class names of a class order as typed (commas, semicolons or lines)."""
    return [c.strip() for c in str(order or "").replace(";", ",").replace("\n", ",").split(",") if c.strip()]


async def proposed_plan(slot: Slot) -> list[PlannedSession]:
    """R-SLOT-6: what the planner proposes for a slot now (its school's classes, its order, date and rooms)."""
    if slot.distribution_on is None:
        return []
    classes = (await school_classes([slot.school_id])).get(slot.school_id, {})
    return plan_distribution(ordered_classes(classes, class_names(slot.class_order)), slot.distribution_on,
                             slot.rooms)


async def slot_plan(slot: Slot) -> list[PlannedSession]:
    """A slot's plan: its stored sessions, else the planner's proposal."""
    rows = await Session.filter(slot_id=slot.id).order_by("position")
    if rows:
        return [PlannedSession(r.day, r.starts_at, r.room, r.class_name, r.students, r.position) for r in rows]
    return await proposed_plan(slot)


async def plan_all(year: int) -> dict[int, list[PlannedSession]]:
    """R-SLOT-6: the plan of every slot of a campaign with a distribution day, from the classes as they are now
    (one query for the classes of all schools): {slot id: plan}."""
    slots = await Slot.filter(year=year, distribution_on__not_isnull=True).exclude(
        status=SlotStatus.CANCELLED).values("id", "school_id", "distribution_on", "rooms", "class_order")
    classes = await school_classes([s["school_id"] for s in slots])
    return {s["id"]: plan_distribution(ordered_classes(classes.get(s["school_id"], {}), class_names(s["class_order"])),
                                       s["distribution_on"], s["rooms"]) for s in slots}


# --- Views' queries (calendar, progress, a school's slot) -------------------------------------------------------

async def month_calendar(year: int, month: int) -> dict[dt.date, dict[str, Any]]:
    """Each day of a month with La Poste's capacity, the deliveries and the distributions booked that day."""
    first = dt.date(year, month, 1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    out: dict[dt.date, dict[str, Any]] = {}
    for d in range(last.day):
        out[first + dt.timedelta(days=d)] = {"capacity": None, "deliveries": [], "distributions": []}
    for row in await DeliveryDay.filter(day__gte=first, day__lte=last).values("day", "capacity"):
        out[row["day"]]["capacity"] = row["capacity"]
    slots = await Slot.exclude(status=SlotStatus.CANCELLED).filter(
        delivery_on__gte=first - dt.timedelta(days=7), delivery_on__lte=last).values(
        "id", "delivery_on", "distribution_on", "status", "school__uai", "school__name")
    for s in slots:
        entry = {"id": s["id"], "uai": s["school__uai"], "name": s["school__name"], "status": code_of(s["status"])}
        if s["delivery_on"] in out:
            out[s["delivery_on"]]["deliveries"].append(entry)
        if s["distribution_on"] in out:
            out[s["distribution_on"]]["distributions"].append(entry)
    return out


async def campaign_progress(year: int) -> list[dict[str, Any]]:
    """Per académie: slots, booked, delivered, distributed (closed ones count as distributed), to book."""
    from tortoise.functions import Count

    rows = await Slot.filter(year=year).annotate(n=Count("id")).group_by("school__academie", "status").values_list(
        "school__academie", "status", "n")
    table: dict[str, dict[str, Any]] = {}
    reached = {SlotStatus.BOOKED.value: 1, SlotStatus.DELIVERED.value: 2, SlotStatus.DISTRIBUTED.value: 3,
               SlotStatus.CLOSED.value: 3}
    for academie, status, n in rows:
        line = table.setdefault(code_of(academie), {"academie": code_of(academie), "slots": 0, "to_book": 0,
                                                     "booked": 0, "delivered": 0, "distributed": 0, "cancelled": 0})
        status = code_of(status)
        line["slots"] += n
        if status == SlotStatus.TO_BOOK.value:
            line["to_book"] += n
        elif status == SlotStatus.CANCELLED.value:
            line["cancelled"] += n
        level = reached.get(status, 0)
        line["booked"] += n if level >= 1 else 0
        line["delivered"] += n if level >= 2 else 0
        line["distributed"] += n if level >= 3 else 0
    return [table[k] for k in sorted(table)]


async def school_slot(school_id: int, year: int | None = None) -> Slot | None:
    """A school's slot of a campaign (default: its latest)."""
    query = Slot.filter(school_id=school_id)
    if year is not None:
        query = query.filter(year=year)
    return await query.order_by("-year").prefetch_related("school", "booked_by", "delivery_note_signed_by",
                                                           "certificate_signed_by").first()


async def campaign_years() -> list[int]:
    """The campaign years that have slots, latest first."""
    return sorted(set(await Slot.all().values_list("year", flat=True)), reverse=True)


async def la_poste_members(school_id: int) -> list[Any]:
    """The school's « La Poste » group (the persons an agent may name when booking on their behalf)."""
    from models.schools import Contact

    return await Contact.filter(school_id=school_id, roles__role=ContactRole.LA_POSTE).distinct().order_by(
        "full_name")


async def open_delivery_days(year: int) -> list[DeliveryDay]:
    """The delivery days of a campaign's window that still have room (what a booking form offers)."""
    span = await window(DELIVERY_RULE, year)
    query = DeliveryDay.all()
    if span is not None:
        query = query.filter(day__gte=span[0], day__lte=span[1])
    return [d for d in await query.order_by("day") if d.booked < d.capacity]


async def unbooked_count(year: int) -> int:
    """Slots of a campaign still to book (home alert)."""
    return await Slot.filter(year=year, status=SlotStatus.TO_BOOK).count()
