"""Maintenance tickets (R-TICKET-1 … 9): deadlines against hand-computed cases, and every rule through the engine as
callers make it (agents, contractors, a school's head and coordinator signed in by school access, the SLA job).

School access (issue 11) is built on another branch: a school's person is here the engine's `Caller` that access will
build (role `ecole`, scope = their school, grants = their contact roles), called on the engine directly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

import settings as settings_module
from jobs.outbox import send_pending
from jobs.tickets import sla_watch
from models.audit import AuditEntry, Source
from models.outbox import OutboxMail
from models.schools import Contact, ContactRole, ContactRoleAssignment, School
from models.tickets import (
    Clock,
    Contractor,
    Handling,
    SlaState,
    Terms,
    Ticket,
    TicketCategory,
    TicketEvent,
    TicketStatus,
    Visit,
    breaches_by_contractor,
    code_of,
    monthly_statement,
    onsite_days,
    opening_due,
    paused_minutes,
    pauses_of,
    remote_minutes,
    sla_clock,
    sla_state_at,
)
from models.workdays import add_working_minutes, working_minutes_between
from seed.tickets import seed_reference
from sheets.engine.actions import run_action
from sheets.engine.caller import Caller
from sheets.engine.query import BlockRequest, fetch_block
from sheets.engine.writes import WriteRefused, create_rows, set_values
from sheets.tickets import CATEGORIES, TICKETS, VISITS, route_report, write_statement
from tests.factories import make_contact, make_school

PARIS = ZoneInfo("Europe/Paris")
AGENT = Caller("agent.region@iledefrance.fr", "agent", Source.API)
SPIE = Caller("plateau@spie.example.fr", "maintenance", Source.API)
LECTEUR = Caller("lecteur@iledefrance.fr", "lecteur", Source.API)


def at(y: int, m: int, d: int, h: int = 10, mi: int = 0) -> dt.datetime:
    """A moment in Paris."""
    return dt.datetime(y, m, d, h, mi, tzinfo=PARIS)


# --- Deadlines, hand-computed ----------------------------------------------------------------------

NETWORK = Terms(onsite_min_days=1, onsite_max_days=3)  # infrastructure: D+1 … D+3 (R-TICKET-7)
DESKTOP = Terms(onsite_min_days=3, onsite_max_days=5)  # desktop: D+3 … D+5


@pytest.mark.parametrize(("call", "due"), [
    (at(2025, 3, 12, 17, 30), at(2025, 3, 13, 9, 30)),    # Wednesday 17:30 → Thursday 9:30 (the livret's case)
    (at(2025, 3, 14, 17, 30), at(2025, 3, 17, 9, 30)),    # Friday → Monday (weekend)
    (at(2025, 7, 11, 17, 30), at(2025, 7, 15, 9, 30)),    # Friday 11 July → Tuesday (Monday 14 July)
    (at(2025, 8, 14, 17, 30), at(2025, 8, 18, 9, 30)),    # Thursday 14 August → Monday (Friday 15 August)
    (at(2024, 10, 31, 17, 30), at(2024, 11, 4, 9, 30)),   # Thursday 31 October → Monday (Friday 1 November)
    (at(2024, 11, 8, 17, 30), at(2024, 11, 12, 9, 30)),   # Friday 8 November → Tuesday (Monday 11 November)
    (at(2025, 3, 12, 9, 15), at(2025, 3, 12, 11, 15)),    # within the day
    (at(2025, 3, 12, 16, 0), at(2025, 3, 12, 18, 0)),     # ends at closing time exactly
    (at(2025, 3, 17, 7, 0), at(2025, 3, 17, 10, 0)),      # a mail before opening: counts from 8:00
    (at(2025, 3, 15, 11, 0), at(2025, 3, 17, 10, 0)),     # a mail on Saturday: from Monday 8:00
])
def test_r_ticket_1_opening_within_two_working_hours(call: dt.datetime, due: dt.datetime) -> None:
    assert opening_due(call, Terms()) == due


@pytest.mark.parametrize(("taken", "terms", "criticality", "due"), [
    (at(2025, 7, 11), NETWORK, "critique", at(2025, 7, 15, 18)),       # D+1 over a weekend and 14 July
    (at(2025, 8, 13), NETWORK, "haute", at(2025, 8, 18, 18)),          # D+2 over 15 August and a weekend
    (at(2025, 8, 13), NETWORK, "normale", at(2025, 8, 19, 18)),        # D+3: Thu 14, Mon 18, Tue 19
    (at(2025, 3, 14), NETWORK, "critique", at(2025, 3, 17, 18)),       # Friday D+1 → Monday
    (at(2024, 10, 28), DESKTOP, "normale", at(2024, 11, 5, 18)),       # D+5 over 1 November and a weekend
    (at(2024, 11, 7), DESKTOP, "critique", at(2024, 11, 13, 18)),      # D+3 over a weekend and 11 November
    (at(2025, 11, 7), NETWORK, "basse", at(2025, 11, 13, 18)),         # D+3 over a weekend and 11 November 2025
    (at(2025, 10, 30), NETWORK, "critique", at(2025, 10, 31, 18)),     # 1 November 2025 is a Saturday anyway
    (at(2025, 3, 14, 19, 30), NETWORK, "critique", at(2025, 3, 17, 18)),  # taken after hours: D is still Friday
])
def test_r_ticket_7_on_site_deadlines_in_working_days(taken: dt.datetime, terms: Terms, criticality: str,
                                                     due: dt.datetime) -> None:
    clock = sla_clock("pris_en_charge", opened_at=taken, taken_at=taken, handling="sur_site",
                      criticality=criticality, terms=terms)
    assert clock.due_at == due


def test_r_ticket_7_criticality_within_the_category_range() -> None:
    assert [onsite_days(NETWORK, c) for c in ("critique", "haute", "normale", "basse")] == [1, 2, 3, 3]
    assert [onsite_days(DESKTOP, c) for c in ("critique", "haute", "normale", "basse")] == [3, 4, 5, 5]


@pytest.mark.parametrize(("taken", "pauses", "due", "paused_hours"), [
    # Monday 10 March 2025, D+3 → Thursday 18:00; waiting Tuesday 16:00 → Wednesday 11:00 = 2 h + 3 h of work.
    (at(2025, 3, 10), [(at(2025, 3, 11, 16), at(2025, 3, 12, 11))], at(2025, 3, 14, 13), 5),
    # Wednesday 9 July 2025, D+3 → Tuesday 15 (14 July); waiting Friday 17:00 → Tuesday 9:00 = 1 h + 1 h.
    (at(2025, 7, 9, 9), [(at(2025, 7, 11, 17), at(2025, 7, 15, 9))], at(2025, 7, 16, 10), 2),
    # Two pauses: 1 h on Monday, then 30 min on Tuesday.
    (at(2025, 3, 10), [(at(2025, 3, 10, 14), at(2025, 3, 10, 15)), (at(2025, 3, 11, 9), at(2025, 3, 11, 9, 30))],
     at(2025, 3, 14, 9, 30), 1.5),
])
def test_r_ticket_7_waiting_for_the_school_pauses_the_clock(taken: dt.datetime, pauses: list[tuple[dt.datetime,
                                                            dt.datetime]], due: dt.datetime,
                                                            paused_hours: float) -> None:
    events = [{"at": taken, "to_status": "pris_en_charge", "from_status": "nouveau"}]
    for start, end in pauses:
        events += [{"at": start, "to_status": "attente_etablissement", "from_status": "pris_en_charge"},
                   {"at": end, "to_status": "pris_en_charge", "from_status": "attente_etablissement"}]
    minutes = paused_minutes(pauses_of(events), taken, at(2026, 1, 1))
    assert minutes == paused_hours * 60
    clock = sla_clock("pris_en_charge", opened_at=taken, taken_at=taken, handling="sur_site", criticality="normale",
                      terms=NETWORK, paused=minutes)
    assert clock.due_at == due


@pytest.mark.parametrize(("taken", "criticality", "due"), [
    (at(2025, 3, 14, 17, 30), "normale", at(2025, 3, 17, 8, 30)),   # 1 working hour across a weekend
    (at(2025, 3, 12, 17, 45), "critique", at(2025, 3, 13, 8, 15)),  # 30 minutes when critical
    (at(2025, 3, 12, 10, 0), "haute", at(2025, 3, 12, 10, 45)),     # 45 minutes when high
    (at(2025, 7, 11, 17, 50), "normale", at(2025, 7, 15, 8, 50)),   # across 14 July
])
def test_r_ticket_6_remote_target_under_one_hour_by_criticality(taken: dt.datetime, criticality: str,
                                                               due: dt.datetime) -> None:
    assert remote_minutes(Terms(), criticality) <= 60
    clock = sla_clock("pris_en_charge", opened_at=taken, taken_at=taken, handling="distance",
                      criticality=criticality, terms=Terms())
    assert clock.due_at == due


def test_working_time_primitives_and_risk() -> None:
    assert working_minutes_between(at(2025, 3, 14, 17), at(2025, 3, 17, 9)) == 120
    assert working_minutes_between(at(2025, 7, 11, 17), at(2025, 7, 15, 9)) == 120  # 14 July
    assert working_minutes_between(at(2025, 3, 17, 9), at(2025, 3, 14, 17)) == 0
    assert add_working_minutes(at(2025, 8, 14, 17), 90) == at(2025, 8, 18, 8, 30)  # 1 h Thursday, 30 min Monday
    clock = sla_clock("nouveau", opened_at=at(2025, 3, 12, 10), taken_at=None, handling=None,
                      criticality="normale", terms=Terms())
    assert clock == Clock(at(2025, 3, 12, 12), at(2025, 3, 12, 11, 30), 0.0)  # à risque with a quarter left
    assert sla_state_at(at(2025, 3, 12, 11, 29), clock) == SlaState.OK
    assert sla_state_at(at(2025, 3, 12, 11, 30), clock) == SlaState.AT_RISK
    assert sla_state_at(at(2025, 3, 12, 12, 1), clock) == SlaState.BREACHED
    excluded = sla_clock("pris_en_charge", opened_at=at(2025, 3, 12), taken_at=at(2025, 3, 12), handling="sur_site",
                         criticality="normale", terms=NETWORK, excluded=True)
    assert excluded.due_at is None and sla_state_at(at(2030, 1, 1), excluded) == SlaState.OK


# --- Through the engine ----------------------------------------------------------------------------

@dataclass
class World:
    """Two schools (with and without CSN) and their people."""

    school: School
    no_csn: School
    head: Contact
    coordinator: Contact
    adml: Contact
    other_head: Contact


class FakeClock:
    """The app's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = at(2025, 3, 12, 10)

    def set(self, moment: dt.datetime) -> None:
        self.now = moment


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(settings_module, "now", lambda: fake.now)
    monkeypatch.setattr(settings_module, "today", lambda: fake.now.date())
    return fake


async def make_world() -> World:
    await seed_reference()
    school = await make_school(name="Lycée Réseau", csn_deployed=True)
    no_csn = await make_school(name="Lycée Sans CSN", csn_deployed=False)
    head = await make_contact(school, [ContactRole.CHEF], full_name="Claire Proviseure",
                              email="claire.chef@ac-paris.fr")
    coordinator = await make_contact(school, [ContactRole.COORDONNATEUR], full_name="Yann Coordo",
                                     email="yann.coordo@ac-paris.fr")
    adml = await make_contact(school, [ContactRole.ADML], full_name="Ada Admin", email="ada.adml@ac-paris.fr")
    other_head = await make_contact(no_csn, [ContactRole.CHEF], email="chef.sanscsn@ac-paris.fr")
    return World(school, no_csn, head, coordinator, adml, other_head)


@pytest.fixture
async def world(sqlite_db: str, clock: FakeClock) -> World:
    """The world on SQLite."""
    return await make_world()


@pytest.fixture
async def world_both(db: str, clock: FakeClock) -> World:
    """The world on SQLite, then on PostgreSQL (the steps, their mails and the watch on both)."""
    return await make_world()


async def ecole(contact: Contact) -> Caller:
    """A school's person as school access signs them in: their school in scope, their contact roles as grants."""
    school = await School.get(id=contact.school_id)
    roles = await ContactRoleAssignment.filter(contact_id=contact.id).values_list("role", flat=True)
    return Caller(actor=contact.email, role="ecole", scope=frozenset({school.uai}),
                  grants=frozenset((school.uai, code_of(r)) for r in roles), source=Source.SCHOOL)


async def open_ticket(school: School, category: str = "reseau", caller: Caller = AGENT, **values: object) -> Ticket:
    """A ticket opened through the engine (an agent recording a call by default)."""
    row: dict[str, object] = {"school": school.uai, "category": category, "summary": "Plus de réseau au bâtiment B"}
    row.update(values)
    result = await create_rows(TICKETS, [row], caller)
    return await Ticket.get(id=result.created[0][0])


async def act(ticket: Ticket, name: str, caller: Caller = SPIE, **values: object) -> Ticket:
    """A move or action on a ticket, as the grid, the ticket page or the API runs it."""
    await run_action(TICKETS, name, [ticket.id], dict(values), caller)
    return await Ticket.get(id=ticket.id)


async def mails_of(ticket: Ticket) -> list[OutboxMail]:
    return list(await OutboxMail.filter(key__startswith=f"ticket:{ticket.number}:").order_by("id"))


async def test_r_ticket_1_a_call_at_1730_is_due_0930_and_the_watch_flags_the_late_opening(
        world_both: World, clock: FakeClock) -> None:
    world = world_both
    clock.set(at(2025, 3, 12, 17, 35))
    ticket = await open_ticket(world.school, opened_at="12/03/2025 17:30", reported_by=world.head.id)
    assert ticket.number == "T2025-00001" and ticket.channel == "ligne"
    assert ticket.due_at == at(2025, 3, 13, 9, 30) and ticket.status == TicketStatus.NEW
    assert (await open_ticket(world.school, "serveur")).number == "T2025-00002"
    # The free line is closed at 19:00 and on Saturdays: such a « call » is refused; a mail is fine.
    for moment in ("11/03/2025 19:00", "08/03/2025 10:00"):
        with pytest.raises(WriteRefused, match="N° vert est ouvert du lundi au vendredi de 8 h à 18 h"):
            await open_ticket(world.no_csn, opened_at=moment)
    mail = await open_ticket(world.no_csn, opened_at="12/03/2025 17:00", channel="courriel")
    assert mail.due_at == at(2025, 3, 13, 9)
    # A call of yesterday morning recorded only now is late already: flagged, and the desk told at once.
    recorded_late = await open_ticket(world.no_csn, "onduleur", opened_at="11/03/2025 10:00")
    assert recorded_late.sla_state == SlaState.BREACHED and recorded_late.late_opening
    assert await OutboxMail.filter(key=f"ticket-breach:{recorded_late.number}:opening").count() == 1
    clock.set(at(2025, 3, 13, 9, 1))
    report = await sla_watch()  # T2025-00001 « à risque » (a quarter left); the mail of 17:00 was due at 9:00
    assert (report.at_risk, report.breached, report.mails) == (1, 1, 1)
    clock.set(at(2025, 3, 13, 9, 31))
    report = await sla_watch()  # T2025-00001 late now, T2025-00002 (17:35, due 9:35) at risk
    assert (report.at_risk, report.breached, report.late_openings, report.mails) == (1, 1, 1, 1)
    late = await Ticket.get(id=ticket.id)
    assert late.sla_state == SlaState.BREACHED and late.late_opening
    breach = await OutboxMail.get(key=f"ticket-breach:{ticket.number}:opening")
    assert breach.recipients == "plateau-lycees@spie-ics.example.fr" and "délai d'ouverture" in breach.subject
    assert (await sla_watch()).mails == 0  # once per breach
    events = await TicketEvent.filter(ticket_id=ticket.id, kind="delai").values_list("author", "text")
    assert [a for a, _ in events] == ["job:sla_watch", "job:sla_watch"]
    assert "Délai d'ouverture dépassé (échéance 13/03/2025 09:30)" in events[-1][1]
    assert await AuditEntry.filter(sheet="tickets", row_id=ticket.id, column="sla_state", actor="job:sla_watch",
                                   source="job").count() == 2
    # Taken in charge later: the late opening stays, the resolution deadline starts from now.
    clock.set(at(2025, 3, 13, 10))
    taken = await act(late, "take")
    assert taken.late_opening and taken.sla_state == SlaState.OK and taken.handling == Handling.REMOTE
    assert taken.due_at == at(2025, 3, 13, 11)  # at a distance (the school has a CSN): one working hour


async def test_r_ticket_2_a_category_with_another_desk_opens_no_ticket(world: World) -> None:
    with pytest.raises(WriteRefused, match=r"adressez-vous à « Support Monlycee.net ».*09 71 10 02 76") as refused:
        await open_ticket(world.school, "monlycee")
    assert refused.value.status == 422
    head = await ecole(world.head)
    with pytest.raises(WriteRefused, match=r"Assistance Unowhy \(direction\).*09 70 25 28 14"):
        await open_ticket(world.school, "pc_individuel", head)
    assert await Ticket.all().count() == 0 and await OutboxMail.all().count() == 0
    # « Ne pas diffuser » desks: the details only to heads, coordinators and the Région's team.
    for caller, shown in ((head, True), (await ecole(world.coordinator), True), (AGENT, True),
                          (await ecole(world.adml), False), (SPIE, False)):
        route = await route_report("pc_individuel", caller, world.school.uai)
        assert not route["ticket"] and route["desk"].name == "Assistance Unowhy (direction)"
        phones = [v for label, v in route["lines"] if label == "Téléphone"]
        assert (phones == ["09 70 25 28 14"]) is shown, caller
        assert route["restricted"] is not shown
    public = await route_report("manuels", await ecole(world.adml), world.school.uai)
    assert ("E-mail", "manuelsscolaires@iledefrance.fr") in public["lines"]  # a public desk: for everyone
    assert (await route_report("wifi", head, world.school.uai))["ticket"] is True
    # A ticket found to belong elsewhere is redirected: the mail gives the desk.
    ticket = await open_ticket(world.school, "wifi", reported_by=world.head.id)
    with pytest.raises(WriteRefused, match="choisissez le support"):
        await act(ticket, "redirect", AGENT)
    with pytest.raises(WriteRefused) as forbidden:
        await act(ticket, "redirect", SPIE, redirected_to="Support Monlycee.net")
    assert forbidden.value.status == 403
    done = await act(ticket, "redirect", AGENT, redirected_to="Support Monlycee.net", note="Compte ENT bloqué.")
    assert done.status == TicketStatus.REDIRECTED and done.open_key is None
    last = (await mails_of(done))[-1]
    assert "redirigé vers un autre support" in last.subject and "09 71 10 02 76" in last.body_text
    assert set(last.recipient_list) == {world.school.generic_email, world.head.email}


async def test_r_ticket_3_heads_by_default_coordinators_on_request(world: World) -> None:
    head, coordinator = await ecole(world.head), await ecole(world.coordinator)
    assert TICKETS.may_read(head) and TICKETS.may_create(head, world.school.uai)
    assert not TICKETS.may_read(coordinator) and not TICKETS.may_create(coordinator, world.school.uai)
    with pytest.raises(WriteRefused) as refused:
        await open_ticket(world.school, "wifi", coordinator)
    assert refused.value.status == 403
    ticket = await open_ticket(world.school, "wifi", head, summary="Wi-Fi du CDI coupé")
    assert ticket.channel == "acces_ecole" and ticket.reported_by_id == world.head.id
    block = await fetch_block(TICKETS, BlockRequest(0, 100), head)
    assert [r["number"] for r in block["rows"]] == [ticket.number]
    other = await open_ticket(world.no_csn, "wifi")
    assert other.number not in [r["number"] for r in (await fetch_block(TICKETS, BlockRequest(0, 100), head))["rows"]]
    with pytest.raises(WriteRefused) as outside:  # a head acts on its own school only
        await act(other, "attach", head, text="Chez nous aussi")
    assert outside.value.status == 404
    # The right granted to the coordinator: a contact role, through the engine, audited.
    from sheets.contacts import CONTACT_ROLES

    granted = await create_rows(CONTACT_ROLES, [{"contact": world.coordinator.id, "role": "acces_tickets"}], AGENT)
    assert await AuditEntry.filter(sheet="contact_roles", row_id=granted.created[0][0], actor=AGENT.actor).exists()
    coordinator = await ecole(world.coordinator)
    assert TICKETS.may_read(coordinator)
    with pytest.raises(WriteRefused, match="s'accorde sur demande à un coordonnateur numérique"):
        await create_rows(CONTACT_ROLES, [{"contact": world.adml.id, "role": "acces_tickets"}], AGENT)
    with pytest.raises(WriteRefused) as lecteur:  # a reader grants nothing
        await create_rows(CONTACT_ROLES, [{"contact": world.coordinator.id, "role": "acces_tickets"}], LECTEUR)
    assert lecteur.value.status == 403
    second = await open_ticket(world.school, "serveur", coordinator, summary="Serveur muet")
    assert second.reported_by_id == world.coordinator.id
    # Heads and coordinators report, not others (the free line is theirs, R-TICKET-1).
    with pytest.raises(WriteRefused, match="ni chef d'établissement ni coordonnateur"):
        await open_ticket(world.school, "onduleur", reported_by=world.adml.id)


async def test_r_ticket_4_one_mail_to_the_school_at_each_step_never_twice(world_both: World, clock: FakeClock,
                                                                          smtp: object) -> None:
    world = world_both
    head = await ecole(world.head)
    ticket = await open_ticket(world.school, "wifi", head, summary="Wi-Fi du CDI coupé", criticality="haute")
    clock.set(at(2025, 3, 12, 10, 30))
    ticket = await act(ticket, "take", handling="sur_site", note="Technicien affecté.")
    with pytest.raises(WriteRefused, match="indiquez ce qui est attendu"):  # a refused step: no event, no mail
        await act(ticket, "wait")
    clock.set(at(2025, 3, 12, 14))
    ticket = await act(ticket, "wait", note="Merci d'ouvrir la baie du CDI.")
    clock.set(at(2025, 3, 13, 9))
    ticket = await act(ticket, "answer", head, note="Baie ouverte.")
    ticket = await act(ticket, "intervene", note="Sur place demain.")
    clock.set(at(2025, 3, 14, 11))
    ticket = await act(ticket, "resolve", note="Borne remplacée.")
    ticket = await act(ticket, "close", head)
    steps = await TicketEvent.filter(ticket_id=ticket.id).order_by("id").values_list("kind", "from_status",
                                                                                      "to_status", "author")
    assert [(code_of(k), code_of(f), code_of(t)) for k, f, t, _ in steps] == [
        ("creation", None, "nouveau"), ("etape", "nouveau", "pris_en_charge"),
        ("etape", "pris_en_charge", "attente_etablissement"), ("etape", "attente_etablissement", "pris_en_charge"),
        ("etape", "pris_en_charge", "en_intervention"), ("etape", "en_intervention", "resolu"),
        ("etape", "resolu", "clos")]
    assert steps[3][3] == world.head.email and steps[1][3] == SPIE.actor
    mails = await mails_of(ticket)
    assert len(mails) == 7 and len({m.key for m in mails}) == 7
    assert all(set(m.recipient_list) == {world.school.generic_email, world.head.email} for m in mails)
    assert "en attente d'une réponse de l'établissement" in mails[2].subject
    assert "Merci d'ouvrir la baie du CDI." in mails[2].body_text and "suspendu" in mails[2].body_text
    settings = settings_module.load()
    assert (await send_pending(settings)).sent == 7
    assert (await send_pending(settings)).sent == 0  # never twice
    received = smtp.handler.messages  # type: ignore[attr-defined]
    assert len(received) == 7 and all(set(m.envelope_to) == {world.school.generic_email, world.head.email}
                                      for m in received)
    assert sorted(smtp.handler.keys().values()) == [1] * 7  # type: ignore[attr-defined]
    assert ticket.resolved_at == at(2025, 3, 14, 11) and ticket.paused_hours == Decimal("5.00")


async def test_r_ticket_5_one_ticket_per_incident_the_report_is_joined(world_both: World) -> None:
    world = world_both
    first = await open_ticket(world.school, "wifi", reported_by=world.head.id)
    head = await ecole(world.head)
    with pytest.raises(WriteRefused, match=rf"déjà ouvert pour cet incident : {first.number}") as refused:
        await open_ticket(world.school, "wifi", head)
    assert refused.value.status == 409
    assert await open_ticket(world.school, "serveur")  # another category: another incident
    await act(first, "attach", head, text="Le Wi-Fi de la salle 12 est coupé aussi.")
    joined = await TicketEvent.filter(ticket_id=first.id, kind="signalement").values_list("text", flat=True)
    assert joined == [f"Signalement de {world.head.email} : Le Wi-Fi de la salle 12 est coupé aussi."]
    assert len(await mails_of(first)) == 2
    # The database itself refuses a second open ticket of one school and category.
    from tortoise.exceptions import IntegrityError

    with pytest.raises(IntegrityError):
        await Ticket.create(number="T2025-99999", school=world.school, category=await TicketCategory.get(code="wifi"),
                            summary="x", opened_at=at(2025, 3, 12), open_key=first.open_key)
    # Once resolved, the incident is over: a new report opens a new ticket.
    first = await act(await act(first, "take"), "resolve", note="Réglé.")
    assert first.open_key is None
    assert (await open_ticket(world.school, "wifi", head)).number != first.number
    with pytest.raises(WriteRefused, match="déjà ouvert") as reopened:  # reopening it would make two
        await act(first, "reopen", head, note="Toujours coupé.")
    assert reopened.value.status == 409


async def test_r_ticket_6_remote_only_with_csn_and_on_site_when_it_fails(world: World, clock: FakeClock) -> None:
    without = await open_ticket(world.no_csn, "serveur")
    with pytest.raises(WriteRefused, match="n'a pas de CSN déployé"):
        await act(without, "take", handling="distance")
    assert (await act(without, "take")).handling == Handling.ONSITE  # the default without CSN
    with pytest.raises(WriteRefused, match="CSN"):
        await open_ticket(world.no_csn, "wifi", handling="distance")
    remote = await open_ticket(world.school, "serveur", criticality="critique")
    remote = await act(remote, "take")
    assert remote.handling == Handling.REMOTE and remote.due_at == at(2025, 3, 12, 10, 30)  # 30 min, critical
    clock.set(at(2025, 3, 12, 10, 40))
    failed = await act(remote, "remote_failed", note="Accès distant impossible.")
    assert failed.handling == Handling.ONSITE and failed.due_at == at(2025, 3, 13, 18)  # ATOS server, D+1
    assert failed.sla_state == SlaState.OK
    last = (await mails_of(failed))[-1]
    assert "intervention sur site après échec à distance" in last.subject
    with pytest.raises(WriteRefused, match="n'est pas en cours de traitement à distance"):
        await act(failed, "remote_failed")


async def test_r_ticket_7_paused_while_waiting_and_breaches_by_contractor(world: World, clock: FakeClock) -> None:
    clock.set(at(2025, 3, 10, 9, 30))
    ticket = await open_ticket(world.school, "reseau", reported_by=world.head.id)
    clock.set(at(2025, 3, 10, 10))
    ticket = await act(ticket, "take", handling="sur_site")
    assert ticket.due_at == at(2025, 3, 13, 18)  # D+3, normal criticality
    clock.set(at(2025, 3, 11, 16))
    ticket = await act(ticket, "wait", note="Qui a la clé du local ?")
    clock.set(at(2025, 3, 12, 11))
    ticket = await act(ticket, "answer", AGENT, note="M. Martin, loge.")
    assert ticket.paused_hours == Decimal("5.00") and ticket.due_at == at(2025, 3, 14, 13)
    clock.set(at(2025, 3, 14, 12))
    assert (await sla_watch()).at_risk == 1
    clock.set(at(2025, 3, 14, 13, 1))
    report = await sla_watch()
    assert report.breached == 1 and report.mails == 1
    rows = {r["code"]: r for r in await breaches_by_contractor()}
    assert rows["SPIE"]["depasse"] == 1 and rows["ATOS"]["depasse"] == 0
    resolved = await act(await Ticket.get(id=ticket.id), "resolve", note="Câble changé.")
    assert resolved.sla_state == SlaState.BREACHED  # resolved late: the breach stays in the statement
    assert (await breaches_by_contractor())[1]["breached_total"] == 1
    # The grid never offers the watch's column to anyone, and the engine refuses it to people.
    with pytest.raises(WriteRefused) as refused:
        await set_values(TICKETS, [ticket.id], {"sla_state": "dans_les_delais"}, AGENT)
    assert refused.value.status == 403


async def test_r_ticket_8_contractor_and_profile_from_the_category_a_data_edit_in_2025(world: World,
                                                                                     tmp_path: object) -> None:
    server = await open_ticket(world.school, "serveur")
    wifi = await open_ticket(world.school, "wifi")
    gateway = await open_ticket(world.school, "passerelle")
    atos, spie = await Contractor.get(code="ATOS"), await Contractor.get(code="SPIE")
    assert (server.contractor_id, server.profile) == (atos.id, "ingenieur")
    assert (wifi.contractor_id, wifi.profile) == (spie.id, "ingenieur")
    assert (gateway.contractor_id, gateway.profile) == (atos.id, "expert")
    # 2025: the contract changes — a new contractor takes the servers, with other deadlines. Rows, not code.
    from sheets.tickets import CONTRACTORS

    await create_rows(CONTRACTORS, [{"code": "NOVA", "name": "Nova Maintenance", "desk_email": "plateau@nova.fr"}],
                      AGENT)
    category = await TicketCategory.get(code="serveur")
    await set_values(CATEGORIES, [category.id], {"contractor": "NOVA", "onsite_max_days": 2, "profile": "expert"},
                     AGENT)
    assert (await Ticket.get(id=server.id)).contractor_id == atos.id  # tickets already open keep theirs
    await act(server, "take")
    later = await open_ticket(world.no_csn, "serveur")
    nova = await Contractor.get(code="NOVA")
    assert (later.contractor_id, later.profile) == (nova.id, "expert")
    taken = await act(later, "take")
    assert taken.due_at == at(2025, 3, 14, 18)  # normal: the new maximum, D+2
    with pytest.raises(WriteRefused, match="ne dépasse pas le maximum"):
        await set_values(CATEGORIES, [category.id], {"onsite_min_days": 4}, AGENT)
    with pytest.raises(WriteRefused) as refused:  # contractors do not rewrite the contract
        await set_values(CATEGORIES, [category.id], {"onsite_max_days": 9}, SPIE)
    assert refused.value.status == 403
    # The statement per contractor.
    statement = await monthly_statement("ATOS", 2025, 3)
    assert [r["number"] for r in statement.rows] == [server.number, gateway.number]
    import openpyxl

    path = tmp_path / "releve.xlsx"  # type: ignore[operator]
    assert write_statement(statement, "Atos", path) == 2
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    assert sheet["A1"].value == "N° ticket" and sheet["A2"].value == server.number
    info = {row[0].value: row[1].value for row in book["Informations"].iter_rows()}
    assert info["Tickets reçus"] == 2 and info["Délais dépassés"] == 0


async def test_statement_median_time_to_resolve(world: World, clock: FakeClock) -> None:
    for minutes, category in ((30, "serveur"), (90, "onduleur"), (600, "passerelle")):
        clock.set(at(2025, 3, 12, 10))
        ticket = await open_ticket(world.school, category)
        ticket = await act(ticket, "take", handling="sur_site")
        clock.set(add_working_minutes(at(2025, 3, 12, 10), minutes))
        await act(ticket, "resolve", note="Fait.")
    statement = await monthly_statement("ATOS", 2025, 3)
    assert [r["hours_to_resolve"] for r in statement.rows] == [0.5, 1.5, 10.0]
    assert statement.median_hours == 1.5 and len(statement.resolved) == 3 and statement.breaches == 0


async def test_r_ticket_9_at_most_two_visit_days_a_month_per_school(world: World) -> None:
    rows = [{"school": world.school.uai, "contractor": "SPIE", "day": "04/03/2025", "kind": "preventive"},
            {"school": world.school.uai, "contractor": "SPIE", "day": "18/03/2025", "kind": "livraison"}]
    await create_rows(VISITS, rows, SPIE)
    same_day = await create_rows(VISITS, [{"school": world.school.uai, "contractor": "SPIE", "day": "18/03/2025",
                                           "kind": "recyclage"}], SPIE)  # the recycling inventory the same day
    with pytest.raises(WriteRefused, match=r"déjà 2 jour\(s\) de visite en mars 2025 \(04/03, 18/03\) : au plus 2 "):
        await create_rows(VISITS, [{"school": world.school.uai, "contractor": "SPIE", "day": "25/03/2025"}], SPIE)
    await create_rows(VISITS, [{"school": world.no_csn.uai, "contractor": "SPIE", "day": "25/03/2025"}], SPIE)
    await create_rows(VISITS, [{"school": world.school.uai, "contractor": "SPIE", "day": "01/04/2025"}], SPIE)
    with pytest.raises(WriteRefused, match="n'est pas un jour ouvré"):
        await create_rows(VISITS, [{"school": world.school.uai, "contractor": "SPIE", "day": "14/07/2025"}], SPIE)
    first = await Visit.get(school=world.school, day=dt.date(2025, 3, 4))
    moved = await Visit.get(id=same_day.created[0][0])
    with pytest.raises(WriteRefused, match="au plus 2 jours par mois"):  # moving a visit to a third day
        await set_values(VISITS, [moved.id], {"day": "26/03/2025"}, SPIE)
    await set_values(VISITS, [first.id], {"status": "annulee"}, SPIE)  # cancelling frees a day
    await set_values(VISITS, [moved.id], {"day": "26/03/2025"}, SPIE)
    with pytest.raises(WriteRefused) as refused:
        await create_rows(VISITS, [{"school": world.school.uai, "contractor": "SPIE", "day": "02/04/2025"}], LECTEUR)
    assert refused.value.status == 403
    limit = await Contractor.get(code="SPIE")
    assert limit.visit_days_per_month == 2  # the contract's figure is data


async def test_ended_tickets_change_no_more_and_the_timeline_is_append_only(world: World) -> None:
    from sheets.tickets import EVENTS

    ticket = await open_ticket(world.school, "wifi")
    ticket = await act(await act(ticket, "take"), "resolve", note="Fait.")
    ticket = await act(ticket, "close", AGENT)
    with pytest.raises(WriteRefused, match="ne change plus"):
        await set_values(TICKETS, [ticket.id], {"criticality": "critique"}, AGENT)
    event = await TicketEvent.filter(ticket_id=ticket.id).first()
    assert event is not None and not EVENTS.may_edit(AGENT) and not EVENTS.may_delete(AGENT)
    comment = await create_rows(EVENTS, [{"ticket": ticket.number, "text": "Vu avec le lycée.", "kind": "etape",
                                          "author": "quelqu'un d'autre"}], SPIE)
    added = await TicketEvent.get(id=comment.created[0][0])
    assert (added.author, code_of(added.kind)) == (SPIE.actor, "commentaire")  # a hand-written line is a comment


async def test_sla_watch_marks_through_the_engine_in_bulk(world_both: World, clock: FakeClock) -> None:
    world = world_both
    tickets = [await open_ticket(school, category) for school in (world.school, world.no_csn)
               for category in ("wifi", "serveur", "onduleur")]
    clock.set(at(2025, 3, 12, 11, 45))
    report = await sla_watch()
    assert report.checked == 6 and report.at_risk == 6 and report.breached == 0
    clock.set(at(2025, 3, 12, 12, 1))
    report = await sla_watch()
    assert report.breached == 6 and report.late_openings == 6 and report.mails == 6
    assert await Ticket.filter(sla_state="depasse", late_opening=True).count() == 6
    assert await OutboxMail.filter(kind="ticket_breach").count() == 6
    keys = set(await OutboxMail.filter(kind="ticket_breach").values_list("recipients", flat=True))
    assert keys == {"plateau-lycees@spie-ics.example.fr", "plateau-lycees@atos.example.fr"}
    assert (await sla_watch()).breached == 0
    assert {t.version for t in await Ticket.filter(id__in=[t.id for t in tickets])} == {3}  # created, risk, breach


async def test_the_watch_runs_in_the_scheduler_of_the_lock_holder_only(world: World, clock: FakeClock,
                                                                       smtp: object) -> None:
    import asyncio
    import dataclasses

    from jobs.scheduler import SLA_JOB, JobRunner

    ticket = await open_ticket(world.school, "serveur", channel="courriel")  # 10:00, due at 12:00
    await OutboxMail.all().delete()  # the opening's mail: not this test's matter
    clock.set(at(2025, 3, 12, 12, 1))
    settings = dataclasses.replace(settings_module.load(), sla_watch_interval=1,
                                   outbox_interval=3600, reminders_at="23:59")
    first, second = JobRunner(settings, holder="instance-a"), JobRunner(settings, holder="instance-b")
    await first.start()
    await second.start()
    try:
        assert first.scheduler.get_job(SLA_JOB) is not None and second.scheduler.get_job(SLA_JOB) is not None
        for _ in range(200):
            if smtp.handler.messages:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(2.5)  # more runs of both instances
        holder, other = (first, second) if first.lock.held else (second, first)
        assert await other.sla_job() is None  # the instance without the lock runs nothing
        assert await holder.sla_job() is not None
    finally:
        await first.stop()
        await second.stop()
    assert (await Ticket.get(id=ticket.id)).sla_state == SlaState.BREACHED
    assert smtp.handler.keys() == {f"ticket-breach:{ticket.number}:opening": 1}  # type: ignore[attr-defined]
    assert await TicketEvent.filter(ticket_id=ticket.id, kind="delai").count() == 1


async def test_demo_year_of_tickets_every_state_idempotent(sqlite_db: str) -> None:
    from tortoise.functions import Count

    from seed.demo import seed_demo
    from seed.tickets import seed_area

    await seed_demo()
    created = await seed_area()
    assert 2500 <= created["tickets"] <= 3000 and created["contractors"] == 2 and created["visits"] > 1000
    by_status = dict(await Ticket.all().group_by("status").annotate(n=Count("id")).values_list("status", "n"))
    assert {code_of(s) for s in by_status} == {s.value for s in TicketStatus}
    assert await Ticket.filter(status=TicketStatus.WAITING, paused_hours__gte=0).count() > 0
    assert await Ticket.filter(paused_hours__gt=0).count() > 100  # some were paused
    assert await Ticket.filter(sla_state=SlaState.BREACHED).count() > 100  # some late
    assert await Ticket.filter(late_opening=True).count() > 50
    assert await Ticket.filter(status=TicketStatus.REDIRECTED, redirected_to_id__isnull=False).count() > 50
    for field, values in (("channel", {"ligne", "courriel", "acces_ecole"}), ("handling", {"distance", "sur_site"})):
        found = {code_of(v) for v in await Ticket.all().distinct().values_list(field, flat=True) if v}
        assert found == values, field
    opened = await Ticket.all().order_by("opened_at").values_list("opened_at", flat=True)
    assert (opened[-1] - opened[0]).days >= 360  # a year of them
    open_keys = await Ticket.filter(open_key__isnull=False).values_list("open_key", flat=True)
    assert len(open_keys) == len(set(open_keys))
    assert await seed_area() == {"contractors": 0, "ticket_categories": 0, "tickets": 0, "visits": 0}
    assert await OutboxMail.all().count() == 0  # the demo's past sends no mail


async def test_cli_statement_and_watch(isolated_settings: object, tmp_path: object) -> None:
    import openpyxl

    from models import db as database
    from tests.cli import run_cli

    await database.init(settings_module.load().db_url)
    try:
        world = await make_world()
        ticket = await open_ticket(world.school, "serveur", channel="courriel")
    finally:
        await database.close()
    month = settings_module.now().strftime("%Y-%m")
    out = tmp_path / "releve.xlsx"  # type: ignore[operator]
    done = run_cli("tickets", "statement", "atos", month, str(out))
    assert done.returncode == 0, done.stderr
    assert f"Relevé ATOS {month} : 1 ticket(s), 0 résolu(s), délai médian —" in done.stdout
    assert openpyxl.load_workbook(out).worksheets[0]["A2"].value == ticket.number
    for args, message in ((("statement", "ATOS", "2025-13", str(out)), "attendu AAAA-MM"),
                          (("statement", "NOPE", month, str(out)), "prestataires : ATOS, SPIE")):
        refused = run_cli("tickets", *args)
        assert refused.returncode == 2 and message in refused.stderr
    watch = run_cli("tickets", "watch")
    assert watch.returncode == 0 and "Veille des délais : 1 ticket(s) en cours" in watch.stdout
