"""Baskets through the paths people take: a school's CRRE-VALIDEUR and CRRE-PRESCRIPTEUR signed in by their e-mail link
on « Mon établissement », the engine's API (refusals 403), the Région's dashboard, exports per publisher, the home
alert. Pages modules are imported inside the tests (the `user` fixture registers them again per test)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest
from nicegui.testing import User

import settings as settings_module
from models.baskets import Basket, GarReassignment
from models.schools import ContactRole
from sheets.baskets import BASKETS
from sheets.engine.actions import run_action
from tests.factories import bearer, login
from tests.test_baskets_rules import AGENT, ecole, new_basket, world
from tests.test_school_page import school_login, wait_for

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(autouse=True)
def campaign_clock(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """The 2024 campaign, orders open (clock[0] = now, a test may move it)."""
    moment = [dt.datetime(2024, 7, 2, 10, tzinfo=PARIS)]
    monkeypatch.setattr(settings_module, "now", lambda: moment[0])
    return moment


async def test_r_basket_3_validator_builds_and_validates_a_basket_on_the_school_page(user: User) -> None:
    """R-BASKET-3 / budget: a CRRE-VALIDEUR signed in by link creates a basket, searches the catalogue, adds lines,
    sees the running total against the remaining amount, is refused beyond it, sets a line aside and validates."""
    school, *_ = await world(students=10)  # 720 €
    await school_login(user, school, [ContactRole.CRRE_VALIDEUR])
    await user.open(f"/etablissement/{school.uai}")
    await user.should_see("Manuels et ressources")
    await user.should_see("reste 720,00 €")
    await user.should_see("affectées sans panier et hors dotation (R-BASKET-12) : QIOZ (Région)")
    user.find(marker="new-basket-manuels").click()
    await wait_for(lambda: Basket.filter(school_id=school.id).exists())
    number = (await Basket.get(school_id=school.id)).number
    await user.should_see(marker=f"search-{number}")
    user.find(marker=f"search-{number}").type("Maths")
    next(iter(user.find(marker=f"add-qty-{number}").elements)).set_value(70)
    user.find(marker="add-9782091000001").click()
    await user.should_see("Article ajouté.")
    await user.should_see("reste après validation : 20,00 €")  # 700 € of maths
    user.find(marker=f"search-{number}").clear().type("Français")
    next(iter(user.find(marker=f"add-qty-{number}").elements)).set_value(2)
    user.find(marker="add-9782091000002").click()
    await wait_for(lambda: _total_is(number, "724.00"))
    await user.should_see("reste après validation : -4,00 €")  # the running total says it before validating
    user.find(marker=f"do-validate-{number}").click()
    await user.should_see("720,00 € restants")
    await user.should_see("9782091000002")
    line = next(e for e in user.find(marker="basket-errors").elements)
    assert line is not None
    from models.baskets import BasketLine

    french = await BasketLine.get(basket__number=number, item__reference="9782091000002")
    next(iter(user.find(marker=f"kept-{french.id}").elements)).set_value(False)
    await wait_for(lambda: _total_is(number, "700.00"))
    user.find(marker=f"do-validate-{number}").click()
    await wait_for(lambda: Basket.exists(number=number, status="valide"))
    await user.open(f"/etablissement/{school.uai}")
    await user.should_see("reste 20,00 €")


async def _rows_are(user: User, titles: list[str]) -> bool:
    table = next(iter(user.find(marker="catalogue").elements))
    return [r["title"] for r in table.rows] == titles


async def _total_is(number: str, total: str) -> bool:
    basket = await Basket.get(number=number)
    return str(basket.total) == total


async def test_r_basket_3_a_prescriber_is_not_offered_validation_and_the_api_refuses_it(
        user: User, http: httpx.AsyncClient) -> None:
    """R-BASKET-3: the prescriber submits but is not offered « Valider »; the API refuses the validation to the
    prescriber's own session (403) and to the Région's agents (403: the school's validator validates)."""
    school, prescriber, _, _ = await world(students=10)
    basket = await new_basket(school, prescriber, [("9782091000001", 5)])
    await school_login(user, school, [ContactRole.CRRE_PRESCRIPTEUR])
    await user.open(f"/etablissement/{school.uai}")
    await user.should_see(marker=f"do-submit-{basket.number}")
    await user.should_not_see(marker=f"do-validate-{basket.number}")
    refused = await user.http_client.post("/api/sheets/baskets/actions/validate", json={"row_ids": [basket.id]})
    assert refused.status_code == 403 and "n'est pas permis" in refused.text
    agent = await http.post("/api/sheets/baskets/actions/validate", headers=await bearer("agent"),
                            json={"row_ids": [basket.id]})
    assert agent.status_code == 403
    assert (await Basket.get(id=basket.id)).status == "brouillon"
    bad = await http.post("/api/sheets/baskets/actions/validate", headers=await bearer("agent"),
                          json={"row_ids": ["abc"]})
    assert bad.status_code == 422
    # R-BASKET-3: a teacher (a contact without CRRE role) browses the whole catalogue and orders nothing.
    await user.http_client.get("/logout")
    await school_login(user, school, [ContactRole.RRUPN])
    await user.open(f"/etablissement/{school.uai}")
    await user.should_see("Catalogue des manuels et ressources")
    user.find(marker="catalogue-search").type("Histoire")
    await wait_for(lambda: _rows_are(user, ["Histoire 2de papier"]))
    await user.should_not_see(marker="new-basket-manuels")
    created = await user.http_client.post("/api/sheets/baskets/create", json={"rows": [{"school": school.uai}]})
    assert created.status_code == 403


async def test_r_basket_4_exports_per_publisher_dashboard_and_home_alert(user: User, http: httpx.AsyncClient) -> None:
    """R-BASKET-4: teacher-licence requests exported per publisher (reference, teacher licences, student licences);
    the orders per publisher by the engine's export; the dashboard by académie; the home alert of spent envelopes."""
    school, prescriber, validator, _ = await world(students=1)  # 72 €
    basket = await new_basket(school, prescriber, [])
    from sheets.baskets import add_line

    await add_line(basket.number, "9782091000001", 7, prescriber, teacher_licences=2)  # Nathan, 70 €
    await run_action(BASKETS, "validate", [basket.id], {}, validator)
    answer = await http.get("/api/sheets/basket_lines/export.xlsx", headers=await bearer("lecteur"),
                            params={"filter": "publisher=Nathan"})
    assert answer.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    sheet = book.worksheets[0]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    values = [c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))]
    row = dict(zip(header, values, strict=False))
    assert row["Référence"] == "9782091000001" and row["Licences enseignant"] == 2
    assert row["Licences élèves / exemplaires"] == 7
    statement = await http.get("/api/sheets/allocations/export.xlsx", headers=await bearer("agent"),
                               params={"filter": f"school={school.uai}"})  # the school's budget statement
    book = openpyxl.load_workbook(io.BytesIO(statement.content))
    lines = list(book.worksheets[0].iter_rows(min_row=2, values_only=True))
    assert len(lines) == 1 and school.uai in lines[0] and 70 in lines[0] and 2 in lines[0]  # committed, remaining
    await login(user, "agent")
    await user.open("/manuels")
    await user.should_see(marker="import-enrolments")
    await user.open("/")
    await user.should_see("Enveloppes de manuels presque consommées")
    await user.open("/manuels")
    await user.should_see("Consommation par académie et enveloppe")
    table = next(iter(user.find(marker="consumption").elements))
    assert any(r["academie"] == "Paris" and r["committed"] == "70,00 €" for r in table.rows)
    next(iter(user.find(marker="publisher").elements)).set_value("Nathan")
    user.find(marker="export-teacher-licences").click()
    download = await user.download.next(timeout=5)
    book = openpyxl.load_workbook(io.BytesIO(download.content))
    lines = list(book.worksheets[0].iter_rows(min_row=2, values_only=True))
    assert len(lines) == 1 and "9782091000001" in lines[0] and 2 in lines[0]  # reference, teacher licences
    assert AGENT.role == "agent" and (await ecole(await _contact(school))).role == "ecole"
    # R-BASKET-1 / R-SCH-4: the national enrolment file through the dashboard's upload, preview, then applied.
    from nicegui import ui
    from nicegui.elements.upload_files import SmallFileUpload

    from models.schools import SchoolType
    from tests.factories import make_school

    lgt = await make_school(type=SchoolType.LGT, track_technologique=True)
    lp = await make_school(type=SchoolType.LP, track_generale=False, track_professionnelle=True)
    wide = ("rentree_scolaire,numero_lycee,2ndes_gt,1eres_g,terminales_g,1eres_sti2d,1eres_stmg,terminales_sti2d,"
            f"terminales_stmg\n2021,{lgt.uai},100,50,0,10,5,0,0\n2021,{lp.uai},30,0,0,0,0,0,0\n").encode()
    user.find(marker="import-enrolments").click()
    await user.should_see("depuis le fichier national des lycées")
    upload = next(iter(user.find(ui.upload).elements))
    await upload.handle_uploads([SmallFileUpload("effectifs.csv", "text/csv", wide)])
    await user.should_see("Lignes refusées (1)")
    await user.should_see(f"ligne 3 · {lp.uai}")
    await user.should_see("n'enseigne pas la voie Générale (R-SCH-4)")
    user.find(marker="apply").click()
    from models.baskets import Allocation

    await wait_for(lambda: Allocation.exists(school_id=lgt.id, year=2024))
    allocation = await Allocation.get(school_id=lgt.id, year=2024, envelope="manuels")
    assert allocation.computed == 100 * 72 + 50 * 64 + 15 * (40 + 42)


async def _contact(school: object) -> object:
    from models.schools import Contact

    return await Contact.filter(school_id=school.id).first()  # type: ignore[attr-defined]


async def test_r_basket_9_10_gar_reassignment_stops_the_reminder_and_usage_beside_spending(
        user: User, campaign_clock: list[dt.datetime], tmp_path: Path) -> None:
    """R-BASKET-9: the 15 August GAR reset reminder goes to every digital school (cc RESP-AFFECT-GAR) until its
    RESP-AFFECT-GAR says, on « Mon établissement », that it reassigned; the team's page shows who did since.
    R-BASKET-10: usage statistics imported through the engine's importer, shown beside spending."""
    from models.baskets import gar_pending
    from models.reminders import rules
    from seed.calendar import seed_calendar
    from sheets.baskets import import_usage

    await seed_calendar()
    school, prescriber, validator, _ = await world(students=10)
    reset = dt.date(2024, 8, 15)
    rule = next(r for r in rules() if r.code == "R-BASKET-9-gar")
    pending = await rule.list_pending(dt.date(2024, 8, 8), dt.date(2024, 9, 30))
    assert any(i.school.id == school.id and i.due == reset and i.cc_roles for i in pending)
    basket = await new_basket(school, prescriber, [("RES-0001", 40)])
    await run_action(BASKETS, "validate", [basket.id], {}, validator)
    usage = tmp_path / "usage.csv"
    usage.write_text(f"UAI;année;référence;consultations\n{school.uai};2024;RES-0001;1250\n", encoding="utf-8")
    report = await import_usage(usage, AGENT)
    assert report.created_rows == 1, report.issues
    campaign_clock[0] = dt.datetime(2024, 8, 20, 9, tzinfo=PARIS)
    await school_login(user, school, [ContactRole.RESP_AFFECT_GAR])
    await user.open(f"/etablissement/{school.uai}")
    await user.should_see("réaffectation à faire.")
    table = next(iter(user.find(marker="usage").elements))
    assert table.rows[0]["consultations"] == 1250 and table.rows[0]["spent"] == "120,00 €"
    user.find(marker="gar-done").click()
    await wait_for(lambda: GarReassignment.exists(school_id=school.id))
    pending = await gar_pending(dt.date(2024, 8, 20), dt.date(2024, 9, 30))
    assert not any(i.school.id == school.id for i in pending)
    await user.http_client.get("/logout")
    await login(user, "lecteur")
    await user.open("/manuels/gar")
    await user.should_see("1 établissement(s) ont réaffecté depuis")
    rows = next(iter(user.find(marker="gar-reassigned").elements)).rows
    assert rows[0]["uai"] == school.uai and rows[0]["done_on"] == "20/08/2024"
    await user.open("/manuels")
    await user.should_see("Consommation par académie et enveloppe")
    await user.should_not_see(marker="import-enrolments")  # a reader imports nothing
