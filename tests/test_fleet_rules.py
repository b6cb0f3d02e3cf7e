"""The fleet's life cycle (R-FLEET-1 … R-FLEET-14, R-SLOT-7), through the engine: every move as a caller makes it."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from models.audit import AuditEntry, Source
from models.fleet import (
    OPERATOR_ROLES,
    RESET_ROLES,
    TRANSITIONS,
    Device,
    DeviceKind,
    EndChoice,
    Holder,
    HolderKind,
    RestockRequest,
    RestockStatus,
    Shipping,
    Situation,
    SlotCase,
    Status,
    check_replacement,
    mdm_unenroll_deadline,
    plan_screen_waves,
    regional_counts,
    regional_holder_flags,
    school_fleet,
    shipping_mode,
    slot_case,
)
from sheets.engine.caller import Caller
from sheets.engine.writes import RowChange, WriteRefused, apply_changes, bulk_set, parse_changes
from sheets.fleet import DEVICE_LIFECYCLE, DEVICES, HOLDERS, RESTOCKS
from tests.factories import make_school, written_around_the_engine

DAY = dt.date(2024, 9, 10)
_n = itertools.count(1)
ALL_ROLES = ["admin", "agent", "lecteur", "laposte", "unowhy", "maintenance"]


async def fleet(status: Status = Status.DISTRIBUTED, *, holder: bool = True,
                kind: DeviceKind = DeviceKind.STUDENT_LAPTOP, holder_kind: HolderKind = HolderKind.STUDENT,
                **device: object) -> Device:
    """A device of a fresh school, with a holder of that school unless told otherwise."""
    school = await make_school()
    owner = await make_holder(school, kind=holder_kind) if holder else None
    values: dict[str, object] = {"school": school, "holder": owner, "grade": "correct"}
    values.update(device)
    return await make_device(status=status, kind=kind, **values)


async def fresh(device: Device) -> Device:
    """The device as the database has it now."""
    return await Device.get(id=device.id)


# --- The life cycle as data ----------------------------------------------------------------------


def test_transition_table_is_consistent() -> None:
    assert len(DEVICE_LIFECYCLE.transitions) == len(TRANSITIONS)
    assert all(t.roles for t in TRANSITIONS)
    assert "lecteur" not in OPERATOR_ROLES and "lecteur" not in RESET_ROLES


async def test_r_fleet_1_life_cycle_stock_to_distributed(sqlite_db: str) -> None:
    school = await make_school()
    holder = await make_holder(school)
    device = await make_device(status=Status.STOCK)
    await change(device, "unowhy", holder=holder.ident)  # a holder given to a stock device assigns it
    assert (await fresh(device)).status == Status.ASSIGNED
    await change(await fresh(device), "agent", status="livre", school=school.uai)
    assert (await fresh(device)).delivered_on is not None
    await change(await fresh(device), "agent", status="remis")
    done = await fresh(device)
    assert done.distributed_on is not None and done.mdm_enrolled is True


async def test_forbidden_move_says_what_is_possible(sqlite_db: str) -> None:
    device = await fleet(Status.STOCK, holder=False)
    with pytest.raises(WriteRefused, match=r"impossible.*possible : "):
        await change(device, "agent", status="conserve")
    back = await fleet(Status.TO_RETURN)
    with pytest.raises(WriteRefused, match="Restitué"):
        await change(back, "agent", status="stock")


@pytest.mark.parametrize("role", ALL_ROLES)
async def test_r_fleet_5_only_unowhy_and_laposte_reset_or_reassign(sqlite_db: str, role: str) -> None:
    allowed = role in ("unowhy", "laposte")
    other = await make_holder(await make_school())
    cases = [
        (await fleet(Status.RETURNED), {"status": "reinitialise"}),                   # reset
        (await fleet(Status.DISTRIBUTED), {"holder": other.ident}),                   # reassign
        (await fleet(Status.STOCK, holder=False), {"status": "affecte", "holder": other.ident}),  # assign
        (await fleet(Status.RECONDITIONED, holder=False), {"status": "stock"}),       # back to stock
    ]
    for device, values in cases:
        if allowed:
            await change(device, role, **values)
        else:
            with pytest.raises(WriteRefused, match=r"Unowhy|La Poste|pas le droit") as refused:
                await change(device, role, **values)
            assert refused.value.status == 403


async def test_r_fleet_5_reset_clears_holder_and_needs_a_grade(sqlite_db: str) -> None:
    device = await fleet(Status.RETURNED, loan_accepted_on=DAY, mdm_enrolled=True)
    await change(device, "unowhy", status="reinitialise")
    done = await fresh(device)
    assert done.holder_id is None and done.mdm_enrolled is False and done.loan_accepted_on is None
    ungraded = await fleet(Status.RETURNED, grade=None)
    with pytest.raises(WriteRefused, match="état"):
        await change(ungraded, "unowhy", status="reinitialise")
    await change(done, "laposte", status="stock")
    assert (await fresh(device)).school_id is None


async def test_r_fleet_3_device_follows_holder_within_idf(sqlite_db: str) -> None:
    device = await fleet(Status.DISTRIBUTED)
    elsewhere = await make_school()
    with pytest.raises(WriteRefused, match="suit son porteur"):
        await change(device, "agent", school=elsewhere.uai)
    holder = await Holder.get(id=device.holder_id)
    holder.school = elsewhere  # the holder moved (written elsewhere): the device may now follow, for any operator
    await holder.save()
    await change(device, "agent", school=elsewhere.uai)
    assert (await fresh(device)).school_id == elsewhere.id


async def test_r_fleet_7_teacher_leaving_returns_and_cannot_keep(sqlite_db: str) -> None:
    teacher = await fleet(Status.DISTRIBUTED, kind=DeviceKind.TEACHER_LAPTOP, holder_kind=HolderKind.TEACHER)
    with pytest.raises(WriteRefused, match="Seul un élève"):
        await change(teacher, "agent", status="conserve")
    await change(teacher, "agent", status="a_restituer")
    assert (await fresh(teacher)).status == Status.TO_RETURN


async def test_r_fleet_8_keep_sets_mdm_deadline_end_of_september(sqlite_db: str) -> None:
    device = await fleet(Status.DISTRIBUTED)
    await change(device, "agent", status="conserve")
    kept = await fresh(device)
    assert kept.mdm_unenroll_by == mdm_unenroll_deadline(dt.date.today())
    assert mdm_unenroll_deadline(dt.date(2025, 6, 20)) == dt.date(2025, 9, 30)
    assert mdm_unenroll_deadline(dt.date(2025, 10, 2)) == dt.date(2026, 9, 30)


async def test_r_fleet_9_student_leaving_returns_then_collected(sqlite_db: str) -> None:
    device = await fleet(Status.DISTRIBUTED)
    await change(device, "agent", status="a_restituer")
    await change(await fresh(device), "agent", status="restitue")
    assert (await fresh(device)).status == Status.RETURNED


async def test_r_fleet_11_theft_loss_breakage_need_evidence(sqlite_db: str) -> None:
    for target, word in (("vole", "plainte"), ("perdu", "main courante"), ("sav", "S.A.V.")):
        device = await fleet(Status.DISTRIBUTED)
        with pytest.raises(WriteRefused, match=word):
            await change(device, "agent", status=target)
        await change(device, "agent", status=target, evidence_ref="PV-1")
        assert (await fresh(device)).status == target


def test_r_fleet_10_replacement_grade_equivalent_or_better() -> None:
    check_replacement("correct", "correct")
    check_replacement("degrade", "comme_neuf")
    with pytest.raises(ValueError, match="R-FLEET-10"):
        check_replacement("comme_neuf", "degrade")


async def test_r_fleet_13_office_on_laptops_distributed_since_september_2021(sqlite_db: str) -> None:
    laptop = await fleet(Status.DELIVERED)
    await change(laptop, "agent", status="remis")
    assert (await fresh(laptop)).office_installed is True
    screen = await fleet(Status.DELIVERED, kind=DeviceKind.SCREEN)
    await change(screen, "agent", status="remis")
    assert (await fresh(screen)).office_installed is False
    from models.fleet import move_effects  # the date rule itself: before September 2021, no Office

    assert "office_installed" not in move_effects("remis", "pc_eleve", dt.date(2021, 3, 1))


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


async def test_r_slot_7_special_cases(sqlite_db: str) -> None:
    assert slot_case(listed=True, present=False, has_device=True) == SlotCase.KEEP_AT_SCHOOL
    assert slot_case(listed=True, present=True, has_device=False) == SlotCase.FROM_EXTRA_STOCK
    assert slot_case(listed=False, present=True, has_device=True) == SlotCase.TAKE_BACK
    assert slot_case(listed=True, present=True, has_device=True) == SlotCase.HAND_OVER
    # Extra stock: only La Poste's agents (and Unowhy) hand a stock PC over.
    school = await make_school()
    student = await make_holder(school)
    spare = await make_device(status=Status.STOCK)
    with pytest.raises(WriteRefused, match=r"Unowhy|La Poste"):
        await change(spare, "agent", status="remis", holder=student.ident, school=school.uai)
    await change(spare, "laposte", status="remis", holder=student.ident, school=school.uai)
    assert (await fresh(spare)).status == Status.DISTRIBUTED


def test_moves_offered_by_role() -> None:
    """The grid offers only the moves a role may make: nothing from « Restitué » but the reset, for Unowhy."""
    assert DEVICE_LIFECYCLE.allowed_map(Caller("x", "lecteur"))["restitue"] == []
    assert DEVICE_LIFECYCLE.allowed_map(Caller("x", "unowhy"))["restitue"] == ["reinitialise"]
    assert "stock" not in DEVICE_LIFECYCLE.allowed_map(Caller("x", "laposte"))["remis"]


# --- Through the engine (both databases) ---------------------------------------------------------


async def make_holder(school: object, **kw: object) -> Holder:
    """A holder of a school."""
    n = next(_n)
    values: dict[str, object] = {"ident": f"INE{n:09d}", "last_name": f"Nom{n}", "first_name": "Léa",
                                 "kind": HolderKind.STUDENT, "level": "1re", "class_name": "1re A"}
    values.update(kw)
    holder = await Holder.create(school=school, **values)
    await written_around_the_engine("holders")
    return holder


async def make_device(**kw: object) -> Device:
    """A device, distributed unless told otherwise."""
    n = next(_n)
    values: dict[str, object] = {"serial": f"UNW{n:08d}", "status": Status.DISTRIBUTED, "grade": "correct"}
    values.update(kw)
    device = await Device.create(**values)
    await written_around_the_engine("devices")
    return device


async def change(device: Device, role: str | None = "agent", **raw: object) -> None:
    """A grid edit of a device (parsed like the grid's values)."""
    changes, issues = await parse_changes(DEVICES, [RowChange(device.id, raw)])
    assert not issues, issues
    await apply_changes(DEVICES, changes, Caller("test", role, Source.GRID))


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
        await bulk_set(DEVICES, [*ids, bad.id], "status", "a_restituer", Caller("test", "agent"))
    assert await Device.filter(status=Status.TO_RETURN).count() == 0
    result = await bulk_set(DEVICES, ids, "status", "a_restituer", Caller("test", "agent"))
    assert result.changed_rows == 5
    assert await Device.filter(status=Status.TO_RETURN, version=2).count() == 5
    assert await AuditEntry.filter(sheet="devices", column="status", batch=result.batch).count() == 5
    await bulk_set(DEVICES, ids, "status", "restitue", Caller("test", "agent"))
    with pytest.raises(WriteRefused, match="R-FLEET-5"):
        await bulk_set(DEVICES, ids, "status", "reinitialise", Caller("test", "agent"))
    done = await bulk_set(DEVICES, ids, "status", "reinitialise", Caller("test", "unowhy"))
    assert done.changed_rows == 5 and await Device.filter(id__in=ids, holder_id=None).count() == 5


async def test_r_fleet_3_holder_changing_school_takes_device_along(db: str) -> None:
    a, b = await make_school(), await make_school()
    holder = await make_holder(a)
    device = await make_device(school=a, holder=holder)
    changes, _ = await parse_changes(HOLDERS, [RowChange(holder.id, {"school": b.uai})])
    await apply_changes(HOLDERS, changes, Caller("test", "agent", Source.IMPORT))
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
    await apply_changes(HOLDERS, changes, Caller("test", "agent", Source.GRID))
    assert (await Device.get(id=d1.id)).status == Status.TO_RETURN
    kept = await Device.get(id=d2.id)
    assert kept.status == Status.KEPT and kept.mdm_unenroll_by is not None
    with pytest.raises(WriteRefused, match="Terminale"):
        changes, _ = await parse_changes(HOLDERS, [RowChange(leaver.id, {"end_choice": "garder"})])
        await apply_changes(HOLDERS, changes, Caller("test", "agent", Source.GRID))


async def test_r_fleet_12_restock_steps(db: str) -> None:
    school = await make_school()
    for _ in range(3):
        await make_device(status=Status.STOCK)
    request = await RestockRequest.create(school=school, quantity=2)
    assert request.shipping == Shipping.PARCEL

    async def step(target: str, role: str | None = "agent", **extra: object) -> None:
        changes, issues = await parse_changes(RESTOCKS, [RowChange(request.id, {"status": target, **extra})])
        assert not issues
        await apply_changes(RESTOCKS, changes, Caller("test", role, Source.GRID))

    with pytest.raises(WriteRefused, match="possible : « Expédié »"):
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
