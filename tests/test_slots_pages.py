"""Slots through the paths people take (R-SLOT-1, R-SLOT-4, R-SLOT-5, R-SLOT-8): the API (fields of the contract,
booking, French refusals, 403s), « Mon établissement » for a « La Poste » member signed in by the e-mail link (booking
on the page), the team's calendar, the campaign's progress and the boxes' overdue list with its home alert.

Pages modules are imported inside the tests (the `user` fixture registers them again per test)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from nicegui import ui
from nicegui.testing import User

from models.schools import ContactRole
from models.slots import Slot, SlotStatus
from sheets.engine.writes import set_values
from sheets.slots import SLOTS
from tests.factories import bearer, login
from tests.test_school_page import school_login
from tests.test_slots_rules import AGENT, FakeClock, World, make_world


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    import settings as settings_module

    fake = FakeClock()
    monkeypatch.setattr(settings_module, "now", lambda: fake.now)
    return fake


async def test_r_slot_1_api_fields_booking_and_refusals(user: User, http: httpx.AsyncClient, clock: FakeClock) -> None:
    """R-SLOT-1 through the API: the contract's field names, an agent books naming the member, a full day is refused
    in French (422) with the next free days, La Poste's staff may not book (403), maintenance reads nothing."""
    world = await make_world(capacity=1)
    agent = await bearer("agent")
    rows = await http.post("/api/sheets/slots/rows", headers=agent, json={"startRow": 0, "endRow": 10})
    assert rows.status_code == 200, rows.text
    row = rows.json()["rows"][0]
    for name in ("school", "year", "laptops", "delivery_on", "status", "booked_by", "booked_at", "rooms",
                 "distribution_on", "delivery_note_signed_by", "boxes_collected_on", "certificate_signed_by",
                 "certificate_signed_at", "intervention_note"):
        assert name in row, name
    days = (await http.post("/api/sheets/delivery_days/rows", headers=agent, json={})).json()["rows"]
    assert {"day", "capacity", "booked"} <= set(days[0])
    refused = await http.post("/api/sheets/slots/actions/book", headers=await bearer("laposte"),
                              json={"row_ids": [world.slot.id], "values": {"delivery_on": "2024-09-12"}})
    assert refused.status_code == 403 and "n'est pas permis" in refused.json()["detail"]
    assert (await http.post("/api/sheets/slots/rows", headers=await bearer("maintenance"), json={})).status_code == 403
    booked = await http.post("/api/sheets/slots/actions/book", headers=agent,
                             json={"row_ids": [world.slot.id],
                                   "values": {"delivery_on": "12/09/2024", "booked_by": world.poste.id}})
    assert booked.status_code == 200, booked.text
    sessions = (await http.post("/api/sheets/sessions/rows", headers=agent, json={})).json()["rows"]
    assert {"school", "day", "starts_at", "room", "class_name", "students", "position"} <= set(sessions[0])
    # A second school on the full day: 422 in French with the free days.
    from sheets.engine.writes import create_rows
    from tests.factories import make_contact, make_school

    other = await make_school()
    member = await make_contact(other, [ContactRole.LA_POSTE])
    await create_rows(SLOTS, [{"school": other.uai, "year": 2024, "laptops": 10}], AGENT, parsed=True)
    other_slot = await Slot.get(school_id=other.id)
    full = await http.post("/api/sheets/slots/actions/book", headers=agent,
                           json={"row_ids": [other_slot.id], "values": {"delivery_on": "2024-09-12",
                                                                         "booked_by": member.id}})
    assert full.status_code == 422 and "complet" in full.text and "Jours encore libres : 09/09/2024" in full.text
    # Exports for La Poste: the delivery plan by day and the classes' passages (the engine's exporter).
    import io

    import openpyxl

    from pages.slots import EXPORT_DELIVERIES, EXPORT_SESSIONS

    laposte = await bearer("laposte")
    for url, header in ((EXPORT_DELIVERIES, "Livraison le"), (EXPORT_SESSIONS, "Classe")):
        answer = await http.get(url, headers=laposte)
        assert answer.status_code == 200, answer.text
        sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).worksheets[0]
        assert header in [c.value for c in sheet[1]] and sheet.max_row >= 2
    bad = await http.post("/api/sheets/slots/actions/book", headers=agent,
                          json={"row_ids": [other_slot.id], "values": {"delivery_on": "le 12", "booked_by": member.id}})
    assert bad.status_code == 422


def _marked(user: User, marker: str) -> list[Any]:
    try:
        return list(user.find(marker=marker).elements)
    except AssertionError:
        return []


async def test_r_slot_1_la_poste_member_books_on_the_school_page(user: User, clock: FakeClock) -> None:
    """R-SLOT-1 / R-SLOT-5 / R-SLOT-2: the school's « La Poste » member signs in by the link, sees the section with
    the checklist, picks a free day and books; the head sees the slot but is not offered the booking; the slot then
    shows the lists' state."""
    import pages.school
    import pages.slots  # noqa: F401

    world = await make_world()
    await school_login(user, world.school, [ContactRole.CHEF], full_name="Henri Chef")
    await user.open(f"/etablissement/{world.school.uai}")
    await user.should_see("Livraison et distribution des PC")
    await user.should_see("Préparation de la distribution")
    assert _marked(user, "book-slot") == []
    await user.http_client.get("/logout")
    member = await school_login(user, world.school, [ContactRole.LA_POSTE], full_name="Lucie Poste")
    await user.open(f"/etablissement/{world.school.uai}")
    user.find(marker="book-day").elements.pop().set_value("2024-09-12")
    user.find(marker="book-slot").click()
    await user.should_see("Créneau réservé.")
    slot = await Slot.get(id=world.slot.id)
    assert slot.status == SlotStatus.BOOKED and slot.booked_by_id == member.id
    # R-SLOT-2: the slot shows the lists' state, due 7 working days before its own delivery date.
    await user.open(f"/etablissement/{world.school.uai}")
    await user.should_see("à importer au plus tard le 03/09/2024 (7 jours ouvrés avant la livraison, R-SLOT-2)")


async def test_r_slot_1_r_slot_8_team_calendar_plan_progress_and_overdue_boxes(user: User, clock: FakeClock) -> None:
    """R-SLOT-1 / R-SLOT-6: the team's calendar shows the day's capacity used and the school; the slot page shows
    the plan with rooms as columns; the progress counts it by académie. R-SLOT-8: the boxes not collected 5 days
    after distribution are listed and counted on the home page."""
    import pages.home
    import pages.slots  # noqa: F401
    from tests.test_slots_rules import distributed

    world: World = await make_world(laptops=300, classes=3)
    from sheets.engine.actions import run_action

    await run_action(SLOTS, "book", [world.slot.id], {"delivery_on": "2024-09-12", "booked_by": world.poste.id}, AGENT)
    await login(user, "agent")
    await user.open("/creneaux?mois=2024-09")
    await user.should_see("Septembre 2024")
    await user.should_see("Livraisons 1/2")
    await user.should_see(world.school.name)
    await user.open(f"/creneaux/creneau?id={world.slot.id}")
    table = user.find(marker="plan").elements.pop()
    assert isinstance(table, ui.table)
    assert [c["label"] for c in table.columns] == ["Demi-journée / heure", "Salle 1", "Salle 2"]
    assert table.rows[0]["room1"].startswith("1. 2NDE1") and table.rows[0]["room2"].startswith("2. 2NDE2")
    await user.open("/creneaux/progression")
    progress = user.find(marker="progress").elements.pop()
    assert isinstance(progress, ui.table) and progress.rows[0]["booked"] == 1
    await user.open("/creneaux?mois=n'importe")  # a bad month: a French notice, never a 500
    await user.should_see("Calendrier")
    # R-SLOT-8: another school distributed on the 16th, its boxes still there on the 25th.
    boxes = await make_world()
    await distributed(boxes, clock)
    clock.set(dt.date(2024, 9, 25))
    await user.open("/")
    await user.should_see("Cartons non collectés (R-SLOT-8)")
    await user.open("/creneaux/cartons")
    table = user.find(marker="boxes-overdue").elements.pop()
    assert isinstance(table, ui.table) and [r["uai"] for r in table.rows] == [boxes.school.uai]
    await set_values(SLOTS, [boxes.slot.id], {"boxes_collected_on": "2024-09-24"}, AGENT)
    await user.open("/creneaux/cartons")
    assert user.find(marker="boxes-overdue").elements.pop().rows == []


async def test_r_slot_6_a_holder_edited_in_the_grid_api_moves_in_the_plan(user: User, http: httpx.AsyncClient,
                                                                          clock: FakeClock) -> None:
    """R-SLOT-6: the plan follows the classes as they are: an agent moves a student to a new class through the
    grid's cell API, adds one by the creation API, and a student leaves for another school; the booked slot's
    sessions follow each time (once per write, in its transaction), without « Recalculer le plan »."""
    from models.fleet import Holder
    from models.slots import Session
    from tests.factories import make_school
    from tests.test_slots_rules import book

    world = await make_world(classes=2)
    await book(world, dt.date(2024, 9, 12))

    async def classes() -> dict[str, int]:
        return {s.class_name: s.students for s in await Session.filter(slot_id=world.slot.id)}

    assert await classes() == {"2NDE1": 3, "2NDE2": 3}
    agent = await bearer("agent")
    moved = await Holder.filter(school_id=world.school.id, class_name="2NDE2").first()
    assert moved is not None
    answer = await http.post("/api/sheets/holders/cells", headers=agent, json={
        "row_id": moved.id, "field": "class_name", "value": "2NDE7", "version": moved.version})
    assert answer.status_code == 200, answer.text
    assert await classes() == {"2NDE1": 3, "2NDE2": 2, "2NDE7": 1}
    answer = await http.post("/api/sheets/holders/create", headers=agent, json={"rows": [
        {"ident": "NOUVEL1", "kind": "eleve", "last_name": "Nouvelle", "school": world.school.uai,
         "class_name": "2NDE7"}]})
    assert answer.status_code == 200, answer.text
    assert await classes() == {"2NDE1": 3, "2NDE2": 2, "2NDE7": 2}
    other = await make_school(name="Lycée d'accueil")
    leaving = await Holder.filter(school_id=world.school.id, class_name="2NDE1").first()
    assert leaving is not None
    answer = await http.post("/api/sheets/holders/cells", headers=agent, json={
        "row_id": leaving.id, "field": "school", "value": other.uai, "version": leaving.version})
    assert answer.status_code == 200, answer.text
    assert await classes() == {"2NDE1": 2, "2NDE2": 2, "2NDE7": 2}
