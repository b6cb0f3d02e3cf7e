"""Campaign calendar: the dated events of a rentrée campaign and their audience (data, not code)."""

from __future__ import annotations

import datetime as dt

from tortoise import fields
from tortoise.models import Model
from tortoise.transactions import in_transaction

from models.reminders import PendingItem, ReminderRule, register, superseded_event_codes
from models.schools import ContactRole, Mode, School
from models.vocab import Labeled


class Audience(Labeled):
    """Which schools an event concerns."""

    ALL = "all", "Tous les lycées"
    NUMERIQUE = "numerique", "Lycées numériques"
    PAPIER = "papier", "Lycées papier"


def parse_days(text: str) -> tuple[int, ...]:
    """'14, 7, 2, 0' → (14, 7, 2, 0); ValueError in French on anything else."""
    values: list[int] = []
    for part in str(text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) > 365:
            raise ValueError(f"Jours de relance « {text} » invalides : attendu des nombres entre 0 et 365 "
                             "séparés par des virgules (ex. 14, 7, 2, 0).")
        values.append(int(part))
    return tuple(sorted(set(values), reverse=True))


class CampaignEvent(Model):
    """A dated event of a campaign year, its audience and when to remind the schools of it."""

    id = fields.IntField(primary_key=True)
    year = fields.IntField(db_index=True)
    slug = fields.CharField(max_length=60)
    rule_id = fields.CharField(max_length=20)
    title = fields.CharField(max_length=200)
    action = fields.TextField(default="")
    where = fields.CharField(max_length=200, default="")
    starts_on = fields.DateField(null=True)
    due_on = fields.DateField()
    audience = fields.CharEnumField(Audience, max_length=12, default=Audience.ALL)
    cc_role = fields.CharEnumField(ContactRole, max_length=32, null=True)
    remind_days = fields.CharField(max_length=60, default="14,7,2,0")
    note = fields.CharField(max_length=300, default="")
    version = fields.IntField(default=1)

    class Meta:
        table = "campaign_event"
        unique_together = (("year", "slug"),)
        ordering = ["due_on", "slug"]

    @property
    def days_before(self) -> tuple[int, ...]:
        """The reminder offsets of the event (empty: information only, no mail)."""
        return parse_days(self.remind_days)

    async def save(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        """Check the reminder days and the window before saving."""
        self.remind_days = ",".join(str(d) for d in parse_days(self.remind_days))
        if self.starts_on and self.starts_on > self.due_on:
            raise ValueError(f"« {self.title} » : la date de début ({self.starts_on:%d/%m/%Y}) est après "
                             f"l'échéance ({self.due_on:%d/%m/%Y}).")
        await super().save(*args, **kwargs)  # type: ignore[arg-type]


def shift_year(day: dt.date | None, years: int = 1) -> dt.date | None:
    """The same day and month `years` later (29 February → 28 February)."""
    if day is None:
        return None
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


async def copy_to_next_year(year: int) -> int:
    """Copy a campaign's events to the next year, dates shifted; return how many were created."""
    created = 0
    async with in_transaction():
        existing = set(await CampaignEvent.filter(year=year + 1).values_list("slug", flat=True))
        for event in await CampaignEvent.filter(year=year):
            if event.slug in existing:
                continue
            await CampaignEvent.create(
                year=year + 1, slug=event.slug, rule_id=event.rule_id, title=event.title, action=event.action,
                where=event.where, starts_on=shift_year(event.starts_on), due_on=shift_year(event.due_on),
                audience=event.audience, cc_role=event.cc_role, remind_days=event.remind_days, note=event.note)
            created += 1
    return created


async def campaign_events(year: int | None = None) -> list[CampaignEvent]:
    """The events of a campaign (all years when None), by due date."""
    qs = CampaignEvent.all() if year is None else CampaignEvent.filter(year=year)
    return await qs.order_by("due_on", "slug")


async def upcoming_events(today: dt.date, limit: int = 8) -> list[CampaignEvent]:
    """The next events from a date on, by due date."""
    return await CampaignEvent.filter(due_on__gte=today).order_by("due_on", "slug").limit(limit)


async def schools_for(audience: Audience) -> list[School]:
    """The schools an audience designates."""
    if audience == Audience.NUMERIQUE:
        return await School.filter(mode=Mode.NUMERIQUE).order_by("uai")
    if audience == Audience.PAPIER:
        return await School.filter(mode=Mode.PAPIER).order_by("uai")
    return await School.all().order_by("uai")


async def audience_sizes() -> dict[str, int]:
    """How many schools each audience designates."""
    return {a.value: await (School.all() if a == Audience.ALL else School.filter(mode=a.value)).count()
            for a in Audience}


async def calendar_pending(today: dt.date, horizon: dt.date) -> list[PendingItem]:
    """Every (school, event) of the calendar due between two dates, for the schools of each event's audience."""
    skip = superseded_event_codes()
    events = [e for e in await CampaignEvent.filter(due_on__gte=today, due_on__lte=horizon)
              if e.slug not in skip and e.days_before]
    cache: dict[Audience, list[School]] = {}
    items: list[PendingItem] = []
    for event in events:
        if event.audience not in cache:
            cache[event.audience] = await schools_for(event.audience)
        roles = (event.cc_role,) if event.cc_role else ()
        for school in cache[event.audience]:
            items.append(PendingItem(
                school=school, due=event.due_on, rule_id=event.rule_id, title=event.title, action=event.action,
                where=event.where, cc_roles=roles, days_before=event.days_before,
                key=f"{event.year}:{event.slug}"))
    return items


CALENDAR_RULE = register(ReminderRule(
    code="calendar", label="Calendrier de campagne (livret)", list_pending=calendar_pending,
    days_before=(14, 7, 2, 0), template="digest", look_ahead=366, tracks_state=False, url="/relances"))
