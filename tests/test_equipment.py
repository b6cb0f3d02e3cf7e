"""Fixed equipment and computer rooms (R-FLEET-15) and the loan conditions count (R-FLEET-2), through the engine."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User
from openpyxl import Workbook

from models.audit import Source
from models.equipment import FixedEquipment, check_equipment, equipment_by_status, needs_by_track
from models.fleet import Device, Status, regional_holder_flags, school_fleet
from sheets.engine.caller import Caller
from sheets.engine.importer import import_xlsx
from sheets.engine.query import BlockRequest, fetch_block
from sheets.engine.writes import RowChange, WriteRefused, apply_changes, create_rows, parse_changes
from sheets.equipment import EQUIPMENT
from sheets.fleet import DEVICES
from tests.factories import make_school
from tests.test_fleet_rules import make_device, make_holder

D = dt.date


def test_r_fleet_15_dates_in_order_and_status_coherent() -> None:
    check_equipment({"status": "besoin", "quantity": 3})
    check_equipment({"status": "commande", "ordered_on": D(2025, 1, 5)})
    check_equipment({"status": "installe", "ordered_on": D(2025, 1, 5), "delivered_on": D(2025, 2, 1),
                     "installed_on": D(2025, 2, 1)})
    check_equipment({"status": "retire", "delivered_on": D(2025, 2, 1)})
    with pytest.raises(ValueError, match=r"Livré le.*obligatoire"):
        check_equipment({"status": "livre", "ordered_on": D(2025, 1, 5)})
    with pytest.raises(ValueError, match="après"):
        check_equipment({"status": "livre", "ordered_on": D(2025, 3, 5), "delivered_on": D(2025, 2, 1)})
    with pytest.raises(ValueError, match="incohérent"):
        check_equipment({"status": "commande", "ordered_on": D(2025, 1, 5), "installed_on": D(2025, 3, 1)})
    with pytest.raises(ValueError, match="au moins 1"):
        check_equipment({"status": "besoin", "quantity": 0})


async def test_r_fleet_15_create_edit_and_count_through_the_engine(db: str) -> None:
    school = await make_school(track_professionnelle=True)
    result = await create_rows(EQUIPMENT, [
        {"school": school.uai, "room": "Salle informatique B", "kind": "poste_fixe", "track": "professionnelle",
         "quantity": 15},
        {"school": school.uai, "room": "Salle 204", "kind": "videoprojecteur", "quantity": 1, "status": "commande",
         "ordered_on": D(2025, 1, 10), "order_ref": "LYS-1"},
    ], Caller("test", "admin", Source.GRID))
    assert result.changed_rows == 2 or await FixedEquipment.all().count() == 2
    with pytest.raises(WriteRefused, match="Livré le"):
        await create_rows(EQUIPMENT, [{"school": school.uai, "room": "CDI", "kind": "imprimante", "quantity": 1,
                                       "status": "livre", "ordered_on": D(2025, 1, 10)}],
                          Caller("test", "admin", Source.GRID))
    row = await FixedEquipment.get(room="Salle 204")
    changes, issues = await parse_changes(EQUIPMENT, [RowChange(row.id, {"status": "livre"})])
    assert not issues
    with pytest.raises(WriteRefused, match="Livré le"):  # « livré » needs its delivery date
        await apply_changes(EQUIPMENT, changes, Caller("test", "agent", Source.GRID))
    changes, issues = await parse_changes(EQUIPMENT, [RowChange(row.id, {"status": "livre",
                                                                         "delivered_on": "2025-02-03"})])
    assert not issues
    await apply_changes(EQUIPMENT, changes, Caller("test", "agent", Source.GRID))
    with pytest.raises(WriteRefused):  # read-only roles do not edit
        await apply_changes(EQUIPMENT, changes, Caller("test", "lecteur", Source.GRID))
    assert await equipment_by_status(school.id) == {"besoin": 15, "livre": 1}
    assert (await needs_by_track()) == {"professionnelle": {"besoin": 15}, "tous": {"livre": 1}}
    block = await fetch_block(EQUIPMENT, BlockRequest(filter_model={
        "school": {"filterType": "text", "type": "equals", "filter": school.uai},
        "status": {"filterType": "text", "type": "equals", "filter": "livre"}}))
    assert block["lastRow"] == 1 and block["rows"][0]["room"] == "Salle 204"


async def test_r_fleet_15_excel_import_creates_rows(db: str, tmp_path: Path) -> None:
    school = await make_school()
    wb = Workbook()
    ws = wb.active
    ws.append(["N°", "UAI", "Salle", "Équipement", "Voie", "Quantité", "Statut", "Commandé le"])
    ws.append([None, school.uai, "Salle 112", "Borne Wi-Fi", "Toutes voies", 2, "Commandé", D(2025, 4, 1)])
    ws.append([None, school.uai, "Atelier", "Serveur", "Toutes voies", 1, "Installé", D(2025, 4, 1)])  # refused
    path = tmp_path / "besoins.xlsx"
    wb.save(path)
    report = await import_xlsx(EQUIPMENT, path, caller=Caller("test", "agent"), dry_run=False)
    assert report.new == 1 and not report.fatal, (report.fatal, report.new)
    assert await FixedEquipment.filter(school_id=school.id, room="Salle 112", status="commande").count() == 1
    assert await FixedEquipment.filter(room="Atelier").count() == 0


async def test_r_fleet_15_demo_seed_is_coherent(db: str) -> None:
    from seed.fleet import seed_equipment

    await make_school(track_generale=True, track_technologique=True)
    assert await seed_equipment(rows=120) == 120
    assert await seed_equipment(rows=120) == 0  # idempotent
    for r in await FixedEquipment.all().values():
        check_equipment(r)


async def test_r_fleet_2_handed_over_without_loan_acceptance_counted_and_reset_clears_it(db: str) -> None:
    school = await make_school()
    holder = await make_holder(school)
    await make_device(school=school, holder=holder, loan_accepted_on=D(2024, 9, 5))
    pending = await make_device(school=school, holder=await make_holder(school))
    await make_device(school=school, status=Status.DELIVERED)  # not handed over: not counted
    assert (await school_fleet(school.id)).loan_not_accepted == 1
    assert (await regional_holder_flags())[school.id]["loan_not_accepted"] == 1
    block = await fetch_block(DEVICES, BlockRequest(filter_model={
        "school": {"filterType": "text", "type": "equals", "filter": school.uai},
        "status": {"filterType": "text", "type": "equals", "filter": "remis"},
        "loan_accepted_on": {"filterType": "date", "type": "blank"}}))  # the link's filter
    assert block["lastRow"] == 1 and block["rows"][0]["serial"] == pending.serial
    accepted = await Device.get(loan_accepted_on=D(2024, 9, 5))
    for target, extra in (("a_restituer", {}), ("restitue", {}), ("reinitialise", {"grade": "correct"})):
        changes, issues = await parse_changes(DEVICES, [RowChange(accepted.id, {"status": target, **extra})])
        assert not issues
        await apply_changes(DEVICES, changes, Caller("test", "unowhy", Source.GRID))
    fresh = await Device.get(id=accepted.id)
    assert fresh.status == Status.RECONDITIONED and fresh.loan_accepted_on is None  # the next holder accepts again


async def test_r_fleet_15_and_r_fleet_2_on_the_pages(logged_in: object, user: User) -> None:
    from pages.sheet_pages import filter_from_query  # after the app registered its pages

    school = await make_school(name="Lycée Bêta")
    await make_device(school=school, holder=await make_holder(school))
    await FixedEquipment.create(school=school, room="Salle 204", kind="poste_fixe", quantity=12)
    await user.open(f"/parc/ecoles/{school.uai}")
    await user.should_see("remis sans acceptation des conditions de prêt")
    await user.should_see("Équipement fixe et salles (12)")
    await user.should_see("Besoin exprimé : 12")
    await user.open("/parc")
    rows = [r for t in user.find(ui.table).elements for r in t.rows if r.get("uai") == school.uai]
    assert rows[0]["loan_not_accepted"] == 1
    await user.should_see("Équipement fixe : besoins par voie (quantités)")
    await user.open(f"/feuilles/equipment?school={school.uai.lower()}&status=besoin&nope=1")
    grids = list(user.find(ui.aggrid).elements)
    assert len(grids) == 1 and "/api/sheets/equipment/rows" in grids[0].options[":datasource"]
    await user.should_see("Équipement fixe et salles")
    assert filter_from_query(EQUIPMENT, {"school": school.uai.lower(), "status": "besoin", "nope": "1"}) == {
        "school": {"filterType": "text", "type": "equals", "filter": school.uai},
        "status": {"filterType": "text", "type": "equals", "filter": "besoin"}}
    await user.open(f"/parc/appareils?uai={school.uai}&statut=remis&pret=non")
    assert list(user.find(ui.aggrid).elements)
