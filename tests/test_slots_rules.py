"""Delivery and distribution slots (R-SLOT-1 … 9) through the engine as callers make them: a school's « La Poste »
member signed in by school access (the engine's `Caller.school`), the Région's agents, La Poste, the reminder rules.
Pages and the API are in test_slots_pages.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

import settings as settings_module
from models.fleet import Holder, HolderKind
from models.outbox import OutboxMail
from models.schools import Contact, ContactRole, School
from models.slots import (
    DeliveryDay,
    Session,
    Slot,
    SlotStatus,
    booking_pending,
    boxes_overdue,
    class_order_pending,
    ordered_classes,
    plan_distribution,
    plan_problems,
)
from seed.calendar import seed_calendar
from sheets.engine.actions import run_action
from sheets.engine.caller import Caller
from sheets.engine.writes import WriteRefused, create_rows, set_values
from sheets.slots import SLOTS
from tests.factories import make_contact, make_school, written_around_the_engine

PARIS = ZoneInfo("Europe/Paris")
AGENT = Caller("agent.region@iledefrance.fr", "agent")
LAPOSTE = Caller("plateforme@laposte.example.fr", "laposte")
JOB = Caller.job("test")


class FakeClock:
    """The app's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = dt.datetime(2024, 6, 10, 10, tzinfo=PARIS)

    def set(self, day: dt.date) -> None:
        self.now = dt.datetime.combine(day, dt.time(10), tzinfo=PARIS)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(settings_module, "now", lambda: fake.now)
    return fake


@dataclass
class World:
    school: School
    poste: Contact  # member of the « La Poste » group
    head: Contact  # head of school, not in the group
    slot: Slot

    def member(self, contact: Contact) -> Caller:
        """The contact signed in by school access."""
        roles = {"groupe_la_poste"} if contact.id == self.poste.id else {"chef_etablissement"}
        return Caller.school(contact.email, frozenset({self.school.uai}),
                             frozenset((self.school.uai, r) for r in roles))


async def make_world(laptops: int = 120, classes: int = 4, capacity: int = 2) -> World:
    await seed_calendar()
    school = await make_school(name="Lycée des Créneaux")
    poste = await make_contact(school, [ContactRole.LA_POSTE], full_name="Paul Poste", email="paul.poste@ac-paris.fr")
    head = await make_contact(school, [ContactRole.CHEF], full_name="Claire Chef", email="claire.chef@ac-paris.fr")
    holders = [Holder(ident=f"H{school.id}-{c}-{n}", kind=HolderKind.STUDENT, last_name=f"Élève {n}",
                      school=school, class_name=f"2NDE{c}") for c in range(1, classes + 1) for n in range(3)]
    await Holder.bulk_create(holders)
    await written_around_the_engine("holders")
    for offset in range(0, 18):
        day = dt.date(2024, 9, 9) + dt.timedelta(days=offset)
        if day.weekday() < 5:
            await DeliveryDay.get_or_create(day=day, defaults={"capacity": capacity})
    await create_rows(SLOTS, [{"school": school.uai, "year": 2024, "laptops": laptops}], AGENT, parsed=True)
    slot = await Slot.get(school_id=school.id, year=2024)
    return World(school, poste, head, slot)


async def fresh(clock: FakeClock) -> None:
    """The next case of a test starts from an empty campaign (the migrated database is shared: it is the slow part)."""
    from models.audit import AuditEntry
    from models.campaign import CampaignEvent
    from models.fleet import Device

    await Device.all().delete()
    await Session.all().delete()
    await Slot.all().delete()
    await DeliveryDay.all().delete()
    await Holder.all().delete()
    await School.all().delete()
    await OutboxMail.all().delete()
    await AuditEntry.all().delete()
    await CampaignEvent.all().delete()
    await written_around_the_engine("schools", "slots", "delivery_days", "sessions", "holders", "devices")
    clock.set(dt.date(2024, 6, 10))


async def book(world: World, day: dt.date, caller: Caller | None = None, **values: object) -> None:
    await run_action(SLOTS, "book", [world.slot.id], {"delivery_on": day.isoformat(), **values},
                     caller or world.member(world.poste))


# --- R-SLOT-1 ---------------------------------------------------------------------------------------------

async def _books_through_school_access(clock: FakeClock) -> None:
    """R-SLOT-1: a member of the school's « La Poste » group books its day; the day counts it, the plan follows."""
    world = await make_world()
    await book(world, dt.date(2024, 9, 12))
    slot = await Slot.get(id=world.slot.id)
    assert slot.status == SlotStatus.BOOKED and slot.booked_by_id == world.poste.id and slot.booked_at is not None
    assert slot.distribution_on == dt.date(2024, 9, 16)  # 2 working days after Thursday 12
    assert (await DeliveryDay.get(day=dt.date(2024, 9, 12))).booked == 1
    assert await Session.filter(slot_id=slot.id).count() == 4


async def _only_la_poste_group_or_agent_naming_them(clock: FakeClock) -> None:
    """R-SLOT-1: the head (not in the group) and La Poste's staff are refused; an agent must name a member."""
    world = await make_world()
    with pytest.raises(WriteRefused, match="n'est pas permis"):
        await book(world, dt.date(2024, 9, 12), world.member(world.head))
    with pytest.raises(WriteRefused, match="n'est pas permis"):
        await book(world, dt.date(2024, 9, 12), LAPOSTE)
    with pytest.raises(WriteRefused, match="nommez le membre"):
        await book(world, dt.date(2024, 9, 12), AGENT)
    with pytest.raises(WriteRefused, match="pas membre du groupe « La Poste »"):
        await book(world, dt.date(2024, 9, 12), AGENT, booked_by=str(world.head.id))
    await book(world, dt.date(2024, 9, 12), AGENT, booked_by=str(world.poste.id))
    assert (await Slot.get(id=world.slot.id)).booked_by_id == world.poste.id


async def _full_day_refused_with_next_free_days(clock: FakeClock) -> None:
    """R-SLOT-1: a day at capacity cannot be booked: the refusal names the next free days."""
    world = await make_world(capacity=1)
    other = await make_school(name="Lycée Voisin")
    member = await make_contact(other, [ContactRole.LA_POSTE])
    await create_rows(SLOTS, [{"school": other.uai, "year": 2024, "laptops": 10}], AGENT, parsed=True)
    other_slot = await Slot.get(school_id=other.id)
    await run_action(SLOTS, "book", [other_slot.id], {"delivery_on": "2024-09-12", "booked_by": str(member.id)},
                     AGENT)
    with pytest.raises(WriteRefused) as refused:
        await book(world, dt.date(2024, 9, 12))
    message = str(refused.value.issues[0].message)
    assert "Le 12/09/2024 est complet (1 livraison(s) sur 1)" in message and "09/09/2024" in message
    with pytest.raises(WriteRefused, match="hors de cette fenêtre"):
        await book(world, dt.date(2024, 10, 15))
    with pytest.raises(WriteRefused, match="ne livre pas le 14/09/2024"):
        await book(world, dt.date(2024, 9, 14))
    from sheets.engine.writes import delete_rows
    from sheets.slots import DELIVERY_DAYS

    full = await DeliveryDay.get(day=dt.date(2024, 9, 12))
    with pytest.raises(WriteRefused, match="déplacez ou annulez d'abord"):  # a booked day is not removed
        await delete_rows(DELIVERY_DAYS, [full.id], AGENT)


async def _la_postes_booking_export_imported(clock: FakeClock) -> None:
    """R-SLOT-1: La Poste keeps its own tool: its booking export, imported by an agent through the engine's importer,
    books each slot (same checks: the named member, the day's capacity); a refused line says why in French."""
    import tempfile
    from pathlib import Path

    from sheets.engine.importer import import_xlsx
    from sheets.engine.xlsx import XlsxColumn, write_xlsx

    world = await make_world(capacity=1)
    other = await make_school(name="Lycée Importé")
    member = await make_contact(other, [ContactRole.LA_POSTE])
    await create_rows(SLOTS, [{"school": other.uai, "year": 2024, "laptops": 10}], AGENT, parsed=True)
    other_slot = await Slot.get(school_id=other.id)
    path = Path(tempfile.mkdtemp()) / "reservations-la-poste.xlsx"
    write_xlsx(path, [XlsxColumn("N°", "number"), XlsxColumn("État"), XlsxColumn("Livraison le", "date"),
                      XlsxColumn("Réservé par (n° de contact)", "number")],
               [[world.slot.id, "Réservé", dt.date(2024, 9, 12), world.poste.id],
                [other_slot.id, "Réservé", dt.date(2024, 9, 12), member.id]])
    report = await import_xlsx(SLOTS, path, caller=AGENT, dry_run=False)
    assert report.applied and report.written_rows == 1 and report.refused == 1, report.errors_by_line
    assert any("complet" in message for messages in report.errors_by_line.values() for message in messages)
    slot = await Slot.get(id=world.slot.id)
    assert slot.status == SlotStatus.BOOKED and slot.booked_by_id == world.poste.id
    assert (await Slot.get(id=other_slot.id)).status == SlotStatus.TO_BOOK


async def _booking_window_is_calendar_data(clock: FakeClock) -> None:
    """R-SLOT-1: booking closes at the calendar's date (data: moving the event moves the window)."""
    from models.campaign import CampaignEvent

    world = await make_world()
    clock.set(dt.date(2024, 7, 1))
    with pytest.raises(WriteRefused, match="ouverte du 27/05/2024 au 28/06/2024"):
        await book(world, dt.date(2024, 9, 12))
    await CampaignEvent.filter(slug="slot-booking-close", year=2024).update(due_on=dt.date(2024, 7, 5))
    await book(world, dt.date(2024, 9, 12))
    assert (await Slot.get(id=world.slot.id)).status == SlotStatus.BOOKED


async def _booked_school_gets_no_more_booking_reminders(clock: FakeClock) -> None:
    """R-SLOT-1: the booking reminder (which replaces the calendar's) lists a school until it has booked."""
    from models.reminders import due_items, superseded_event_codes

    world = await make_world()
    assert "slot-booking-close" in superseded_event_codes()
    opening = [i for _, i in await due_items(dt.date(2024, 5, 27)) if i.school.id == world.school.id]
    assert [i.title for i in opening if i.rule_id == "R-SLOT-1"] == [
        "Ouverture de la réservation des créneaux de livraison des PC"]  # the window opens with a mail to ce.UAI
    due = dt.date(2024, 6, 28)
    pending = await booking_pending(dt.date(2024, 6, 14), due)
    assert [i.school.uai for i in pending] == [world.school.uai]
    assert any(r.code == "slots.booking" and i.school.id == world.school.id
               for r, i in await due_items(dt.date(2024, 6, 14)))
    await book(world, dt.date(2024, 9, 12))
    assert await booking_pending(dt.date(2024, 6, 14), due) == []
    assert not any(r.code == "slots.booking" for r, _ in await due_items(dt.date(2024, 6, 21)))


# --- R-SLOT-2 ---------------------------------------------------------------------------------------------

async def _lists_due_7_working_days_before_the_booked_delivery(clock: FakeClock) -> None:
    """R-SLOT-2: once booked, the lists' reminder counts from the school's own delivery date (holidays excluded)."""
    from models.school_lists import lists_pending, lists_state

    world = await make_world()
    await book(world, dt.date(2024, 9, 20))
    state = await lists_state(world.school, dt.date(2024, 6, 10))
    assert state["delivery"] == dt.date(2024, 9, 20) and state["due"] == dt.date(2024, 9, 11)
    items = await lists_pending(dt.date(2024, 9, 1), dt.date(2024, 9, 30))
    assert {i.due for i in items if i.school.id == world.school.id} == {dt.date(2024, 9, 11)}


# --- R-SLOT-3 / R-SLOT-5 ------------------------------------------------------------------------------------

async def _checklist_required_before_delivered(clock: FakeClock) -> None:
    """R-SLOT-5: « Livré » is refused until the checklist is complete (accounts, rooms, people at start and end);
    R-SLOT-3: the delivery note is signed by a named agent of the school."""
    world = await make_world()
    await book(world, dt.date(2024, 9, 12))
    clock.set(dt.date(2024, 9, 12))
    with pytest.raises(WriteRefused, match="nommez l'agent de l'établissement"):
        await run_action(SLOTS, "deliver", [world.slot.id], {}, LAPOSTE)
    with pytest.raises(WriteRefused, match="liste de préparation n'est pas complète"):
        await run_action(SLOTS, "deliver", [world.slot.id], {"delivery_note_signed_by": str(world.head.id)}, LAPOSTE)
    school_side = world.member(world.head)
    await set_values(SLOTS, [world.slot.id], {"accounts_ready": True, "rooms_ready": True,
                                             "start_person": "M. Début", "end_person": "Mme Fin"}, school_side)
    outsider = await make_contact(await make_school(), [ContactRole.CHEF])
    with pytest.raises(WriteRefused, match="n'est pas une personne du lycée"):
        await run_action(SLOTS, "deliver", [world.slot.id], {"delivery_note_signed_by": str(outsider.id)}, LAPOSTE)
    with pytest.raises(WriteRefused, match="n'est pas permis"):
        await run_action(SLOTS, "deliver", [world.slot.id], {"delivery_note_signed_by": str(world.head.id)},
                         school_side)
    await run_action(SLOTS, "deliver", [world.slot.id], {"delivery_note_signed_by": str(world.head.id)}, LAPOSTE)
    slot = await Slot.get(id=world.slot.id)
    assert slot.status == SlotStatus.DELIVERED and slot.delivery_note_signed_by_id == world.head.id


async def _two_rooms_over_250_laptops(clock: FakeClock) -> None:
    """R-SLOT-5: above 250 laptops two rooms in parallel, and the plan uses both."""
    world = await make_world(laptops=251, classes=6)
    assert world.slot.rooms == 2
    await book(world, dt.date(2024, 9, 12))
    sessions = await Session.filter(slot_id=world.slot.id).order_by("position")
    assert {s.room for s in sessions} == {1, 2}
    assert [(s.starts_at, s.room) for s in sessions[:2]] == [("09:00", 1), ("09:00", 2)]
    small = await make_world(laptops=250)
    assert small.slot.rooms == 1


# --- R-SLOT-6 ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("classes", "rooms"), [(1, 1), (6, 1), (7, 1), (13, 1), (30, 1), (12, 2), (25, 2), (60, 2)])
def test_r_slot_6_planner_invariants(classes: int, rooms: int) -> None:
    """R-SLOT-6: 9:00 or 14:00, 30 minutes per class, one after the other, never across half-days, rooms in
    parallel, working days only (a Friday plan continues on Monday)."""
    named = {f"C{n:02d}": 30 for n in range(classes)}
    plan = plan_distribution(ordered_classes(named), dt.date(2024, 9, 13), rooms)
    assert plan_problems(plan, rooms) == []
    assert len(plan) == classes and plan[0].starts_at == "09:00"
    assert all(s.day.weekday() < 5 for s in plan)
    if classes * 1.0 / rooms > 6:
        assert any(s.starts_at == "14:00" for s in plan)


def test_r_slot_6_order_and_distribution_gap() -> None:
    """R-SLOT-6 / R-SLOT-4: the school's order comes first; the distribution is 2 or 3 working days after."""
    from models.slots import default_distribution, distribution_refusal

    assert [c for c, _ in ordered_classes({"A": 1, "B": 1, "C": 1}, ["C", "A"])] == ["C", "A", "B"]
    assert default_distribution(dt.date(2024, 10, 31)) == dt.date(2024, 11, 5)  # 1 November is a holiday
    assert distribution_refusal(dt.date(2024, 9, 12), dt.date(2024, 9, 17)) == ""
    assert "2 ou 3 jours ouvrés" in distribution_refusal(dt.date(2024, 9, 12), dt.date(2024, 9, 13))


async def _distribution_day_checked_and_plan_recomputed(clock: FakeClock) -> None:
    """R-SLOT-6: La Poste moves the distribution within 2–3 working days; the plan follows; a fourth day is
    refused."""
    world = await make_world()
    await book(world, dt.date(2024, 9, 12))
    with pytest.raises(WriteRefused, match="2 ou 3 jours ouvrés"):
        await set_values(SLOTS, [world.slot.id], {"distribution_on": "2024-09-18"}, LAPOSTE)
    await set_values(SLOTS, [world.slot.id], {"distribution_on": "2024-09-17"}, LAPOSTE)
    assert {s.day for s in await Session.filter(slot_id=world.slot.id)} == {dt.date(2024, 9, 17)}
    # A student list applied with a new class: the plan follows (the list import records its upload).
    from sheets.access import LIST_UPLOADS

    await Holder.create(ident="NEW1", kind=HolderKind.STUDENT, last_name="Nouveau", school=world.school,
                        class_name="2NDE9")
    await create_rows(LIST_UPLOADS, [{"school": world.school.uai, "kind": "eleve", "uploaded_by": "x"}], JOB)
    assert "2NDE9" in {s.class_name for s in await Session.filter(slot_id=world.slot.id)}


# --- R-SLOT-4 ---------------------------------------------------------------------------------------------

async def _class_order_until_3_days_before(clock: FakeClock) -> None:
    """R-SLOT-4: the school gives its class order (the plan follows it) until 3 days before the distribution;
    the reminder counts from its own date and stops once given."""
    world = await make_world()
    await book(world, dt.date(2024, 9, 12))
    pending = await class_order_pending(dt.date(2024, 9, 1), dt.date(2024, 9, 30))
    assert [i.due for i in pending] == [dt.date(2024, 9, 13)]
    head = world.member(world.head)
    with pytest.raises(WriteRefused, match="Classe\\(s\\) inconnue\\(s\\)"):
        await set_values(SLOTS, [world.slot.id], {"class_order": "2NDE9"}, head)
    await set_values(SLOTS, [world.slot.id], {"class_order": "2NDE3, 2NDE1"}, head)
    sessions = await Session.filter(slot_id=world.slot.id).order_by("position")
    assert [s.class_name for s in sessions] == ["2NDE3", "2NDE1", "2NDE2", "2NDE4"]
    assert await class_order_pending(dt.date(2024, 9, 1), dt.date(2024, 9, 30)) == []
    clock.set(dt.date(2024, 9, 14))
    with pytest.raises(WriteRefused, match="au plus tard le 13/09/2024"):
        await set_values(SLOTS, [world.slot.id], {"class_order": "2NDE1"}, head)


# --- R-SLOT-8 / R-SLOT-9 ------------------------------------------------------------------------------------

async def distributed(world: World, clock: FakeClock) -> None:
    await book(world, dt.date(2024, 9, 12))
    await set_values(SLOTS, [world.slot.id], {"accounts_ready": True, "rooms_ready": True, "start_person": "A",
                                             "end_person": "B"}, AGENT)
    await run_action(SLOTS, "deliver", [world.slot.id], {"delivery_note_signed_by": str(world.head.id)}, LAPOSTE)
    clock.set(dt.date(2024, 9, 16))
    await run_action(SLOTS, "distribute", [world.slot.id], {}, LAPOSTE)


async def _boxes_overdue_after_5_days(clock: FakeClock) -> None:
    """R-SLOT-8: boxes due 5 days after distribution; overdue once past, unless the school asked a later date."""
    world = await make_world()
    await distributed(world, clock)
    slot = await Slot.get(id=world.slot.id)
    assert slot.boxes_collect_by == dt.date(2024, 9, 21)
    assert [s.id for s in await boxes_overdue(dt.date(2024, 9, 22))] == [slot.id]
    await set_values(SLOTS, [slot.id], {"boxes_collect_by": "2024-09-30"}, world.member(world.head))
    assert await boxes_overdue(dt.date(2024, 9, 22)) == []
    await set_values(SLOTS, [slot.id], {"boxes_collected_on": "2024-09-20"}, LAPOSTE)
    assert await boxes_overdue(dt.date(2024, 10, 5)) == []


async def _certificate_signed_by_la_poste_member(clock: FakeClock) -> None:
    """R-SLOT-9: the certificate is signed by a « La Poste » member (the head may not); then the slot closes."""
    world = await make_world()
    await distributed(world, clock)
    with pytest.raises(WriteRefused, match="Clore » impossible"):
        await run_action(SLOTS, "close", [world.slot.id], {}, LAPOSTE)
    with pytest.raises(WriteRefused, match="n'est pas permis"):
        await run_action(SLOTS, "sign_certificate", [world.slot.id], {}, world.member(world.head))
    with pytest.raises(WriteRefused, match="pas membre du groupe"):
        await run_action(SLOTS, "sign_certificate", [world.slot.id], {"signer": world.head.id}, LAPOSTE)
    await run_action(SLOTS, "sign_certificate", [world.slot.id], {}, world.member(world.poste))
    slot = await Slot.get(id=world.slot.id)
    assert slot.certificate_signed_by_id == world.poste.id and slot.certificate_signed_at is not None
    await run_action(SLOTS, "close", [world.slot.id], {}, LAPOSTE)
    assert (await Slot.get(id=world.slot.id)).status == SlotStatus.CLOSED


async def _intervention_note_mails_the_authorised_persons(clock: FakeClock) -> None:
    """R-SLOT-9: no member there: a school agent signs an intervention note, the members get their access link and
    ce.UAI is told; the slot may then close."""
    world = await make_world()
    await distributed(world, clock)
    await run_action(SLOTS, "intervention", [world.slot.id], {"agent": world.head.id, "note": "Remis à 4 classes."},
                     LAPOSTE)
    slot = await Slot.get(id=world.slot.id)
    assert "Claire Chef" in slot.intervention_note
    mails = await OutboxMail.all()
    recipients = {r for m in mails for r in m.recipients.split(",")}
    assert world.poste.email in recipients and world.school.generic_email in recipients
    assert world.head.email not in recipients
    await run_action(SLOTS, "close", [world.slot.id], {}, LAPOSTE)
    assert (await Slot.get(id=world.slot.id)).status == SlotStatus.CLOSED


# --- R-SLOT-7 ---------------------------------------------------------------------------------------------

async def test_r_slot_7_roll_call_moves_each_device_through_the_fleet_life_cycle(sqlite_db: str,
                                                                               clock: FakeClock) -> None:
    """R-SLOT-7: present → handed over; absent → stays with the school; present without a laptop → one from the
    agents' extra stock, assigned; no longer in the base → taken back; each a device move by La Poste, audited."""
    from models.audit import AuditEntry
    from models.fleet import Device, DeviceKind, Situation, Status
    from sheets.slots import SESSIONS

    world = await make_world(classes=1)
    await book(world, dt.date(2024, 9, 12))
    await set_values(SLOTS, [world.slot.id], {"accounts_ready": True, "rooms_ready": True, "start_person": "A",
                                             "end_person": "B"}, AGENT)
    await run_action(SLOTS, "deliver", [world.slot.id], {"delivery_note_signed_by": str(world.head.id)}, LAPOSTE)
    present, away, without = await Holder.filter(school_id=world.school.id).order_by("ident")
    gone = await Holder.create(ident="GONE1", kind=HolderKind.STUDENT, last_name="Parti", school=world.school,
                               class_name="2NDE1", situation=Situation.LEFT_IDF)
    laptop = {"kind": DeviceKind.STUDENT_LAPTOP, "status": Status.DELIVERED, "school": world.school}
    d_present = await Device.create(serial="P1", holder=present, **laptop)
    d_away = await Device.create(serial="A1", holder=away, **laptop)
    d_gone = await Device.create(serial="G1", holder=gone, **laptop)
    spare = await Device.create(serial="S1", kind=DeviceKind.STUDENT_LAPTOP, status=Status.STOCK)
    session = await Session.get(slot_id=world.slot.id, class_name="2NDE1")
    with pytest.raises(WriteRefused, match="n'est pas permis"):
        await run_action(SESSIONS, "roll_call", [session.id], {}, AGENT)
    with pytest.raises(WriteRefused, match="pas élève"):
        await run_action(SESSIONS, "roll_call", [session.id], {"absent": "INCONNU"}, LAPOSTE)
    result = await run_action(SESSIONS, "roll_call", [session.id], {"absent": away.ident, "taken_back": "G1"},
                              LAPOSTE)
    assert "1 PC remis, 1 absent(s)" in result.message and "1 PC du stock des agents, 1 PC repris" in result.message
    assert (await Device.get(id=d_present.id)).status == Status.DISTRIBUTED
    assert (await Device.get(id=d_away.id)).status == Status.DELIVERED
    assert (await Device.get(id=d_gone.id)).status == Status.RETURNED
    given = await Device.get(id=spare.id)
    assert given.status == Status.DISTRIBUTED and given.holder_id == without.id and given.school_id == world.school.id
    assert await AuditEntry.filter(sheet="devices", actor=LAPOSTE.actor).count() >= 4
    assert (await Session.get(id=session.id)).roll_call_done


# --- The rules' tests (one database each; the cases above share it, as a campaign does) ----------------------

async def test_r_slot_1_la_poste_group_books_within_capacity_and_the_calendar_window(sqlite_db: str,
                                                                                    clock: FakeClock) -> None:
    """R-SLOT-1 (and R-SLOT-3's delivery window): the « La Poste » member books through school access; the head and
    La Poste's staff are refused; an agent books naming a member; a full day is refused with the next free days;
    La Poste's booking export imported; the booking window is the calendar's data."""
    await _books_through_school_access(clock)
    await fresh(clock)
    await _only_la_poste_group_or_agent_naming_them(clock)
    await fresh(clock)
    await _full_day_refused_with_next_free_days(clock)
    await fresh(clock)
    await _la_postes_booking_export_imported(clock)
    await fresh(clock)
    await _booking_window_is_calendar_data(clock)


async def test_r_slot_1_r_slot_2_reminders_follow_each_schools_booking(sqlite_db: str, clock: FakeClock) -> None:
    """R-SLOT-1: a booked school gets no more booking reminders; R-SLOT-2: the lists' reminder counts 7 working days
    before the school's own delivery date."""
    await _booked_school_gets_no_more_booking_reminders(clock)
    await fresh(clock)
    await _lists_due_7_working_days_before_the_booked_delivery(clock)


async def test_r_slot_3_r_slot_5_signed_delivery_note_checklist_and_rooms(sqlite_db: str, clock: FakeClock) -> None:
    """R-SLOT-3: the delivery note signed by a named school agent; R-SLOT-5: the checklist before « Livré », two
    rooms above 250 laptops."""
    await _checklist_required_before_delivered(clock)
    await fresh(clock)
    await _two_rooms_over_250_laptops(clock)


async def test_r_slot_4_r_slot_6_class_order_and_distribution_day_replan(sqlite_db: str, clock: FakeClock) -> None:
    """R-SLOT-6: the distribution 2–3 working days after delivery, the plan recomputed; R-SLOT-4: the class order
    until 3 days before, the plan follows it."""
    await _distribution_day_checked_and_plan_recomputed(clock)
    await fresh(clock)
    await _class_order_until_3_days_before(clock)


async def test_r_slot_8_r_slot_9_boxes_certificate_and_intervention_note(sqlite_db: str, clock: FakeClock) -> None:
    """R-SLOT-8: boxes overdue after 5 days; R-SLOT-9: the certificate signed by a « La Poste » member, or an
    intervention note and the authorised persons' links."""
    await _boxes_overdue_after_5_days(clock)
    await fresh(clock)
    await _certificate_signed_by_la_poste_member(clock)
    await fresh(clock)
    await _intervention_note_mails_the_authorised_persons(clock)
