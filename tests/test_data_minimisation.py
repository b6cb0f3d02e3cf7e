"""R-SEC-4 (issue 10): data minimisation by role on every custom page and every download, not only on sheets.

For each role, every page registered with roles (a new page is covered without editing this test) is fetched and
every download it offers (buttons marked "download") is taken; the personal fields they show are listed: holders'
names, identifiers (INE / NUMEN) and classes, contacts' names and e-mails. A field may appear only for a role that
may read the sheet it comes from (`holders`, `contacts`: their read_roles), or, for a contact, when R-SEC-4's own
rule gives that partner the school's contacts of that role (models.accounts.contacts_visible_to).

Pages modules are imported inside the tests (the `user` fixture registers them again per test).
"""

from __future__ import annotations

import io
from typing import Any

import httpx
import openpyxl
from nicegui import ui
from nicegui.testing import User

from models.accounts import ACCOUNT_ROLES, Role, contacts_visible_to
from models.fleet import EndChoice, HolderKind, Status
from models.schools import ContactRole, Level
from sheets.engine.caller import Caller
from tests.factories import login, make_contact, make_school
from tests.test_fleet_rules import make_device, make_holder
from tests.test_security import _app_routes, _roles_of


async def _people(school: Any) -> dict[str, tuple[str, Any]]:
    """Personal values placed in a school, each with the sheet it comes from (and the contact's roles)."""
    with_device = await make_holder(school, ident="INE0000000PD", last_name="Zorglubdistri", first_name="Zélinde",
                                    class_name="TZ9DIST", level=Level.TERMINALE, end_choice=EndChoice.KEEP)
    await make_device(school=school, holder=with_device, status=Status.DELIVERED, serial="UNWMINI001")
    await make_holder(school, ident="INE0000000SD", last_name="Zorglubsansdev", first_name="Zéphyrine",
                      class_name="TZ9SANS", level=Level.TERMINALE)  # no device, no end-of-school choice
    returning = await make_holder(school, ident="NUMEN00000RT", last_name="Zorglubrendu", first_name="Zacharie",
                                  kind=HolderKind.TEACHER, class_name="")
    await make_device(school=school, holder=returning, status=Status.TO_RETURN, serial="UNWMINI002")
    chef = await make_contact(school, [ContactRole.CHEF], full_name="Zora Cheffe", email="zora.cheffe@ac-paris.fr")
    crre = await make_contact(school, [ContactRole.CRRE_PRESCRIPTEUR], full_name="Zénon Prescripteur",
                              email="zenon.prescripteur@ac-paris.fr")
    values: dict[str, tuple[str, Any]] = {}
    for holder in (with_device, await _holder("INE0000000SD"), returning):
        for value in (holder.ident, holder.last_name, holder.first_name, holder.class_name):
            if value:
                values[value] = ("holders", None)
    for contact, roles in ((chef, [ContactRole.CHEF.value]), (crre, [ContactRole.CRRE_PRESCRIPTEUR.value])):
        values[contact.full_name] = ("contacts", (contact, roles))
        values[contact.email] = ("contacts", (contact, roles))
    return values


async def _holder(ident: str) -> Any:
    from models.fleet import Holder

    return await Holder.get(ident=ident)


def _may_see(role: Role, source: tuple[str, Any]) -> bool:
    """R-SEC-4: a role sees a personal field when it reads the sheet it comes from (a contact: or when it is one of
    the school's contacts that partner's work needs)."""
    from sheets.engine.declaration import get_sheet

    sheet, contact = source
    caller = Caller("essai@x.fr", role.value)
    if get_sheet(sheet).may_read(caller):
        return True
    return contact is not None and bool(contacts_visible_to(role, [contact]))


def _shown(text: str, values: dict[str, tuple[str, Any]]) -> set[str]:
    return {v for v in values if v in text}


def _xlsx_text(content: bytes) -> str:
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    return "\n".join(str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row
                     if c is not None)


def _pages(uai: str) -> list[str]:
    """Every page registered with roles (GET, no /api/), with its path parameters filled."""
    from pages.auth import required_roles

    paths = []
    for path, route in _app_routes():
        if path.startswith(("/api", "/_nicegui", "/docs", "/openapi", "/redoc")) or path == "/logout":
            continue
        if required_roles(route.endpoint) is None and _roles_of(route) is None:
            continue
        for sample, value in (("{uai}", uai), ("{name}", "contacts")):
            path = path.replace(sample, value)
        assert "{" not in path, f"give {path} a sample value in _pages()"
        paths.append(path)
    return sorted(set(paths))


async def test_r_sec_4_every_page_and_download_shows_personal_fields_only_to_roles_that_may_read_them(
        user: User) -> None:
    from nicegui import app

    school = await make_school(name="Lycée Minimisation")
    values = await _people(school)
    pages = _pages(school.uai)
    assert {"/", "/ecoles", f"/ecoles/{school.uai}", "/parc", f"/parc/ecoles/{school.uai}", "/relances",
            "/support"} <= set(pages), pages
    leaks: list[str] = []
    seen: dict[tuple[str, str], set[str]] = {}  # (role, page or download) → personal values shown
    for role in ACCOUNT_ROLES:  # school people have no account: their page is covered by tests/test_school_scope.py
        await user.http_client.get("/logout")
        await login(user, role.value)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test",
                                     cookies=user.http_client.cookies) as http:
            for path in pages:
                response = await http.get(path)
                if response.status_code != 200:
                    continue  # refused (403) or another page (redirect): nothing shown
                seen[(role.value, path)] = _shown(response.text, values)
        for path in pages:
            if (role.value, path) not in seen:
                continue
            await user.open(path)
            buttons = list(user.find(marker="download").elements) if _has_marker(user, "download") else []
            for button in buttons:
                before = len(user.download.http_responses)
                user.find(kind=ui.button, content=button.text).click()
                try:
                    response = await user.download.next(timeout=5)
                except TimeoutError:
                    assert len(user.download.http_responses) == before
                    continue
                seen[(role.value, f"{path} ⤓ {button.text}")] = _shown(_xlsx_text(response.content), values)
    for (role, where), shown in sorted(seen.items()):
        for value in shown:
            if not _may_see(Role(role), values[value]):
                leaks.append(f"{role} sees « {value} » ({values[value][0]}) on {where}")
    assert not leaks, "\n".join(leaks)
    # The pages and files that show people do show them to those whose work needs them (the test can fail).
    fleet = f"/parc/ecoles/{school.uai}"
    assert {"Zorglubsansdev", "INE0000000SD", "TZ9SANS"} <= seen[("unowhy", fleet)]
    assert {"Zorglubdistri", "Zélinde", "TZ9DIST"} <= seen[("laposte", f"{fleet} ⤓ Liste de distribution La Poste "
                                                                     "(.xlsx)")]
    assert "NUMEN00000RT" in seen[("unowhy", f"{fleet} ⤓ Liste Unowhy : à collecter / restituer (.xlsx)")]
    assert {"Zora Cheffe", "zora.cheffe@ac-paris.fr"} <= seen[("maintenance", f"/ecoles/{school.uai}")]
    assert {"Zénon Prescripteur"} <= seen[("agent", f"/ecoles/{school.uai}")]
    # maintenance, who may not read the holders: counts on the school's fleet page, no names, no list to download
    assert not seen[("maintenance", fleet)] & {"Zorglubsansdev", "INE0000000SD", "TZ9SANS"}
    assert ("maintenance", f"{fleet} ⤓ Liste de distribution La Poste (.xlsx)") not in seen
    assert ("maintenance", f"{fleet} ⤓ Liste Unowhy : à collecter / restituer (.xlsx)") in seen  # without holders


def _has_marker(user: User, marker: str) -> bool:
    try:
        user.find(marker=marker)
    except AssertionError:
        return False
    return True


async def test_r_sec_4_maintenance_gets_counts_not_people_on_a_schools_fleet_page(user: User) -> None:
    """The finding of the issue: `/parc/ecoles/<UAI>` showed student numbers and names to maintenance, and its La
    Poste distribution list (names by class) could be downloaded."""
    school = await make_school(name="Lycée Maintenance")
    await _people(school)
    await login(user, "maintenance")
    await user.open(f"/parc/ecoles/{school.uai}")
    await user.should_see("Terminale sans choix garder / restituer (1)")
    await user.should_see("Noms, identifiants et classes réservés aux rôles qui consultent les porteurs (R-SEC-4).")
    await user.should_not_see("Liste de distribution La Poste (.xlsx)")
    await user.should_not_see("Fichier d'exemple (élèves)")
    for value in ("Zorglubsansdev", "INE0000000SD", "TZ9SANS"):
        await user.should_not_see(value)
    tables = [t for t in user.find(ui.table).elements] if _has_marker_kind(user, ui.table) else []
    assert not any("INE0000000SD" in str(t.rows) for t in tables)
    user.find(kind=ui.button, content="Liste Unowhy").click()
    content = _xlsx_text((await user.download.next(timeout=5)).content)
    assert "UNWMINI002" in content and "NUMEN00000RT" not in content and "Porteur" not in content


def _has_marker_kind(user: User, kind: type) -> bool:
    try:
        user.find(kind)
    except AssertionError:
        return False
    return True


async def test_r_sec_4_maintenance_never_sees_a_devices_holder_grid_api_export_history(user: User) -> None:
    """A device's holder (an INE) is hidden from maintenance everywhere the devices sheet is read: the grid's
    columns, the API's rows and declaration, filters and sort on it, the export, the row's history."""
    import httpx
    from nicegui import app

    from models.accounts import create_token
    from sheets.engine.caller import Caller
    from sheets.engine.writes import RowChange, apply_changes
    from sheets.fleet import DEVICES
    from tests.factories import make_account
    from tests.test_fleet_rules import make_device, make_holder

    school = await make_school()
    holder = await make_holder(school)
    device = await make_device(school=school, holder=None, status=Status.STOCK)
    await apply_changes(DEVICES, [RowChange(device.id, {"holder": holder.ident}, device.version)],
                        Caller("unowhy@x.fr", "unowhy"), parsed=False)
    account = await make_account("maintenance")
    _t, secret = await create_token(account, "essai")
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as http:
        meta = (await http.get("/api/sheets/devices", headers=headers)).json()
        assert "holder" not in {c["field"] for c in meta["columns"]}
        rows = (await http.post("/api/sheets/devices/rows", headers=headers, json={"startRow": 0, "endRow": 10})).json()
        assert rows["rows"] and all("holder" not in r for r in rows["rows"])
        assert holder.ident not in str(rows)
        probe = await http.post("/api/sheets/devices/rows", headers=headers, json={
            "startRow": 0, "endRow": 10, "filterModel": {"holder": {"filterType": "text", "type": "equals",
                                                                      "filter": holder.ident}}})
        assert probe.status_code == 400 and "Colonne inconnue" in probe.json()["detail"]  # no probing by filter
        history = (await http.get(f"/api/sheets/devices/rows/{device.id}/history", headers=headers)).json()
        assert history and holder.ident not in str(history)
        export = await http.get("/api/sheets/devices/export.xlsx", headers=headers)
        assert export.status_code == 200
        import io

        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(export.content))
        cells = {str(c.value) for row in book.worksheets[0].iter_rows() for c in row}
        assert "Porteur" not in cells and holder.ident not in cells
    await login(user, "maintenance")
    await user.open("/parc/appareils")
    grid = next(iter(user.find(ui.aggrid).elements))
    assert "holder" not in {c["field"] for c in grid.options["columnDefs"]}
    agent_view = DEVICES.seen_by(Caller("a@x.fr", "agent"))
    assert agent_view.has_column("holder")  # the Région's team still sees it
