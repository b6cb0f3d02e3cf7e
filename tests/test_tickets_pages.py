"""Maintenance tickets through the paths people take: the API (409 of R-TICKET-5, 403s), the pages (dashboard, record
a call, ticket page and its moves, statement, a school's tickets and its coordinators' access) and the section of the
school page rendered for a head signed in by school access, with the mails of each step received by a real SMTP server.

Pages modules are imported inside the tests (the `user` fixture registers them again per test). School access (issue
11) lands on another branch: its « Mon établissement » page is stood in for by a test page that renders the registered
sections for the `ecole` caller access will build; the browser flow through the e-mail link comes after the merge.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import openpyxl
import pytest
from nicegui import ui
from nicegui.testing import User

import settings as settings_module
from jobs.outbox import send_pending
from models.audit import AuditEntry, Source
from models.outbox import OutboxMail
from models.schools import ContactRole, ContactRoleAssignment, School
from models.tickets import Ticket, TicketEvent, TicketStatus
from seed.tickets import seed_reference
from sheets.engine.actions import run_action
from sheets.engine.caller import Caller
from sheets.engine.writes import create_rows
from sheets.tickets import TICKETS
from tests.factories import bearer, login, make_contact, make_school
from tests.test_tickets_rules import ecole

AGENT = Caller("agent.region@iledefrance.fr", "agent", Source.API)
SPIE = Caller("plateau@spie.example.fr", "maintenance", Source.API)


async def setting_up() -> tuple[School, Any, Any]:
    """The contract's data, a school with a CSN, its head and its coordinator."""
    await seed_reference()
    school = await make_school(name="Lycée Voltaire", csn_deployed=True)
    head = await make_contact(school, [ContactRole.CHEF], full_name="Claire Proviseure",
                              email="claire.chef@ac-paris.fr")
    coordinator = await make_contact(school, [ContactRole.COORDONNATEUR], full_name="Yann Coordo",
                                     email="yann.coordo@ac-paris.fr")
    return school, head, coordinator


async def wait_for(check: Any, seconds: float = 5) -> None:
    """Wait until an async check is true (a handler runs as a background task)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def pick(user: User, marker: str, value: Any) -> None:
    """Choose a value in a select (or type it in an input) found by its marker."""
    element = next(iter(user.find(marker=marker).elements))
    element.set_value(value)


# --- The API -------------------------------------------------------------------------------------------

async def test_r_ticket_5_create_api_answers_409_naming_the_open_ticket(user: User, http: httpx.AsyncClient) -> None:
    school, head, _ = await setting_up()
    agent = await bearer("agent")
    row = {"school": school.uai, "category": "wifi", "summary": "Wi-Fi du CDI coupé", "channel": "courriel",
           "reported_by": head.id}
    first = await http.post("/api/sheets/tickets/create", headers=agent, json={"rows": [row]})
    assert first.status_code == 200, first.text
    number = first.json()["created"][0]["key"]
    again = await http.post("/api/sheets/tickets/create", headers=agent, json={"rows": [{**row, "summary": "Idem"}]})
    assert again.status_code == 409
    assert f"Un ticket est déjà ouvert pour cet incident : {number}" in again.json()["detail"]
    assert "Joignez votre signalement" in again.json()["issues"][0]["message"]
    assert await Ticket.all().count() == 1
    # The report joined instead, through the ticket's row action.
    ticket = await Ticket.get(number=number)
    joined = await http.post("/api/sheets/tickets/actions/attach", headers=agent,
                             json={"row_ids": [ticket.id], "values": {"text": "Appel du coordonnateur : idem."}})
    assert joined.status_code == 200 and joined.json()["message"] == f"Signalement joint au ticket {number}."
    # R-TICKET-2 through the API: 422 with the desk to call, and no ticket.
    redirected = await http.post("/api/sheets/tickets/create", headers=agent,
                                 json={"rows": [{**row, "category": "monlycee"}]})
    assert redirected.status_code == 422 and "Support Monlycee.net" in redirected.json()["detail"]
    # Who may not open tickets is refused (403): contractors and readers.
    for role in ("maintenance", "lecteur", "laposte"):
        refused = await http.post("/api/sheets/tickets/create", headers=await bearer(role),
                                  json={"rows": [{**row, "category": "serveur"}]})
        assert refused.status_code == 403, role
    assert await Ticket.all().count() == 1


async def test_r_ticket_8_export_per_contractor_and_steps_through_the_api(user: User,
                                                                          http: httpx.AsyncClient) -> None:
    school, _, _ = await setting_up()
    other = await make_school(name="Lycée Hugo")
    for s, category in ((school, "serveur"), (school, "wifi"), (other, "passerelle"), (other, "poste_travail")):
        await create_rows(TICKETS, [{"school": s.uai, "category": category, "summary": "Panne", "channel": "courriel"}],
                          AGENT)
    maintenance = await bearer("maintenance")
    answer = await http.get("/api/sheets/tickets/export.xlsx", headers=maintenance,
                            params={"filter": "contractor=ATOS", "sort": "number"})
    assert answer.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).worksheets[0]
    header = [c.value for c in sheet[1]]
    rows = [dict(zip(header, [c.value for c in r], strict=True)) for r in sheet.iter_rows(min_row=2)]
    assert {r["Catégorie"] for r in rows} == {"Serveur", "Passerelle de sécurité (Stormshield)"}
    assert {r["Prestataire"] for r in rows} == {"ATOS"} and {r["Profil"] for r in rows} == {"Ingénieur", "Expert"}
    # A contractor takes a ticket in charge through the API; a reader may not.
    ticket = await Ticket.get(category__code="serveur")
    lecteur = await http.post("/api/sheets/tickets/actions/take", headers=await bearer("lecteur"),
                              json={"row_ids": [ticket.id]})
    assert lecteur.status_code == 403
    taken = await http.post("/api/sheets/tickets/actions/take", headers=maintenance, json={"row_ids": [ticket.id]})
    assert taken.status_code == 200 and (await Ticket.get(id=ticket.id)).status == TicketStatus.TAKEN
    meta = (await http.get("/api/sheets/tickets", headers=await bearer("lecteur"))).json()
    assert meta["actions"] == [] and meta["lifecycle"]["moves"]["nouveau"] == []


# --- Staff pages ---------------------------------------------------------------------------------------------

async def test_r_ticket_1_an_agent_records_a_call_and_a_second_report_is_joined(user: User) -> None:
    school, head, _ = await setting_up()
    await login(user, "agent")
    await user.open("/maintenance")
    await user.should_see("Délais par prestataire (R-TICKET-7)")
    await user.should_see("Monlycee.net (ENT, comptes) → Support Monlycee.net")

    async def record(summary: str) -> None:
        user.find(marker="record-call").click()
        await user.should_see("Décrivez l'incident")
        pick(user, "field-school", school.uai)
        await wait_for(lambda: _has(user, "field-reported_by"))
        pick(user, "field-reported_by", str(head.id))
        pick(user, "field-channel", "courriel")  # a mail: recorded whatever the hour of the test
        pick(user, "field-category", "wifi")
        pick(user, "field-summary", summary)
        await asyncio.sleep(0.2)
        user.find(marker="report-submit").click()

    await record("Wi-Fi du CDI coupé")
    await wait_for(lambda: Ticket.exists())
    ticket = await Ticket.get(school=school)
    assert (ticket.reported_by_id, ticket.channel, ticket.contractor_id is not None) == (head.id, "courriel", True)
    assert await OutboxMail.filter(key__startswith=f"ticket:{ticket.number}:").count() == 1
    await user.open("/maintenance")
    await record("Toujours pas de Wi-Fi au CDI")
    await user.should_see(f"Un ticket est déjà ouvert pour cet incident : {ticket.number}")
    user.find(marker="attach-open").click()
    await wait_for(lambda: TicketEvent.exists(ticket_id=ticket.id, kind="signalement"))
    assert await Ticket.all().count() == 1


async def _has(user: User, marker: str) -> bool:
    try:
        return bool(user.find(marker=marker).elements)
    except AssertionError:
        return False


@pytest.mark.parametrize("role", ["lecteur", "maintenance"])
async def test_who_may_not_record_a_call_is_not_offered_it(user: User, role: str) -> None:
    await setting_up()
    await login(user, role)
    await user.open("/maintenance")
    await user.should_see("Délais par prestataire (R-TICKET-7)")
    await user.should_not_see("Enregistrer un appel ou un courriel")


async def test_ticket_page_timeline_and_the_moves_a_role_may_make(user: User) -> None:
    school, head, _ = await setting_up()
    created = await create_rows(TICKETS, [{"school": school.uai, "category": "serveur", "summary": "Serveur muet",
                                           "channel": "courriel", "reported_by": head.id}], AGENT)
    number = created.created[0][1]
    await login(user, "lecteur")
    await user.open(f"/maintenance/ticket?n={number}")
    await user.should_see("Serveur muet")
    await user.should_see("Ticket ouvert")  # the timeline's first line
    await user.should_not_see("Prendre en charge")
    await user.http_client.get("/logout")
    await login(user, "maintenance")
    await user.open(f"/maintenance/ticket?n={number}")
    await user.should_not_see("Rediriger vers un autre support")  # the Région's agents only (R-TICKET-2)
    user.find(marker="do-take").click()
    await user.should_see("Prendre en charge · " + number)
    pick(user, "field-note", "Diagnostic à distance.")
    user.find(marker="run-action").click()
    await wait_for(lambda: Ticket.exists(number=number, status=TicketStatus.TAKEN))
    ticket = await Ticket.get(number=number)
    assert ticket.handling == "distance" and ticket.note == "Diagnostic à distance."
    await user.open(f"/maintenance/ticket?n={number}")
    await user.should_see("Nouveau → Pris en charge")
    await user.should_see("Diagnostic à distance.")
    await user.should_see("Échec à distance : intervention sur site")
    page = await user.http_client.get("/maintenance/ticket?n=T1999-00001")
    assert page.status_code == 404 and "Ticket introuvable" in page.text


async def test_tickets_grid_paints_the_sla_state(user: User) -> None:
    await setting_up()
    await login(user, "agent")
    await user.open("/maintenance/tickets?sla_state=depasse")
    grid = next(iter(user.find(ui.aggrid).elements))
    column = next(c for c in grid.options["columnDefs"] if c["field"] == "sla_state")
    assert "#f9c6c6" in column[":cellStyle"] and "depasse" in column[":cellStyle"]
    assert "/api/sheets/tickets/rows" in grid.options[":datasource"]


async def test_r_ticket_8_monthly_statement_page_and_its_xlsx(user: User) -> None:
    school, _, _ = await setting_up()
    await create_rows(TICKETS, [{"school": school.uai, "category": "serveur", "summary": "Serveur muet",
                                 "channel": "courriel"}], AGENT)
    month = settings_module.today().strftime("%Y-%m")
    await login(user, "maintenance")
    await user.open(f"/maintenance/releve?prestataire=ATOS&mois={month}")
    await user.should_see("Tickets reçus")
    rows = next(iter(user.find(marker="statement-rows").elements)).rows
    assert [r["category"] for r in rows] == ["Serveur"]
    user.find(marker="statement-download").click()
    response = await user.download.next(timeout=5)
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    info = {r[0].value: r[1].value for r in book["Informations"].iter_rows()}
    assert info["Tickets reçus"] == 1 and info["Prestataire"] == "Atos (ATOS)"


async def test_r_ticket_3_an_agent_grants_a_coordinator_access_audited(user: User) -> None:
    school, _, coordinator = await setting_up()
    await login(user, "lecteur")
    await user.open(f"/maintenance/ecoles/{school.uai}")
    await user.should_see("Aucun ticket pour cet établissement.")
    await user.should_not_see("Accorder l'accès")
    await user.http_client.get("/logout")
    account = await login(user, "agent")
    await user.open(f"/maintenance/ecoles/{school.uai}")
    await user.should_see("Accès des coordonnateurs aux tickets (R-TICKET-3)")
    assert not TICKETS.may_read(await ecole(coordinator))
    user.find(marker=f"grant-{coordinator.id}").click()
    await wait_for(lambda: ContactRoleAssignment.exists(contact_id=coordinator.id, role=ContactRole.TICKETS))
    grant = await ContactRoleAssignment.get(contact_id=coordinator.id, role=ContactRole.TICKETS)
    entry = await AuditEntry.get(sheet="contact_roles", row_id=grant.id)
    assert entry.actor == account.email and entry.source == Source.PAGE
    assert TICKETS.may_read(await ecole(coordinator))
    await user.should_see("Accès accordé")
    user.find(marker=f"revoke-{coordinator.id}").click()
    await wait_for(lambda: _gone(coordinator.id))
    assert not TICKETS.may_read(await ecole(coordinator))


async def _gone(contact_id: int) -> bool:
    return not await ContactRoleAssignment.exists(contact_id=contact_id, role=ContactRole.TICKETS)


# --- The school page's section, for a head signed in by school access -------------------------------------

def school_space_for(caller_of: dict[str, Caller]) -> None:
    """Stand-in for « Mon établissement » (issue 11): the registered sections a school caller sees."""
    from pages.components.school_space import sections_for

    @ui.page("/essai/mon-etablissement/{uai}")
    async def school_space(uai: str) -> None:
        caller = caller_of["caller"]
        school = await School.get(uai=uai)
        sections = sections_for(caller, uai)
        if not sections:
            ui.label("Aucune rubrique pour vous.")
        for section in sections:
            ui.label(section.title).classes("text-lg")
            await section.render(school, caller)


async def test_r_ticket_4_a_head_opens_a_ticket_and_receives_the_mail_of_each_step(user: User, smtp: Any) -> None:
    school, head, coordinator = await setting_up()
    caller_of = {"caller": await ecole(head)}
    school_space_for(caller_of)
    await login(user, "lecteur")  # the school's person acts through its own caller, not the page's account
    await user.open(f"/essai/mon-etablissement/{school.uai}")
    await user.should_see("Maintenance : tickets")
    await user.should_see("Aucun ticket pour cet établissement.")
    user.find(marker="report-open").click()
    await user.should_see("Décrivez l'incident")
    pick(user, "field-category", "pc_individuel")  # R-TICKET-2: another desk, shown to a head, no ticket
    await user.should_see("Assistance Unowhy (direction)")
    await user.should_see("Téléphone : 09 70 25 28 14")
    pick(user, "field-category", "wifi")
    pick(user, "field-summary", "Plus de Wi-Fi au CDI depuis ce matin.")
    await asyncio.sleep(0.2)
    user.find(marker="report-submit").click()
    await wait_for(lambda: Ticket.exists(school=school))
    ticket = await Ticket.get(school=school)
    assert (ticket.channel, ticket.reported_by_id) == ("acces_ecole", head.id)
    # The contractor works on it (its own pages, here the engine), the head answers and closes from the section.
    await run_action(TICKETS, "take", [ticket.id], {"handling": "sur_site"}, SPIE)
    await run_action(TICKETS, "wait", [ticket.id], {"note": "Merci d'ouvrir le local technique."}, SPIE)
    await user.open(f"/essai/mon-etablissement/{school.uai}")
    await user.should_see("Merci d'ouvrir le local technique.")
    await user.should_not_see("Prendre en charge")  # the contractor's moves are not the school's
    user.find(marker="do-answer").click()
    await user.should_see(f"Réponse de l'établissement · {ticket.number}")
    pick(user, "field-note", "Local ouvert, clé à la loge.")
    user.find(marker="run-action").click()
    await wait_for(lambda: Ticket.exists(id=ticket.id, status=TicketStatus.TAKEN))
    await run_action(TICKETS, "resolve", [ticket.id], {"note": "Borne remplacée."}, SPIE)
    await user.open(f"/essai/mon-etablissement/{school.uai}")
    user.find(marker="do-close").click()
    await user.should_see(f"Clore · {ticket.number}")
    user.find(marker="run-action").click()
    await wait_for(lambda: Ticket.exists(id=ticket.id, status=TicketStatus.CLOSED))
    assert (await send_pending(settings_module.load())).sent == 6
    received = smtp.handler.messages
    subjects = [m.message["Subject"] for m in received]
    for step in ("ticket ouvert", "pris en charge", "en attente d'une réponse de l'établissement", "résolu", "clos"):
        assert any(f"Ticket {ticket.number} : {step} –" in s for s in subjects), step
    assert all(set(m.envelope_to) == {school.generic_email, head.email} for m in received)
    assert sorted(smtp.handler.keys().values()) == [1] * 6  # one mail per step, each once
    answer = next(m for m in received if "Local ouvert, clé à la loge." in m.message.get_body(("plain",)).get_content())
    assert "pris en charge" in answer.message["Subject"]
    # A coordinator without the right sees no tickets section; an ADML neither (R-TICKET-3).
    caller_of["caller"] = await ecole(coordinator)
    await user.open(f"/essai/mon-etablissement/{school.uai}")
    await user.should_see("Parc de l'établissement")  # the page is there, with the sections it may see
    await user.should_not_see("Maintenance : tickets")
    await user.should_not_see(marker="report-open")
