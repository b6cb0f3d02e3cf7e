"""Real browser (issue 14's « done when »): on the demo, a head asks for the school's e-mail link (/acces), opens it,
reports an incident from the tickets section of « Mon établissement »; the contractor's team takes it from the ticket
page; a real SMTP server receives the mail of each step (ce.UAI and the head); screenshots of the pages."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from tests.browser import browser_login, chromium, demo_credentials, running_app
from tests.smtp import smtp_server

pytestmark = pytest.mark.browser


def _shot(driver: object, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    if os.environ.get("RENTREE_SHOTS"):
        Path(os.environ["RENTREE_SHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["RENTREE_SHOTS"]) / name)


def _choose(driver: object, label: str, option: str) -> None:
    """Pick an option of a Quasar select found by its label, as a person clicks it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 20)
    dialog_select = "//div[contains(@class,'q-dialog')]//label[contains(@class,'q-select')]"
    field = wait.until(ec.element_to_be_clickable((By.XPATH, f"{dialog_select}[.//*[contains(text(), \"{label}\")]]")))
    field.click()
    item = wait.until(ec.element_to_be_clickable((By.XPATH, f"//div[contains(@class,'q-menu')]//div[contains(@class,"
                                                            f"'q-item')][.//*[contains(text(), \"{option}\")]]")))
    item.click()
    wait.until(ec.invisibility_of_element_located((By.CSS_SELECTOR, ".q-menu")))


def test_an_agent_records_a_report_and_the_school_receives_each_step(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    data = tmp_path / "data"
    with smtp_server() as smtp:
        env = {"SMTP_PORT": str(smtp.port), "DEMO_SMTP_SERVER": "false", "SCHEDULER_ENABLED": "true",
               "OUTBOX_INTERVAL": "1"}
        with running_app(data, env=env, timeout=180) as url, chromium(1440, 900) as driver:
            with sqlite3.connect(data / "app.sqlite3") as con:
                # A school without any open ticket in the demo, and its head.
                # A school with a CSN and no open ticket in the demo, and its head (an address of one school only).
                uai, head_email = con.execute(
                    "SELECT s.uai, c.email FROM school s JOIN contact c ON c.school_id = s.id "
                    "JOIN contact_role r ON r.contact_id = c.id AND r.role = 'chef_etablissement' "
                    "WHERE NOT EXISTS (SELECT 1 FROM ticket t WHERE t.school_id = s.id AND t.open_key IS NOT NULL) "
                    "AND (SELECT COUNT(*) FROM contact c2 WHERE c2.email = c.email) = 1 AND s.csn_deployed = 1 "
                    "ORDER BY s.uai LIMIT 1").fetchone()
            wait = WebDriverWait(driver, 40)
            # The head: the access form, the link received by mail, the school's page.
            driver.get(url + "/acces")
            wait.until(lambda d: d.execute_script(
                "return !!(window.socket && window.socket.connected && window.did_handshake)"))
            driver.find_element(By.CSS_SELECTOR, 'input[aria-label="Adresse e-mail"]').send_keys(head_email)
            driver.find_element(By.XPATH, "//button[contains(., \"Recevoir mon lien d'accès\")]").click()
            smtp.handler.wait_for(1, timeout=60)
            link = re.search(r"https?://[^\s\"'<>]+/acces/[A-Za-z0-9_\-]+",
                             smtp.handler.messages[0].message.get_body(("plain",)).get_content()).group(0)
            driver.get(link)
            wait.until(lambda d: d.current_url.endswith(f"/etablissement/{uai}"))
            wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "Maintenance : tickets"))
            button = wait.until(lambda d: d.find_element(By.XPATH, "//button[contains(., 'Signaler un incident')]"))
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", button)
            wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "Décrivez l'incident"))
            _choose(driver, "Catégorie", "PC individuel")  # R-TICKET-2: another desk, no ticket
            wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "Assistance Unowhy (direction)"))
            _shot(driver, tmp_path, "tickets-redirect.png")
            _choose(driver, "Catégorie", "Wi-Fi")
            summary = driver.find_element(By.XPATH, "//div[contains(@class,'q-dialog')]//textarea")
            summary.send_keys("Plus de Wi-Fi au CDI depuis ce matin.")
            driver.find_element(By.XPATH, "//div[contains(@class,'q-dialog')]//button[contains(., 'Envoyer')]").click()
            wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "Plus de Wi-Fi au CDI"))
            _shot(driver, tmp_path, "tickets-etablissement.png")
            with sqlite3.connect(data / "app.sqlite3") as con:
                channel, reporter = con.execute(
                    "SELECT t.channel, c.email FROM ticket t JOIN contact c ON c.id = t.reported_by_id "
                    "WHERE t.summary LIKE 'Plus de Wi-Fi au CDI%'").fetchone()
            assert (channel, reporter) == ("acces_ecole", head_email)
            # The contractor's team, from its own session.
            driver.get(url + "/logout")
            browser_login(driver, url, demo_credentials(data)["agent"])
            with sqlite3.connect(data / "app.sqlite3") as con:
                number = con.execute("SELECT number FROM ticket WHERE summary LIKE 'Plus de Wi-Fi au CDI%'"
                                     ).fetchone()[0]
            driver.get(f"{url}/maintenance/ticket?n={number}")
            wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "Historique"))
            driver.find_element(By.XPATH, "//button[contains(., 'Prendre en charge')]").click()
            wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), f"Prendre en charge · {number}"))
            note = driver.find_element(By.XPATH, "//div[contains(@class,'q-dialog')]//textarea")
            note.send_keys("Technicien affecté.")
            driver.find_element(By.XPATH, "//div[contains(@class,'q-dialog')]//button[contains(., "
                                          "'Prendre en charge')]").click()
            wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "Nouveau → Pris en charge"))
            time.sleep(1)
            _shot(driver, tmp_path, "tickets-ticket.png")
            smtp.handler.wait_for(3, timeout=60)  # the link, then the steps: the app's outbox worker sends them
            time.sleep(2)
            mails = [m for m in smtp.handler.messages if number in str(m.message["Subject"])]
            assert len(mails) == 2, [m.message["Subject"] for m in smtp.handler.messages]
            school_address = f"ce.{uai.lower()}@"
            for m in mails:
                assert any(a.startswith(school_address) for a in m.envelope_to) and head_email in m.envelope_to
            subjects = sorted(str(m.message["Subject"]) for m in mails)
            assert any("ticket ouvert" in s for s in subjects) and any("pris en charge" in s for s in subjects)
            driver.get(f"{url}/maintenance/tickets")
            wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "ligne(s)"))
            time.sleep(2)
            _shot(driver, tmp_path, "tickets-grid.png")
