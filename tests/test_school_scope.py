"""Scope is a property of the caller: every sheet, run as a caller scoped to one school (a school's person by e-mail
link, or a scoped staff caller), shows, counts, exports, finds, changes, acts on and tells the history of no other
school's row; and a scoped import that names another school's row is refused whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tortoise.fields.relational import ForeignKeyFieldInstance

from models.fleet import Device, Holder, RestockRequest
from models.outbox import enqueue
from models.school_lists import ListUpload
from models.schools import ContactRole, School
from sheets.engine.actions import run_action
from sheets.engine.api import fetch_row
from sheets.engine.caller import Caller
from sheets.engine.declaration import Sheet, all_sheets
from sheets.engine.exporter import export_sheet
from sheets.engine.query import COUNTS, MAX_BLOCK, BlockRequest, fetch_block
from sheets.engine.writes import RowChange, WriteRefused, apply_changes, delete_rows, row_history, row_uais
from tests.factories import make_school

STAFF_ORDER = ("admin", "agent", "lecteur", "unowhy", "laposte", "maintenance")


def school_person(uai: str) -> Caller:
    """A school's person holding every contact role of one school (the widest school caller there is)."""
    return Caller.school("tout.role@ac-paris.fr", frozenset({uai}), frozenset((uai, r.value) for r in ContactRole))


def scoped_staff(sheet: Sheet, uai: str) -> Caller | None:
    """A staff caller that may read the sheet, scoped to one school."""
    role = next((r for r in STAFF_ORDER if r in sheet.read_roles), None)
    return None if role is None else Caller(f"{role}@essai.fr", role, scope=frozenset({uai}))


def _regional(sheet: Sheet) -> bool:
    """A sheet without a school path must not hold rows of a school at all."""
    return not any(isinstance(f, ForeignKeyFieldInstance) and f.related_model is School
                   for f in sheet.model._meta.fields_map.values())


async def _check(sheet: Sheet, caller: Caller, uai: str, tmp_path: Path) -> bool:
    """Every path of the engine, for one sheet and one scoped caller; True when another school's row was there to
    be hidden (the check was not vacuous)."""
    block = await fetch_block(sheet, BlockRequest(0, MAX_BLOCK), caller)
    ids = [r["id"] for r in block["rows"]]
    if not sheet.school_path:
        assert _regional(sheet), f"{sheet.name}: rows of schools but no school_path"
        return False
    assert set((await row_uais(sheet, ids)).values()) <= {uai}, (sheet.name, caller.role)
    mine = await sheet.model.filter(**{sheet.school_path: uai}).count()
    assert block["lastRow"] == mine or len(ids) == MAX_BLOCK, sheet.name
    assert await COUNTS.count(sheet, {}, "", caller) == mine, sheet.name
    assert await export_sheet(sheet, tmp_path / f"{sheet.name}-{caller.role}.xlsx", caller=caller) == mine
    everything = await row_uais(sheet, list(await sheet.model.all().values_list("id", flat=True)))
    others = [rid for rid, school in everything.items() if school != uai]
    if not others:
        return False
    other = others[0]
    assert await fetch_row(sheet, other, caller) is None, sheet.name
    assert await row_history(sheet, other, caller) == [], sheet.name
    key = (await sheet.model.filter(id=other).values_list(sheet.key, flat=True))[0]
    found = await fetch_block(sheet, BlockRequest(0, 100, quick=str(key)[:50]), caller)
    assert set((await row_uais(sheet, [r["id"] for r in found["rows"]])).values()) <= {uai}, sheet.name
    if sheet.may_edit(caller):
        column = next((c for c in sheet.columns if c.editable), sheet.columns[0])
        with pytest.raises(WriteRefused) as refused:
            await apply_changes(sheet, [RowChange(other, {column.field: None})], caller)
        assert refused.value.status in (403, 404), sheet.name
    for action in sheet.all_actions():
        if action.offered_to(caller) and action.rows != "none":
            with pytest.raises(WriteRefused) as refused:
                await run_action(sheet, action.name, [other], {}, caller)
            assert refused.value.status in (403, 404), (sheet.name, action.name)
    if sheet.may_delete(caller):
        with pytest.raises(WriteRefused):
            await delete_rows(sheet, [other], caller)
    return True


async def test_every_sheet_run_as_a_scoped_caller_finds_no_other_schools_row(db: str, tmp_path: Path) -> None:
    from seed import seed_everything

    await seed_everything()  # the demo data of every area (this test covers the sheets of areas added later too)
    with_devices = sorted(set(await Device.filter(holder_id__not_isnull=True, school_id__not_isnull=True)
                              .values_list("school_id", flat=True)))
    mine, other = await School.get(id=with_devices[0]), await School.get(id=with_devices[1])
    for school in (mine, other):  # rows the demo does not make
        await RestockRequest.create(school=school, quantity=3)
        await ListUpload.create(school=school, kind="eleve", uploaded_by="x@ac-paris.fr")
        await enqueue(f"essai:{school.uai}", [school.generic_email], "Objet", "Texte", school_uai=school.uai)
    hidden: set[str] = set()
    readable_by_schools: set[str] = set()
    for sheet in all_sheets():
        callers = [c for c in (school_person(mine.uai), scoped_staff(sheet, mine.uai)) if c is not None]
        for caller in callers:
            if not sheet.may_read(caller):
                continue
            if caller.is_school:
                readable_by_schools.add(sheet.name)
            if await _check(sheet, caller, mine.uai, tmp_path):
                hidden.add(sheet.name)
    assert {"schools", "contacts", "contact_roles", "devices", "holders", "restocks", "equipment", "outbox",
            "list_uploads"} <= hidden
    assert {"schools", "contacts", "contact_roles", "devices", "holders", "restocks", "list_uploads"} <= \
        readable_by_schools
    assert not {"audit", "outbox", "access_events", "calendar"} & readable_by_schools


async def test_a_scoped_import_naming_another_schools_row_is_refused_whole(db: str, tmp_path: Path) -> None:
    from sheets.engine.importer import import_xlsx
    from sheets.engine.xlsx import XlsxColumn, write_xlsx
    from sheets.fleet import HOLDERS
    from tests.test_fleet_rules import make_holder

    mine, other = await make_school(), await make_school()
    ours = await make_holder(mine, class_name="2de A", last_name="Nôtre")
    theirs = await make_holder(other, class_name="2de A", last_name="Secret")
    columns = [XlsxColumn("Identifiant"), XlsxColumn("Nom"), XlsxColumn("Classe"), XlsxColumn("UAI")]

    def file(name: str, rows: list[list[Any]]) -> Path:
        path = tmp_path / name
        write_xlsx(path, columns, rows)
        return path

    mixed = file("mixte.xlsx", [[ours.ident, ours.last_name, "2de Z", mine.uai],
                                [theirs.ident, "Secret", "2de Z", other.uai]])
    for caller in (school_person(mine.uai), Caller("agent@essai.fr", "agent", scope=frozenset({mine.uai}))):
        for dry_run in (True, False):
            report = await import_xlsx(HOLDERS, mixed, caller=caller, dry_run=dry_run)
            assert report.fatal and "autre établissement" in report.fatal[0] and "ligne(s) 3" in report.fatal[0]
            shown = json.dumps(report.as_dict(), ensure_ascii=False)
            assert "Secret" not in shown and report.preview == [] and not report.applied
    assert (await Holder.get(id=ours.id)).class_name == "2de A"  # nothing written, not even its own row
    assert (await Holder.get(id=theirs.id)).class_name == "2de A"
    # A new row for another school: refused whole too.
    new_elsewhere = file("nouveau.xlsx", [[ours.ident, ours.last_name, "2de Z", mine.uai],
                                          ["INE0NEW0000X", "Nouveau", "2de B", other.uai]])
    report = await import_xlsx(HOLDERS, new_elsewhere, caller=school_person(mine.uai), dry_run=False)
    assert report.fatal and not await Holder.filter(ident="INE0NEW0000X").exists()
    # Its own rows only: applied, audited as the school's person with the source « lien e-mail ».
    own = file("propre.xlsx", [[ours.ident, ours.last_name, "2de Z", mine.uai]])
    report = await import_xlsx(HOLDERS, own, caller=school_person(mine.uai), dry_run=False)
    assert report.applied and not report.fatal, report.summary()
    assert (await Holder.get(id=ours.id)).class_name == "2de Z"
    # Unscoped (the Région's team, the CLI): the same mixed file goes as before.
    report = await import_xlsx(HOLDERS, mixed, caller=Caller("agent@essai.fr", "agent"), dry_run=True)
    assert not report.fatal and report.changed == 1  # « ours » is already 2de Z; « theirs » changes
