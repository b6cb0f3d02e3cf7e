"""The schools' student (SIECLE) and teacher (STS) lists: each upload is recorded, and R-SLOT-2's deadline.

R-SLOT-2: the lists are uploaded 7 working days before the delivery date (French public holidays excluded). The
delivery date of a school comes from the providers registered here (the slots area registers the booked slot's
date with `register_delivery_dates`); without one, the first day of the campaign's delivery window (the R-SLOT-3
events of the calendar: data). A list uploaded since the start of that campaign counts as done.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from tortoise import fields
from tortoise.models import Model

from models.fleet import HolderKind
from models.reminders import PendingItem, ReminderRule, register
from models.schools import ContactRole, Mode, School
from models.workdays import working_days_before

LIST_WORKING_DAYS = 7  # R-SLOT-2
DELIVERY_RULE = "R-SLOT-3"  # the calendar events of the delivery window

LIST_TITLES: dict[str, str] = {
    HolderKind.STUDENT.value: "Base élèves (SIECLE)",
    HolderKind.TEACHER.value: "Base enseignants (STS)",
}


class ListUpload(Model):
    """One student or teacher list applied for a school: when, by whom, what it changed."""

    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.School", related_name="list_uploads", on_delete=fields.CASCADE)
    kind = fields.CharEnumField(HolderKind, max_length=12)
    uploaded_at = fields.DatetimeField(auto_now_add=True)
    uploaded_by = fields.CharField(max_length=254, default="")
    new = fields.IntField(default=0)
    moved = fields.IntField(default=0)
    updated = fields.IntField(default=0)
    left = fields.IntField(default=0)
    version = fields.IntField(default=1)

    class Meta:
        table = "list_upload"
        indexes = (("school_id", "kind", "uploaded_at"),)


# --- Delivery dates -----------------------------------------------------------------------------------------

DeliveryDates = Callable[[list[int]], Awaitable[dict[int, dt.date]]]
_PROVIDERS: dict[str, DeliveryDates] = {}


def register_delivery_dates(provider: DeliveryDates) -> DeliveryDates:
    """Declare where the schools' delivery dates come from (e.g. their booked slot): {school id: date}."""
    _PROVIDERS[f"{provider.__module__}.{provider.__qualname__}"] = provider
    return provider


async def delivery_window_start(today: dt.date) -> tuple[dt.date, int] | None:
    """R-SLOT-3: the first day of the next (or current) delivery window and its campaign year (calendar data)."""
    from models.campaign import CampaignEvent

    spans: dict[int, list[dt.date]] = {}
    for row in await CampaignEvent.filter(rule_id=DELIVERY_RULE).values("year", "starts_on", "due_on"):
        spans.setdefault(row["year"], []).extend(d for d in (row["starts_on"], row["due_on"]) if d is not None)
    windows = sorted((min(days), max(days), year) for year, days in spans.items() if days)
    for start, end, year in windows:
        if end >= today:
            return start, year
    return None


async def campaign_start(year: int) -> dt.date:
    """The first dated event of a campaign year (uploads since then count for its deliveries)."""
    from models.campaign import CampaignEvent

    days = [d for row in await CampaignEvent.filter(year=year).values("starts_on", "due_on")
            for d in (row["starts_on"], row["due_on"]) if d is not None]
    return min(days) if days else dt.date(year, 1, 1)


async def delivery_dates(school_ids: list[int], today: dt.date) -> dict[int, dt.date]:
    """Each school's delivery date: from the registered providers, else the campaign's delivery window start."""
    out: dict[int, dt.date] = {}
    for provider in _PROVIDERS.values():
        for school_id, day in (await provider(school_ids)).items():
            out.setdefault(school_id, day)
    window = await delivery_window_start(today)
    if window is not None:
        for school_id in school_ids:
            out.setdefault(school_id, window[0])
    return out


def lists_due(delivery: dt.date) -> dt.date:
    """R-SLOT-2 (pure): the lists are due 7 working days before the delivery."""
    return working_days_before(delivery, LIST_WORKING_DAYS)


async def uploaded_since(school_ids: list[int], since: dt.date) -> set[tuple[int, str]]:
    """(school id, kind) of the lists uploaded since a day."""
    start = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
    rows = await ListUpload.filter(school_id__in=school_ids, uploaded_at__gte=start).values_list("school_id", "kind")
    return {(sid, getattr(kind, "value", kind)) for sid, kind in rows}


async def lists_state(school: School, today: dt.date) -> dict[str, Any]:
    """One school's lists: delivery date, due date, and for each kind whether it is done and its last upload."""
    dates = await delivery_dates([school.id], today)
    delivery = dates.get(school.id)
    year = delivery.year if delivery else today.year
    since = await campaign_start(year)
    last = {}
    for kind in (HolderKind.STUDENT, HolderKind.TEACHER):
        last[kind.value] = await ListUpload.filter(school_id=school.id, kind=kind).order_by("-uploaded_at").first()
    done = {k: v is not None and v.uploaded_at.date() >= since for k, v in last.items()}
    return {"delivery": delivery, "due": lists_due(delivery) if delivery else None, "since": since,
            "last": last, "done": done}


async def lists_pending(today: dt.date, horizon: dt.date) -> list[PendingItem]:
    """R-SLOT-2: the digital schools whose student or teacher list is not uploaded for their delivery yet."""
    schools = await School.filter(mode=Mode.NUMERIQUE).order_by("uai")
    if not schools:
        return []
    dates = await delivery_dates([s.id for s in schools], today)
    items: list[PendingItem] = []
    starts: dict[int, dt.date] = {}
    due_of = {s.id: lists_due(dates[s.id]) for s in schools if s.id in dates}
    concerned = [s for s in schools if s.id in due_of and today <= due_of[s.id] <= horizon]
    if not concerned:
        return []
    years = {dates[s.id].year for s in concerned}
    for year in years:
        starts[year] = await campaign_start(year)
    done: set[tuple[int, str]] = set()
    for year in years:
        done |= await uploaded_since([s.id for s in concerned if dates[s.id].year == year], starts[year])
    for school in concerned:
        delivery, due = dates[school.id], due_of[school.id]
        for kind, title in LIST_TITLES.items():
            if (school.id, kind) in done:
                continue
            items.append(PendingItem(
                school=school, due=due, rule_id="R-SLOT-2", title=f"Importer la {title[0].lower()}{title[1:]}",
                action=f"La {title[0].lower()}{title[1:]} doit être importée 7 jours ouvrés avant la livraison des PC "
                       f"(livraison le {delivery:%d/%m/%Y}).",
                where="Rentrée › Mon établissement › Listes (lien « Accéder à votre espace »)",
                cc_roles=(ContactRole.CHEF, ContactRole.COORDONNATEUR), key=f"lists:{kind}:{due.isoformat()}"))
    return items


register(ReminderRule(code="fleet.lists", label="Listes SIECLE / STS avant la livraison (R-SLOT-2)",
                      list_pending=lists_pending, days_before=(14, 7, 2, 0)))
