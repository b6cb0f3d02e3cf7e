"""The fleet's life cycle (R-FLEET-1 … R-FLEET-14, R-SLOT-7): pure rules, then every path through the engine."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from models.audit import AuditEntry, Source
from models.fleet import (
    BY_MOVE,
    OPERATOR_ROLES,
    RESET_ROLES,
    TRANSITIONS,
    Device,
    DeviceKind,
    DeviceState,
    EndChoice,
    Holder,
    HolderKind,
    RestockRequest,
    RestockStatus,
    Shipping,
    Situation,
    SlotCase,
    Status,
    TransitionRefused,
    allowed_targets,
    check_replacement,
    mdm_unenroll_deadline,
    plan_change,
    plan_screen_waves,
    regional_counts,
    regional_holder_flags,
    school_fleet,
    shipping_mode,
    slot_case,
)
from sheets.engine.writes import RowChange, WriteRefused, apply_changes, bulk_set, parse_changes
from sheets.fleet import DEVICES, HOLDERS, RESTOCKS
from tests.factories import make_school

DAY = dt.date(2024, 9, 10)
_n = itertools.count(1)
ALL_ROLES = [None, "admin", "agent", "lecteur", "laposte", "unowhy", "maintenance"]


def state(status: Status, **kw: object) -> DeviceState:
    """A device snapshot with a holder and a school unless told otherwise."""
    values: dict[str, object] = {"holder_id": 1, "school_id": 1, "grade": "correct", "holder_kind": "eleve",
                                 "holder_school_id": 1}
    values.update(kw)
    return DeviceState(status=status, **values)  # type: ignore[arg-type]


# --- Pure rules --------------------------------------------------------------------------------------


def test_transition_table_is_consistent() -> None:
    assert len(BY_MOVE) == sum(len(t.sources) for t in TRANSITIONS)
    assert all(t.roles for t in TRANSITIONS)
    assert "lecteur" not in OPERATOR_ROLES


def test_r_fleet_1_life_cycle_stock_to_distributed() -> None:
    s = state(Status.STOCK, holder_id=None, school_id=None)
    out = plan_change(s, {"status": "affecte", "holder_id": 7}, "unowhy", DAY, ("eleve", 3))
    assert out["status"] == Status.ASSIGNED
    out = plan_change(state(Status.ASSIGNED, school_id=None), {"status": "livre", "school_id": 3}, None, DAY)
    assert out["delivered_on"] == DAY
    out = plan_change(state(Status.DELIVERED), {"status": "remis"}, "agent", DAY)
    assert out["distributed_on"] == DAY and out["mdm_enrolled"] is True


def test_forbidden_move_says_what_is_possible() -> None:
    with pytest.raises(TransitionRefused, match=r"impossible.*possible : "):
        plan_change(state(Status.STOCK), {"status": "conserve"}, None, DAY)
    with pytest.raises(TransitionRefused, match="Restitué"):
        plan_change(state(Status.TO_RETURN), {"status": "stock"}, None, DAY)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_r_fleet_5_only_unowhy_and_laposte_reset_or_reassign(role: str | None) -> None:
    allowed = role in ("unowhy", "laposte")
    cases = [
        (state(Status.RETURNED), {"status": "reinitialise"}, None),                     # reset
        (state(Status.DISTRIBUTED), {"holder_id": 2}, ("eleve", 1)),                    # reassign
        (state(Status.STOCK, holder_id=None), {"status": "affecte", "holder_id": 2}, ("eleve", 1)),  # assign
        (state(Status.RECONDITIONED, holder_id=None), {"status": "stock"}, None),       # back to stock
    ]
    for snapshot, values, holder in cases:
        if allowed:
            plan_change(snapshot, values, role, DAY, holder)
        else:
            with pytest.raises(TransitionRefused, match="Unowhy et La Poste"):
                plan_change(snapshot, values, role, DAY, holder)


def test_r_fleet_5_reset_clears_holder_and_needs_a_grade() -> None:
    out = plan_change(state(Status.RETURNED), {"status": "reinitialise"}, "unowhy", DAY)
    assert out["holder_id"] is None and out["mdm_enrolled"] is False and out["loan_accepted_on"] is None
    with pytest.raises(TransitionRefused, match="état"):
        plan_change(state(Status.RETURNED, grade=None), {"status": "reinitialise"}, "unowhy", DAY)
    out = plan_change(state(Status.RECONDITIONED, holder_id=None), {"status": "stock"}, "laposte", DAY)
    assert out["school_id"] is None


def test_r_fleet_3_device_follows_holder_within_idf() -> None:
    # The holder moved to school 9: the device may follow, for any operator.
    out = plan_change(state(Status.DISTRIBUTED, holder_school_id=9), {"school_id": 9}, None, DAY)
    assert out == {"school_id": 9}
    with pytest.raises(TransitionRefused, match="suit son porteur"):
        plan_change(state(Status.DISTRIBUTED, holder_school_id=1), {"school_id": 9}, "agent", DAY)


def test_r_fleet_7_teacher_leaving_returns_and_cannot_keep() -> None:
    teacher = state(Status.DISTRIBUTED, holder_kind="enseignant", kind=DeviceKind.TEACHER_LAPTOP)
    assert plan_change(teacher, {"status": "a_restituer"}, None, DAY)["status"] == Status.TO_RETURN
    with pytest.raises(TransitionRefused, match="Seul un élève"):
        plan_change(teacher, {"status": "conserve"}, None, DAY)


def test_r_fleet_8_keep_sets_mdm_deadline_end_of_september() -> None:
    out = plan_change(state(Status.DISTRIBUTED), {"status": "conserve"}, None, dt.date(2025, 6, 20))
    assert out["mdm_unenroll_by"] == dt.date(2025, 9, 30)
    assert mdm_unenroll_deadline(dt.date(2025, 10, 2)) == dt.date(2026, 9, 30)


def test_r_fleet_9_student_leaving_returns_then_collected() -> None:
    assert plan_change(state(Status.DISTRIBUTED), {"status": "a_restituer"}, None, DAY)["status"] == "a_restituer"
    assert plan_change(state(Status.TO_RETURN), {"status": "restitue"}, None, DAY)["status"] == "restitue"


def test_r_fleet_11_theft_loss_breakage_need_evidence() -> None:
    for target, word in (("vole", "plainte"), ("perdu", "main courante"), ("sav", "S.A.V.")):
        with pytest.raises(TransitionRefused, match=word):
            plan_change(state(Status.DISTRIBUTED), {"status": target}, None, DAY)
        out = plan_change(state(Status.DISTRIBUTED), {"status": target, "evidence_ref": "PV-1"}, None, DAY)
        assert out["status"] == target


def test_r_fleet_10_replacement_grade_equivalent_or_better() -> None:
    check_replacement("correct", "correct")
    check_replacement("degrade", "comme_neuf")
    with pytest.raises(TransitionRefused, match="R-FLEET-10"):
        check_replacement("comme_neuf", "degrade")


def test_r_fleet_13_office_on_laptops_distributed_since_september_2021() -> None:
    assert plan_change(state(Status.DELIVERED), {"status": "remis"}, None, DAY)["office_installed"] is True
    old = plan_change(state(Status.DELIVERED), {"status": "remis"}, None, dt.date(2021, 3, 1))
    assert "office_installed" not in old
    screen = plan_change(state(Status.DELIVERED, kind=DeviceKind.SCREEN), {"status": "remis"}, None, DAY)
    assert "office_installed" not in screen


def test_r_fleet_12_shipping_mode_exactly_five_is_parcel() -> None:
    assert shipping_mode(6) == Shipping.CARRIER
    assert shipping_mode(5) == Shipping.PARCEL
    assert shipping_mode(1) == Shipping.PARCEL
    with pytest.raises(ValueError):
        shipping_mode(0)


def test_r_fleet_14_screens_by_waves_of_ten_oldest_projectors_first() -> None:
    projectors = [(f"P{i:02d}", 2010 + i % 5) for i in range(23)]
    waves = dict(plan_screen_waves(projectors))
    assert max(waves.values()) == 3
    assert sum(1 for w in waves.values() if w == 1) == 10
    assert all(waves[p] == 1 for p, year in projectors if year == 2010)


def test_r_slot_7_special_cases() -> None:
    assert slot_case(listed=True, present=False, has_device=True) == SlotCase.KEEP_AT_SCHOOL
    assert slot_case(listed=True, present=True, has_device=False) == SlotCase.FROM_EXTRA_STOCK
    assert slot_case(listed=False, present=True, has_device=True) == SlotCase.TAKE_BACK
    assert slot_case(listed=True, present=True, has_device=True) == SlotCase.HAND_OVER
    # Extra stock: only La Poste's agents (and Unowhy) hand a stock PC over.
    plan_change(state(Status.STOCK), {"status": "remis"}, "laposte", DAY)
    with pytest.raises(TransitionRefused):
        plan_change(state(Status.STOCK), {"status": "remis"}, None, DAY)


def test_allowed_targets_by_role() -> None:
    assert {t.action for t in allowed_targets(Status.RETURNED, None)} == set()
    assert {t.action for t in allowed_targets(Status.RETURNED, "unowhy")} == {"reset"}
    assert "lecteur" not in RESET_ROLES


# --- Through the engine (both databases) ---------------------------------------------------------


async def make_holder(school: object, **kw: object) -> Holder:
    """A holder of a school."""
    n = next(_n)
    values: dict[str, object] = {"ident": f"INE{n:09d}", "last_name": f"Nom{n}", "first_name": "Léa",
                                 "kind": HolderKind.STUDENT, "level": "1re", "class_name": "1re A"}
    values.update(kw)
    return await Holder.create(school=school, **values)


async def make_device(**kw: object) -> Device:
    """A device, distributed unless told otherwise."""
    n = next(_n)
    values: dict[str, object] = {"serial": f"UNW{n:08d}", "status": Status.DISTRIBUTED, "grade": "correct"}
    values.update(kw)
    return await Device.create(**values)


async def change(device: Device, role: str | None = "agent", **raw: object) -> None:
    """A grid edit of a device (parsed like the grid's values)."""
    changes, issues = await parse_changes(DEVICES, [RowChange(device.id, raw)])
    assert not issues, issues
    await apply_changes(DEVICES, changes, actor="test", source=Source.GRID, role=role)


async def test_r_fleet_5_grid_edit_of_holder_refused_without_role(db: str) -> None:
    school = await make_school()
    a, b = await make_holder(school), await make_holder(school)
    device = await make_device(school=school, holder=a)
    for role, reason in ((None, "pas le droit"), ("lecteur", "pas le droit"), ("agent", "R-FLEET-5"),
                         ("admin", "R-FLEET-5")):
        with pytest.raises(WriteRefused, match=reason):
            await change(device, role, holder=b.ident)
    await change(device, "laposte", holder=b.ident)
    assert (await Device.get(id=device.id)).holder_id == b.id
    entry = await AuditEntry.filter(sheet="devices", row_id=device.id, column="holder").first()
    assert entry is not None and entry.new_value == f'"{b.ident}"'


async def test_status_edit_goes_through_the_life_cycle(db: str) -> None:
    school = await make_school()
    holder = await make_holder(school)
    device = await make_device(school=school, holder=holder, status=Status.DELIVERED)
    with pytest.raises(WriteRefused, match="impossible"):
        await change(device, "agent", status="Stock régional")
    await change(device, "agent", status="Remis")
    fresh = await Device.get(id=device.id)
    assert fresh.status == Status.DISTRIBUTED and fresh.distributed_on is not None and fresh.office_installed
    with pytest.raises(WriteRefused, match="plainte"):
        await change(fresh, "agent", status="vole")
    await change(fresh, "agent", status="vole", evidence_ref="PV-2024-1")
    assert (await Device.get(id=device.id)).status == Status.STOLEN


async def test_bulk_state_change_fast_path_all_or_nothing_with_audit(db: str) -> None:
    school = await make_school()
    devices = [await make_device(school=school, holder=await make_holder(school)) for _ in range(5)]
    bad = await make_device(school=school, status=Status.STOCK)
    ids = [d.id for d in devices]
    with pytest.raises(WriteRefused, match="impossible"):
        await bulk_set(DEVICES, [*ids, bad.id], "status", "a_restituer", actor="test", role="agent")
    assert await Device.filter(status=Status.TO_RETURN).count() == 0
    result = await bulk_set(DEVICES, ids, "status", "a_restituer", actor="test", role="agent")
    assert result.changed_rows == 5
    assert await Device.filter(status=Status.TO_RETURN, version=2).count() == 5
    assert await AuditEntry.filter(sheet="devices", column="status", batch=result.batch).count() == 5
    await bulk_set(DEVICES, ids, "status", "restitue", actor="test", role="agent")
    with pytest.raises(WriteRefused, match="R-FLEET-5"):
        await bulk_set(DEVICES, ids, "status", "reinitialise", actor="test", role="agent")
    done = await bulk_set(DEVICES, ids, "status", "reinitialise", actor="test", role="unowhy")
    assert done.changed_rows == 5 and await Device.filter(id__in=ids, holder_id=None).count() == 5


async def test_r_fleet_3_holder_changing_school_takes_device_along(db: str) -> None:
    a, b = await make_school(), await make_school()
    holder = await make_holder(a)
    device = await make_device(school=a, holder=holder)
    changes, _ = await parse_changes(HOLDERS, [RowChange(holder.id, {"school": b.uai})])
    await apply_changes(HOLDERS, changes, actor="test", source=Source.IMPORT, role="agent")
    assert (await Device.get(id=device.id)).school_id == b.id
    assert await AuditEntry.filter(sheet="devices", row_id=device.id, column="school").exists()


async def test_r_fleet_9_and_r_fleet_8_holder_leaving_or_finishing(db: str) -> None:
    school = await make_school()
    leaver, finisher = await make_holder(school), await make_holder(school, level="Tle", class_name="Tle B")
    d1 = await make_device(school=school, holder=leaver)
    d2 = await make_device(school=school, holder=finisher)
    changes, _ = await parse_changes(HOLDERS, [RowChange(leaver.id, {"situation": "parti_hors_idf"}),
                                               RowChange(finisher.id, {"situation": "fin_scolarite",
                                                                       "end_choice": "garder"})])
    await apply_changes(HOLDERS, changes, actor="test", source=Source.GRID, role="agent")
    assert (await Device.get(id=d1.id)).status == Status.TO_RETURN
    kept = await Device.get(id=d2.id)
    assert kept.status == Status.KEPT and kept.mdm_unenroll_by is not None
    with pytest.raises(WriteRefused, match="Terminale"):
        changes, _ = await parse_changes(HOLDERS, [RowChange(leaver.id, {"end_choice": "garder"})])
        await apply_changes(HOLDERS, changes, actor="test", source=Source.GRID, role="agent")


async def test_r_fleet_12_restock_steps(db: str) -> None:
    school = await make_school()
    for _ in range(3):
        await make_device(status=Status.STOCK)
    request = await RestockRequest.create(school=school, quantity=2)
    assert request.shipping == Shipping.PARCEL

    async def step(target: str, role: str | None = "agent", **extra: object) -> None:
        changes, issues = await parse_changes(RESTOCKS, [RowChange(request.id, {"status": target, **extra})])
        assert not issues
        await apply_changes(RESTOCKS, changes, actor="test", source=Source.GRID, role=role)

    with pytest.raises(WriteRefused, match="étape suivante"):
        await step("recu")
    await step("expedie")
    shipped = await Device.filter(restock_id=request.id)
    assert len(shipped) == 2 and all(d.status == Status.DELIVERED and d.school_id == school.id for d in shipped)
    await step("recu")
    with pytest.raises(WriteRefused, match="signé"):
        await step("attestation_signee")
    await step("attestation_signee", signed_by="C. Martin")
    with pytest.raises(WriteRefused, match="pas encore de porteur"):
        await step("affecte")
    for d in shipped:
        await change(d, "unowhy", holder=(await make_holder(school)).ident)
    await step("affecte")
    assert (await RestockRequest.get(id=request.id)).status == RestockStatus.ASSIGNED


async def test_r_fleet_4_views_per_school_and_regional(db: str) -> None:
    school = await make_school(wifi_mdm_configured=False)
    holder = await make_holder(school)
    await make_holder(school)  # without device
    await make_holder(school, level="Tle")  # Tle without decision, without device
    await make_holder(school, level="Tle", end_choice=EndChoice.KEEP)
    await make_device(school=school, holder=holder)
    await make_device(school=school, status=Status.DELIVERED)  # no holder: to be collected (R-FLEET-4)
    fleet = await school_fleet(school.id)
    assert fleet.by_status == {"remis": 1, "livre": 1}
    assert fleet.holders_without_device_count == 3
    assert fleet.to_collect_count == 1
    assert fleet.tle_undecided_count == 1
    counts = await regional_counts()
    assert counts[school.id] == {"remis": 1, "livre": 1}
    flags = await regional_holder_flags()
    assert flags[school.id] == {"without_device": 3, "tle_undecided": 1, "to_collect": 1, "loan_not_accepted": 1}
    assert Situation.IN_SCHOOL == "scolarise"
