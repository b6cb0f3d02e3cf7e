"""Issue 10, « Server errors (500) instead of a French 4xx »: each case the fuzzer found is a named regression test
through the API (and through the grid where a person meets it); then every filter on every column and every hostile
value in every editable column, through the engine, on both databases.

Pages modules are imported inside the tests (the `user` fixture registers them again per test).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from nicegui.testing import User

from models.accounts import create_token
from models.fleet import Device, DeviceKind, Status
from models.schools import School
from tests.factories import login, make_account, make_school, see

ABOVE_INT64 = 2**63 + 1


@pytest.fixture
async def http(user: User) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app the `user` fixture started; a server error is answered (500), never raised."""
    from nicegui import app

    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
async def admin(user: User) -> dict[str, str]:
    """Authorization headers of an administrator (with TOTP, R-SEC-1)."""
    _token, secret = await create_token(await make_account("admin"), "essai")
    return {"Authorization": f"Bearer {secret}"}


def refused_in_french(response: httpx.Response, *words: str) -> str:
    """Assert a 4xx whose JSON `detail` is French (and names what was wrong); return the detail."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail, response.text[:500]
    assert any(w in detail for w in ("refusé", "attendu", "inconnue", "illisible", "invalide", "hors", "trop",
                                     "vide", "aucune", "Filtre", "obligatoire")), detail
    for word in words:
        assert word in detail, (word, detail)
    return detail


async def _device(school: School | None, serial: str) -> Device:
    return await Device.create(serial=serial, kind=DeviceKind.STUDENT_LAPTOP, school=school,
                               status=Status.DELIVERED if school else Status.STOCK)


# --- The grid's own « Vide » / « Non vide » filter on the UAI column --------------------------------------------


async def test_blank_and_not_blank_filter_on_the_uai_column_of_schools(http: httpx.AsyncClient,
                                                                       admin: dict[str, str]) -> None:
    """`{"uai": {"filterType": "text", "type": "blank"}}`: the UAI validator refused "" and the grid got a 500."""
    school = await make_school()
    blank = await http.post("/api/sheets/schools/rows", headers=admin,
                            json={"filterModel": {"uai": {"filterType": "text", "type": "blank"}}})
    assert blank.status_code == 200, blank.text[:300]
    assert blank.json() == {"rows": [], "lastRow": 0}
    filled = await http.post("/api/sheets/schools/rows", headers=admin,
                             json={"filterModel": {"uai": {"filterType": "text", "type": "notBlank"}}})
    assert filled.status_code == 200, filled.text[:300]
    assert [r["uai"] for r in filled.json()["rows"]] == [school.uai]
    # the same filter combined, as AG Grid sends two conditions
    both = await http.post("/api/sheets/schools/rows", headers=admin, json={"filterModel": {"uai": {
        "filterType": "text", "operator": "OR", "conditions": [{"type": "blank"}, {"type": "equals",
                                                                                   "filter": school.uai}]}}})
    assert both.status_code == 200 and both.json()["lastRow"] == 1


async def test_blank_and_not_blank_filter_on_the_uai_column_of_devices(http: httpx.AsyncClient,
                                                                       admin: dict[str, str]) -> None:
    """The devices' « UAI » column is a reference to the school: « Vide » finds the devices in stock."""
    school = await make_school()
    await _device(school, "SER-AT-SCHOOL")
    await _device(None, "SER-IN-STOCK")
    rows = {}
    for op in ("blank", "notBlank"):
        answer = await http.post("/api/sheets/devices/rows", headers=admin,
                                 json={"filterModel": {"school": {"filterType": "text", "type": op}}})
        assert answer.status_code == 200, answer.text[:300]
        rows[op] = [r["serial"] for r in answer.json()["rows"]]
    assert rows == {"blank": ["SER-IN-STOCK"], "notBlank": ["SER-AT-SCHOOL"]}
    # a list of UAIs, one of them not a UAI at all: it matches nothing instead of failing the query
    listed = await http.post("/api/sheets/devices/rows", headers=admin, json={"filterModel": {"school": {
        "filterType": "set", "values": [school.uai, "PAS-UN-UAI"]}}})
    assert listed.status_code == 200 and [r["serial"] for r in listed.json()["rows"]] == ["SER-AT-SCHOOL"]


# --- Values the model refuses: a French message in the API and in the grid -------------------------------------


async def _grid_edit(user: User, row_id: int, version: int, field: str, old: Any, new: Any) -> None:
    """What the browser's grid sends when a person edits a cell (SheetGrid._on_cell_changed)."""
    from nicegui import ui

    user.find(ui.aggrid).trigger("cellValueChanged", {"data": {"id": row_id, "version": version}, "colId": field,
                                                      "oldValue": old, "newValue": new})


async def test_a_cell_longer_than_the_model_allows_is_refused_in_french(user: User, http: httpx.AsyncClient,
                                                                        admin: dict[str, str]) -> None:
    school = await make_school(postal_code="75001")
    answer = await http.post("/api/sheets/schools/cells", headers=admin, json={
        "row_id": school.id, "field": "postal_code", "value": "7" * 300, "version": school.version})
    refused_in_french(answer, "trop long", "Code postal", "5 caractères")
    assert len(answer.text) < 2000  # the refusal quotes a short prefix, never the whole value
    await login(user, "agent")
    await user.open("/ecoles")
    await _grid_edit(user, school.id, school.version, "postal_code", "75001", "750011")
    await see(user, "trop long pour « Code postal » : 5 caractères au plus")
    assert (await School.get(id=school.id)).postal_code == "75001"


async def test_a_devices_school_set_to_a_bad_uai_is_refused_in_french(user: User, http: httpx.AsyncClient) -> None:
    """By La Poste, who may move a device to another school (R-FLEET-5): the reference is what is refused."""
    school = await make_school()
    device = await _device(school, "SER-REF-1")
    _token, secret = await create_token(await make_account("laposte"), "essai")
    laposte = {"Authorization": f"Bearer {secret}"}
    for bad in ("0000000A", "PAS-UN-UAI", "0750650Z"):  # wrong letter, not a UAI, a valid UAI of no school
        answer = await http.post("/api/sheets/devices/cells", headers=laposte, json={
            "row_id": device.id, "field": "school", "value": bad, "version": device.version})
        refused_in_french(answer, "aucune ligne de « Établissements »")
    await login(user, "laposte")
    await user.open("/parc/appareils")
    await _grid_edit(user, device.id, device.version, "school", school.uai, "0750650Z")
    await see(user, "aucune ligne de « Établissements » n'a ce UAI")
    assert (await Device.get(id=device.id)).school_id == school.id


async def test_an_empty_choice_where_the_row_needs_one_is_refused_in_french(user: User, http: httpx.AsyncClient,
                                                                            admin: dict[str, str]) -> None:
    """Found by the fuzzer: emptying « Type » of a school (NOT NULL) raised a database error, a 500."""
    school = await make_school()
    for value in (None, ""):
        answer = await http.post("/api/sheets/schools/cells", headers=admin, json={
            "row_id": school.id, "field": "type", "value": value, "version": school.version})
        refused_in_french(answer, "« Type » ne peut pas être vide")
    bulk = await http.post("/api/sheets/schools/bulk", headers=admin,
                           json={"field": "csn_deployed", "value": None, "row_ids": [school.id]})
    refused_in_french(bulk, "ne peut pas être vide")
    await login(user, "agent")
    await user.open("/ecoles")
    await _grid_edit(user, school.id, school.version, "mode", "numerique", None)
    await see(user, "« Manuels » ne peut pas être vide")


async def test_a_date_as_a_huge_excel_serial_is_refused_in_french(http: httpx.AsyncClient,
                                                                  admin: dict[str, str]) -> None:
    """Found by the fuzzer: a number in a date cell is read as an Excel serial; 10^15 days overflowed (500)."""
    school = await make_school()
    device = await _device(school, "SER-DATE-1")
    for value, words in ((10**15, ("Conditions de prêt",)), (-5e293, ("Conditions de prêt",)),
                         ("31/12/9999", ("hors des années 1900–2200",))):
        answer = await http.post("/api/sheets/devices/cells", headers=admin, json={
            "row_id": device.id, "field": "loan_accepted_on", "value": value, "version": device.version})
        refused_in_french(answer, *words)


# --- Bodies of the wrong type ----------------------------------------------------------------------------------


async def test_an_unknown_field_in_bulk_is_refused_in_french(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    school = await make_school()
    answer = await http.post("/api/sheets/schools/bulk", headers=admin,
                             json={"field": "mot_de_passe", "value": "x", "row_ids": [school.id]})
    refused_in_french(answer, "Colonne inconnue « mot_de_passe »")


async def test_non_integer_ids_versions_and_counts_are_refused_in_french(http: httpx.AsyncClient,
                                                                         admin: dict[str, str]) -> None:
    school = await make_school()
    cases = [
        ("bulk", {"field": "name", "value": "x", "row_ids": ["un"]}, "row_ids.0"),
        ("bulk", {"field": "name", "value": "x", "row_ids": [1.5]}, "row_ids.0"),
        ("bulk", {"field": "name", "value": "x", "row_ids": [school.id], "expected_count": "deux"}, "expected_count"),
        ("cells", {"row_id": school.id, "field": "name", "value": "x", "version": "v1"}, "version"),
        ("cells", {"row_id": "un", "field": "name", "value": "x", "version": 1}, "row_id"),
        ("paste", {"text": "x", "row_ids": [school.id], "fields": ["name"], "versions": {"un": 1}}, "versions"),
        ("paste", {"text": "x", "row_ids": [school.id], "fields": ["name"], "versions": {str(school.id): "v"}},
         "versions"),
        ("delete", {"row_ids": [[1]]}, "row_ids.0"),
    ]
    for route, body, where in cases:
        answer = await http.post(f"/api/sheets/schools/{route}", headers=admin, json=body)
        refused_in_french(answer, "nombre entier attendu", where)


async def test_a_date_filter_on_9999_12_31_in_an_export_is_refused_in_french(http: httpx.AsyncClient,
                                                                             admin: dict[str, str]) -> None:
    await make_school()
    for column in ("updated_at", "delivered_on"):  # a date and time (a day after it overflowed), a date
        sheet = "schools" if column == "updated_at" else "devices"
        answer = await http.get(f"/api/sheets/{sheet}/export.xlsx", headers=admin,
                                params={"filter": f"{column}=9999-12-31"})
        refused_in_french(answer, "date hors des années 1900–2200")
    through_rows = await http.post("/api/sheets/schools/rows", headers=admin, json={"filterModel": {
        "updated_at": {"filterType": "date", "type": "inRange", "dateFrom": "2024-01-01", "dateTo": "9999-12-31"}}})
    refused_in_french(through_rows, "date hors des années")
    fine = await http.get("/api/sheets/schools/export.xlsx", headers=admin, params={"filter": "updated_at=2024-09-02"})
    assert fine.status_code == 200 and fine.content[:2] == b"PK"


async def test_integers_above_2_63_are_refused_in_french(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    school = await make_school()
    answers = [
        (await http.post("/api/sheets/schools/rows", headers=admin,
                         json={"startRow": ABOVE_INT64, "endRow": ABOVE_INT64 + 100}), "startRow"),
        (await http.get("/api/schools", headers=admin, params={"offset": ABOVE_INT64}), "offset"),
        (await http.get(f"/api/sheets/schools/rows/{ABOVE_INT64}/history", headers=admin), "row_id"),
        (await http.post("/api/sheets/devices/rows", headers=admin, json={"filterModel": {"wave": {
            "filterType": "number", "type": "equals", "filter": ABOVE_INT64}}}), "Vague"),
        (await http.post("/api/sheets/devices/rows", headers=admin, json={"filterModel": {"wave": {
            "filterType": "number", "type": "lessThan", "filter": 2**40}}}), "Vague"),  # beyond an INTEGER column
        (await http.post("/api/sheets/schools/cells", headers=admin, json={
            "row_id": school.id, "field": "name", "value": "x", "version": ABOVE_INT64}), "version"),
    ]
    for answer, where in answers:
        refused_in_french(answer, where)


async def test_start_row_infinity_and_nan_are_refused_in_french(http: httpx.AsyncClient,
                                                                admin: dict[str, str]) -> None:
    """Python's JSON reader accepts Infinity and NaN, which no JSON writer sends."""
    for body in ('{"startRow": Infinity}', '{"startRow": NaN, "endRow": 10}', '{"endRow": -Infinity}'):
        answer = await http.post("/api/sheets/schools/rows", content=body,
                                 headers={**admin, "Content-Type": "application/json"})
        refused_in_french(answer, "nombre fini attendu")


async def test_conditions_that_are_not_objects_are_refused_in_french(http: httpx.AsyncClient,
                                                                     admin: dict[str, str]) -> None:
    for conditions in ([1], ["texte"], [None], [[{"type": "blank"}]], "blank"):
        answer = await http.post("/api/sheets/schools/rows", headers=admin, json={"filterModel": {"name": {
            "filterType": "text", "operator": "AND", "conditions": conditions}}})
        refused_in_french(answer, "« Nom »")


# --- Every filter on every column, every hostile value in every editable column (the engine, both databases) ----

OPERATORS = ["contains", "notContains", "equals", "notEqual", "startsWith", "endsWith", "blank", "notBlank",
             "lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual", "inRange", "in", "regex"]
OPERANDS: list[Any] = ["abc", "", None, 2**40, -1.5, "2024-09-02", "9999-12-31", True, "0750650Z"]


async def _seed_small() -> None:
    from seed import seed_everything
    from seed.calendar import seed_calendar

    await seed_everything(devices=30)
    await seed_calendar()


async def test_every_filter_on_every_column_answers_rows_or_a_french_refusal(db: str) -> None:
    """Every operator, with operands of every type, on every column of every sheet: rows, or a QueryError in French;
    never another exception (a field validator, an INTEGER overflow on PostgreSQL, a date overflow)."""
    from sheets.engine.declaration import all_sheets
    from sheets.engine.query import QueryError, base_query

    await _seed_small()
    failures: list[str] = []
    tried = 0
    for sheet in all_sheets():
        for column in sheet.columns:
            cases: list[dict[str, Any]] = [{"filterType": "set", "values": [v]} for v in OPERANDS]
            cases += [{"filterType": "text", "type": op, "filter": v, "filterTo": v, "dateFrom": v, "dateTo": v}
                      for op in OPERATORS for v in OPERANDS]
            for cond in cases:
                tried += 1
                try:
                    await base_query(sheet, {column.field: cond}).count()
                except QueryError as exc:
                    if not any(w in str(exc) for w in ("Filtre", "filtre")):
                        failures.append(f"{sheet.name}.{column.field} {json.dumps(cond)}: {exc}")
                except Exception as exc:  # what the API would have answered with a 500
                    failures.append(f"{sheet.name}.{column.field} {json.dumps(cond)}: {type(exc).__name__}: {exc}")
    assert tried > 5000
    assert not failures, f"{len(failures)} server errors, e.g.:\n" + "\n".join(failures[:20])


HOSTILE: list[Any] = ["", None, "x" * 40_000, "abc", 2**40, -1, 10**15, 1e300, -5e293, 1.5, True, "9999-12-31",
                      "31/12/2205", "2024-02-30", "0750650Z", "PAS-UN-UAI", "oui"]


async def test_every_hostile_value_in_every_editable_column_is_saved_or_refused_in_french(db: str) -> None:
    """Every editable column of every sheet (and its life cycle's column) given values of every type: saved, or
    refused whole (WriteRefused, 4xx) with a French reason; never another exception (a 500 through the API)."""
    from sheets.engine.api import edit_cell
    from sheets.engine.caller import Caller
    from sheets.engine.declaration import all_sheets
    from sheets.engine.writes import WriteRefused

    await _seed_small()
    admin = Caller("admin@essai.fr", "admin")
    failures: list[str] = []
    tried = 0
    for sheet in all_sheets():
        row = await sheet.model.all().order_by("id").first()
        if row is None or not sheet.may_edit(admin):
            continue
        lifecycle = sheet.lifecycle.field if sheet.lifecycle else None
        for column in sheet.columns:
            if not column.editable and column.field != lifecycle:
                continue
            for value in HOSTILE:
                tried += 1
                version = getattr(await sheet.model.get(id=row.id), "version", None) if sheet.versioned else None
                try:
                    await edit_cell(sheet, row.id, column.field, value, version, admin)
                except WriteRefused as exc:
                    if not 400 <= exc.status < 500 or not str(exc):
                        failures.append(f"{sheet.name}.{column.field}={str(value)[:20]!r}: {exc.status} {exc}")
                except Exception as exc:
                    failures.append(f"{sheet.name}.{column.field}={str(value)[:20]!r}: {type(exc).__name__}: {exc}")
    assert tried > 300
    assert not failures, f"{len(failures)} server errors, e.g.:\n" + "\n".join(failures[:20])
