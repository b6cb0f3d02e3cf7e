"""School access (issue 11): links by e-mail, the `ecole` session, its scope and rights, revocation, the journal.

Through the app (httpx on the ASGI app, a real SMTP server on loopback): the form's POST, the mail, the link, the
school's page, the engine's API as a school's person. Pages modules are imported inside the tests (see
test_security.py).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest
from nicegui.testing import User

from models.access import AccessEvent, AccessEventKind, AccessSession, AccessToken, school_access
from models.audit import AuditEntry, Source
from models.outbox import OutboxMail
from models.schools import Contact, ContactRole, ContactRoleAssignment
from tests.factories import make_account, make_contact, make_school

LINK = re.compile(r"https?://[^\s\"'<>]+/acces/([A-Za-z0-9_\-]+)")


async def ask(http: httpx.AsyncClient, email: str, **kw: Any) -> httpx.Response:
    """POST /acces as JSON, then wait for the request to be handled (it runs after the answer)."""
    from pages.access import settled

    response = await http.post("/acces", json={"email": email}, **kw)
    await settled()
    return response


def mails_to(smtp: Any, email: str) -> list[Any]:
    """Messages the SMTP server received for an address."""
    return [m for m in smtp.handler.messages if email in m.envelope_to]


def token_of(message: Any) -> str:
    """The token of the link in a received mail (plain text part)."""
    text = message.message.get_body(("plain",)).get_content()
    found = LINK.search(text)
    assert found, text
    return found.group(1)


async def link_for(http: httpx.AsyncClient, smtp: Any, email: str) -> str:
    """Ask a link for an address and return its token, read from the mail received."""
    before = len(mails_to(smtp, email))
    assert (await ask(http, email)).status_code == 200
    smtp.handler.wait_for(len(smtp.handler.messages))
    received = mails_to(smtp, email)
    assert len(received) == before + 1, "no mail received"
    return token_of(received[-1])


async def sign_in(http: httpx.AsyncClient, smtp: Any, email: str) -> httpx.Response:
    """Follow a contact from the form to the mail to the link: the 303 to its school's page."""
    token = await link_for(http, smtp, email)
    return await http.get(f"/acces/{token}")


async def test_the_form_answers_the_same_whatever_the_address_and_mails_only_known_contacts(
        http: httpx.AsyncClient, smtp: Any) -> None:
    school = await make_school()
    head = await make_contact(school, [ContactRole.CHEF], full_name="Anne Cheffe", email="anne.cheffe@ac-paris.fr")
    await make_contact(school, [], email="sans.role@ac-paris.fr")  # a contact without a role: no school in scope
    answers = []
    for email in ("anne.cheffe@ac-paris.fr", "inconnu@ac-paris.fr", "sans.role@ac-paris.fr", "pas une adresse",
                  school.generic_email):
        response = await ask(http, email)
        answers.append((response.status_code, response.json()["detail"]))
    form = await http.post("/acces", data={"email": "ANNE.CHEFFE@ac-paris.fr"})
    from pages.access import settled

    await settled()
    assert form.status_code == 200 and answers[0][1] in form.text
    assert len(set(answers)) == 1 and answers[0][0] == 200  # the same neutral French answer for all
    assert "lien d'accès personnel" in answers[0][1]
    smtp.handler.wait_for(2)
    assert [m.envelope_to for m in smtp.handler.messages] == [[head.email], [head.email]]
    message = smtp.handler.messages[0].message
    assert "Votre lien d'accès" in message["Subject"] and school.name in message["Subject"]
    token = token_of(smtp.handler.messages[0])
    # Stored hashed only: neither the token row nor the outbox (once sent) keeps the secret.
    rows = await AccessToken.filter(email=head.email)
    assert len(rows) == 2 and all(token not in r.token_hash and len(r.token_hash) == 64 for r in rows)
    outbox = await OutboxMail.filter(kind="acces")
    assert len(outbox) == 2 and all(token not in (m.body_text + m.body_html) for m in outbox)
    assert {m.status.value for m in outbox} == {"sent"}
    kinds = [e.kind for e in await AccessEvent.all().order_by("id")]
    assert kinds.count(AccessEventKind.ISSUED) == 2 and AccessEventKind.UNKNOWN in kinds
    assert AccessEventKind.GENERIC in kinds  # the generic ce. address never gets a link


async def test_a_token_never_goes_to_the_generic_address_even_when_it_is_a_contact(
        http: httpx.AsyncClient, smtp: Any) -> None:
    school = await make_school()
    await make_contact(school, [ContactRole.CHEF], email=school.generic_email)
    assert (await ask(http, school.generic_email)).status_code == 200
    assert not smtp.handler.messages and not await AccessToken.exists()
    assert await AccessEvent.filter(kind=AccessEventKind.GENERIC, email=school.generic_email).exists()


async def test_the_link_opens_a_session_once_then_is_refused(http: httpx.AsyncClient, smtp: Any) -> None:
    school = await make_school()
    contact = await make_contact(school, [ContactRole.COORDONNATEUR], full_name="Chloé Coordination")
    token = await link_for(http, smtp, contact.email)
    opened = await http.get(f"/acces/{token}")
    assert opened.status_code == 303 and opened.headers["location"] == f"/etablissement/{school.uai}"
    page = await http.get(f"/etablissement/{school.uai}")
    assert page.status_code == 200 and "Mon établissement" in page.text
    me = (await http.get("/api/me")).json()
    assert me["role"] == "ecole" and me["uais"] == [school.uai] and me["email"] == contact.email
    assert me["grants"] == [{"uai": school.uai, "role": "coordonnateur_numerique"}]
    # A second use of the link, from another browser: refused with a French page offering a new link.
    async with httpx.AsyncClient(transport=http._transport, base_url="http://test") as other:
        again = await other.get(f"/acces/{token}")
        assert again.status_code == 410 and "n'est plus valable" in again.text and "nouveau lien" in again.text
        assert (await other.get(f"/etablissement/{school.uai}")).status_code == 303  # no session there
        unknown = await other.get("/acces/inconnu")
        assert unknown.status_code == 410 and "n'est plus valable" in unknown.text
    refused = await AccessEvent.filter(kind=AccessEventKind.REFUSED).order_by("id").values_list("detail", flat=True)
    assert list(refused) == ["lien déjà utilisé", "lien inconnu"]


async def test_an_expired_link_is_refused(http: httpx.AsyncClient, smtp: Any) -> None:
    contact = await make_contact(await make_school(), [ContactRole.CHEF])
    token = await link_for(http, smtp, contact.email)
    await AccessToken.filter(email=contact.email).update(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    response = await http.get(f"/acces/{token}")
    assert response.status_code == 410 and "expiré" in response.text
    assert await AccessEvent.filter(kind=AccessEventKind.REFUSED, detail="lien expiré").exists()
    assert not await AccessSession.exists()


async def test_rate_limits_per_address_and_per_email(http: httpx.AsyncClient, smtp: Any) -> None:
    from models.access import LINKS_PER_EMAIL, REQUESTS_PER_ADDRESS

    contact = await make_contact(await make_school(), [ContactRole.CHEF])
    for _ in range(LINKS_PER_EMAIL + 2):
        assert (await ask(http, contact.email)).status_code == 200
    smtp.handler.wait_for(LINKS_PER_EMAIL)
    assert len(mails_to(smtp, contact.email)) == LINKS_PER_EMAIL  # per e-mail: 3 links in 15 minutes
    # Per client address: after 10 requests (any addresses), nothing more is sent from it, even to a known contact.
    other = await make_contact(await make_school(), [ContactRole.ADML])
    await AccessEvent.all().delete()
    for i in range(REQUESTS_PER_ADDRESS):
        await ask(http, f"essai{i}@ac-paris.fr")
    response = await ask(http, other.email)
    assert response.status_code == 200 and not mails_to(smtp, other.email)
    assert await AccessEvent.filter(kind=AccessEventKind.LIMITED, email=other.email).exists()


async def test_the_link_in_the_mail_never_comes_from_the_requests_host_header(http: httpx.AsyncClient, smtp: Any,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A forged Host header would send a victim's link to another site: the link is built from PUBLIC_URL."""
    import settings as settings_module

    monkeypatch.setenv("PUBLIC_URL", "https://rentree.iledefrance.fr")
    settings_module.set_current(None)
    contact = await make_contact(await make_school(), [ContactRole.CHEF])
    await ask(http, contact.email, headers={"Host": "evil.example"})
    smtp.handler.wait_for(1)
    text = smtp.handler.messages[0].message.get_body(("plain",)).get_content()
    assert "https://rentree.iledefrance.fr/acces/" in text and "evil.example" not in text


async def test_r_org_1_two_schools_during_the_directory_period_then_the_older_ends(
        db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """R-ORG-1: from the calendar's R-ORG-1 events (data, editable), two schools, then only the newer one."""
    from models.campaign import CampaignEvent
    from seed.calendar import seed_calendar

    await seed_calendar()
    old, new = await make_school(name="Ancien lycée"), await make_school(name="Nouveau lycée")
    await make_contact(old, [ContactRole.CHEF], email="mute@ac-paris.fr")
    await make_contact(new, [ContactRole.COORDONNATEUR], email="mute@ac-paris.fr")
    during = await school_access("mute@ac-paris.fr", dt.date(2024, 8, 20))
    assert during is not None and during.uais == (new.uai, old.uai)
    assert during.grants == {(old.uai, "chef_etablissement"), (new.uai, "coordonnateur_numerique")}
    after = await school_access("mute@ac-paris.fr", dt.date(2024, 9, 5))
    assert after is not None and after.uais == (new.uai,)  # the older one ended with the period (04/09)
    assert (await school_access("mute@ac-paris.fr", dt.date(2024, 9, 4))).uais == (new.uai, old.uai)
    # The period is data: the team moves its end, the scope follows.
    await CampaignEvent.filter(year=2024, slug="directories-end").update(due_on=dt.date(2024, 9, 10))
    assert (await school_access("mute@ac-paris.fr", dt.date(2024, 9, 5))).uais == (new.uai, old.uai)
    # A contact row whose « Jusqu'au » is past ends too.
    await Contact.filter(school=old, email="mute@ac-paris.fr").update(until=dt.date(2024, 8, 31))
    assert (await school_access("mute@ac-paris.fr", dt.date(2024, 9, 5))).uais == (new.uai,)


async def test_r_org_1_the_session_scope_follows_the_clock(http: httpx.AsyncClient, smtp: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The scope is computed at each request: the same session loses the older school when the period ends."""
    import settings as settings_module
    from seed.calendar import seed_calendar

    await seed_calendar()
    old, new = await make_school(), await make_school()
    await make_contact(old, [ContactRole.CHEF], email="mute2@ac-paris.fr")
    await make_contact(new, [ContactRole.CHEF], email="mute2@ac-paris.fr")
    tz = settings_module.tz()
    monkeypatch.setattr(settings_module, "now", lambda: dt.datetime(2024, 9, 2, 10, 0, tzinfo=tz))
    assert (await sign_in(http, smtp, "mute2@ac-paris.fr")).headers["location"] == f"/etablissement/{new.uai}"
    assert (await http.get("/api/me")).json()["uais"] == [new.uai, old.uai]
    assert (await http.get(f"/etablissement/{old.uai}")).status_code == 200
    monkeypatch.setattr(settings_module, "now", lambda: dt.datetime(2024, 9, 5, 10, 0, tzinfo=tz))
    assert (await http.get("/api/me")).json()["uais"] == [new.uai]
    assert (await http.get(f"/etablissement/{old.uai}")).status_code == 404


async def test_a_school_person_reaches_only_its_school_pages_and_rows(http: httpx.AsyncClient, smtp: Any) -> None:
    from tests.test_fleet_rules import make_device, make_holder

    mine, other = await make_school(name="Mon lycée"), await make_school(name="Lycée voisin")
    head = await make_contact(mine, [ContactRole.CHEF], full_name="Anne Cheffe")
    await make_contact(other, [ContactRole.CHEF], full_name="Autre Chef")
    await make_device(school=mine, holder=await make_holder(mine))
    theirs = await make_device(school=other, holder=await make_holder(other))
    await sign_in(http, smtp, head.email)
    # Another school's page: 404, nothing of it shown; the staff's pages: the French 403.
    page = await http.get(f"/etablissement/{other.uai}")
    assert page.status_code == 404 and "Lycée voisin" not in page.text and "Autre Chef" not in page.text
    for path in ("/", "/ecoles", f"/ecoles/{other.uai}", "/parc", "/parc/appareils", "/feuilles/devices", "/compte"):
        response = await http.get(path)
        assert response.status_code == 403 and "Accès refusé" in response.text, path
    assert (await http.get("/api/schools")).status_code == 403
    # The engine's API works within the scope: its own devices, no other school's row.
    rows = (await http.post("/api/sheets/devices/rows", json={"startRow": 0, "endRow": 100})).json()["rows"]
    assert rows and {r["school"] for r in rows} == {mine.uai}
    quick = (await http.post("/api/sheets/devices/rows", json={"startRow": 0, "endRow": 100,
                                                                "quick": theirs.serial})).json()
    assert quick == {"rows": [], "lastRow": 0}
    assert (await http.get(f"/api/sheets/devices/rows/{theirs.id}/history")).json() == []
    schools = (await http.post("/api/sheets/schools/rows", json={"startRow": 0, "endRow": 100})).json()["rows"]
    assert [s["uai"] for s in schools] == [mine.uai]
    # Not a device it may change (R-FLEET-5), nor another school's row.
    edit = await http.post("/api/sheets/devices/cells", json={"row_id": theirs.id, "field": "grade",
                                                              "value": "degrade", "version": 1})
    assert edit.status_code == 403


async def test_the_team_revokes_a_contacts_sessions(http: httpx.AsyncClient, smtp: Any, user: User) -> None:
    from nicegui import app

    school = await make_school()
    head = await make_contact(school, [ContactRole.CHEF])
    await sign_in(http, smtp, head.email)
    assert (await http.get("/api/me")).status_code == 200
    unused = await link_for(http, smtp, head.email)  # a link asked but not used yet
    agent = await make_account("agent")
    from models.accounts import create_token

    _t, secret = await create_token(agent, "essai")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test",
                                 headers={"Authorization": f"Bearer {secret}"}) as team:
        meta = (await team.get("/api/sheets/contacts")).json()
        assert "revoke_access" in [a["name"] for a in meta["actions"]]
        done = await team.post("/api/sheets/contacts/actions/revoke_access", json={"row_ids": [head.id]})
        assert done.status_code == 200 and "1 session(s) fermée(s)" in done.json()["message"]
    ended = await http.get("/api/me")
    assert ended.status_code == 401 and "nouveau lien" in ended.json()["detail"]
    assert (await http.get(f"/acces/{unused}")).status_code == 410  # its unused links are cancelled too
    event = await AccessEvent.get(kind=AccessEventKind.REVOKED)
    assert event.email == head.email and event.actor == agent.email
    # A school's person cannot revoke (nor see the action).
    other = await make_contact(school, [ContactRole.ADML])
    await sign_in(http, smtp, other.email)
    refused = await http.post("/api/sheets/contacts/actions/revoke_access", json={"row_ids": [head.id]})
    assert refused.status_code == 403


async def test_logout_ends_the_school_session(http: httpx.AsyncClient, smtp: Any) -> None:
    school = await make_school()
    head = await make_contact(school, [ContactRole.CHEF])
    await sign_in(http, smtp, head.email)
    out = await http.get("/logout")
    assert out.status_code == 303 and out.headers["location"].startswith("/acces")
    assert (await http.get(f"/etablissement/{school.uai}")).status_code == 303
    assert await AccessEvent.filter(kind=AccessEventKind.LOGOUT, email=head.email).exists()


async def test_a_role_removed_ends_its_rights_at_the_next_request(http: httpx.AsyncClient, smtp: Any) -> None:
    school = await make_school()
    head = await make_contact(school, [ContactRole.CHEF])
    await sign_in(http, smtp, head.email)
    assert (await http.get("/api/me")).json()["grants"] == [{"uai": school.uai, "role": "chef_etablissement"}]
    await ContactRoleAssignment.filter(contact_id=head.id).delete()  # no role left anywhere
    assert (await http.get("/api/me")).status_code == 401
    assert await AccessEvent.filter(kind=AccessEventKind.ENDED, email=head.email).exists()


async def test_every_write_of_a_school_person_is_audited_with_the_contact_and_the_link_source(
        http: httpx.AsyncClient, smtp: Any) -> None:
    """Through the engine's API: a restock asked by the head, audited as the contact, source « lien e-mail »."""
    school = await make_school()
    head = await make_contact(school, [ContactRole.CHEF])
    await sign_in(http, smtp, head.email)
    created = await http.post("/api/sheets/restocks/create", json={"rows": [{"school": school.uai, "quantity": 3}]})
    assert created.status_code == 200, created.text
    entry = await AuditEntry.get(sheet="restocks")
    assert entry.actor == head.email and entry.source == Source.SCHOOL
    other = await make_school()
    refused = await http.post("/api/sheets/restocks/create", json={"rows": [{"school": other.uai, "quantity": 3}]})
    assert refused.status_code == 403 and "hors de votre périmètre" in refused.json()["detail"]


async def test_reminder_digests_carry_the_way_to_the_school_space(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The daily digest (to the generic address) carries « Accéder à votre espace » → /acces, never a token."""
    import settings as settings_module
    from jobs.reminders import plan_day
    from seed.calendar import seed_calendar

    monkeypatch.setenv("PUBLIC_URL", "https://rentree.iledefrance.fr")
    settings_module.set_current(None)
    await seed_calendar()
    await make_school()
    planned, _skipped = await plan_day(dt.date(2024, 6, 21))  # 7 days before the booking window closes
    assert planned
    mail = planned[0].mail
    assert "Accéder à votre espace : https://rentree.iledefrance.fr/acces\n" in mail.text
    assert 'href="https://rentree.iledefrance.fr/acces"' in mail.html and "Accéder à votre espace" in mail.html
    assert not LINK.search(mail.text) and not LINK.search(mail.html)
    assert planned[0].recipients[0].startswith("ce.")


async def test_the_app_mails_a_contact_its_link_on_its_own_initiative(db: str) -> None:
    """For the areas that must send a link themselves (R-SLOT-9: the authorised persons when certificates wait):
    the contact's own address only, through the outbox, journaled with the reason."""
    from emails.access import mail_access_link

    school = await make_school()
    member = await make_contact(school, [ContactRole.LA_POSTE])
    mail = await mail_access_link(member.email, reason="attestations de distribution à signer (R-SLOT-9)")
    assert mail is not None and mail.recipient_list == [member.email] and mail.kind == "acces"
    assert LINK.search(mail.body_text)  # the link, until the mail is sent (then the body is removed)
    event = await AccessEvent.get(kind=AccessEventKind.ISSUED)
    assert event.email == member.email and "R-SLOT-9" in event.detail
    assert await mail_access_link(school.generic_email, reason="x") is None
    assert await mail_access_link("inconnu@ac-paris.fr", reason="x") is None
