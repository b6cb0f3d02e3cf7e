"""Real browser: headless Chromium on a running app with demo data."""

from __future__ import annotations

from pathlib import Path

import pytest

from seed.demo import generate_schools
from tests.browser import browser_login, chromium, demo_credentials, running_app

pytestmark = pytest.mark.browser


def test_schools_page_in_chromium_finds_a_seeded_school(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    target = generate_schools()[123]
    with running_app(tmp_path / "data") as url, chromium() as driver:
        browser_login(driver, url, demo_credentials(tmp_path / "data")["agent"])
        driver.get(url + "/ecoles")
        wait = WebDriverWait(driver, 20)
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "470 établissement(s)"))
        box = driver.find_element(By.CSS_SELECTOR, "input[aria-label], input")
        box.send_keys(str(target["uai"]))
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "1 établissement(s)"))
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "tbody"), str(target["name"])))
        driver.save_screenshot(str(tmp_path / "ecoles.png"))
        link = driver.find_element(By.LINK_TEXT, str(target["uai"]))
        link.click()
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "Adresse générique"))
        body = driver.find_element(By.TAG_NAME, "body").text
        assert f"ce.{str(target['uai']).lower()}@ac-" in body
        assert "Contacts (" in body
