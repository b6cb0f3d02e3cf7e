"""Fleet pages through NiceGUI's simulated user: regional table, a school's fleet, grids, life events."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User

from models.fleet import Device, Status
from sheets.engine.actions import run_action
from sheets.engine.caller import Caller
from sheets.engine.writes import WriteRefused
from sheets.fleet import DEVICES
from tests.factories import make_school
from tests.test_fleet_rules import make_device, make_holder


async def test_regional_table_and_school_fleet_page(logged_in: object, user: User) -> None:
    school = await make_school(name="Lycée Alpha", wifi_mdm_configured=False)
    holder = await make_holder(school, last_name="Durand")
    await make_holder(school, last_name="Sanspc")
    await make_device(school=school, holder=holder)
    await make_device(school=school, status=Status.DELIVERED, serial="UNWCOLLECT1")
    await user.open("/parc")
    await user.should_see("Parc : tableau régional")
    rows = [r for r in next(iter(user.find(ui.table).elements)).rows if r["uai"] == school.uai]
    assert rows[0]["remis"] == 1 and rows[0]["to_collect"] == 1 and rows[0]["without_device"] == 1
    assert rows[0]["wifi"] == "À configurer"
    await user.open(f"/parc/ecoles/{school.uai}")
    await user.should_see("Porteurs sans appareil (1)")
    await user.should_see("à collecter par Unowhy (1)")
    await user.should_see("Wi-Fi non configuré dans le MDM")
    await user.should_see("Liste de distribution La Poste (.xlsx)")
    await user.open(f"/ecoles/{school.uai}")
    await user.should_see("Parc de PC et d'écrans de l'établissement →")


async def test_devices_page_grid_filtered_by_school(logged_in: object, user: User) -> None:
    school = await make_school()
    await user.open(f"/parc/appareils?uai={school.uai}&statut=remis")
    grids = list(user.find(ui.aggrid).elements)
    assert len(grids) == 1 and "/api/sheets/devices/rows" in grids[0].options[":datasource"]
    await user.should_see("Actions")  # the life events an agent may make, as the grid's row actions
    await user.should_see("Vol ou détournement")
    await user.should_not_see("Réinitialiser et noter")  # Unowhy and La Poste only (R-FLEET-5)
    for path in ("/parc/porteurs", "/parc/reassorts"):
        await user.open(path)
        assert list(user.find(ui.aggrid).elements)


async def test_life_events_are_row_actions_of_the_engine(logged_in: object, user: User) -> None:
    from pages.fleet import regional_rows  # after the app registered its pages

    school = await make_school()
    holder = await make_holder(school)
    device = await make_device(school=school, holder=holder)
    with pytest.raises(WriteRefused, match="plainte"):
        await run_action(DEVICES, "theft", [device.id], {}, Caller("démo", "agent"))
    await run_action(DEVICES, "theft", [device.id], {"evidence_ref": "PV-1"}, Caller("démo", "agent"))
    spare = await make_device(status=Status.STOCK, grade="degrade")
    good = await make_device(status=Status.STOCK, grade="comme_neuf")
    with pytest.raises(WriteRefused, match="R-FLEET-10"):
        await run_action(DEVICES, "replace", [device.id], {"replacement": spare.serial}, Caller("démo", "laposte"))
    with pytest.raises(WriteRefused, match="pas permis") as refused:  # extra stock is for La Poste and Unowhy
        await run_action(DEVICES, "replace", [device.id], {"replacement": good.serial}, Caller("démo", "agent"))
    assert refused.value.status == 403
    await run_action(DEVICES, "replace", [device.id], {"replacement": good.serial}, Caller("démo", "laposte"))
    fresh = await Device.get(id=good.id)
    assert fresh.holder_id == holder.id and fresh.status == Status.DISTRIBUTED and fresh.school_id == school.id
    assert (await regional_rows())[0]["vole"] == 1
