"""The movement rules of the schools' lists, fixed for issue 11 (each of these failed on the code before it):
R-FLEET-3 (a student moving between IDF schools keeps the device, whichever school's list comes first), R-FLEET-7
(a teacher absent from one school's STS list but in another IDF school's keeps it), R-FLEET-8 (a Terminale student
without a decision stays flagged and is reminded before 30/09). Through the path users take: the list import
(analyse, then apply), the fleet's views, the reminder run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from models.fleet import Device, Holder, HolderKind, Situation, Status, regional_holder_flags, school_fleet
from sheets.engine.caller import Caller
from sheets.engine.xlsx import write_xlsx
from sheets.fleet_movements import SAMPLE_COLUMNS, analyse_movements, apply_movements
from tests.factories import make_school
from tests.test_fleet_rules import make_device, make_holder

AGENT = Caller("agent@iledefrance.fr", "agent")


def _list(path: Path, holders: list[Holder]) -> Path:
    rows = [[h.ident, h.last_name, h.first_name, h.class_name, h.level.value if h.level else "", "Générale"]
            for h in holders]
    write_xlsx(path, SAMPLE_COLUMNS, rows)
    return path


async def _import(tmp_path: Path, school: object, kind: HolderKind, holders: list[Holder],
                  caller: Caller = AGENT) -> None:
    """A school's list, analysed then applied (the upload dialog's two steps)."""
    path = _list(tmp_path / f"{school.uai}-{kind.value}.xlsx", holders)  # type: ignore[attr-defined]
    report = await analyse_movements(path, school, kind)  # type: ignore[arg-type]
    assert report.ok, report.issues
    await apply_movements(report, caller)


@pytest.mark.parametrize("first", ["old school first", "new school first"])
async def test_r_fleet_3_a_student_moving_within_idf_keeps_the_device_whichever_list_comes_first(
        db: str, tmp_path: Path, first: str) -> None:
    old, new = await make_school(), await make_school(departement="93")
    mover = await make_holder(old, level="1re", class_name="1re A")
    stays_old = await make_holder(old, level="1re", class_name="1re A")
    stays_new = await make_holder(new, level="2de", class_name="2de B")
    device = await make_device(school=old, holder=mover)
    lists = [(old, [stays_old]), (new, [stays_new, mover])]
    for school, holders in (lists if first == "old school first" else lists[::-1]):
        await _import(tmp_path, school, HolderKind.STUDENT, holders)
    moved = await Holder.get(id=mover.id)
    after = await Device.get(id=device.id)
    assert moved.school_id == new.id and moved.situation == Situation.IN_SCHOOL
    assert after.school_id == new.id and after.status == Status.DISTRIBUTED, (first, after.status)
    assert after.holder_id == mover.id  # the assignment follows the student (R-FLEET-3)


async def test_r_fleet_7_a_teacher_absent_from_one_sts_list_but_in_another_idf_schools_keeps_the_device(
        db: str, tmp_path: Path) -> None:
    old, new = await make_school(), await make_school(departement="78")
    teacher = await make_holder(old, kind=HolderKind.TEACHER, level=None, class_name="")
    colleague = await make_holder(old, kind=HolderKind.TEACHER, level=None, class_name="")
    laptop = await make_device(school=old, holder=teacher, kind="pc_enseignant")
    await _import(tmp_path, old, HolderKind.TEACHER, [colleague])  # not in the old school's STS any more
    await _import(tmp_path, new, HolderKind.TEACHER, [teacher])  # in the new school's
    after = await Device.get(id=laptop.id)
    assert after.status == Status.DISTRIBUTED and after.school_id == new.id
    assert (await Holder.get(id=teacher.id)).situation == Situation.IN_SCHOOL  # not « parti hors IDF »
    # A teacher in no IDF list at all still returns it (R-FLEET-7: leaving the Région).
    leaver = await make_holder(new, kind=HolderKind.TEACHER, level=None, class_name="")
    leaving = await make_device(school=new, holder=leaver, kind="pc_enseignant")
    await _import(tmp_path, new, HolderKind.TEACHER, [teacher])
    assert (await Device.get(id=leaving.id)).status == Status.TO_RETURN
    assert (await Holder.get(id=leaver.id)).situation == Situation.LEFT_IDF


async def test_r_fleet_8_a_terminale_student_without_decision_stays_flagged_and_is_reminded(
        db: str, tmp_path: Path) -> None:
    from models.reminders import due_items

    school = await make_school()
    graduate = await make_holder(school, level="Tle", class_name="Tle A")  # no keep / return decision
    younger = await make_holder(school, level="1re")
    laptop = await make_device(school=school, holder=graduate)
    await _import(tmp_path, school, HolderKind.STUDENT, [younger])  # the next year's list: the Tle student left
    assert (await Holder.get(id=graduate.id)).situation == Situation.FINISHED
    assert (await Device.get(id=laptop.id)).status == Status.DISTRIBUTED  # kept in hand until they decide
    fleet = await school_fleet(school.id)
    assert fleet.tle_undecided_count == 1 and [h.id for h in fleet.tle_undecided] == [graduate.id]
    assert (await regional_holder_flags())[school.id]["tle_undecided"] == 1
    year = dt.date.today().year
    reminded = [(rule.code, item) for rule, item in await due_items(dt.date(year, 9, 16))
                if item.rule_id == "R-FLEET-8"]
    assert [(code, item.school.id, item.due) for code, item in reminded] == [
        ("fleet.tle_decision", school.id, dt.date(year, 9, 30))]
    # Once the decision is recorded, the flag and the reminder go.
    await Holder.filter(id=graduate.id).update(end_choice="garder")
    assert (await school_fleet(school.id)).tle_undecided_count == 0
    assert not [i for _r, i in await due_items(dt.date(year, 9, 16)) if i.rule_id == "R-FLEET-8"]
