"""Issue 12 in a real browser (R-SLOT-1): a member of a school's « La Poste » group asks for its link at /acces,
gets it by mail (a local aiosmtpd server), books the school's delivery day on « Mon établissement », and the Région's
agent sees the booking on the team's calendar."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path

import pytest

from tests.browser import browser_login, chromium, demo_credentials, free_port, running_app
from tests.smtp import smtp_server
from tests.test_school_access_browser import LINK, _click, _connected, _wait_text

pytestmark = pytest.mark.browser


def _a_member_to_book(data: Path) -> tuple[str, str, str, int]:
    """A demo school still to book in 2024 and a member of its « La Poste » group (an address of one school only);
    the 2024 booking window is reopened until after today (calendar data, as the team would edit it)."""
    with sqlite3.connect(data / "app.sqlite3") as con:
        row = con.execute(
            "SELECT c.email, s.uai, s.name, sl.id FROM slot sl JOIN school s ON s.id = sl.school_id "
            "JOIN contact c ON c.school_id = s.id JOIN contact_role r ON r.contact_id = c.id "
            "WHERE sl.year = 2024 AND sl.status = 'a_reserver' AND r.role = 'groupe_la_poste' "
            "AND (SELECT COUNT(*) FROM contact c2 WHERE c2.email = c.email) = 1 ORDER BY s.uai LIMIT 1").fetchone()
        later = (dt.date.today() + dt.timedelta(days=30)).isoformat()
        con.execute("UPDATE campaign_event SET due_on = ? WHERE year = 2024 AND slug = 'slot-booking-close'", (later,))
    return row


def test_r_slot_1_a_la_poste_contact_books_through_the_school_link_and_the_team_sees_it(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    data = tmp_path / "data"
    with smtp_server(port=free_port()) as smtp, running_app(data, env={
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), "DEMO_SMTP_SERVER": "false",
            "SCHEDULER_ENABLED": "false"}) as url, chromium(1440, 1000) as driver:
        email, uai, name, slot_id = _a_member_to_book(data)
        driver.get(url + "/acces")
        _connected(driver)
        driver.find_element(By.CSS_SELECTOR, 'input[aria-label="Adresse e-mail"]').send_keys(email)
        driver.find_element(By.XPATH, "//button[contains(., \"Recevoir mon lien d'accès\")]").click()
        smtp.handler.wait_for(1, timeout=30)
        link = LINK.search(smtp.handler.messages[0].message.get_body(("plain",)).get_content()).group(0)  # type: ignore[union-attr]
        driver.get(link)
        WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith(f"/etablissement/{uai}"))
        _connected(driver)
        _wait_text(driver, "Livraison et distribution des PC")
        # The free days of La Poste, then « Réserver ».
        field = WebDriverWait(driver, 20).until(lambda d: d.find_element(
            By.XPATH, "//label[.//div[contains(., 'Jour de livraison')]]"))
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", field)
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(driver).move_to_element(field.find_element(
            By.CSS_SELECTOR, ".q-field__control")).click().perform()
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".q-menu .q-item"))
        option = driver.find_elements(By.CSS_SELECTOR, ".q-menu .q-item")[0]
        day_text = re.search(r"\d{2}/\d{2}/\d{4}", option.text).group(0)  # type: ignore[union-attr]
        import time

        time.sleep(0.4)  # the menu's opening transition
        ActionChains(driver).move_to_element(option).click().perform()
        WebDriverWait(driver, 20).until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".q-menu"))
        _click(driver, "//button[contains(., 'Réserver')]")
        _wait_text(driver, "Réservé par :")  # the page reloads with the booking

        driver.save_screenshot(str(tmp_path / "reserve.png"))
        with sqlite3.connect(data / "app.sqlite3") as con:
            status, delivery, booker = con.execute(
                "SELECT sl.status, sl.delivery_on, c.email FROM slot sl JOIN contact c ON c.id = sl.booked_by_id "
                "WHERE sl.id = ?", (slot_id,)).fetchone()
            audit = con.execute("SELECT actor, source FROM audit_entry WHERE sheet = 'slots' AND row_id = ? "
                                "AND column = 'status'", (slot_id,)).fetchone()
        day = dt.datetime.strptime(day_text, "%d/%m/%Y").date()
        assert (status, delivery, booker) == ("reserve", day.isoformat(), email)
        assert audit == (email, "ecole")
        # The team's calendar of that month shows the school on its day.
        driver.get(url + "/logout")
        browser_login(driver, url, demo_credentials(data)["agent"])
        driver.get(url + f"/creneaux?mois={day:%Y-%m}")
        _connected(driver)
        cell = WebDriverWait(driver, 20).until(lambda d: d.find_element(
            By.XPATH, f"//a[contains(@href, '/creneaux/creneau?id={slot_id}')]"))
        assert name[:20] in (cell.get_attribute("textContent") or "")
        driver.save_screenshot(str(tmp_path / "calendrier.png"))
