"""Issue 15: the grids' « Recherche rapide » goes through the database's own text index (SQLite FTS5 trigram,
PostgreSQL pg_trgm) for the sheets declared with one, gives the same rows as the LIKE scans it replaces, follows every
write (engine, bulk ORM, a referenced school's UAI), and never searches a column the caller may not read (R-SEC-4)."""

from __future__ import annotations

from typing import Any

import sheets.engine.textindex as textindex  # registers the index builder before the `db` fixture opens the base
from models.fleet import Device, Holder, Status
from models.schools import School
from sheets.engine.caller import Caller
from sheets.engine.declaration import get_sheet
from sheets.engine.query import BlockRequest, fetch_block
from sheets.engine.writes import set_values
from tests.factories import make_school

AGENT = Caller(actor="agent@iledefrance.fr", role="agent")
MAINTENANCE = Caller(actor="spie@prestataire.fr", role="maintenance")


async def fleet() -> dict[str, Any]:
    alpha = await make_school(name="Lycée Voltaire")
    beta = await make_school(name="Lycée Hoche")
    marie = await Holder.create(ident="INE77777XYZ", last_name="DURAND", first_name="Marie", school=alpha)
    await Holder.create(ident="INE88888ABC", last_name="O'Brien", first_name="Seán", school=beta)
    devices = [await Device.create(serial=f"UNW24A{n:05d}", model=model, school=school, holder=holder,
                                   status=Status.DISTRIBUTED)
               for n, model, school, holder in ((17, "Y13G", alpha, marie), (18, "Y13G", beta, None),
                                                (19, "Latitude 3140", None, None))]
    return {"alpha": alpha, "beta": beta, "devices": devices}


async def found(sheet_name: str, text: str, caller: Caller = AGENT) -> list[str]:
    sheet = get_sheet(sheet_name).seen_by(caller)
    block = await fetch_block(sheet, BlockRequest(0, 100, [], {}, text), caller)
    key = "serial" if sheet_name == "devices" else "ident"
    return sorted(r[key] for r in block["rows"])


async def test_quick_search_uses_the_text_index_and_finds_the_same_rows(db: str) -> None:
    data = await fleet()
    sheet = get_sheet("devices")
    assert "devices" in textindex._READY and "holders" in textindex._READY
    from sheets.engine.query import base_query

    assert '"device_text" MATCH' in base_query(sheet, {}, "24A0001").sql() or "ILIKE" in base_query(
        sheet, {}, "24A0001").sql()
    assert await found("devices", "24a0001") == ["UNW24A00017", "UNW24A00018", "UNW24A00019"]  # any case
    assert await found("devices", "A00018") == ["UNW24A00018"]  # inside the serial
    assert await found("devices", data["alpha"].uai) == ["UNW24A00017"]  # the school's UAI, one reference away
    assert await found("devices", "itude 31") == ["UNW24A00019"]  # with a space
    assert await found("devices", "INE77777") == ["UNW24A00017"]  # the holder's identifier (agents read it)
    assert await found("devices", "zzz") == []
    assert await found("devices", "\"'; DROP TABLE device; --") == []  # quoted, never run
    assert await Device.all().count() == 3
    assert await found("holders", "o'bri") == ["INE88888ABC"]
    assert await found("holders", "ine8") == ["INE88888ABC"]
    assert await found("devices", "Y1") == ["UNW24A00017", "UNW24A00018"]  # two characters: the LIKE scans


async def test_r_sec_4_a_hidden_column_is_not_searched(db: str) -> None:
    await fleet()
    assert await found("devices", "INE77777", MAINTENANCE) == []  # maintenance does not read holders
    assert await found("devices", "24A00017", MAINTENANCE) == ["UNW24A00017"]


async def test_the_index_follows_every_write(db: str) -> None:
    data = await fleet()
    first, second, third = data["devices"]
    beta = data["beta"]
    result = await set_values(get_sheet("devices"), [third.id], {"school": beta.uai}, AGENT)  # the engine
    assert result.changed_rows == 1, result.message
    assert await found("devices", beta.uai) == ["UNW24A00018", "UNW24A00019"]
    await School.filter(id=beta.id).update(uai="0939999N")  # a referenced key changed outside any sheet
    assert await found("devices", "0939999") == ["UNW24A00018", "UNW24A00019"]
    assert await found("devices", beta.uai) == []
    await Device.filter(id=second.id).update(model="Chromebook")  # a bulk ORM write
    assert await found("devices", "chromeb") == ["UNW24A00018"]
    await Device.filter(id=first.id).delete()
    assert await found("devices", "24A000") == ["UNW24A00018", "UNW24A00019"]
