"""The engine owns every write (issue 9): each reproduction of a write around it is refused, through the page and
through the API, and nothing is written; creation; the life cycle offers only allowed moves; data versions.

Pages modules are imported inside the tests (the `user` fixture registers them again per test).
"""

from __future__ import annotations

import httpx
import pytest
from nicegui.testing import User

from models.audit import AuditEntry
from models.campaign import CampaignEvent
from models.fleet import Device, Holder, RestockRequest, Status
from models.outbox import MailStatus, OutboxMail
from models.schools import Contact, School, SupportDesk
from seed.calendar import seed_calendar
from sheets.calendar import CALENDAR
from sheets.engine.caller import Caller
from sheets.engine.writes import RowChange, WriteRefused, apply_changes
from tests.factories import bearer, login, make_school
from tests.test_fleet_rules import make_holder


async def audit_count() -> int:
    """Rows of the audit trail."""
    return await AuditEntry.all().count()


# --- The reproductions of the issue, through the pages ---------------------------------------------


async def test_lecteur_cannot_edit_a_campaign_event_from_relances(user: User, http: httpx.AsyncClient) -> None:
    await seed_calendar()
    event = await CampaignEvent.filter(year=2024).order_by("id").first()
    assert event is not None
    await login(user, "lecteur")
    await user.open("/relances")
    await user.should_see("Consultation seule")
    await user.should_not_see("Copier vers l'année suivante")
    table = next(iter(user.find(marker="calendrier").elements))
    assert not any(getattr(listener, "type", "") == "rowClick" for listener in table._event_listeners.values())
    before = await audit_count()
    with pytest.raises(WriteRefused) as refused:  # the engine refuses even a crafted call with the lecteur's caller
        await apply_changes(CALENDAR, [RowChange(event.id, {"title": "Piraté"}, event.version)],
                            Caller("l@x.fr", "lecteur"), parsed=False)
    assert refused.value.status == 403
    answer = await http.post("/api/sheets/calendar/cells", headers=await bearer("lecteur"),
                             json={"row_id": event.id, "field": "title", "value": "Piraté", "version": event.version})
    assert answer.status_code == 403 and "Accès refusé" in answer.json()["detail"]
    assert (await CampaignEvent.get(id=event.id)).title == event.title and await audit_count() == before


async def test_maintenance_cannot_open_the_reminders_nor_copy_the_calendar(user: User,
                                                                           http: httpx.AsyncClient) -> None:
    await seed_calendar()
    await CampaignEvent.filter(year__gt=2024).delete()
    await login(user, "maintenance")
    page = await user.http_client.get("/relances")
    assert page.status_code == 403 and "Accès refusé" in page.text and "Copier vers" not in page.text
    for role in ("maintenance", "lecteur"):
        answer = await http.post("/api/sheets/calendar/actions/copy_next_year", headers=await bearer(role),
                                 json={"values": {"year": 2024}})
        assert answer.status_code == 403, (role, answer.text)
    assert await CampaignEvent.filter(year=2025).count() == 0 and await audit_count() == 0


async def test_maintenance_is_not_offered_a_restock_and_the_engine_refuses_it(user: User,
                                                                              http: httpx.AsyncClient) -> None:
    school = await make_school()
    await login(user, "maintenance")
    await user.open(f"/parc/ecoles/{school.uai}")
    await user.should_see("Réassort (nouveaux élèves)")
    await user.should_not_see("Demander un réassort")
    answer = await http.post("/api/sheets/restocks/create", headers=await bearer("maintenance"),
                             json={"rows": [{"school": school.uai, "quantity": 3}]})
    assert answer.status_code == 403
    lecteur = await http.post("/api/sheets/restocks/create", headers=await bearer("lecteur"),
                              json={"rows": [{"school": school.uai, "quantity": 3}]})
    assert lecteur.status_code == 403 and "Accès refusé" in lecteur.json()["detail"]
    assert await RestockRequest.all().count() == 0 and await audit_count() == 0


@pytest.mark.parametrize("role", ["lecteur", "maintenance"])
async def test_student_list_import_is_not_offered_and_refused(user: User, role: str) -> None:
    from models.fleet import HolderKind
    from sheets.fleet_movements import analyse_movements, apply_movements, write_sample

    school = await make_school()
    await make_holder(school)
    await login(user, role)
    await user.open(f"/parc/ecoles/{school.uai}")
    await user.should_not_see("Importer la base élèves (SIECLE)")
    await user.should_not_see("Importer la base enseignants (STS)")
    sample = __import__("pathlib").Path(__import__("tempfile").mkdtemp()) / "liste.xlsx"
    await write_sample(school, HolderKind.STUDENT, sample)
    report = await analyse_movements(sample, school, HolderKind.STUDENT)
    assert report.new  # the sample adds a student
    holders = await Holder.all().count()
    with pytest.raises(WriteRefused) as refused:
        await apply_movements(report, Caller(f"{role}@x.fr", role))
    assert refused.value.status == 403
    assert await Holder.all().count() == holders and await audit_count() == 0


async def test_requeue_of_failed_mails_is_for_the_team_only(user: User, http: httpx.AsyncClient) -> None:
    mail = await OutboxMail.create(key="essai:1", recipients="ce.0750650z@ac-paris.fr", subject="Essai",
                                   body_text="x", message_id="<x@y>", status=MailStatus.FAILED, attempts=10,
                                   last_error="550 refusé")
    await login(user, "lecteur")
    await user.open("/relances")
    await user.should_see("En échec : 1")
    await user.should_not_see("Remettre en file les courriels en échec")
    answer = await http.post("/api/sheets/outbox/actions/requeue", headers=await bearer("lecteur"),
                             json={"row_ids": [mail.id]})
    assert answer.status_code == 403
    assert (await OutboxMail.get(id=mail.id)).status == MailStatus.FAILED
    ok = await http.post("/api/sheets/outbox/actions/requeue", headers=await bearer("agent"),
                         json={"row_ids": [mail.id]})
    assert ok.status_code == 200, ok.text
    fresh = await OutboxMail.get(id=mail.id)
    assert fresh.status == MailStatus.PENDING and fresh.attempts == 0
    entry = await AuditEntry.get(sheet="outbox", row_id=mail.id, column="status")
    assert entry.source == "api" and entry.new_value == '"pending"'


async def test_the_grid_offers_only_the_moves_a_role_may_make(user: User) -> None:
    from pages.components.grid import column_def
    from sheets.fleet import DEVICES

    status = DEVICES.column("status")
    laposte = column_def(DEVICES, status, Caller("x", "laposte"))
    assert '"restitue": ["reinitialise"]' in laposte[":editable"] and "cellEditorParams" not in laposte
    agent = column_def(DEVICES, status, Caller("x", "agent"))
    assert '"restitue": []' in agent[":editable"]
    lecteur = column_def(DEVICES, status, Caller("x", "lecteur"))
    assert lecteur["editable"] is False and ":editable" not in lecteur
    await login(user, "lecteur")
    await user.open("/parc/appareils")
    await user.should_not_see(marker="actions")  # a lecteur has no life event to offer
    await user.should_not_see(marker="bulk")


# --- Concurrency --------------------------------------------------------------------------------------


async def test_two_same_version_edits_exactly_one_wins(db: str) -> None:
    """On SQLite and on PostgreSQL (READ COMMITTED), the guarded UPDATE lets one of two racing edits through."""
    import asyncio

    from sheets.engine.api import edit_cell
    from sheets.schools import SCHOOLS

    for attempt in range(10):
        school = await make_school(commune="Paris")

        async def edit(value: str, who: str, school: School = school) -> str:
            try:
                await edit_cell(SCHOOLS, school.id, "commune", value, 1, Caller(who, "agent"))
                return "ok"
            except WriteRefused as exc:
                assert exc.status == 409, exc.issues
                return "conflict"

        results = await asyncio.gather(edit("Meaux", "a@x.fr"), edit("Melun", "b@x.fr"))
        assert sorted(results) == ["conflict", "ok"], (attempt, results)
        fresh = await School.get(id=school.id)
        assert fresh.version == 2
        entries = await AuditEntry.filter(sheet="schools", row_id=school.id)
        assert len(entries) == 1 and entries[0].new_value == f'"{fresh.commune}"'


async def test_an_effect_per_batch_runs_once_after_every_row_and_refuses_the_whole_write(db: str) -> None:
    """`once_per_batch`: a per-row effect whose work is per school runs once at the end of the write, seeing every
    row written; a refusal there leaves nothing of the write (SQLite and PostgreSQL)."""
    from sheets.engine.writes import once_per_batch, refuse, set_values, unit_of_work
    from sheets.schools import SCHOOLS

    schools = [await make_school(commune="Paris") for _ in range(3)]
    seen: list[list[str]] = []

    async def count_communes() -> None:
        seen.append(sorted(await School.filter(id__in=[s.id for s in schools]).values_list("commune", flat=True)))

    async with unit_of_work():
        for school in schools:
            await set_values(SCHOOLS, [school.id], {"commune": "Meaux"}, Caller("a@x.fr", "agent"))
            once_per_batch("communes", count_communes)
    assert seen == [["Meaux"] * 3]  # once, after the three rows

    async def refused_at_the_end() -> None:
        raise refuse("Refusé à la fin du lot.")

    before = await audit_count()
    with pytest.raises(WriteRefused, match="fin du lot"):
        async with unit_of_work():
            await set_values(SCHOOLS, [schools[0].id], {"commune": "Melun"}, Caller("a@x.fr", "agent"))
            once_per_batch("refuse", refused_at_the_end)
    assert (await School.get(id=schools[0].id)).commune == "Meaux" and await audit_count() == before


async def test_api_cell_edit_needs_the_version(user: User, http: httpx.AsyncClient) -> None:
    school = await make_school(commune="Paris")
    headers = await bearer("agent")
    blind = await http.post("/api/sheets/schools/cells", headers=headers,
                            json={"row_id": school.id, "field": "commune", "value": "Melun"})
    assert blind.status_code == 422 and "version : obligatoire" in blind.json()["detail"]
    assert (await School.get(id=school.id)).commune == "Paris"


# --- Creation -------------------------------------------------------------------------------------------


async def test_creation_api_all_or_nothing_with_every_reason(user: User, http: httpx.AsyncClient) -> None:
    admin, agent, unowhy = await bearer("admin"), await bearer("agent"), await bearer("unowhy")
    schools = await http.post("/api/sheets/schools/create", headers=admin, json={"rows": [
        {"uai": "0750650z", "name": "Lycée Un", "commune": "Paris", "postal_code": "75005"},
        {"uai": "0930001W", "name": "Lycée Deux", "type": "LP"}]})
    assert schools.status_code == 200, schools.text
    created = schools.json()["created"]
    assert [c["key"] for c in created] == ["0750650Z", "0930001W"]
    assert (await School.get(uai="0930001W")).academie == "creteil"  # derived (R-SCH-2)
    refused = await http.post("/api/sheets/schools/create", headers=admin, json={"rows": [
        {"uai": "0750651A", "name": "Lycée Trois"},
        {"uai": "0750652B"},  # no name
        {"uai": "0750650Z", "name": "Déjà là"},  # exists
        {"uai": "1234567X", "name": "Mauvais UAI"}]})
    assert refused.status_code == 422
    messages = " | ".join(i["message"] for i in refused.json()["issues"])
    assert "Nom » est obligatoire" in messages and "existe déjà" in messages and "lettre" in messages.lower()
    assert await School.all().count() == 2  # nothing of the refused request was written
    assert (await http.post("/api/sheets/schools/create", headers=agent,
                            json={"rows": [{"uai": "0750651A", "name": "X"}]})).status_code == 403
    contact = await http.post("/api/sheets/contacts/create", headers=agent, json={"rows": [
        {"school": "0750650Z", "full_name": "Secrétariat", "email": "Secretariat.0750650Z@AC-PARIS.FR"}]})
    assert contact.status_code == 200, contact.text
    assert (await Contact.get(id=contact.json()["created"][0]["id"])).email == "secretariat.0750650z@ac-paris.fr"
    role = await http.post("/api/sheets/contact_roles/create", headers=agent, json={"rows": [
        {"contact": contact.json()["created"][0]["id"], "role": "Chef d'établissement"}]})
    assert role.status_code == 200, role.text
    devices = await http.post("/api/sheets/devices/create", headers=unowhy, json={"rows": [
        {"serial": f"UNW-NEW-{i}", "kind": "pc_eleve", "model": "Y13"} for i in range(3)]})
    assert devices.status_code == 200, devices.text
    assert await Device.filter(serial__startswith="UNW-NEW-", status=Status.STOCK).count() == 3
    in_use = await http.post("/api/sheets/devices/create", headers=unowhy, json={"rows": [
        {"serial": "UNW-NEW-9", "status": "remis"}]})
    assert in_use.status_code == 422 and "Stock régional" in in_use.json()["detail"]
    desk = await http.post("/api/sheets/support_desks/create", headers=agent, json={"rows": [
        {"name": "Support écrans", "phone": "01 00 00 00 00", "hours": "Lun-Ven 9-17"}]})
    assert desk.status_code == 200 and await SupportDesk.filter(name="Support écrans").exists()
    assert await AuditEntry.filter(column="*").count() == 2 + 1 + 1 + 3 + 1


async def test_new_row_from_the_grid(user: User) -> None:
    await login(user, "admin")
    await user.open("/ecoles")
    user.find(marker="new-row").click()
    await user.should_see("Nouvelle ligne · Établissements")
    user.find(marker="field-uai").type("0750650Z")
    user.find(marker="field-name").type("Lycée créé depuis la grille")
    user.find(marker="create").click()
    await user.should_see("Ligne 0750650Z créée.")
    school = await School.get(uai="0750650Z")
    assert school.name == "Lycée créé depuis la grille"
    assert (await AuditEntry.get(sheet="schools", row_id=school.id)).source == "grid"
    await user.http_client.get("/logout")
    await login(user, "agent")
    await user.open("/ecoles")
    await user.should_not_see("Nouvelle ligne")  # schools are created by admins


async def test_a_school_keeps_one_head(user: User, http: httpx.AsyncClient) -> None:
    from models.schools import ContactRole, ContactRoleAssignment
    from tests.factories import make_contact

    school = await make_school()
    head = await make_contact(school, [ContactRole.CHEF])
    assignment = await ContactRoleAssignment.get(contact=head)
    agent = await bearer("agent")
    alone = await http.post("/api/sheets/contact_roles/delete", headers=agent, json={"row_ids": [assignment.id]})
    assert alone.status_code == 422 and "chef d'établissement" in alone.json()["detail"]
    successor = await make_contact(school, [ContactRole.CHEF])
    ok = await http.post("/api/sheets/contact_roles/delete", headers=agent, json={"row_ids": [assignment.id]})
    assert ok.status_code == 200 and await ContactRoleAssignment.filter(contact=successor).exists()
    entry = await AuditEntry.get(sheet="contact_roles", row_id=assignment.id)
    assert entry.column == "*" and entry.new_value is None and "chef_etablissement" in (entry.old_value or "")


# --- Caches and discovery --------------------------------------------------------------------------


async def test_counts_follow_the_data_version_in_the_database(db: str) -> None:
    """A write by another process (here: straight into the database, then its data version) is seen at once."""
    from tortoise import connections

    from sheets.engine.query import BlockRequest, fetch_block
    from sheets.schools import SCHOOLS

    for _ in range(3):
        await make_school()
    request = BlockRequest(0, 2, [{"colId": "uai", "sort": "asc"}], {})
    assert (await fetch_block(SCHOOLS, request))["lastRow"] == 3
    await make_school()  # another process's write …
    assert (await fetch_block(SCHOOLS, request))["lastRow"] == 3  # … unseen while its version is unchanged
    conn = connections.get("default")
    placeholder = "$1" if conn.capabilities.dialect == "postgres" else "?"
    await conn.execute_query(
        f"INSERT INTO sheet_version (sheet, version) VALUES ({placeholder}, 1) "
        "ON CONFLICT (sheet) DO UPDATE SET version = sheet_version.version + 1", ["schools"])
    assert (await fetch_block(SCHOOLS, request))["lastRow"] == 4


async def test_navigation_comes_from_sheets_and_pages(user: User) -> None:
    from pages.components.frame import nav_entries
    from sheets.engine.declaration import all_sheets

    paths = {e.path for e in nav_entries(Caller("x", "admin"))}
    assert {"/", "/ecoles", "/parc", "/parc/appareils", "/relances", "/journal", "/utilisateurs"} <= paths
    assert {s.path for s in all_sheets() if s.nav} <= paths
    maintenance = {e.path for e in nav_entries(Caller("x", "maintenance"))}
    assert "/feuilles/contacts" not in maintenance and "/relances" not in maintenance and "/journal" not in maintenance
    assert "/parc/porteurs" not in maintenance  # personal data: not for maintenance (R-SEC-4)
    await login(user, "maintenance")
    await user.open("/")
    await user.should_see("Tableau régional du parc")
    await user.should_not_see("Journal des modifications")
    await user.should_not_see("Contacts")


def test_pages_never_write_around_the_engine() -> None:
    """No page calls the ORM to write, and none calls an engine write without its caller (ast walk)."""
    import ast
    from pathlib import Path

    orm_writes = {"save", "bulk_create", "bulk_update", "update_or_create", "get_or_create", "select_for_update"}
    engine_writes = {"apply_changes": 2, "create_rows": 2, "set_values": 3, "bulk_set": 4, "delete_rows": 2,
                     "run_action": 4, "undo_last": 0, "import_xlsx": None, "apply_movements": 1}
    problems: list[str] = []
    root = Path(__file__).resolve().parents[1] / "pages"
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            where = f"{path.relative_to(root.parent)}:{node.lineno}"
            receiver = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
            if name in orm_writes and receiver not in ("app.storage.user", "_store()", "store"):
                problems.append(f"{where} ORM write .{name}()")
            if name in ("create", "update", "delete") and isinstance(func, ast.Attribute) and (
                    receiver[:1].isupper() or ".filter(" in receiver or ".all(" in receiver):
                problems.append(f"{where} ORM write {receiver}.{name}()")
            if name in engine_writes:
                given = {k.arg for k in node.keywords}
                position = engine_writes[name]
                if "caller" not in given and (position is None or len(node.args) <= position):
                    problems.append(f"{where} {name}() without its caller")
    assert not problems, "\n".join(problems)


def test_official_list_loads_an_empty_database_through_the_cli(isolated_settings: object) -> None:
    """`python app.py import schools <official CSV>` creates every lycée of the list; again, it changes nothing."""
    import sqlite3

    from tests.cli import run_cli
    from tests.conftest import shared_file

    source = shared_file("data/idf_lycees_publics_2021-2022.csv")
    first = run_cli("import", "schools", str(source))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "452 nouvelle(s)" in first.stdout and "452 créée(s)" in first.stdout
    database = __import__("os").environ["DATABASE_URL"].removeprefix("sqlite://")
    with sqlite3.connect(database) as con:
        assert con.execute("SELECT COUNT(*) FROM school").fetchone()[0] == 452
        assert con.execute("SELECT COUNT(*) FROM school WHERE academie = 'creteil'").fetchone()[0] == 166
        lp = con.execute("SELECT track_generale, track_professionnelle FROM school WHERE type = 'LP'").fetchone()
        assert lp == (0, 1)  # a lycée professionnel teaches the professional track (R-SCH-4)
        assert con.execute("SELECT COUNT(*) FROM audit_entry WHERE \"column\" = '*' AND source = 'import' "
                           "AND actor LIKE 'cli:%'").fetchone()[0] == 452
        assert con.execute("SELECT COUNT(*) FROM holder").fetchone()[0] == 0  # no demo data
    again = run_cli("import", "schools", str(source))
    assert again.returncode == 0 and "452 inchangée(s)" in again.stdout and "0 créée(s)" in again.stdout
    with sqlite3.connect(database) as con:
        assert con.execute("SELECT COUNT(*) FROM audit_entry").fetchone()[0] == 452


async def test_jumps_from_landmarks_give_the_rows_an_offset_gives(db: str) -> None:
    """A deep jump starts from the landmark before it (issue 9: fast jumps in a filter no index serves)."""
    import datetime as dt
    import random

    from sheets.engine.dataversion import data_version
    from sheets.engine.declaration import get_sheet
    from sheets.engine.query import LANDMARKS, BlockRequest, base_query, fetch_block, order_by

    rng = random.Random(7)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    await AuditEntry.bulk_create([AuditEntry(
        at=start + dt.timedelta(minutes=rng.randrange(0, 3000)), actor="a@x.fr", sheet="devices", row_id=i,
        row_key=f"K{i}", column="status", source=rng.choice(["grid", "bulk", "import", "api"]), batch="b")
        for i in range(2500)], batch_size=500)
    sheet = get_sheet("audit")
    filters = {"source": {"filterType": "set", "values": ["bulk", "import"]}}
    sort = [{"colId": "at", "sort": "desc"}]
    request = BlockRequest(0, 100, sort, filters)
    terms = order_by(sheet, sort)
    key = LANDMARKS.key(sheet, request, await data_version("audit"), None)
    await LANDMARKS.build(sheet, base_query(sheet, filters), terms, key)
    marks = LANDMARKS.get(key)
    total = await base_query(sheet, filters).count()
    assert marks is not None and len(marks) == total // 100
    every = list(await base_query(sheet, filters).order_by(*terms).values_list("id", flat=True))
    for depth in (100, 250, 777, total - 150, total - 100):
        block = await fetch_block(sheet, BlockRequest(depth, depth + 100, sort, filters))
        assert [r["id"] for r in block["rows"]] == every[depth:depth + 100], depth
