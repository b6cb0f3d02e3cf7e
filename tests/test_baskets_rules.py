"""Textbook baskets (R-BASKET-1 … 12) through the engine as callers make the changes: the Région's agents, a school's
CRRE-PRESCRIPTEUR and CRRE-VALIDEUR signed in by school access (the engine's `ecole` caller), imports, row actions.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import settings as settings_module
from models.audit import Source
from models.baskets import (
    Allocation,
    Basket,
    BasketLine,
    Headcount,
    compute_allocation,
    livret_2024_rates,
    recompute,
)
from models.schools import Contact, ContactRole, ContactRoleAssignment, School, SchoolType
from seed.baskets import seed_rates
from sheets.baskets import BASKETS, CATALOGUE, ENROLMENTS, EXTRAS, LINES, RATES, add_line, import_open_data
from sheets.engine.actions import run_action
from sheets.engine.caller import Caller
from sheets.engine.writes import WriteRefused, create_rows, set_values
from tests.conftest import shared_file
from tests.factories import make_contact, make_school

PARIS = ZoneInfo("Europe/Paris")
AGENT = Caller("agent.region@iledefrance.fr", "agent", Source.API)
JULY = dt.datetime(2024, 7, 2, 10, tzinfo=PARIS)


@pytest.fixture
async def basket_db(sqlite_db: str) -> AsyncIterator[str]:
    """A fresh migrated SQLite file (a copy of the session's migrated template, see tests/conftest.py)."""
    yield sqlite_db


@pytest.fixture
async def pg_db(pg_database: str) -> AsyncIterator[str]:
    """Tortoise on a fresh migrated PostgreSQL database only (the race is played there)."""
    from models import db as database
    from tests.conftest import _fresh_pg

    await _fresh_pg(pg_database)
    await database.init(pg_database)
    try:
        yield pg_database
    finally:
        await database.close()


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """The app's clock, in the 2024 campaign (orders open) unless a test moves it: clock[0] = now."""
    moment = [JULY]
    monkeypatch.setattr(settings_module, "now", lambda: moment[0])
    return moment


async def ecole(contact: Contact) -> Caller:
    """A school's person as school access signs them in: their school in scope, their contact roles as grants."""
    school = await School.get(id=contact.school_id)
    roles = await ContactRoleAssignment.filter(contact_id=contact.id).values_list("role", flat=True)
    return Caller(actor=contact.email, role="ecole", scope=frozenset({school.uai}),
                  grants=frozenset((school.uai, getattr(r, "value", r)) for r in roles), source=Source.SCHOOL)


ITEMS = [
    {"reference": "9782091000001", "title": "Maths 2de", "publisher": "Nathan", "kind": "manuel_numerique",
     "price": "10"},
    {"reference": "9782091000002", "title": "Français 2de", "publisher": "Hatier", "kind": "manuel_numerique",
     "price": "12"},
    {"reference": "9782091000003", "title": "Histoire 2de papier", "publisher": "Belin", "kind": "manuel_papier",
     "price": "30"},
    {"reference": "RES-0001", "title": "Banque d'exercices", "publisher": "Lumni", "kind": "ressource", "price": "3",
     "approved_on": "2024-03-15"},
    {"reference": "RES-NEW", "title": "Ressource en attente du comité", "publisher": "Lumni", "kind": "ressource",
     "price": "3"},
    {"reference": "QIOZ", "title": "QIOZ", "publisher": "Région", "kind": "ressource", "price": "0",
     "region_funded": True},
    {"reference": "LIBRE-1", "title": "Manuel libre de SES", "publisher": "Académies", "kind": "manuel_libre",
     "price": "0"},
]


async def world(students: int = 10) -> tuple[School, Caller, Caller, Caller]:
    """Rates, a catalogue, a digital school with `students` in générale 2de (72 € each), its prescriber, validator
    and a teacher (a contact without CRRE role)."""
    await seed_rates(2024)
    await create_rows(CATALOGUE, ITEMS, AGENT)
    school = await make_school(name="Lycée Budget")
    await create_rows(ENROLMENTS, [{"school": school.uai, "year": 2024, "track": "generale", "level": "2de",
                                    "students": students}], AGENT)
    prescriber = await ecole(await make_contact(school, [ContactRole.CRRE_PRESCRIPTEUR]))
    validator = await ecole(await make_contact(school, [ContactRole.CRRE_VALIDEUR]))
    teacher = await ecole(await make_contact(school, [ContactRole.COORDONNATEUR]))
    return school, prescriber, validator, teacher


async def new_basket(school: School, caller: Caller, lines: list[tuple[str, int]], envelope: str = "manuels") -> Basket:
    """A basket with lines, created by a school's person through the engine."""
    result = await create_rows(BASKETS, [{"school": school.uai, "envelope": envelope}], caller)
    number = result.created[0][1]
    for reference, quantity in lines:
        await add_line(number, reference, quantity, caller)
    return await Basket.get(number=number)


async def remaining(school: School, envelope: str = "manuels") -> Decimal:
    row = await Allocation.get(school_id=school.id, year=2024, envelope=envelope)
    return Decimal(row.remaining)


# --- R-BASKET-1 / R-BASKET-2 ------------------------------------------------------------------------------------

def test_r_basket_1_livret_table_and_the_technological_reading() -> None:
    """R-BASKET-1: the 2024 table as rows; a technological student gets the common core PLUS the speciality."""
    rates = [(r["envelope"], r["school_mode"], r["track"], r["level"], r["amount"]) for r in livret_2024_rates()]
    digital = compute_allocation("numerique", [("generale", "2de", 10), ("technologique", "1re", 10),
                                               ("technologique", "Tle", 1), ("professionnelle", "CAP1", 2),
                                               ("professionnelle", "3PM", 1)], rates)
    assert digital["manuels"] == Decimal(720 + 10 * (40 + 42) + (40 + 28) + 2 * 42)
    assert digital["consommables"] == Decimal(3 * 24)  # 3e prépa-métiers: consumables only
    paper = compute_allocation("papier", [("generale", "1re", 100), ("professionnelle", "2de", 10)], rates)
    assert paper["manuels"] == Decimal(110 * 5) and paper["consommables"] == Decimal(10 * 24)


async def test_r_basket_1_2_real_file_allocation_matches_hand_computation(basket_db: str) -> None:
    """R-BASKET-1/2: the national enrolment file imported through the importer (wide columns → rows); the allocation
    of a few real lycées recomputed by hand from the file's lines; a granted extra allocation adds up."""
    path = shared_file("data/idf_lycees_publics_effectifs_gt_2019-2021.csv")
    text = await asyncio.to_thread(path.read_text, encoding="utf-8-sig")
    lines = {r["numero_lycee"]: r for r in csv.DictReader(io.StringIO(text)) if r["rentree_scolaire"] == "2021"}
    picked = ["0750647W", "0750651A", "0750652B"]  # Turgot (LGT), Simone Weil (LPO), Charlemagne (LG)
    for uai in picked:
        await School(uai=uai, name=lines[uai]["patronyme"], type=SchoolType.LPO, track_generale=True,
                     track_technologique=True).save()
    await seed_rates(2024)
    report = await import_open_data(path, 2024, AGENT, source_year=2021)
    assert not report.fatal
    assert report.created_rows == sum(1 for u in picked for c in ("2ndes_gt", "1eres_g", "terminales_g")
                                      if int(lines[u][c])) + sum(
        1 for u in picked for c in ("1eres", "terminales")
        if int(lines[u][f"{c}_sti2d"]) + int(lines[u][f"{c}_stmg"]))
    assert report.refused > 400  # the file's other lycées are not in this database: refused line by line
    for uai in picked:
        r = {k: int(v) for k, v in lines[uai].items() if k in (
            "2ndes_gt", "1eres_g", "terminales_g", "1eres_sti2d", "1eres_stmg", "terminales_sti2d", "terminales_stmg")}
        by_hand = (72 * r["2ndes_gt"] + 64 * r["1eres_g"] + 56 * r["terminales_g"]
                   + (40 + 42) * (r["1eres_sti2d"] + r["1eres_stmg"])
                   + (40 + 28) * (r["terminales_sti2d"] + r["terminales_stmg"]))
        school = await School.get(uai=uai)
        allocation = await Allocation.get(school_id=school.id, year=2024, envelope="manuels")
        assert allocation.computed == Decimal(by_hand), uai
        assert allocation.remaining == Decimal(by_hand)
    turgot = await School.get(uai="0750647W")
    await create_rows(EXTRAS, [{"school": "0750647W", "year": 2024, "track": "technologique", "level": "1re",
                                "students": 12, "granted": True}], AGENT)
    allocation = await Allocation.get(school_id=turgot.id, year=2024, envelope="manuels")
    assert allocation.extra == Decimal(12 * 82)
    assert allocation.remaining == allocation.computed + Decimal(12 * 82)


async def test_r_sch_4_enrolment_of_a_track_the_school_does_not_teach_is_refused(basket_db: str,
                                                                              tmp_path: Path) -> None:
    """R-SCH-4: a professional lycée has no général students; a level outside a track is refused too; the open-data
    import refuses such a line with its reason, and a file that is not the national one in French."""
    lp = await make_school(type=SchoolType.LP, track_generale=False, track_professionnelle=True)
    wide = tmp_path / "effectifs.csv"
    wide.write_text("rentree_scolaire,numero_lycee,2ndes_gt,1eres_g\n2021," + lp.uai + ",30,0\n", encoding="utf-8")
    report = await import_open_data(wide, 2024, AGENT)
    assert report.created_rows == 0 and any("n'enseigne pas la voie Générale" in i.message for i in report.issues)
    other = tmp_path / "autre.csv"
    other.write_text("uai,eleves\n" + lp.uai + ",30\n", encoding="utf-8")
    with pytest.raises(ValueError, match="colonne « numero_lycee » manque"):
        await import_open_data(other, 2024, AGENT)
    with pytest.raises(WriteRefused) as refused:
        await create_rows(ENROLMENTS, [{"school": lp.uai, "year": 2024, "track": "generale", "level": "2de",
                                        "students": 30}], AGENT)
    assert "n'enseigne pas la voie Générale (R-SCH-4)" in str(refused.value)
    with pytest.raises(WriteRefused, match="n'existe pas en voie Générale"):
        await create_rows(ENROLMENTS, [{"school": lp.uai, "year": 2024, "track": "generale", "level": "CAP1",
                                        "students": 3}], AGENT)
    await create_rows(ENROLMENTS, [{"school": lp.uai, "year": 2024, "track": "professionnelle", "level": "CAP1",
                                    "students": 3}], AGENT)
    assert await Headcount.filter(school_id=lp.id).count() == 1


async def test_r_basket_1_2_allocation_follows_rates_enrolments_extras_and_rates_copy_forward(basket_db: str) -> None:
    """R-BASKET-1/2: allocations are recomputed by the engine's effects (never typed) when rates, enrolments or
    granted extras change; a school asks for an extra allocation, the Région grants it; the table is copied
    forward."""
    school, *_ = await world(students=10)
    assert await remaining(school) == Decimal(720)
    rate = await RATES.model.get(year=2024, school_mode="numerique", track="generale", level="2de")
    await set_values(RATES, [rate.id], {"amount": "80"}, AGENT)
    assert await remaining(school) == Decimal(800)
    count = await Headcount.get(school_id=school.id)
    await set_values(ENROLMENTS, [count.id], {"students": 11}, AGENT)
    assert await remaining(school) == Decimal(880)
    with pytest.raises(WriteRefused, match="n'est pas modifiable"):
        allocation = await Allocation.get(school_id=school.id, year=2024, envelope="manuels")
        from sheets.baskets import ALLOCATIONS

        await set_values(ALLOCATIONS, [allocation.id], {"remaining": "99999"}, Caller.job("x"))
    # R-BASKET-2: the school's validator asks for an extra allocation (a new class); only the Région grants it.
    validator = await ecole(await make_contact(school, [ContactRole.CRRE_VALIDEUR]))
    with pytest.raises(WriteRefused, match="Seule la Région accorde"):
        await create_rows(EXTRAS, [{"school": school.uai, "year": 2024, "track": "generale", "level": "1re",
                                    "students": 30, "granted": True}], validator)
    asked = await create_rows(EXTRAS, [{"school": school.uai, "year": 2024, "track": "generale", "level": "1re",
                                        "students": 30, "note": "Ouverture d'une 1re"}], validator)
    assert await remaining(school) == Decimal(880)  # asked, not granted
    with pytest.raises(WriteRefused):
        await set_values(EXTRAS, [asked.created[0][0]], {"granted": True}, validator)
    await set_values(EXTRAS, [asked.created[0][0]], {"granted": True}, AGENT)
    assert await remaining(school) == Decimal(880 + 30 * 64)
    result = await run_action(RATES, "copy_year", [], {"from_year": 2024}, AGENT)
    assert "2025" in result.message and await RATES.model.filter(year=2025).count() == len(livret_2024_rates())


# --- R-BASKET-3 -------------------------------------------------------------------------------------------------

async def test_r_basket_3_prescriber_creates_validator_validates_teachers_browse(basket_db: str) -> None:
    """R-BASKET-3: CRRE-PRESCRIPTEUR creates and submits, may not validate; CRRE-VALIDEUR validates; a teacher
    browses the catalogue but creates nothing; another school's validator reaches nothing."""
    school, prescriber, validator, teacher = await world(students=10)
    assert CATALOGUE.may_read(teacher) and not BASKETS.may_create(teacher, school.uai)
    with pytest.raises(WriteRefused) as refused:
        await create_rows(BASKETS, [{"school": school.uai}], teacher)
    assert refused.value.status == 403
    basket = await new_basket(school, prescriber, [("9782091000001", 10)])
    assert basket.prescriber == prescriber.actor and basket.total == Decimal(100)
    await run_action(BASKETS, "submit", [basket.id], {}, prescriber)
    with pytest.raises(WriteRefused) as refused:
        await run_action(BASKETS, "validate", [basket.id], {}, prescriber)
    assert refused.value.status == 403
    other = await make_school()
    stranger = await ecole(await make_contact(other, [ContactRole.CRRE_VALIDEUR]))
    with pytest.raises(WriteRefused) as refused:
        await run_action(BASKETS, "validate", [basket.id], {}, stranger)
    assert refused.value.status == 404
    await run_action(BASKETS, "validate", [basket.id], {}, validator)
    basket = await Basket.get(id=basket.id)
    assert basket.status == "valide" and basket.validator == validator.actor
    assert await remaining(school) == Decimal(620)


# --- Budget -------------------------------------------------------------------------------------------------------

async def test_budget_never_beyond_remaining_names_lines_then_partial_validation(basket_db: str) -> None:
    """Budget: a validation beyond the remaining amount is refused, saying how much remains and which lines exceed;
    the validator sets those lines aside and validates the rest."""
    school, prescriber, validator, _ = await world(students=10)  # 720 €
    basket = await new_basket(school, prescriber, [("9782091000001", 50), ("9782091000002", 10),
                                                   ("RES-0001", 40)])  # 500 + 120 + 120 = 740
    with pytest.raises(WriteRefused) as refused:
        await run_action(BASKETS, "validate", [basket.id], {}, validator)
    message = str(refused.value)
    assert "720,00 € restants" in message and "740,00 €" in message
    assert "RES-0001" in message and "9782091000001" not in message
    line = await BasketLine.get(basket_id=basket.id, item__reference="RES-0001")
    await set_values(LINES, [line.id], {"kept": False}, validator)
    await run_action(BASKETS, "validate", [basket.id], {}, validator)
    assert (await Basket.get(id=basket.id)).total == Decimal(620)
    assert await remaining(school) == Decimal(100)


async def test_budget_two_validations_at_once_never_overspend(pg_db: str) -> None:
    """Budget: two baskets that fit alone but not together, validated at the same moment (concurrent transactions
    on PostgreSQL, where SQLite would serialise them): exactly one passes, the envelope is never overspent."""
    school, prescriber, validator, _ = await world(students=10)  # 720 €
    first = await new_basket(school, prescriber, [("9782091000001", 50)])  # 500 €
    second = await new_basket(school, prescriber, [("9782091000002", 30)])  # 360 €
    for _round in range(3):
        outcomes = await asyncio.gather(run_action(BASKETS, "validate", [first.id], {}, validator),
                                        run_action(BASKETS, "validate", [second.id], {}, validator),
                                        return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, WriteRefused)]
        assert len(refused) == 1 and "restants" in str(refused[0]), outcomes
        allocation = await Allocation.get(school_id=school.id, year=2024, envelope="manuels")
        assert allocation.committed <= allocation.computed and allocation.remaining >= 0
        validated = await Basket.filter(school_id=school.id, status="valide").values_list("total", flat=True)
        assert sum(validated) == allocation.committed
        # put both back to draft for another round (the Région's undo is not the point here)
        await Basket.filter(id__in=[first.id, second.id]).update(status="brouillon")
        await recompute(2024, [school.id])


# --- R-BASKET-4 ---------------------------------------------------------------------------------------------------

async def test_r_basket_4_teacher_licences_never_bought_alone(basket_db: str) -> None:
    """R-BASKET-4: teacher licences come with student licences; alone they are refused; only digital textbooks."""
    school, prescriber, _, _ = await world()
    basket = await new_basket(school, prescriber, [])
    with pytest.raises(WriteRefused, match="ne s'achètent pas seules"):
        await add_line(basket.number, "9782091000001", 0, prescriber, teacher_licences=3)
    with pytest.raises(WriteRefused, match="que les manuels numériques"):
        await add_line(basket.number, "9782091000003", 5, prescriber, teacher_licences=1)
    await add_line(basket.number, "9782091000001", 30, prescriber, teacher_licences=3)
    line = await BasketLine.get(basket_id=basket.id)
    assert line.amount == Decimal(300) and line.teacher_licences == 3  # free: the amount counts students only
    with pytest.raises(WriteRefused, match="ne s'achètent pas seules"):
        await set_values(LINES, [line.id], {"quantity": 0}, prescriber)


# --- R-BASKET-5 / 6 / 7 / 11 / 12 -------------------------------------------------------------------------------

async def test_r_basket_5_validated_digital_licence_neither_cancelled_nor_carried_over(basket_db: str) -> None:
    """R-BASKET-5: once validated, a digital basket has no way back: no return, no draft, no line change."""
    school, prescriber, validator, _ = await world()
    basket = await new_basket(school, prescriber, [("9782091000001", 10)])
    await run_action(BASKETS, "validate", [basket.id], {}, validator)
    with pytest.raises(WriteRefused, match="ni annulée ni reportée"):
        await run_action(BASKETS, "return", [basket.id], {}, validator)
    with pytest.raises(WriteRefused, match="impossible"):
        await set_values(BASKETS, [basket.id], {"status": "brouillon"}, validator)
    with pytest.raises(WriteRefused, match="ni annulée ni reportée"):
        await set_values(LINES, [(await BasketLine.get(basket_id=basket.id)).id], {"quantity": 1}, validator)
    with pytest.raises(WriteRefused, match="ni annulée ni reportée"):
        await add_line(basket.number, "9782091000002", 1, validator)
    with pytest.raises(WriteRefused, match="n'est pas modifiable"):
        await set_values(BASKETS, [basket.id], {"year": 2025}, validator)


async def test_r_basket_6_calendar_enforced_resources_all_year(basket_db: str, clock: list[dt.datetime]) -> None:
    """R-BASKET-6 / R-BASKET-7: textbooks ordered from 26/06 to 17/09, again from 19/09 (new students); closed on
    18/09 and before 26/06; resources all year, once approved by the committee."""
    school, prescriber, validator, _ = await world()
    basket = await new_basket(school, prescriber, [])
    for day, open_ in ((dt.datetime(2024, 6, 25, 10, tzinfo=PARIS), False),
                       (dt.datetime(2024, 6, 26, 9, tzinfo=PARIS), True),
                       (dt.datetime(2024, 9, 17, 17, tzinfo=PARIS), True),
                       (dt.datetime(2024, 9, 18, 10, tzinfo=PARIS), False),
                       (dt.datetime(2024, 9, 19, 8, tzinfo=PARIS), True)):
        clock[0] = day
        if open_:
            await add_line(basket.number, "9782091000001", 1, prescriber)
        else:
            with pytest.raises(WriteRefused, match="R-BASKET-6"):
                await add_line(basket.number, "9782091000001", 1, prescriber)
            await add_line(basket.number, "RES-0001", 1, prescriber)  # R-BASKET-7: resources all year
    clock[0] = dt.datetime(2024, 9, 18, 10, tzinfo=PARIS)
    with pytest.raises(WriteRefused, match="rouvrent le 19/09/2024"):
        await run_action(BASKETS, "validate", [basket.id], {}, validator)
    resources = await new_basket(school, prescriber, [("RES-0001", 2)])
    await run_action(BASKETS, "validate", [resources.id], {}, validator)
    other = await new_basket(school, prescriber, [])
    with pytest.raises(WriteRefused, match="pas encore validée par le comité"):  # R-BASKET-7
        await add_line(other.number, "RES-NEW", 1, prescriber)


async def test_r_basket_6_paper_returns_within_the_dates(basket_db: str, clock: list[dt.datetime]) -> None:
    """R-BASKET-6: paper ordered before 31/08 returns until 17/09; ordered in September, until 18/10."""
    school, prescriber, validator, _ = await world(students=20)
    clock[0] = dt.datetime(2024, 8, 20, 10, tzinfo=PARIS)
    august = await new_basket(school, prescriber, [("9782091000003", 2)])
    await run_action(BASKETS, "validate", [august.id], {}, validator)
    clock[0] = dt.datetime(2024, 9, 10, 10, tzinfo=PARIS)
    september = await new_basket(school, prescriber, [("9782091000003", 2)])
    await run_action(BASKETS, "validate", [september.id], {}, validator)
    clock[0] = dt.datetime(2024, 9, 20, 10, tzinfo=PARIS)
    with pytest.raises(WriteRefused, match="jusqu'au 17/09/2024"):
        await run_action(BASKETS, "return", [august.id], {}, validator)
    before = await remaining(school)
    await run_action(BASKETS, "return", [september.id], {}, validator)
    assert await remaining(school) == before + Decimal(60)  # the envelope gets the returned paper back


async def test_r_basket_11_12_free_textbooks_offered_region_funded_outside_baskets(basket_db: str) -> None:
    """R-BASKET-11: free textbooks cost nothing to the allocation, ordered by every school the first year, then only
    on request to the Région (which adds them); R-BASKET-12: region-funded resources are assigned without a basket
    and never consume the allocation."""
    school, prescriber, validator, _ = await world()
    await create_rows(CATALOGUE, [{"reference": "LIBRE-2023", "title": "Manuel libre de maths", "publisher":
                                   "Académies", "kind": "manuel_libre", "price": "0",
                                   "approved_on": "2023-09-01"}], AGENT)
    basket = await new_basket(school, prescriber, [("LIBRE-1", 35)])
    assert (await Basket.get(id=basket.id)).total == Decimal(0)
    with pytest.raises(WriteRefused, match="se demande à la Région") as refused:
        await add_line(basket.number, "LIBRE-2023", 35, prescriber)
    assert refused.value.status == 403
    await add_line(basket.number, "LIBRE-2023", 35, AGENT)  # the Région adds it on the school's request
    with pytest.raises(WriteRefused, match="R-BASKET-12"):
        await add_line(basket.number, "QIOZ", 35, prescriber)
    await run_action(BASKETS, "validate", [basket.id], {}, validator)
    assert await remaining(school) == Decimal(720)


async def test_r_basket_8_in_the_gar_24_hours_after_the_quote(basket_db: str, clock: list[dt.datetime]) -> None:
    """R-BASKET-8: the Région moves a basket « dans le GAR » no earlier than 24 h after its quote was validated; the
    school's validator cannot make the Région's moves (transmit)."""
    school, prescriber, validator, _ = await world()
    basket = await new_basket(school, prescriber, [("9782091000001", 5)])
    await run_action(BASKETS, "validate", [basket.id], {}, validator)
    with pytest.raises(WriteRefused) as refused:
        await run_action(BASKETS, "transmit", [basket.id], {}, validator)
    assert refused.value.status == 403
    await run_action(BASKETS, "transmit", [basket.id], {}, AGENT)
    await run_action(BASKETS, "quote", [basket.id], {}, AGENT)
    clock[0] = JULY + dt.timedelta(hours=20)
    with pytest.raises(WriteRefused, match="pas avant le 03/07/2024 à 10:00"):
        await run_action(BASKETS, "gar", [basket.id], {}, AGENT)
    clock[0] = JULY + dt.timedelta(hours=25)
    await run_action(BASKETS, "gar", [basket.id], {}, AGENT)
    await run_action(BASKETS, "deliver", [basket.id], {}, AGENT)
    assert (await Basket.get(id=basket.id)).status == "livre"
    assert await remaining(school) == Decimal(720 - 50)  # still committed once delivered
