"""Movements from the schools' student and teacher lists (R-FLEET-3, R-FLEET-7, R-FLEET-8, R-FLEET-9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.fleet import Device, Holder, HolderKind, Situation, Status
from sheets.engine.caller import Caller
from sheets.engine.importer import ImportFileError
from sheets.engine.xlsx import XlsxColumn, write_xlsx
from sheets.fleet_movements import SAMPLE_COLUMNS, analyse_movements, apply_movements, write_sample
from tests.factories import make_school
from tests.test_fleet_rules import make_device, make_holder


def _file(path: Path, rows: list[list[str]], columns: list[XlsxColumn] = SAMPLE_COLUMNS) -> Path:
    write_xlsx(path, columns, rows)
    return path


async def test_r_fleet_3_student_list_new_moved_changed_left(db: str, tmp_path: Path) -> None:
    here, there = await make_school(), await make_school()
    stays = await make_holder(here, class_name="1re A", level="1re")
    leaves = await make_holder(here, level="1re")
    finishes = await make_holder(here, level="Tle", end_choice="restituer")
    comes = await make_holder(there)
    d_leaves = await make_device(school=here, holder=leaves)
    d_finishes = await make_device(school=here, holder=finishes)
    d_comes = await make_device(school=there, holder=comes)
    path = _file(tmp_path / "siecle.xlsx", [
        [stays.ident, stays.last_name, "Léa", "1re B", "1re", "Générale"],
        [comes.ident, comes.last_name, "Léa", "2nde C", "Seconde", "générale"],
        ["INE000NEW001", "Nouvelle", "Inès", "2nde A", "2de", "Générale"],
    ])
    report = await analyse_movements(path, here, HolderKind.STUDENT)
    assert report.ok, report.issues
    assert [m.ident for m in report.new] == ["INE000NEW001"]
    assert [m.ident for m in report.moved] == [comes.ident]
    assert [m.ident for m in report.updated] == [stays.ident]
    assert {m.ident for m in report.left} == {leaves.ident, finishes.ident}
    assert await Holder.filter(ident="INE000NEW001").count() == 0  # preview writes nothing
    await apply_movements(report, Caller("test", "agent"))
    assert (await Holder.get(ident="INE000NEW001")).school_id == here.id
    assert (await Device.get(id=d_comes.id)).school_id == here.id  # the device follows (R-FLEET-3)
    assert (await Holder.get(id=stays.id)).class_name == "1re B"
    assert (await Holder.get(id=leaves.id)).situation == Situation.LEFT_IDF
    assert (await Device.get(id=d_leaves.id)).status == Status.TO_RETURN  # R-FLEET-9
    assert (await Holder.get(id=finishes.id)).situation == Situation.FINISHED
    assert (await Device.get(id=d_finishes.id)).status == Status.TO_RETURN  # R-FLEET-8, chose to return


async def test_bad_lines_and_bad_files_are_refused(db: str, tmp_path: Path) -> None:
    school = await make_school()
    path = _file(tmp_path / "bad.xlsx", [["", "Sans identifiant", "", "", "", ""],
                                        ["INE1", "Nom", "", "2nde A", "Maternelle", ""]])
    report = await analyse_movements(path, school, HolderKind.STUDENT)
    assert len(report.issues) == 2 and "niveau" in report.issues[1]
    with pytest.raises(ValueError, match="Corrigez"):
        await apply_movements(report, Caller("test", "agent"))
    with pytest.raises(ImportFileError, match="Identifiant"):
        await analyse_movements(_file(tmp_path / "cols.xlsx", [["x"]], [XlsxColumn("Autre")]), school,
                                HolderKind.STUDENT)


async def test_sample_file_round_trip(db: str, tmp_path: Path) -> None:
    school = await make_school()
    for _ in range(3):
        await make_holder(school)
    await write_sample(school, HolderKind.STUDENT, tmp_path / "exemple.xlsx")
    report = await analyse_movements(tmp_path / "exemple.xlsx", school, HolderKind.STUDENT)
    assert report.ok and len(report.new) == 1 and len(report.left) == 1
