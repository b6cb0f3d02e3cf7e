"""Issue 15 in a real browser: the row history of a focused cell opens (it froze the page), and the steering pages
are photographed (home, /parc, the audit trail) for a person to look at (kept under the test's tmp folder)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.browser import browser_login, chromium, demo_credentials, running_app

pytestmark = pytest.mark.browser


CHARTS = ("fleet.status_grade", "slots.progress", "tickets.category_sla", "baskets.budget", "outbox.per_day")


def _wait_text(driver: object, text: str, timeout: float = 20) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), text))


def test_history_of_a_focused_cell_and_the_steering_pages(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    data = tmp_path / "data"
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with running_app(data) as url, chromium(1440, 900) as driver:
        browser_login(driver, url, demo_credentials(data)["admin"])
        driver.get(url + "/ecoles")
        _wait_text(driver, "470 ligne(s)")
        name = driver.find_element(By.CSS_SELECTOR, ".ag-center-cols-container .ag-row[row-index='0'] [col-id='name']")
        uai = driver.find_element(By.CSS_SELECTOR, ".ag-pinned-left-cols-container .ag-row[row-index='0'] "
                                                   "[col-id='uai']").text
        name.click()  # focused, not ticked
        name.send_keys(Keys.ENTER)
        editor = driver.switch_to.active_element
        editor.send_keys(Keys.CONTROL, "a")
        editor.send_keys("Lycée renommé pour l'historique", Keys.ENTER)
        _wait_text(driver, "Nom enregistré.")
        driver.find_element(By.CSS_SELECTOR, ".ag-center-cols-container .ag-row[row-index='0'] [col-id='name']").click()
        driver.find_element(By.CSS_SELECTOR, "button[aria-label='Historique de la ligne']").click()
        _wait_text(driver, f"Historique de {uai}", timeout=10)  # the panel opens: the page did not freeze
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "Lycée renommé pour l'historique" in body and "Nom" in body
        driver.save_screenshot(str(shots / "historique-ligne.png"))
        for path, name_, expected in (("/", "accueil", "Alertes"), ("/parc", "parc", "Tableau régional"),
                                      ("/journal", "journal", "Journal des modifications")):
            driver.get(url + path)
            _wait_text(driver, expected)
            if path == "/journal":
                _wait_text(driver, "Établissements")  # the sheet's label, not its code
                _wait_text(driver, "Lycée renommé pour l'historique")
            driver.save_screenshot(str(shots / f"{name_}.png"))
        # Each chart of /pilotage drawn (its canvas), one screenshot per chart.
        driver.get(url + "/pilotage")
        _wait_text(driver, "Appareils par statut et état")
        _wait_text(driver, "Tickets par catégorie et délai")
        cards = driver.find_elements(By.CSS_SELECTOR, "[data-chart]")
        assert {c.get_attribute("data-chart") for c in cards} == set(CHARTS)
        for card in cards:
            assert card.find_elements(By.TAG_NAME, "canvas"), card.get_attribute("data-chart")
            driver.execute_script("arguments[0].scrollIntoView()", card)
            card.screenshot(str(shots / f"graphique-{card.get_attribute('data-chart')}.png"))
        # The header's search: a UAI typed, its school listed, Enter opens it.
        box = driver.find_element(By.CSS_SELECTOR, "input[aria-label='Rechercher']")
        box.send_keys(uai.lower())
        _wait_text(driver, f"{uai} · ")
        box.send_keys(Keys.ENTER)
        for _ in range(100):
            if driver.current_url.endswith(f"/ecoles/{uai}"):
                break
            time.sleep(0.1)
        assert driver.current_url.endswith(f"/ecoles/{uai}")
    with sqlite3.connect(data / "app.sqlite3") as con:
        query = "SELECT COUNT(*) FROM audit_entry WHERE sheet = 'schools' AND \"column\" = 'name'"
        assert con.execute(query).fetchone()[0] == 1
    assert {p.name for p in shots.iterdir()} == {"historique-ligne.png", "accueil.png", "parc.png", "journal.png",
                                                 *(f"graphique-{key}.png" for key in CHARTS)}
