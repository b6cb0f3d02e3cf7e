"""The spreadsheet engine: query translation, audited writes, conflicts, bulk, paste, undo, history."""

from __future__ import annotations

import random
import unicodedata
from typing import Any

import pytest

from models.audit import AuditEntry, Source
from models.schools import School, SchoolType
from sheets.engine.api import edit_cell, parse_block, paste_block
from sheets.engine.caller import Caller
from sheets.engine.declaration import get_sheet
from sheets.engine.query import BlockRequest, QueryError, fetch_block, filter_q
from sheets.engine.writes import RowChange, WriteRefused, apply_changes, bulk_set, parse_changes, row_history, undo_last
from tests.factories import make_contact, make_school

SCHOOLS = get_sheet("schools")
ALICE = Caller("alice@iledefrance.fr", "agent", Source.GRID)
BOB = Caller("bob@iledefrance.fr", "agent", Source.GRID)
NAMES = ["Lycée Hugo", "lycée Curie", "Lycée Zola", "Lycée Éluard", "LP Ferry", "Lycée Camus", "Lycée Sand"]
COMMUNES = ["Paris", "Meaux", "Créteil", "Évry", "Nanterre", ""]


async def _random_schools(n: int, seed: int) -> list[School]:
    rng = random.Random(seed)
    schools = []
    for _ in range(n):
        schools.append(await make_school(
            name=rng.choice(NAMES), commune=rng.choice(COMMUNES), departement=rng.choice(["75", "77", "92", "93"]),
            type=rng.choice(list(SchoolType)[:3]), csn_deployed=rng.random() < 0.5))
    return schools


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _python_filter(rows: list[School], spec: dict[str, Any]) -> list[School]:
    """The same filters as plain Python, to compare with the SQL translation."""
    out = rows
    if "name" in spec:
        op, text = spec["name"]
        if op == "contains":
            out = [r for r in out if text.lower() in r.name.lower()]
        elif op == "startsWith":
            out = [r for r in out if r.name.lower().startswith(text.lower())]
        elif op == "notContains":
            out = [r for r in out if text.lower() not in r.name.lower()]
    if "academie" in spec:
        out = [r for r in out if r.academie.value == spec["academie"]]
    if "csn_deployed" in spec:
        out = [r for r in out if r.csn_deployed is spec["csn_deployed"]]
    if "commune_blank" in spec:
        out = [r for r in out if r.commune == ""]
    return out


def _grid_filter(spec: dict[str, Any]) -> dict[str, Any]:
    model: dict[str, Any] = {}
    if "name" in spec:
        model["name"] = {"filterType": "text", "type": spec["name"][0], "filter": spec["name"][1]}
    if "academie" in spec:
        label = {"paris": "Paris", "creteil": "Créteil", "versailles": "Versailles"}[spec["academie"]]
        model["academie"] = {"filterType": "text", "type": "equals", "filter": label}
    if "csn_deployed" in spec:
        model["csn_deployed"] = {"filterType": "text", "type": "equals", "filter": "oui" if spec["csn_deployed"]
                                 else "non"}
    if "commune_blank" in spec:
        model["commune"] = {"filterType": "text", "type": "blank"}
    return model


def _random_spec(rng: random.Random) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if rng.random() < 0.6:
        spec["name"] = (rng.choice(["contains", "startsWith", "notContains"]),
                        rng.choice(["lycée", "LP", "zola", "Cur", "é", "x"]))
    if rng.random() < 0.4:
        spec["academie"] = rng.choice(["paris", "creteil", "versailles"])
    if rng.random() < 0.4:
        spec["csn_deployed"] = rng.random() < 0.5
    if rng.random() < 0.15:
        spec["commune_blank"] = True
    return spec


async def test_filter_and_sort_translation_matches_python(db: str) -> None:
    """Random filters and sorts through the grid query give what plain Python filtering gives (both backends)."""
    rows = await _random_schools(60, seed=7)
    rng = random.Random(11)
    for _ in range(80):
        spec = _random_spec(rng)
        col = rng.choice(["uai", "type", "csn_deployed", "name"])
        direction = rng.choice(["asc", "desc"])
        expected = _python_filter(rows, spec)
        got = await fetch_block(SCHOOLS, BlockRequest(0, 1000, [{"colId": col, "sort": direction}],
                                                      _grid_filter(spec)))
        assert sorted(r["id"] for r in got["rows"]) == sorted(r.id for r in expected), spec
        assert got["lastRow"] == len(expected)
        if col != "name":  # collation of accented text differs between backends; codes and booleans don't
            values = [r[col] for r in got["rows"]]
            assert values == sorted(values, reverse=direction == "desc"), (spec, col, direction)


async def test_blocks_page_through_every_row_once(sqlite_db: str) -> None:
    await _random_schools(45, seed=3)
    seen: list[int] = []
    for start in range(0, 60, 10):
        block = await fetch_block(SCHOOLS, BlockRequest(start, start + 10, [{"colId": "name", "sort": "asc"}], {}))
        seen.extend(r["id"] for r in block["rows"])
        if len(block["rows"]) < 10:
            assert block["lastRow"] == len(seen)
    assert len(seen) == 45 == len(set(seen))


async def test_unknown_columns_and_operators_are_refused(sqlite_db: str) -> None:
    with pytest.raises(QueryError, match="Colonne inconnue"):
        filter_q(SCHOOLS, {"password": {"filterType": "text", "type": "equals", "filter": "x"}})
    with pytest.raises(QueryError, match="Colonne inconnue"):
        await fetch_block(SCHOOLS, BlockRequest(0, 10, [{"colId": "id; DROP TABLE school", "sort": "asc"}], {}))
    with pytest.raises(QueryError, match="non pris en charge"):
        filter_q(SCHOOLS, {"name": {"filterType": "text", "type": "regex", "filter": ".*"}})
    with pytest.raises(QueryError):
        BlockRequest.from_json({"startRow": "a"})


async def test_quick_search_looks_into_text_and_choice_labels(sqlite_db: str) -> None:
    await make_school(name="Lycée Alpha", commune="Meaux", departement="77")
    await make_school(name="Lycée Beta", commune="Paris")
    got = await fetch_block(SCHOOLS, BlockRequest(0, 100, [], {}, quick="meaux"))
    assert [r["name"] for r in got["rows"]] == ["Lycée Alpha"]
    got = await fetch_block(SCHOOLS, BlockRequest(0, 100, [], {}, quick="créteil"))  # académie label
    assert [r["name"] for r in got["rows"]] == ["Lycée Alpha"]


# --- writes ----------------------------------------------------------------------------------------

async def test_cell_edit_is_validated_saved_and_audited(db: str) -> None:
    school = await make_school(name="Ancien nom")
    row = await edit_cell(SCHOOLS, school.id, "name", "  Nouveau nom ", 1, ALICE)
    assert row["name"] == "Nouveau nom" and row["version"] == 2
    entry = await AuditEntry.get(sheet="schools", row_id=school.id)
    assert (entry.actor, entry.column, entry.source) == (ALICE.actor, "name", Source.GRID)
    assert entry.row_key == school.uai and '"Ancien nom"' == entry.old_value


async def test_invalid_cell_is_refused_in_french_and_nothing_is_written(db: str) -> None:
    school = await make_school()
    with pytest.raises(WriteRefused, match="attendu Oui ou Non"):
        await edit_cell(SCHOOLS, school.id, "csn_deployed", "peut-être", 1, ALICE)
    with pytest.raises(WriteRefused, match="n'est pas modifiable"):
        await edit_cell(SCHOOLS, school.id, "academie", "paris", 1, ALICE)
    with pytest.raises(WriteRefused, match="obligatoire"):
        await edit_cell(SCHOOLS, school.id, "name", "", 1, ALICE)
    with pytest.raises(WriteRefused, match="une des valeurs"):
        await edit_cell(SCHOOLS, school.id, "mode", "tablette", 1, ALICE)
    assert await AuditEntry.all().count() == 0
    assert (await School.get(id=school.id)).version == 1


async def test_concurrent_edit_is_a_conflict_with_the_current_value(db: str) -> None:
    school = await make_school(commune="Paris")
    await edit_cell(SCHOOLS, school.id, "commune", "Meaux", 1, ALICE)
    with pytest.raises(WriteRefused) as info:
        await edit_cell(SCHOOLS, school.id, "commune", "Melun", 1, BOB)  # Bob saw version 1
    assert info.value.conflict
    assert "valeur actuelle : Commune = « Meaux »" in str(info.value)
    assert (await School.get(id=school.id)).commune == "Meaux"


async def test_choice_accepts_label_or_code(db: str) -> None:
    school = await make_school()
    row = await edit_cell(SCHOOLS, school.id, "mode", "Papier", None, ALICE)
    assert row["mode"] == "papier"


async def test_bulk_set_on_many_rows_one_transaction_with_audit(db: str) -> None:
    schools = [await make_school(csn_deployed=False) for _ in range(30)]
    ids = [s.id for s in schools]
    result = await bulk_set(SCHOOLS, ids, "csn_deployed", "Oui", Caller(ALICE.actor, "agent"))
    assert result.changed_rows == 30
    assert await School.filter(id__in=ids, csn_deployed=True, version=2).count() == 30
    assert await AuditEntry.filter(batch=result.batch, source=Source.BULK).count() == 30
    again = await bulk_set(SCHOOLS, ids, "csn_deployed", True, Caller(ALICE.actor, "agent"))
    assert again.changed_rows == 0  # unchanged rows are not rewritten nor audited
    with pytest.raises(WriteRefused, match="attendu Oui ou Non"):
        await bulk_set(SCHOOLS, ids, "csn_deployed", "bof", Caller(ALICE.actor, "agent"))


def test_parse_block_from_excel() -> None:
    assert parse_block("a\tb\r\nc\td\r\n") == [["a", "b"], ["c", "d"]]
    assert parse_block('"x\ty"\tz\n') == [["x\ty", "z"]]
    assert parse_block("") == []


async def test_paste_applies_a_block_or_refuses_it_whole(db: str) -> None:
    a, b = await make_school(commune="A"), await make_school(commune="B")
    fields = ["commune", "postal_code", "csn_deployed"]
    changed = await paste_block(SCHOOLS, "Meaux\t77100\tOui\nMelun\t77000\tNon\n", [a.id, b.id], fields, {}, ALICE)
    assert changed == 5  # b.csn_deployed was already False
    assert (await School.get(id=a.id)).commune == "Meaux"
    with pytest.raises(WriteRefused) as info:
        await paste_block(SCHOOLS, "Paris\t75001\tpeut-être\nCréteil\t94000\tOui", [a.id, b.id], fields, {}, ALICE)
    assert info.value.issues[0].line == 1 and info.value.issues[0].column == "csn_deployed"
    assert (await School.get(id=b.id)).commune == "Melun"  # nothing of the refused block was written
    with pytest.raises(WriteRefused, match="il n'en reste que 1"):
        await paste_block(SCHOOLS, "x\ny", [a.id], fields, {}, ALICE)
    with pytest.raises(WriteRefused, match="n'est pas modifiable"):
        await paste_block(SCHOOLS, "x", [a.id], ["academie"], {}, ALICE)


async def test_undo_restores_the_last_batch_and_refuses_when_changed_since(db: str) -> None:
    schools = [await make_school(commune="Paris") for _ in range(3)]
    await bulk_set(SCHOOLS, [s.id for s in schools], "commune", "Meaux", Caller(ALICE.actor, "agent"))
    label, _ = await undo_last(Caller(ALICE.actor, "agent"))
    assert "3 modification(s)" in label
    assert await School.filter(commune="Paris").count() == 3
    assert await undo_last(Caller(ALICE.actor, "agent")) is None  # the undo itself is not undone by a second call

    await edit_cell(SCHOOLS, schools[0].id, "commune", "Evry", None, ALICE)
    await edit_cell(SCHOOLS, schools[0].id, "commune", "Nanterre", None, BOB)
    with pytest.raises(WriteRefused, match="a changé depuis"):
        await undo_last(Caller(ALICE.actor, "agent"))
    assert (await School.get(id=schools[0].id)).commune == "Nanterre"


async def test_row_history_lists_every_change(db: str) -> None:
    school = await make_school(commune="Paris")
    await edit_cell(SCHOOLS, school.id, "commune", "Meaux", None, ALICE)
    await edit_cell(SCHOOLS, school.id, "csn_deployed", True, None, BOB)
    history = await row_history(SCHOOLS, school.id, ALICE)
    assert [(h["actor"], h["column"], h["old"], h["new"]) for h in history] == [
        (BOB.actor, "CSN déployé", "Non", "Oui"), (ALICE.actor, "Commune", "Paris", "Meaux")]


async def test_reference_column_by_key_and_refused_when_unknown(db: str) -> None:
    contacts = get_sheet("contacts")
    a, b = await make_school(), await make_school(departement="93")
    contact = await make_contact(a, [])
    changes, issues = await parse_changes(contacts, [RowChange(contact.id, {"school": b.uai.lower()})])
    assert not issues
    await apply_changes(contacts, changes, Caller(ALICE.actor, "agent", Source.GRID))
    block = await fetch_block(contacts, BlockRequest(0, 10, [], {"school": {"filterType": "text", "type": "equals",
                                                                            "filter": b.uai}}))
    assert [r["school"] for r in block["rows"]] == [b.uai]
    changes, _ = await parse_changes(contacts, [RowChange(contact.id, {"school": "0750650Z"})])
    with pytest.raises(WriteRefused, match="aucune ligne"):
        await apply_changes(contacts, changes, Caller(ALICE.actor, "agent", Source.GRID))


async def test_audit_sheet_is_read_only(db: str) -> None:
    school = await make_school()
    await edit_cell(SCHOOLS, school.id, "commune", "X", None, ALICE)
    audit = get_sheet("audit")
    entry = await AuditEntry.first()
    assert entry is not None
    with pytest.raises(WriteRefused, match="pas le droit"):
        await apply_changes(audit, [RowChange(entry.id, {"actor": "x"})], Caller(ALICE.actor, "admin", Source.GRID))
    rows = await fetch_block(audit, BlockRequest(0, 10, [], {}))
    assert rows["rows"][0]["actor"] == ALICE.actor


async def test_keyset_and_reversed_paths_give_the_same_rows_as_offsets(db: str) -> None:
    """Scrolling (keyset cursors) and jumping to the end (reversed order) return exactly the offset pages."""
    from sheets.engine.query import order_by

    await _random_schools(57, seed=5)
    sort_model = [{"colId": "type", "sort": "desc"}]
    terms = order_by(SCHOOLS, sort_model)
    expected = [r["id"] for r in await School.all().order_by(*terms).values("id")]
    jumped = await fetch_block(SCHOOLS, BlockRequest(50, 60, sort_model, {}))  # jump first: reversed path
    assert [r["id"] for r in jumped["rows"]] == expected[50:57] and jumped["lastRow"] == 57
    scrolled: list[int] = []
    for start in range(0, 60, 10):  # then scroll from the top: keyset cursors after the first block
        block = await fetch_block(SCHOOLS, BlockRequest(start, start + 10, sort_model, {}))
        scrolled.extend(r["id"] for r in block["rows"])
    assert scrolled == expected
    middle = await fetch_block(SCHOOLS, BlockRequest(30, 40, sort_model, {"name": {"filterType": "text",
                                                                                   "type": "contains",
                                                                                   "filter": "lycée"}}))
    names = [r["id"] for r in await School.filter(name__icontains="lycée").order_by(*terms).values("id")]
    assert [r["id"] for r in middle["rows"]] == names[30:40]


async def test_named_views_are_kept_per_user_and_sheet(db: str) -> None:
    from models.views import delete_view, list_views, save_view

    state = {"columnState": [{"colId": "name", "sort": "asc"}], "filterModel": {}, "quick": "meaux"}
    await save_view(ALICE.actor, "schools", "  Mes lycées  ", state)
    await save_view(ALICE.actor, "schools", "Mes lycées", {**state, "quick": "melun"})  # same name: replaced
    await save_view(BOB.actor, "schools", "Mes lycées", state)
    views = await list_views(ALICE.actor, "schools")
    assert [(v.name, v.state["quick"]) for v in views] == [("Mes lycées", "melun")]
    assert await list_views(ALICE.actor, "contacts") == []
    with pytest.raises(ValueError, match="Donnez un nom"):
        await save_view(ALICE.actor, "schools", "   ", state)
    assert await delete_view(ALICE.actor, "schools", "Mes lycées")
    assert [v.owner for v in await list_views(BOB.actor, "schools")] == [BOB.actor]


async def test_change_hook_gets_the_role_may_refuse_or_complete_a_change(db: str) -> None:
    """A declaration's hook (e.g. a state machine) sees actor and role, refuses in French or adds fields."""
    from dataclasses import replace

    seen: list[tuple[str, str | None]] = []

    async def hook(ctx: Any) -> None:
        seen.append((ctx.caller.actor, ctx.caller.role))
        if ctx.values.get("commune") == "Interdit":
            raise ValueError("Commune refusée par la règle d'essai.")
        ctx.values["wifi_code_changed"] = True  # a field the change did not name

    sheet = replace(SCHOOLS, change_hook=hook)
    school = await make_school(commune="Paris")
    changes, _ = await parse_changes(sheet, [RowChange(school.id, {"commune": "Meaux"})])
    await apply_changes(sheet, changes, Caller(ALICE.actor, "agent", Source.GRID))
    fresh = await School.get(id=school.id)
    assert (fresh.commune, fresh.wifi_code_changed) == ("Meaux", True)
    assert seen == [(ALICE.actor, "agent")]
    assert await AuditEntry.filter(row_id=school.id, column="wifi_code_changed").count() == 1
    changes, _ = await parse_changes(sheet, [RowChange(school.id, {"commune": "Interdit"})])
    with pytest.raises(WriteRefused, match="refusée par la règle"):
        await apply_changes(sheet, changes, Caller(ALICE.actor, "agent", Source.GRID))


async def test_calendar_sheet_checks_window_and_reminder_days(db: str) -> None:
    """The campaign calendar is a sheet: dates and reminder days are edited in the grid, checked in French."""
    import datetime as dt

    from models.campaign import CampaignEvent

    calendar = get_sheet("calendar")
    event = await CampaignEvent.create(year=2024, slug="essai", rule_id="R-SLOT-1", title="Réservation",
                                       starts_on=dt.date(2024, 5, 27), due_on=dt.date(2024, 6, 28))
    row = await edit_cell(calendar, event.id, "remind_days", "7; 14, 0", None, ALICE)
    assert row["remind_days"] == "14,7,0"
    with pytest.raises(WriteRefused, match="Jours de relance"):
        await edit_cell(calendar, event.id, "remind_days", "demain", None, ALICE)
    with pytest.raises(WriteRefused, match="après l'échéance"):
        await edit_cell(calendar, event.id, "starts_on", "01/07/2024", None, ALICE)
    assert (await CampaignEvent.get(id=event.id)).starts_on == dt.date(2024, 5, 27)
