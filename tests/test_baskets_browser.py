"""Real browser: on the demo, a school's CRRE-VALIDEUR asks for their link, opens it from the mail a real SMTP server
received, builds a basket on « Mon établissement » (catalogue search, add), validates it and sees the remaining amount.

The demo seeds the 2024 campaign; the app runs on today's date, so the test first carries the chosen school's rates,
enrolments and allocation over to today's campaign (the yearly copy a Région agent makes), then orders in it.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from models.baskets import campaign_year, default_calendar
from tests.browser import chromium, free_port, running_app
from tests.smtp import smtp_server

pytestmark = pytest.mark.browser
LINK = re.compile(r"https?://[^\s\"'<>]+/acces/[A-Za-z0-9_\-]+")


def _wait_text(driver: object, text: str, timeout: float = 30) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), text))


def _click(driver: object, xpath: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    element = WebDriverWait(driver, 20).until(lambda d: d.find_element(By.XPATH, xpath))
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();",  # type: ignore
                          element)


def _carry_over(data: Path, year: int) -> tuple[str, str, int, Decimal]:
    """A digital demo school with a CRRE-VALIDEUR (an address in one school only) and no basket: its 2024 rates,
    enrolments and allocation carried over to `year`. Returns the validator's e-mail, the UAI, id, allocation."""
    with sqlite3.connect(data / "app.sqlite3") as con:
        email, uai, school_id, computed = con.execute(
            "SELECT c.email, s.uai, s.id, a.computed FROM contact c JOIN school s ON s.id = c.school_id "
            "JOIN contact_role r ON r.contact_id = c.id AND r.role = 'crre_valideur' "
            "JOIN basket_allocation a ON a.school_id = s.id AND a.year = 2024 AND a.envelope = 'manuels' "
            "WHERE s.mode = 'numerique' AND (SELECT COUNT(*) FROM contact c2 WHERE c2.email = c.email) = 1 "
            "AND NOT EXISTS (SELECT 1 FROM basket b WHERE b.school_id = s.id) AND CAST(a.computed AS REAL) > 1000 "
            "ORDER BY s.uai LIMIT 1").fetchone()
        if not con.execute("SELECT 1 FROM basket_rate WHERE year = ?", (year,)).fetchone():
            con.execute("INSERT INTO basket_rate (year, envelope, school_mode, track, level, part, amount, version) "
                        "SELECT ?, envelope, school_mode, track, level, part, amount, 1 FROM basket_rate "
                        "WHERE year = 2024", (year,))
        con.execute("INSERT INTO basket_enrolment (code, school_id, year, track, level, students, version) "
                    "SELECT replace(code, '-2024-', ?), school_id, ?, track, level, students, 1 FROM basket_enrolment "
                    "WHERE school_id = ? AND year = 2024", (f"-{year}-", year, school_id))
        con.execute("INSERT INTO basket_allocation (school_id, year, envelope, computed, extra, committed, remaining, "
                    "version) SELECT school_id, ?, envelope, computed, 0, 0, computed, 1 FROM basket_allocation "
                    "WHERE school_id = ? AND year = 2024", (year, school_id))
    return email, uai, school_id, Decimal(str(computed))


def test_a_validator_builds_and_validates_a_basket_through_the_school_link(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    today = dt.date.today()
    year = campaign_year(today)
    if not default_calendar(year).orders_open(today):
        pytest.skip(f"commandes fermées le {today:%d/%m/%Y} (R-BASKET-6) : le parcours de commande attend leur "
                    "réouverture")
    data = tmp_path / "data"
    with smtp_server(port=free_port()) as smtp, running_app(data, env={
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), "DEMO_SMTP_SERVER": "false",
            "SCHEDULER_ENABLED": "false"}, timeout=180) as url, chromium(1440, 1000) as driver:
        email, uai, school_id, computed = _carry_over(data, year)
        driver.get(url + "/acces")
        WebDriverWait(driver, 20).until(lambda d: d.execute_script(
            "return !!(window.socket && window.socket.connected && window.did_handshake)"))
        driver.find_element(By.CSS_SELECTOR, 'input[aria-label="Adresse e-mail"]').send_keys(email)
        _click(driver, "//button[contains(., \"Recevoir mon lien d'accès\")]")
        smtp.handler.wait_for(1, timeout=30)
        link = LINK.search(smtp.handler.messages[0].message.get_body(("plain",)).get_content()).group(0)  # type: ignore
        driver.get(link)
        _wait_text(driver, "Manuels et ressources")
        _wait_text(driver, "reste " + f"{computed:,.2f}".replace(",", " ").replace(".", ","))
        _click(driver, "//button[contains(., 'Nouveau panier (manuels et ressources)')]")
        search = WebDriverWait(driver, 20).until(lambda d: d.find_element(
            By.CSS_SELECTOR, 'input[aria-label="Rechercher (titre, référence, éditeur)"]'))
        search.send_keys("Mathématiques")
        _wait_text(driver, "Mathématiques")
        _click(driver, "(//button[normalize-space(.)='Ajouter'])[1]")
        _wait_text(driver, "Article ajouté.")
        _wait_text(driver, "Total retenu")
        driver.save_screenshot(str(tmp_path / "basket-editor.png"))
        _click(driver, "//button[contains(., 'Valider la commande')]")
        _wait_text(driver, "« Valider la commande » : fait.")
        with sqlite3.connect(data / "app.sqlite3") as con:
            status, total = con.execute("SELECT status, total FROM basket WHERE school_id = ? AND year = ?",
                                        (school_id, year)).fetchone()
            remaining = con.execute("SELECT remaining FROM basket_allocation WHERE school_id = ? AND year = ? AND "
                                    "envelope = 'manuels'", (school_id, year)).fetchone()[0]
        assert status == "valide" and Decimal(str(total)) > 0
        assert Decimal(str(remaining)) == computed - Decimal(str(total))
        shown = f"{Decimal(str(remaining)):,.2f}".replace(",", " ").replace(".", ",")
        _wait_text(driver, f"reste {shown}")
        driver.save_screenshot(str(tmp_path / "basket-validated.png"))
        assert uai in driver.current_url
