"""Pages through NiceGUI's simulated user: home, schools list, school page, 404s, API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from nicegui import ui
from nicegui.testing import User

from models.schools import ContactRole, School
from tests.factories import make_contact, make_school, see


@pytest.fixture(autouse=True)
async def _logged_in(logged_in: object) -> None:
    """Every page here is seen by a logged-in agent (the login guard is tested in test_security.py)."""


@pytest.fixture
async def client(user: User) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client on the app the `user` fixture started, with its logged-in session cookie."""
    from nicegui import app

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test",
                                 cookies=user.http_client.cookies) as http:
        yield http


def table_rows(user: User) -> list[dict]:
    """Rows of the first table of the page."""
    tables = list(user.find(ui.table).elements)
    assert tables, "no table on the page"
    return tables[0].rows


async def test_home_shows_figures(user: User) -> None:
    await make_school(name="Lycée Alpha", wifi_mdm_configured=False)
    await user.open("/")
    await user.should_see("Tableau de bord")
    await see(user, "Wi-Fi à configurer ou à reconnecter dans le MDM (R-SCH-7)")  # an alert, counted
    from tests.test_steering import link_around

    assert link_around(user, "Wi-Fi à configurer ou à reconnecter dans le MDM (R-SCH-7)").props["href"] == "/ecoles"
    await user.should_see("Signaler un incident de sécurité")


async def test_schools_page_is_the_engine_grid(user: User) -> None:
    await make_school(name="Lycée Alpha")
    await user.open("/ecoles")
    grids = list(user.find(ui.aggrid).elements)
    assert len(grids) == 1
    options = grids[0].options
    assert options["rowModelType"] == "infinite"
    assert "/api/sheets/schools/rows" in options[":datasource"]
    assert "rowData" not in options  # the browser never receives the whole table
    await user.should_see("Modifier en masse")


async def test_sheet_rows_endpoint_pages_sorts_and_filters(client: httpx.AsyncClient) -> None:
    for i in range(60):
        await make_school(name=f"Lycée {i:02d}", commune="Meaux" if i == 7 else "Paris", departement="77")
    body = {"startRow": 0, "endRow": 50, "sortModel": [{"colId": "name", "sort": "desc"}], "filterModel": {}}
    page = (await client.post("/api/sheets/schools/rows", json=body)).json()
    assert len(page["rows"]) == 50 and page["lastRow"] == 60
    assert page["rows"][0]["name"] == "Lycée 59"
    body["filterModel"] = {"commune": {"filterType": "text", "type": "equals", "filter": "meaux"}}
    page = (await client.post("/api/sheets/schools/rows", json=body)).json()
    assert [r["name"] for r in page["rows"]] == ["Lycée 07"] and page["lastRow"] == 1
    assert page["rows"][0]["academie"] == "creteil"
    bad = await client.post("/api/sheets/schools/rows", json={**body, "sortModel": [{"colId": "secret"}]})
    assert bad.status_code == 400 and "Colonne inconnue" in bad.json()["detail"]
    assert (await client.post("/api/sheets/nope/rows", json=body)).status_code == 404
    not_json = await client.post("/api/sheets/schools/rows", content="startRow=0",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert not_json.status_code in (400, 422) and "Requête invalide" in not_json.json()["detail"]


async def test_sheet_cell_bulk_undo_history_endpoints(client: httpx.AsyncClient) -> None:
    school = await make_school(commune="Paris", csn_deployed=False)
    ok = await client.post("/api/sheets/schools/cells",
                           json={"row_id": school.id, "field": "commune", "value": "Meaux", "version": 1})
    assert ok.status_code == 200 and ok.json()["row"]["commune"] == "Meaux"
    conflict = await client.post("/api/sheets/schools/cells",
                                 json={"row_id": school.id, "field": "commune", "value": "Melun", "version": 1})
    assert conflict.status_code == 409 and "Conflit" in conflict.json()["detail"]
    bad = await client.post("/api/sheets/schools/cells",
                            json={"row_id": school.id, "field": "csn_deployed", "value": "bof", "version": 2})
    assert bad.status_code == 422 and bad.json()["issues"][0]["column"] == "csn_deployed"
    blind = await client.post("/api/sheets/schools/cells",  # no version: an edit never overwrites blindly
                              json={"row_id": school.id, "field": "commune", "value": "Melun"})
    assert blind.status_code == 422 and "version : obligatoire" in blind.json()["detail"]
    assert (await School.get(id=school.id)).commune == "Meaux"
    bulk = await client.post("/api/sheets/schools/bulk", json={
        "field": "csn_deployed", "value": "oui", "expected_count": 1,
        "filterModel": {"commune": {"filterType": "text", "type": "equals", "filter": "Meaux"}}})
    assert bulk.status_code == 200 and bulk.json()["changed"] == 1
    stale = await client.post("/api/sheets/schools/bulk", json={"field": "csn_deployed", "value": "non",
                                                               "expected_count": 5, "filterModel": {}})
    assert stale.status_code == 409
    undo = await client.post("/api/sheets/undo")
    assert undo.status_code == 200 and "1 modification(s)" in undo.json()["undone"]
    history = (await client.get(f"/api/sheets/schools/rows/{school.id}/history")).json()
    assert [h["source"] for h in history] == ["undo", "bulk", "api"]
    meta = (await client.get("/api/sheets/schools")).json()
    assert meta["key"] == "uai" and any(c["field"] == "mode" and c["choices"] for c in meta["columns"])


async def test_journal_and_generic_sheet_pages(user: User) -> None:
    """R-SEC-4: the audit journal is for admins; the contacts sheet for the Région's team, not partners."""
    from tests.factories import login

    await user.open("/feuilles/contacts")  # logged in as an agent by the module's fixture
    await user.should_see("Contacts des établissements")
    await user.http_client.get("/logout")
    await login(user, "laposte")
    from nicegui import app

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test",
                                 cookies=user.http_client.cookies) as http:
        assert (await http.get("/journal")).status_code == 403
        page = await http.get("/feuilles/contacts")
        assert page.status_code == 403 and "ne donne pas accès" in page.text
        rows = await http.post("/api/sheets/contacts/rows", json={"startRow": 0, "endRow": 10})
        assert rows.status_code == 403
        assert (await http.post("/api/sheets/schools/rows", json={"startRow": 0, "endRow": 10})).status_code == 200
    await user.http_client.get("/logout")
    await login(user, "admin")
    await user.open("/journal")
    await user.should_see("Chaque modification")


async def test_school_page_shows_identity_and_contacts(user: User) -> None:
    school = await make_school(name="Lycée Gamma", departement="93", csn_deployed=True)
    await make_contact(school, [ContactRole.LA_POSTE], full_name="Claire Durand")
    await user.open(f"/ecoles/{school.uai}")
    await user.should_see("Lycée Gamma")
    await user.should_see(f"ce.{school.uai.lower()}@ac-creteil.fr")  # R-SCH-3
    await user.should_see("Claire Durand")
    await user.should_see("Groupe « La Poste »")  # R-SCH-5


async def test_school_page_lower_case_uai_finds_the_school(user: User) -> None:
    school = await make_school(name="Lycée Delta")
    await user.open(f"/ecoles/{school.uai.lower()}")
    await user.should_see("Lycée Delta")


async def test_malformed_uai_in_url_gives_french_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/ecoles/0750650W")
    assert response.status_code == 404
    assert "Page introuvable (erreur 404)" in response.text
    assert "la lettre de contrôle doit être « Z »" in response.text


async def test_unknown_uai_gives_french_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/ecoles/0750650Z")
    assert response.status_code == 404
    assert "Aucun établissement n'a l'UAI 0750650Z" in response.text


async def test_http_status_codes(client: httpx.AsyncClient) -> None:
    school = await make_school()
    assert (await client.get("/ecoles")).status_code == 200
    assert (await client.get(f"/ecoles/{school.uai}")).status_code == 200
    bad = await client.get("/ecoles/0750650W")
    assert bad.status_code == 404 and "Page introuvable" in bad.text
    assert (await client.get("/ecoles/xx<script>")).status_code == 404
    unknown = await client.get("/nulle-part")
    assert unknown.status_code == 404 and "ne correspond à aucune page" in unknown.text
    api_unknown = await client.get("/api/nulle-part")
    assert api_unknown.status_code == 404 and api_unknown.json()["detail"]


async def test_api_schools_and_openapi(client: httpx.AsyncClient) -> None:
    school = await make_school(name="Lycée Epsilon", departement="92")
    await make_contact(school, [ContactRole.CHEF], full_name="Paul Petit")
    listing = (await client.get("/api/schools", params={"q": "epsilon"})).json()
    assert listing["total"] == 1
    assert listing["rows"][0]["academie"] == "versailles"
    detail = (await client.get(f"/api/schools/{school.uai.lower()}")).json()
    assert detail["contacts"][0]["roles"] == ["chef_etablissement"]
    bad = await client.get("/api/schools/0750650W")
    assert bad.status_code == 404 and "lettre de contrôle" in bad.json()["detail"]
    assert (await client.get("/api/schools", params={"limit": 100000})).status_code == 422
    spec = (await client.get("/openapi.json")).json()
    assert "/api/schools" in spec["paths"] and "/api/schools/{uai}" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_support_directory_r_org_3(user: User) -> None:
    from seed.demo import seed_demo

    await seed_demo()
    await user.open("/support")
    await user.should_see("N° vert maintenance")
    await user.should_see("0800 711 194")
    await user.should_see("Ne pas diffuser")


async def test_export_endpoint_streams_the_filtered_sheet(client: httpx.AsyncClient) -> None:
    import io

    import openpyxl

    await make_school(name="Lycée Export", commune="Meaux")
    await make_school(name="Lycée Autre", commune="Paris")
    response = await client.get("/api/sheets/schools/export.xlsx", params={"filter": "commune=Meaux"})
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
    names = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert names == ["Lycée Export"]
    bad = await client.get("/api/sheets/schools/export.xlsx", params={"filter": "secret=1"})
    assert bad.status_code == 400 and "Colonne inconnue" in bad.json()["detail"]
