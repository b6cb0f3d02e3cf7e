"""Demo slots: the 2024 campaign of the livret (R-SLOT-1 … 9). La Poste's delivery days over the delivery window of
the calendar, most numérique schools booked by a member of their « La Poste » group, some not, some above 250 laptops
(two rooms), the distributions done with their plans (the planner's sessions), and a few special cases: an
intervention note instead of a certificate, boxes not collected, a school that asked a later collection date.
From a fixed random seed; idempotent (nothing is added once the year has slots).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from models.schools import Contact, ContactRole, Mode, School
from models.slots import (
    BOOKING_RULE,
    DELIVERY_RULE,
    DISTRIBUTION_MAX,
    DeliveryDay,
    Session,
    Slot,
    SlotStatus,
    boxes_due,
    default_distribution,
    estimated_laptops,
    ordered_classes,
    plan_distribution,
    rooms_for,
    school_classes,
    window,
)
from models.workdays import is_working_day, working_days_after

Progress = Callable[[str], Any]
ORDER = 30
YEAR = 2024
PARIS = ZoneInfo("Europe/Paris")
BOOKED_SHARE = 0.9


async def seed_slots(year: int = YEAR, seed: int = 2024, progress: Progress | None = None) -> dict[str, int]:
    """The campaign `year`'s delivery days, slots and plans (nothing when the year has slots already)."""
    import settings as settings_module
    from models.schools import Enrolment
    from seed.calendar import ensure_calendar

    say = progress or (lambda _m: None)
    if await Slot.filter(year=year).exists():
        return {"delivery_days": 0, "slots": 0, "sessions": 0}
    await ensure_calendar(settings_module.today())  # the livret's calendar, copied forward as the app's start does
    delivery = await window(DELIVERY_RULE, year)
    booking = await window(BOOKING_RULE, year)
    if delivery is None or booking is None:
        say(f"Créneaux : pas de calendrier {year}, rien à créer.")
        return {"delivery_days": 0, "slots": 0, "sessions": 0}
    rng = random.Random(seed + 12)
    schools = await School.filter(mode=Mode.NUMERIQUE).order_by("uai")
    if not schools:
        return {"delivery_days": 0, "slots": 0, "sessions": 0}
    ids = [s.id for s in schools]
    enrolments: dict[int, list[tuple[str, str, int]]] = {}
    for sid, track, level, students in await Enrolment.filter(school_id__in=ids).values_list(
            "school_id", "track", "level", "students"):
        enrolments.setdefault(sid, []).append((track, level, students))
    members: dict[int, list[int]] = {}
    for cid, sid in await Contact.filter(school_id__in=ids, roles__role=ContactRole.LA_POSTE).values_list(
            "id", "school_id"):
        members.setdefault(sid, []).append(cid)
    others: dict[int, list[int]] = {}
    for cid, sid in await Contact.filter(school_id__in=ids).values_list("id", "school_id"):
        others.setdefault(sid, []).append(cid)
    classes = await school_classes(ids)
    days = []
    day = delivery[0]
    while day <= delivery[1]:
        if is_working_day(day):
            days.append(day)
        day += dt.timedelta(days=1)
    booked_n = int(len(schools) * BOOKED_SHARE)
    capacity = -(-booked_n // len(days)) + 3
    created = {"delivery_days": 0, "slots": 0, "sessions": 0}
    async with in_transaction():
        existing = set(await DeliveryDay.filter(day__in=days).values_list("day", flat=True))
        fresh = [DeliveryDay(day=d, capacity=capacity) for d in days if d not in existing]
        await DeliveryDay.bulk_create(fresh)
        created["delivery_days"] = len(fresh)
        load = {d: 0 for d in days}
        slots: list[Slot] = []
        order = list(schools)
        rng.shuffle(order)
        for n, school in enumerate(order):
            laptops = estimated_laptops(enrolments.get(school.id, []))
            slot = Slot(school_id=school.id, year=year, laptops=laptops, rooms=rooms_for(laptops))
            if n < booked_n and members.get(school.id):
                free = [d for d in days if load[d] < capacity]
                day = free[min(len(free) - 1, int(rng.random() * len(free)))]
                load[day] += 1
                slot.delivery_on = day
                slot.distribution_on = (default_distribution(day) if rng.random() < 0.7
                                        else working_days_after(day, DISTRIBUTION_MAX))
                slot.booked_by_id = rng.choice(members[school.id])
                booked_on = booking[0] + dt.timedelta(days=rng.randint(0, (booking[1] - booking[0]).days))
                slot.booked_at = dt.datetime.combine(booked_on, dt.time(rng.randint(8, 17), rng.randint(0, 59)),
                                                     tzinfo=PARIS)
                slot.status = SlotStatus.CLOSED
                slot.accounts_ready = slot.rooms_ready = True
                slot.start_person, slot.end_person = "Accueil", "Vie scolaire"
                slot.delivery_note_signed_by_id = rng.choice(others[school.id])
                slot.boxes_collect_by = boxes_due(slot.distribution_on)
                slot.boxes_collected_on = slot.distribution_on + dt.timedelta(days=rng.randint(1, 5))
                slot.certificate_signed_by_id = rng.choice(members[school.id])
                slot.certificate_signed_at = dt.datetime.combine(slot.distribution_on, dt.time(17, 30),
                                                                 tzinfo=PARIS)
                slot.class_order = ", ".join(sorted(classes.get(school.id, {}), reverse=rng.random() < 0.3))
                slot.class_order_at = slot.booked_at
                case = rng.random()
                if case < 0.04:  # R-SLOT-9: nobody of the group there, an intervention note and the links mailed
                    slot.status = SlotStatus.DISTRIBUTED
                    slot.certificate_signed_by_id, slot.certificate_signed_at = None, None
                    slot.intervention_note = ("Signée par l'agent d'accueil : aucun membre du groupe « La Poste » "
                                              "présent, attestation à signer par lien.")
                elif case < 0.08:  # R-SLOT-8: boxes never collected
                    slot.status = SlotStatus.DISTRIBUTED
                    slot.boxes_collected_on = None
                elif case < 0.11:  # R-SLOT-8: the school asked a later collection
                    slot.boxes_collect_by = slot.distribution_on + dt.timedelta(days=14)
                    slot.boxes_collected_on = slot.distribution_on + dt.timedelta(days=12)
            slots.append(slot)
        await Slot.bulk_create(slots, batch_size=500)
        created["slots"] = len(slots)
        saved = await Slot.filter(year=year).exclude(distribution_on=None).prefetch_related("school")
        sessions: list[Session] = []
        for slot in saved:
            order_names = [c.strip() for c in slot.class_order.split(",") if c.strip()]
            plan = plan_distribution(ordered_classes(classes.get(slot.school_id, {}), order_names),
                                     slot.distribution_on, slot.rooms)
            sessions.extend(Session(school_id=slot.school_id, slot_id=slot.id, day=p.day, starts_at=p.starts_at,
                                    room=p.room, class_name=p.class_name, students=p.students, position=p.position,
                                    roll_call_done=True) for p in plan)
        await Session.bulk_create(sessions, batch_size=1000)
        created["sessions"] = len(sessions)
        for d, n in load.items():
            if n:
                await DeliveryDay.filter(day=d).update(booked=n)
    say(f"Créneaux {year} : {created['slots']} créneau(x), {sum(load.values())} réservé(s), "
        f"{created['sessions']} passage(s) de classe planifié(s).")
    return created


async def seed_area(progress: Progress | None = None) -> dict[str, int]:
    """The demo's 2024 slots campaign (discovered by seed.seed_everything)."""
    return await seed_slots(progress=progress)
