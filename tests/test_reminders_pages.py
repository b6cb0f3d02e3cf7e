"""Reminder pages through NiceGUI's simulated user, the demo mail box with its real SMTP server, the CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path

from nicegui import ui
from nicegui.testing import User

import settings as settings_module
from emails.demo_box import box_folder, list_messages, start_server
from jobs.reminders import run_reminders
from models.campaign import Audience, CampaignEvent
from seed.calendar import seed_calendar
from tests.browser import free_port
from tests.cli import run_cli
from tests.factories import make_school
from tests.smtp import SmtpServer


async def test_r_slot_1_dry_run_page_lists_who_would_get_what(logged_in: object, user: User) -> None:
    await seed_calendar()
    school = await make_school(name="Lycée Simulé", departement="93")
    await user.open("/relances?date=2024-06-21")
    await user.should_see("1 établissement recevrait un récapitulatif")
    table = next(t for t in user.find(ui.table).elements if t.columns[0]["name"] == "uai")
    assert table.rows[0]["uai"] == school.uai and table.rows[0]["to"] == school.generic_email
    assert "R-SLOT-1 Fin de la réservation" in table.rows[0]["items"]
    await user.should_see("Objet : Rappel : Fin de la réservation des créneaux de livraison des PC")
    await user.should_see("Calendrier de campagne")


async def test_bad_date_on_the_page_says_what_to_type(logged_in: object, user: User) -> None:
    await user.open("/relances?date=31-02-2024")
    await user.should_see("saisissez-la au format JJ/MM/AAAA")


async def test_outbox_status_is_visible_on_the_page(logged_in: object, user: User, smtp: SmtpServer) -> None:
    await seed_calendar()
    school = await make_school(name="Lycée Refusé")
    smtp.handler.refuse.add(school.generic_email)
    await run_reminders(settings_module.load(), dt.date(2024, 6, 21))
    await user.open("/relances")
    await user.should_see("En échec : 1")
    await user.should_see("Remettre en file les courriels en échec")


async def test_home_shows_upcoming_reminders(logged_in: object, user: User) -> None:
    soon = dt.date.today() + dt.timedelta(days=10)
    await CampaignEvent.create(year=soon.year, slug="essai", rule_id="R-BASKET-6", title="Fermeture des commandes",
                               due_on=soon, remind_days="14,7", audience=Audience.ALL)
    await user.open("/")
    await user.should_see("Échéances à venir")
    await user.should_see("Fermeture des commandes (R-BASKET-6)")
    await user.should_see(f"prochaine relance le {(soon - dt.timedelta(days=7)):%d/%m/%Y}")


async def test_demo_box_receives_over_smtp_and_shows_the_mail(logged_in: object, user: User,
                                                             isolated_settings: Path) -> None:
    await seed_calendar()
    await make_school(name="Lycée Démo", departement="92")
    port = free_port()
    folder = box_folder(isolated_settings)
    server = await start_server(folder, port)
    assert server is not None
    try:
        settings = dataclasses.replace(settings_module.load(), smtp_port=port)
        report = await run_reminders(settings, dt.date(2024, 6, 21))
        assert report.send.sent == 1
    finally:
        server.close()
        await server.wait_closed()
    [received] = list_messages(folder)
    assert "Fin de la réservation" in received.subject and "<strong>" in received.html and received.text
    await user.open("/boite-demo")
    await user.should_see("1 courriel(s)")
    await user.should_see(received.subject)
    frames = [e for e in user.find(ui.element).elements if e.tag == "iframe"]
    assert frames and frames[0].props["sandbox"] == "" and "Lycée Démo" in frames[0].props["srcdoc"]


def test_remind_cli_dry_run_for_2024_06_21_lists_the_calendar_events(isolated_settings: Path) -> None:
    assert run_cli("seed").returncode == 0
    result = run_cli("remind", "--dry-run", "--date", "2024-06-21")
    assert result.returncode == 0, result.stderr
    assert "Simulation (aucun envoi) du 21/06/2024" in result.stdout
    assert "28/06/2024 (J-7) R-SLOT-1 : Fin de la réservation des créneaux de livraison des PC" in result.stdout
    assert "0 courriel(s) mis en file" in result.stdout
    bad = run_cli("remind", "--date", "21/06/2024")
    assert bad.returncode == 2 and "attendu AAAA-MM-JJ" in bad.stderr


async def test_calendar_event_is_edited_from_the_page_and_bad_dates_are_refused(logged_in: object, user: User) -> None:
    await seed_calendar()
    event = await CampaignEvent.get(year=2024, slug="gar-reset")
    await user.open("/relances")
    await user.should_see("Calendrier de campagne")
    user.find(marker="calendrier").trigger("rowClick", [{}, {"id": event.id}, 0])
    await user.should_see("R-BASKET-9 · Réinitialisation des affectations du GAR")
    user.find(marker="echeance").clear().type("32/08/2024")
    user.find("Enregistrer").click()
    await user.should_see("saisissez-la au format JJ/MM/AAAA")
    assert (await CampaignEvent.get(id=event.id)).due_on == dt.date(2024, 8, 15)  # nothing saved
    user.find(marker="echeance").clear().type("16/08/2024")
    user.find("Enregistrer").click()
    await user.should_see("Événement enregistré.")
    saved = await CampaignEvent.get(id=event.id)
    assert saved.due_on == dt.date(2024, 8, 16) and saved.version == 2


async def test_copy_to_next_year_button(logged_in: object, user: User) -> None:
    from models.audit import AuditEntry

    await seed_calendar()
    await CampaignEvent.filter(year__gt=2024).delete()  # the start copies forward: begin from 2024 alone
    await user.open("/relances")
    user.find("Copier vers l'année suivante").click()
    n = await CampaignEvent.filter(year=2024).count()
    await user.should_see(f"{n} événement(s) copié(s) vers 2025")
    assert await CampaignEvent.filter(year=2025).count() == n
    assert await AuditEntry.filter(sheet="calendar", column="*", source="action").count() == n  # audited


async def test_admins_send_the_day_reminders_from_the_page_after_a_fresh_code(user: User, smtp: SmtpServer) -> None:
    """Issue 15: an « Envoyer » button for admins (fresh TOTP code), a progress bar and the outbox's result."""
    from models.outbox import MailStatus, OutboxMail
    from tests.factories import login, totp_now

    await seed_calendar()
    schools = [await make_school(name=f"Lycée Envoi {i}", departement="93") for i in range(3)]
    agent = await login(user, "agent")
    await user.open("/relances?date=2024-06-21")
    await user.should_see("3 établissements recevraient un récapitulatif")
    await user.should_not_see(marker="send-reminders")  # an agent is not offered the sending
    await user.http_client.get("/logout")
    admin = await login(user, "admin")
    import time

    from nicegui import app

    from models.accounts import STEP_UP_SECONDS
    from models.accounts import User as Account

    await user.open("/relances?date=2024-06-21")
    with user:  # the login's code is older than the step-up window: a fresh one is asked
        app.storage.user["step_up"] = time.time() - STEP_UP_SECONDS - 1
    user.find(marker="send-reminders").click()
    await user.should_see("Confirmation par code")
    await Account.filter(id=admin.id).update(totp_last_step=int(time.time() // 30) - 2)  # the next step's code
    user.find(kind=ui.input, content="Code").type(totp_now(admin))
    user.find(kind=ui.button, content="Confirmer").click()
    for _ in range(200):
        if await OutboxMail.filter(status=MailStatus.SENT).count() == 3:
            break
        await asyncio.sleep(0.05)
    await user.should_see("Résultat : 3 envoyé")
    received = {address for m in smtp.handler.messages for address in m.envelope_to}
    assert received >= {s.generic_email for s in schools} and agent.email != admin.email
