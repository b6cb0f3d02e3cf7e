"""Reminders: working days, the livret calendar, digests, the outbox against a real SMTP server."""

from __future__ import annotations

import datetime as dt
import re

import pytest

import settings as settings_module
from jobs.outbox import send_pending
from jobs.reminders import run_reminders
from models.campaign import CampaignEvent, copy_to_next_year, parse_days
from models.outbox import InvalidRecipient, MailStatus, OutboxMail, enqueue, validate_recipient
from models.schools import ContactRole, Mode
from models.workdays import is_working_day, working_days_before
from seed.calendar import LIVRET_2024, seed_calendar
from tests.conftest import shared_file
from tests.factories import make_contact, make_school
from tests.smtp import SmtpServer

D = dt.date


# --- Working days (R-SLOT-2) -----------------------------------------------------------------------

def test_r_slot_2_seven_working_days_before_skips_weekends_and_french_holidays() -> None:
    assert not is_working_day(D(2024, 5, 9))  # Ascension
    assert not is_working_day(D(2024, 5, 20))  # Lundi de Pentecôte
    assert not is_working_day(D(2024, 5, 18))  # Saturday
    assert is_working_day(D(2024, 5, 21))
    # Delivery Wednesday 22 May 2024: 21, 17, 16, 15, 14, 13, 10 (Whit Monday 20 skipped) → Friday 10 May.
    assert working_days_before(D(2024, 5, 22), 7) == D(2024, 5, 10)
    # Delivery Tuesday 14 May 2024: 13, 10, 8? no (8 May holiday), 7, 6, 3, 2, 30 Apr → 30 April.
    assert working_days_before(D(2024, 5, 14), 7) == D(2024, 4, 30)
    # A plain June week: Monday 17 June → 6 June (Thursday).
    assert working_days_before(D(2024, 6, 17), 7) == D(2024, 6, 6)
    assert working_days_before(D(2024, 6, 17), 0) == D(2024, 6, 17)


def test_parse_days_refuses_garbage_in_french() -> None:
    assert parse_days("14, 7,2 ,0") == (14, 7, 2, 0)
    assert parse_days("") == ()
    with pytest.raises(ValueError, match="Jours de relance"):
        parse_days("sept")


# --- The livret calendar ---------------------------------------------------------------------------

def test_livret_dates_r_slot_1_r_slot_3_r_basket_6_r_basket_9_r_org_1_r_sec_2() -> None:
    text = shared_file("livret/livret-de-rentree-2024.txt").read_text(encoding="utf-8")
    by_slug = {e["slug"]: e for e in LIVRET_2024}
    # R-SLOT-1 booking window 27/05 → 28/06, R-SLOT-3 delivery window 09/09 → 02/10 (RULES.md restates them).
    rules = shared_file("livret/RULES.md").read_text(encoding="utf-8")
    assert "27 May → 28 June" in rules and "9 September → 2 October" in rules
    assert by_slug["slot-booking-close"]["starts_on"] == D(2024, 5, 27)
    assert by_slug["slot-booking-close"]["due_on"] == D(2024, 6, 28)
    assert by_slug["slot-delivery-window"]["starts_on"] == D(2024, 9, 9)
    assert by_slug["slot-delivery-window"]["due_on"] == D(2024, 10, 2)
    # R-BASKET-6: the five dated lines of the livret's calendar, read from the document itself.
    calendar = re.findall(r"^(\d\d)/(\d\d) :\s*\n\s*\n+(.+)$", text, re.M)
    livret_dates = {(int(m), int(d)) for d, m, _ in calendar}
    assert livret_dates == {(6, 26), (9, 17), (9, 19), (10, 18)}
    basket = [e for e in LIVRET_2024 if e["rule_id"] == "R-BASKET-6"]
    assert {(e["due_on"].month, e["due_on"].day) for e in basket} == livret_dates
    assert len(basket) == len(calendar) == 5
    # R-BASKET-9: 15 August reset, RESP-AFFECT-GAR in copy.
    assert "au 15 août" in text
    assert by_slug["gar-reset"]["due_on"] == D(2024, 8, 15)
    assert by_slug["gar-reset"]["cc_role"] is ContactRole.RESP_AFFECT_GAR
    # R-ORG-1: directories 17 August → 4 September.
    assert "le 17 août et le 4 septembre" in text
    assert by_slug["directories-end"]["starts_on"] == D(2024, 8, 17)
    assert by_slug["directories-end"]["due_on"] == D(2024, 9, 4)
    # R-SEC-2: twice per school year (no dates in the livret: two events within the 2024-2025 year).
    assert "renouvelés 2 fois par année scolaire" in text
    renewals = [e for e in LIVRET_2024 if e["rule_id"] == "R-SEC-2"]
    assert len(renewals) == 2 and all(D(2024, 9, 1) <= e["due_on"] <= D(2025, 7, 5) for e in renewals)


async def test_calendar_seed_is_idempotent_and_copies_to_next_year(db: str) -> None:
    assert await seed_calendar() == len(LIVRET_2024)
    assert await seed_calendar() == 0
    assert await copy_to_next_year(2024) == len(LIVRET_2024)
    assert await copy_to_next_year(2024) == 0
    moved = await CampaignEvent.get(year=2025, slug="gar-reset")
    assert moved.due_on == D(2025, 8, 15) and moved.cc_role == ContactRole.RESP_AFFECT_GAR
    renewal = await CampaignEvent.get(year=2025, slug="password-renewal-2")
    assert renewal.due_on == D(2026, 2, 3)


# --- Addresses -------------------------------------------------------------------------------------

def test_r_sch_3_ce_address_with_a_wrong_control_letter_is_refused() -> None:
    assert validate_recipient("CE.0750650Z@ac-paris.fr") == "ce.0750650z@ac-paris.fr"
    with pytest.raises(InvalidRecipient, match="la lettre de contrôle doit être « Z »"):
        validate_recipient("ce.0750650w@ac-paris.fr")
    with pytest.raises(InvalidRecipient, match="académie"):
        validate_recipient("ce.0750650z@ac-lyon.fr")
    with pytest.raises(InvalidRecipient, match="invalide"):
        validate_recipient("pas-une-adresse")


async def test_same_key_twice_is_stored_once(db: str) -> None:
    first, created = await enqueue("k1", ["ce.0750650z@ac-paris.fr"], "Sujet", "texte")
    again, created_again = await enqueue("k1", ["ce.0750650z@ac-paris.fr"], "Autre", "autre")
    assert created and not created_again and again.id == first.id
    assert await OutboxMail.filter(key="k1").count() == 1
    with pytest.raises(InvalidRecipient):
        await enqueue("k2", ["ce.0750650w@ac-paris.fr"], "Sujet", "texte")
    assert not await OutboxMail.exists(key="k2")


# --- Runs against a real SMTP server ---------------------------------------------------------------

async def _schools() -> dict[str, object]:
    await seed_calendar()
    numerique = await make_school(name="Lycée Numérique", departement="93")
    autre = await make_school(name="Lycée Autre", departement="78")
    papier = await make_school(name="Lycée Papier", mode=Mode.PAPIER)
    return {"numerique": numerique, "autre": autre, "papier": papier}


async def test_r_slot_1_run_sends_the_right_digests_once(db: str, smtp: SmtpServer) -> None:
    schools = await _schools()
    settings = settings_module.load()
    # 21 June 2024: 7 days before the end of slot booking (R-SLOT-1), numérique schools only.
    report = await run_reminders(settings, D(2024, 6, 21))
    assert report.queued == 2 and report.send is not None and report.send.sent == 2
    received = {m.envelope_to[0]: m.message for m in smtp.handler.messages}
    assert set(received) == {schools["numerique"].generic_email, schools["autre"].generic_email}
    assert schools["papier"].generic_email not in received
    message = received[schools["numerique"].generic_email]
    assert "Fin de la réservation des créneaux de livraison des PC" in message["Subject"]
    assert "28/06/2024" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "vendredi 28 juin 2024 (dans 7 jours)" in text and "R-SLOT-1" in text
    assert "Réservez votre créneau de livraison" in html and "<strong>dans 7 jours</strong>" in html
    assert message["Message-ID"] and message["X-Rentree-Key"].startswith("digest:")
    # A second run the same day sends nothing.
    again = await run_reminders(settings, D(2024, 6, 21))
    assert again.queued == 0 and again.already == 2 and again.send.sent == 0
    assert len(smtp.handler.messages) == 2
    # A day with no reminder due: nothing at all.
    quiet = await run_reminders(settings, D(2024, 6, 22))
    assert quiet.planned == [] and len(smtp.handler.messages) == 2


async def test_digest_lists_every_item_most_urgent_first(db: str, smtp: SmtpServer) -> None:
    schools = await _schools()
    # 26 June 2024: orders open today (R-BASKET-6) and booking ends in 2 days (R-SLOT-1).
    await run_reminders(settings_module.load(), D(2024, 6, 26))
    message = next(m.message for m in smtp.handler.messages
                   if m.envelope_to[0] == schools["numerique"].generic_email)
    text = message.get_body(("plain",)).get_content()
    assert text.index("Ouverture des commandes") < text.index("Fin de la réservation")
    assert "(aujourd'hui)" in text and "(dans 2 jours)" in text
    assert message["Subject"].startswith("Rappel : 2 échéances, la plus proche le 26/06/2024")
    assert len(smtp.handler.messages) == 2  # one digest per school, not one mail per item


async def test_r_basket_9_gar_reset_copies_the_resp_affect_gar(db: str, smtp: SmtpServer) -> None:
    schools = await _schools()
    gar = await make_contact(schools["numerique"], [ContactRole.RESP_AFFECT_GAR], email="gar.lycee@ac-creteil.fr")
    await make_contact(schools["numerique"], [ContactRole.CHEF], email="chef.lycee@ac-creteil.fr")
    await run_reminders(settings_module.load(), D(2024, 8, 8))  # 7 days before 15 August
    by_school = {m.envelope_to[0]: m for m in smtp.handler.messages}
    assert set(by_school[schools["numerique"].generic_email].envelope_to) == {
        schools["numerique"].generic_email, gar.email}
    assert by_school[schools["autre"].generic_email].envelope_to == [schools["autre"].generic_email]
    assert schools["papier"].generic_email not in by_school


async def test_smtp_down_mails_wait_then_are_sent_once(db: str, smtp: SmtpServer) -> None:
    await _schools()
    settings = settings_module.load()
    smtp.stop()
    report = await run_reminders(settings, D(2024, 6, 21))
    assert report.queued == 2 and report.send.sent == 0 and report.send.retried == 2
    assert "injoignable" in report.send.errors[0]
    mails = await OutboxMail.all()
    assert {m.status for m in mails} == {MailStatus.PENDING} and all(m.attempts == 1 for m in mails)
    assert all("injoignable" in m.last_error and m.next_attempt_at for m in mails)
    # Not yet due (backoff): a worker run right away sends nothing even with SMTP back.
    smtp.start()
    assert (await send_pending(settings)).sent == 0
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    assert (await send_pending(settings, now=later)).sent == 2
    assert (await send_pending(settings, now=later)).sent == 0
    assert sorted(smtp.handler.keys().values()) == [1, 1]
    assert {m.status for m in await OutboxMail.all()} == {MailStatus.SENT}


async def test_recipient_refused_5xx_is_failed_with_reason_not_retried(db: str, smtp: SmtpServer) -> None:
    schools = await _schools()
    smtp.handler.refuse.add(schools["autre"].generic_email)
    settings = settings_module.load()
    report = await run_reminders(settings, D(2024, 6, 21))
    assert report.send.sent == 1 and report.send.failed == 1
    failed = await OutboxMail.get(school_uai=schools["autre"].uai)
    assert failed.status == MailStatus.FAILED and failed.attempts == 1
    assert "550" in failed.last_error and "refusé définitivement" in failed.last_error
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert (await send_pending(settings, now=later)).sent == 0
    assert (await OutboxMail.get(id=failed.id)).attempts == 1


def test_reminder_settings_are_checked() -> None:
    from pathlib import Path

    loaded = settings_module.load({"REMINDERS_AT": "06:45", "OUTBOX_CONNECTIONS": "10"}, dotenv=Path("/nonexistent"))
    assert loaded.reminders_at == "06:45" and loaded.outbox_connections == 10 and loaded.scheduler_enabled
    with pytest.raises(settings_module.SettingsError, match="REMINDERS_AT doit être une heure HH:MM"):
        settings_module.load({"REMINDERS_AT": "25:00"}, dotenv=Path("/nonexistent"))
    production = settings_module.load({"RENTREE_ENV": "production", "STORAGE_SECRET": "s" * 40,
                                       "SECRET_KEY": "2cjFsWUprZNYxdr2XhhbE0CFj6OLnkvM5udaM8qqFiE="},
                                      dotenv=Path("/nonexistent"))
    assert not production.demo_smtp_server  # never a local mail box in production


async def test_a_refused_copy_recipient_does_not_block_the_school_mail(db: str, smtp: SmtpServer) -> None:
    schools = await _schools()
    gar = await make_contact(schools["numerique"], [ContactRole.RESP_AFFECT_GAR], email="parti@ac-creteil.fr")
    smtp.handler.refuse.add(gar.email)
    report = await run_reminders(settings_module.load(), D(2024, 8, 8))  # R-BASKET-9, GAR in copy
    assert report.send.failed == 0
    mail = await OutboxMail.get(school_uai=schools["numerique"].uai)
    assert mail.status == MailStatus.SENT and "parti@ac-creteil.fr (550" in mail.last_error


async def test_calendar_event_with_start_after_due_date_is_refused(db: str) -> None:
    event = CampaignEvent(year=2024, slug="x", rule_id="R-ORG-1", title="Annuaires", due_on=D(2024, 9, 4),
                          starts_on=D(2024, 9, 17))
    with pytest.raises(ValueError, match=r"la date de début .* est après l.échéance"):
        await event.save()
    assert not await CampaignEvent.exists(slug="x")


def test_digest_wording_agrees_between_html_and_text_singular_and_plural() -> None:
    """Issue 15: the text part said « les échéances … de la plus proche à la plus lointaine » for a single one."""
    import datetime as dt

    from emails.render import render_digest
    from models.reminders import PendingItem, SchoolDigest
    from models.schools import School

    school = School(uai="0750650Z", name="Lycée Essai", departement="75", academie="paris")
    day = dt.date(2024, 6, 14)
    one = PendingItem(school, dt.date(2024, 6, 28), "R-SLOT-1", "Réserver le créneau", "Réserver.")
    two = PendingItem(school, dt.date(2024, 7, 2), "R-BASKET-6", "Commander", "Commander.")
    single = render_digest(SchoolDigest(school, [(None, one)], []), day)  # type: ignore[list-item]
    from html import unescape

    for part in (single.text, unescape(single.html)):
        assert "Voici l'échéance de la campagne de rentrée qui concerne le" in " ".join(part.split())
        assert "de la plus proche" not in part
    double = render_digest(SchoolDigest(school, [(None, one), (None, two)], []), day)  # type: ignore[list-item]
    for part in (double.text, unescape(double.html)):
        flat = " ".join(part.split())
        assert "Voici les 2 échéances de la campagne de rentrée qui concernent le" in flat
        assert "de la plus proche à la plus lointaine" in flat
