"""The audit trail people can read (issue 15): labels, French values, who, when, from where, the row's key."""

from __future__ import annotations

from pathlib import Path

from sheets.engine.caller import Caller
from sheets.engine.declaration import get_sheet
from sheets.engine.exporter import export_sheet
from sheets.engine.query import BlockRequest, fetch_block
from sheets.engine.writes import RowChange, apply_changes, create_rows, row_history
from sheets.schools import SCHOOLS
from tests.factories import make_school

AGENT = Caller("agent@iledefrance.fr", "agent")


async def test_the_journal_shows_labels_and_french_values(db: str, tmp_path: Path) -> None:
    school = await make_school(csn_deployed=False, commune="Paris")
    await apply_changes(SCHOOLS, [RowChange(school.id, {"csn_deployed": "oui", "mode": "Papier"}, 1)], AGENT,
                        parsed=False)
    await create_rows(get_sheet("support_desks"), [{"name": "Support écrans", "do_not_share": "oui"}], AGENT)
    audit = get_sheet("audit")
    block = await fetch_block(audit, BlockRequest(0, 100, [{"colId": "id", "sort": "asc"}], {}))
    rows = block["rows"]
    csn = next(r for r in rows if r["column"] == "CSN déployé")
    assert (csn["sheet"], csn["old_value"], csn["new_value"], csn["row_key"]) == ("Établissements", "Non", "Oui",
                                                                                  school.uai)
    mode = next(r for r in rows if r["column"] == "Manuels")
    assert (mode["old_value"], mode["new_value"]) == ("Numérique", "Papier")
    created = next(r for r in rows if r["sheet"] == "Annuaire support")
    assert created["column"] == "Ligne entière" and "Ne pas diffuser : Oui" in created["new_value"]
    target = tmp_path / "journal.xlsx"
    await export_sheet(audit, target, caller=Caller("admin@x.fr", "admin"))
    import openpyxl

    values = [c.value for row in openpyxl.load_workbook(target).worksheets[0].iter_rows() for c in row]
    assert "CSN déployé" in values and "Établissements" in values and "Oui" in values


async def test_row_history_for_the_rows_a_caller_may_read(db: str) -> None:
    school = await make_school(commune="Paris")
    await apply_changes(SCHOOLS, [RowChange(school.id, {"commune": "Meaux"}, 1)], AGENT, parsed=False)
    history = await row_history(SCHOOLS, school.id, Caller("lecteur@x.fr", "lecteur"))
    assert [(h["column"], h["old"], h["new"], h["actor"]) for h in history] == [
        ("Commune", "Paris", "Meaux", "agent@iledefrance.fr")]
    other = await make_school()
    scoped = Caller("chef@x.fr", "ecole", scope=frozenset({other.uai}))
    assert await row_history(SCHOOLS, school.id, scoped) == []  # another school's row: nothing shown
