"""« Mon établissement » through NiceGUI's simulated user signed in by an e-mail link, and the school-side rules
behind it through the engine with a school's caller: R-FLEET-6, R-FLEET-8, R-FLEET-12, R-SCH-5, R-SLOT-2."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from models.fleet import Device, EndChoice, Holder, HolderKind, RestockRequest, RestockStatus, Situation, Status
from models.schools import Contact, ContactRole, ContactRoleAssignment, School
from sheets.engine.caller import Caller
from sheets.engine.writes import WriteRefused
from tests.factories import make_contact, make_school
from tests.test_fleet_rules import make_device, make_holder


async def school_login(user: User, school: School, roles: list[ContactRole], **fields: Any) -> Contact:
    """A contact of the school, signed in through its link (as the mail gives it)."""
    from models.access import request_link

    contact = await make_contact(school, roles, **fields)
    link = await request_link(contact.email, "192.0.2.10")
    assert link is not None
    response = await user.http_client.get(f"/acces/{link.secret}")
    assert response.status_code == 303
    return contact


def school_caller(contact: Contact, uai: str, roles: list[ContactRole]) -> Caller:
    """What the page's caller is for a contact: role ecole, its school, its grants, source « lien e-mail »."""
    return Caller.school(contact.email, frozenset({uai}), frozenset((uai, r.value) for r in roles))


async def wait_for(check: Any, seconds: float = 5) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met")


def marked(user: User, marker: str) -> list[Any]:
    try:
        return list(user.find(marker=marker).elements)
    except AssertionError:
        return []


async def test_the_page_shows_the_sections_of_the_contacts_roles(user: User) -> None:
    school = await make_school(name="Lycée Alpha")
    await school_login(user, school, [ContactRole.CHEF], full_name="Anne Cheffe")
    await user.open(f"/etablissement/{school.uai}")
    await user.should_see("Mon établissement · Lycée Alpha")
    await user.should_see("Vos rôles : Chef d'établissement")
    for title in ("À faire", "Parc de l'établissement (vue MDM)", "Listes des élèves (SIECLE)",
                  "Réassort de PC", "Contacts et groupes"):
        await user.should_see(title)
    await user.should_not_see("Mon compte")  # no account: no account page
    # A member of the « La Poste » group: what is due and the restocks (it signs), not the fleet nor the contacts.
    await user.http_client.get("/logout")
    await school_login(user, school, [ContactRole.LA_POSTE])
    await user.open(f"/etablissement/{school.uai}")
    await user.should_see("Réassort de PC")
    await user.should_see("À faire")
    for hidden in ("Parc de l'établissement (vue MDM)", "Contacts et groupes", "Listes des élèves"):
        await user.should_not_see(hidden)


async def test_r_fleet_6_heads_see_their_schools_fleet_the_mdm_view(user: User) -> None:
    school, other = await make_school(), await make_school()
    mine = await make_device(school=school, holder=await make_holder(school, last_name="Durand", class_name="2de B"))
    theirs = await make_device(school=other, holder=await make_holder(other, last_name="Voisin"))
    await make_device(school=school, status=Status.DELIVERED, serial="UNWSANSPORTEUR")
    await school_login(user, school, [ContactRole.COORDONNATEUR])
    await user.open(f"/etablissement/{school.uai}")
    await user.should_see("Parc de l'établissement (vue MDM)")
    table = next(iter(user.find(marker="devices-table").elements))
    serials = {r["serial"]: r for r in table.rows}
    assert mine.serial in serials and theirs.serial not in serials
    assert serials[mine.serial]["holder"].startswith("Durand") and serials[mine.serial]["class_name"] == "2de B"
    await user.should_see("Appareils à renvoyer (1)")  # R-FLEET-4: a device without a holder at the school
    await user.should_see("UNWSANSPORTEUR")
    await user.should_not_see("Voisin")


async def test_r_fleet_8_the_school_records_a_keep_or_return_decision(user: User) -> None:
    school = await make_school()
    graduate = await make_holder(school, level="Tle", last_name="Bachelier", situation=Situation.FINISHED)
    laptop = await make_device(school=school, holder=graduate)
    await school_login(user, school, [ContactRole.CHEF])
    await user.open(f"/etablissement/{school.uai}")
    await user.should_see("Élèves de Terminale sans choix garder / restituer (1)")
    await user.should_see("sorti(e) : décision avant le 30/09")
    user.find(kind=ui.button, content=EndChoice.KEEP.label).click()
    await wait_for(lambda: _choice(graduate.id))
    await user.should_see("Tous les élèves de Terminale ont choisi")  # the page reloaded
    assert (await Device.get(id=laptop.id)).status == Status.KEPT  # R-FLEET-8: kept, MDM unenrolment due
    assert (await Device.get(id=laptop.id)).mdm_unenroll_by is not None


async def _choice(holder_id: int) -> bool:
    return (await Holder.get(id=holder_id)).end_choice is not None


async def test_r_fleet_12_restock_asked_received_and_signed_by_the_schools_people(user: User) -> None:
    from models.access import school_access
    from sheets.engine.actions import run_action
    from sheets.engine.writes import create_rows
    from sheets.fleet import RESTOCKS

    school = await make_school()
    for i in range(4):
        await make_device(status=Status.STOCK, serial=f"UNWSTOCK{i}", kind="pc_eleve", holder=None)
    head = await school_login(user, school, [ContactRole.CHEF])
    await user.open(f"/etablissement/{school.uai}")
    await user.should_see("Demander un réassort")
    user.find(marker="ask-restock").click()
    await wait_for(lambda: RestockRequest.filter(school=school).exists())
    await user.should_see("Demandé")  # the page reloaded, the request listed
    request = await RestockRequest.get(school=school)
    assert request.quantity == 1 and request.status == RestockStatus.REQUESTED
    await run_action(RESTOCKS, "ship", [request.id], {}, Caller("unowhy@demo", "unowhy"))  # Unowhy ships
    await user.open(f"/etablissement/{school.uai}")
    user.find(marker="restock-receive").click()  # the school validates the reception
    await wait_for(lambda: _restock_is(request.id, RestockStatus.RECEIVED))
    await _reloaded(user, "restock-receive")
    # The head may not sign the certificates: an authorised person of the « La Poste » group does, in their name.
    access = await school_access(head.email)
    assert access is not None
    head_caller = school_caller(head, school.uai, [ContactRole.CHEF])
    with pytest.raises(WriteRefused) as refused:
        await run_action(RESTOCKS, "sign", [request.id], {}, head_caller)
    assert refused.value.status == 403
    await user.http_client.get("/logout")
    signer = await school_login(user, school, [ContactRole.LA_POSTE], full_name="Louis Poste")
    await user.open(f"/etablissement/{school.uai}")
    user.find(marker="restock-sign").click()
    await wait_for(lambda: _restock_is(request.id, RestockStatus.SIGNED))
    await _reloaded(user, "restock-sign")
    await user.should_see("signée par Louis Poste")
    assert (await RestockRequest.get(id=request.id)).signed_by.startswith(f"Louis Poste <{signer.email}>")
    # Another school's request is out of reach, and the school cannot ask for another school.
    other = await make_school()
    with pytest.raises(WriteRefused, match="hors de votre périmètre"):
        await create_rows(RESTOCKS, [{"school": other.uai, "quantity": 2}], head_caller)


async def _reloaded(user: User, marker: str) -> None:
    """Wait until the page reloaded after a click (the clicked button is gone)."""
    for _ in range(200):
        if not marked(user, marker):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{marker} still shown")


async def _restock_is(request_id: int, status: RestockStatus) -> bool:
    return (await RestockRequest.get(id=request_id)).status == status


async def test_r_sch_5_the_head_and_the_adml_maintain_the_schools_roles(user: User) -> None:
    from sheets.contacts import CONTACT_ROLES, CONTACTS
    from sheets.engine.writes import apply_changes, create_rows, delete_rows

    school, other = await make_school(), await make_school()
    head = await make_contact(school, [ContactRole.CHEF], full_name="Anne Cheffe")
    adml = await make_contact(school, [ContactRole.ADML], full_name="Adèle Admin")
    teacher = await make_contact(school, [], full_name="Paul Prof")
    stranger = await make_contact(other, [ContactRole.CHEF])
    as_adml = school_caller(adml, school.uai, [ContactRole.ADML])
    as_head = school_caller(head, school.uai, [ContactRole.CHEF])
    # The ADML maintains the groups (27/05 « La Poste », 26/06 CRRE, 15/08 RESP-AFFECT-GAR)…
    created = await create_rows(CONTACT_ROLES, [{"contact": teacher.id, "role": "groupe_la_poste"},
                                                {"contact": teacher.id, "role": "crre_prescripteur"},
                                                {"contact": teacher.id, "role": "resp_affect_gar"}], as_adml)
    assert len(created.created) == 3
    # …not the head's role, nor anyone of another school.
    with pytest.raises(WriteRefused, match="Réservé au chef"):
        await create_rows(CONTACT_ROLES, [{"contact": teacher.id, "role": "chef_etablissement"}], as_adml)
    with pytest.raises(WriteRefused, match="hors de votre périmètre"):
        await create_rows(CONTACT_ROLES, [{"contact": stranger.id, "role": "groupe_la_poste"}], as_adml)
    head_role = await ContactRoleAssignment.get(contact_id=head.id)
    with pytest.raises(WriteRefused, match="Réservé au chef"):
        await apply_changes(CONTACT_ROLES, [__import__("sheets.engine.writes", fromlist=["RowChange"]).RowChange(
            head_role.id, {"role": "groupe_la_poste"})], as_adml, parsed=False)
    with pytest.raises(WriteRefused, match="Réservé au chef"):  # nor redirect the head's access to another address
        await apply_changes(CONTACTS, [__import__("sheets.engine.writes", fromlist=["RowChange"]).RowChange(
            head.id, {"email": "pirate@ac-paris.fr"})], as_adml, parsed=False)
    # The head names a successor, then hands over; the school keeps one head.
    with pytest.raises(WriteRefused, match="doit garder un chef"):
        await delete_rows(CONTACT_ROLES, [head_role.id], as_head)
    await create_rows(CONTACT_ROLES, [{"contact": adml.id, "role": "chef_etablissement"}], as_head)
    await delete_rows(CONTACT_ROLES, [head_role.id], as_head)
    assert await ContactRoleAssignment.filter(contact_id=adml.id, role=ContactRole.CHEF).exists()
    # A new person added by the ADML, in its own school only.
    await create_rows(CONTACTS, [{"school": school.uai, "full_name": "Nina Nouvelle",
                                  "email": "nina.nouvelle@ac-paris.fr"}], as_adml)
    with pytest.raises(WriteRefused, match="hors de votre périmètre"):
        await create_rows(CONTACTS, [{"school": other.uai, "full_name": "X", "email": "x@ac-paris.fr"}], as_adml)
    # On the page: the ADML is offered only the roles it maintains, and sees the preconditions.
    await school_login(user, school, [ContactRole.ADML], email="adml2@ac-paris.fr")
    await user.open(f"/etablissement/{school.uai}")
    await user.should_see("Contacts et groupes de l'établissement")
    await user.should_see("Désigné : un membre du groupe « La Poste »")
    options = next(iter(user.find(marker="role-choice").elements)).options
    assert set(options) == {"groupe_la_poste", "crre_prescripteur", "crre_valideur", "resp_affect_gar"}
    await user.should_not_see(stranger.full_name)


async def test_r_slot_2_lists_due_seven_working_days_before_the_delivery(user: User, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """R-SLOT-2: from the calendar's delivery window (or a school's own delivery date), 7 working days before; done
    once the list is applied (recorded), the item leaves « À faire »."""
    import settings as settings_module
    from models.school_lists import ListUpload, lists_pending, register_delivery_dates
    from seed.calendar import seed_calendar
    from sheets.engine.xlsx import write_xlsx
    from sheets.fleet_movements import SAMPLE_COLUMNS, analyse_movements, apply_movements

    await seed_calendar()
    school = await make_school(name="Lycée Numérique")
    day = dt.date(2024, 8, 20)
    items = [i for i in await lists_pending(day, day + dt.timedelta(days=30)) if i.school.id == school.id]
    # The delivery window opens Monday 09/09/2024: 7 working days before is Thursday 29/08.
    assert {(i.title, i.due) for i in items} == {("Importer la base élèves (SIECLE)", dt.date(2024, 8, 29)),
                                                 ("Importer la base enseignants (STS)", dt.date(2024, 8, 29))}
    # A school's own delivery date (the slots register theirs) wins; French public holidays are skipped.
    async def booked(ids: list[int]) -> dict[int, dt.date]:
        return {school.id: dt.date(2024, 11, 14)} if school.id in ids else {}

    from models import school_lists

    kept = dict(school_lists._PROVIDERS)  # the slots' own provider stays registered for the other tests
    register_delivery_dates(booked)
    try:
        due = {i.due for i in await lists_pending(dt.date(2024, 10, 20), dt.date(2024, 12, 1))
               if i.school.id == school.id}
        assert due == {dt.date(2024, 11, 4)}  # 11/11 is a holiday: 13, 12, 8, 7, 6, 5, 4 November
    finally:
        school_lists._PROVIDERS.clear()
        school_lists._PROVIDERS.update(kept)
    # The head uploads the student list: the SIECLE item is done, the STS one stays; the page says so.
    tz = settings_module.tz()
    monkeypatch.setattr(settings_module, "now", lambda: dt.datetime(2024, 8, 20, 9, 0, tzinfo=tz))
    head = await school_login(user, school, [ContactRole.CHEF])
    student = await make_holder(school, level="2de")
    path = tmp_path / "siecle.xlsx"
    write_xlsx(path, SAMPLE_COLUMNS, [[student.ident, student.last_name, "Léa", "2de A", "2de", "Générale"],
                                      ["INE2024NEW01", "Nouvelle", "Inès", "2de B", "2de", "Générale"]])
    caller = school_caller(head, school.uai, [ContactRole.CHEF])
    report = await analyse_movements(path, school, HolderKind.STUDENT, caller)
    await apply_movements(report, caller)
    upload = await ListUpload.get(school=school)
    assert upload.uploaded_by == head.email and upload.new == 1
    left = [i.title for i in await lists_pending(day, day + dt.timedelta(days=30)) if i.school.id == school.id]
    assert left == ["Importer la base enseignants (STS)"]
    await user.open(f"/etablissement/{school.uai}")
    due = [" ".join(e.text for e in row.descendants() if getattr(e, "text", ""))
           for row in user.find(marker="due-item").elements]
    lists_due = [d for d in due if "R-SLOT-2" in d]
    assert len(lists_due) == 1 and "Importer la base enseignants (STS)" in lists_due[0]  # nothing done is listed
    assert "29/08/2024" in lists_due[0]
    await user.should_see("Faire maintenant →")  # the action in place: the lists' section
    await user.should_see("au plus tard le 29/08/2024")
    from pages.fmt import fr_date

    await user.should_see(f"importée le {fr_date(upload.uploaded_at)} par {head.email}")


async def test_r_fleet_3_a_school_pulls_its_new_student_from_another_school_without_seeing_it(user: User,
                                                                                            tmp_path: Path) -> None:
    """Through school access: the new school's head applies its list; the student (and the device) come from the
    old school, which the head cannot otherwise reach nor is told about (R-SEC-4)."""
    from sheets.engine.xlsx import write_xlsx
    from sheets.fleet_movements import SAMPLE_COLUMNS, analyse_movements, apply_movements

    old, new = await make_school(), await make_school()
    mover = await make_holder(old, level="1re")
    laptop = await make_device(school=old, holder=mover)
    head = await make_contact(new, [ContactRole.CHEF])
    caller = school_caller(head, new.uai, [ContactRole.CHEF])
    path = tmp_path / "siecle.xlsx"
    write_xlsx(path, SAMPLE_COLUMNS, [[mover.ident, mover.last_name, "Léa", "1re C", "1re", "Générale"]])
    report = await analyse_movements(path, new, HolderKind.STUDENT, caller)
    assert [m.detail for m in report.moved] == ["vient d'un autre lycée d'Île-de-France"]  # not the old UAI
    await apply_movements(report, caller)
    assert (await Holder.get(id=mover.id)).school_id == new.id
    after = await Device.get(id=laptop.id)
    assert after.school_id == new.id and after.status == Status.DISTRIBUTED
    # A school cannot apply a list to another school.
    stranger = school_caller(await make_contact(old, [ContactRole.CHEF]), old.uai, [ContactRole.CHEF])
    with pytest.raises(WriteRefused, match="hors de votre périmètre"):
        await apply_movements(await analyse_movements(path, new, HolderKind.STUDENT, stranger), stranger)
