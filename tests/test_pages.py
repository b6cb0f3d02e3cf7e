"""Pages through NiceGUI's simulated user: home, schools list, school page, 404s, API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from nicegui import ui
from nicegui.testing import User

from models.schools import ContactRole
from tests.factories import make_contact, make_school


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
    await user.should_see("Lycée Alpha")  # Wi-Fi to configure (R-SCH-7)
    await user.should_see("Signaler un incident de sécurité")


async def test_schools_list_pages_sorts_and_searches(user: User) -> None:
    for i in range(60):
        await make_school(name=f"Lycée {i:02d}", commune="Meaux" if i == 7 else "Paris", departement="77")
    await user.open("/ecoles")
    await user.should_see("60 établissement(s)")
    rows = table_rows(user)
    assert len(rows) == 50
    assert [r["uai"] for r in rows] == sorted(r["uai"] for r in rows)
    user.find(ui.input).type("meaux")
    await user.should_see("1 établissement(s)")
    rows = table_rows(user)
    assert [r["name"] for r in rows] == ["Lycée 07"]
    assert rows[0]["academie"] == "Créteil"


async def test_schools_list_sort_request_from_the_table(user: User) -> None:
    await make_school(name="Bêta")
    await make_school(name="Alpha")
    await user.open("/ecoles")
    table = next(iter(user.find(ui.table).elements))
    assert [r["name"] for r in table.rows] == ["Bêta", "Alpha"]  # by UAI, creation order
    # What Quasar sends when a column header is clicked (server-side pagination).
    user.find(ui.table).trigger("request", {"pagination": {**table.pagination, "sortBy": "name", "descending": False}})
    for _ in range(40):
        if [r["name"] for r in table.rows] == ["Alpha", "Bêta"]:
            break
        await asyncio.sleep(0.05)
    assert [r["name"] for r in table.rows] == ["Alpha", "Bêta"]
    assert table.pagination["sortBy"] == "name" and table.pagination["rowsNumber"] == 2


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
