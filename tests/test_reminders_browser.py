"""Real browser: the demo started fresh receives the reminders in its demo box; screenshots of the pages."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from emails.demo_box import box_folder, count_messages
from tests.browser import browser_login, chromium, demo_credentials, free_port, running_app
from tests.cli import run_cli

pytestmark = pytest.mark.browser


def _shot(driver: object, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    if os.environ.get("RENTREE_SHOTS"):  # the lead's note: RENTREE_SHOTS=/work/shots
        Path(os.environ["RENTREE_SHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["RENTREE_SHOTS"]) / name)


def test_demo_reminders_arrive_in_the_demo_box_and_render(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    data = tmp_path / "data"
    env = {"SMTP_PORT": str(free_port()), "DEMO_SMTP_SERVER": "true", "SCHEDULER_ENABLED": "true",
           "OUTBOX_INTERVAL": "1"}
    with running_app(data, env=env) as url, chromium(1400, 1250) as driver:
        wait = WebDriverWait(driver, 30)
        browser_login(driver, url, demo_credentials(data)["agent"])
        driver.get(url + "/")
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "prochaine relance le"))
        _shot(driver, tmp_path, "home-upcoming.png")
        cli_env = {**env, "RENTREE_DATA_DIR": str(data), "DATABASE_URL": f"sqlite://{data}/app.sqlite3"}
        result = run_cli("remind", "--date", "2024-06-21", env=cli_env)
        assert result.returncode == 0, result.stderr
        # The running app holds the job lock: its outbox worker sends what the command queued.
        assert "elle les enverra" in result.stdout
        import re

        queued = int(re.search(r"(\d+) établissement\(s\) à relancer", result.stdout).group(1))
        # R-SLOT-1 (issue 12): the numérique lycées of the demo that have not booked their 2024 slot, one digest each
        # (a booked school gets no more booking reminders).
        import sqlite3

        with sqlite3.connect(data / "app.sqlite3") as con:
            unbooked = con.execute(
                "SELECT COUNT(*) FROM school s WHERE s.mode = 'numerique' AND NOT EXISTS (SELECT 1 FROM slot sl "
                "WHERE sl.school_id = s.id AND sl.year = 2024 AND sl.status NOT IN ('a_reserver', 'annule'))"
            ).fetchone()[0]
        assert queued == unbooked and 0 < queued < 100
        deadline = time.monotonic() + 90
        while count_messages(box_folder(data)) < queued and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1.0)
        assert count_messages(box_folder(data)) == queued  # each digest once
        driver.get(url + "/boite-demo")
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "Fin de la réservation"))
        frame = driver.find_element(By.TAG_NAME, "iframe")
        assert frame.get_attribute("sandbox") == ""
        driver.switch_to.frame(frame)
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "Réservez votre créneau"))
        assert "dans 7 jours" in driver.find_element(By.TAG_NAME, "body").text
        driver.switch_to.default_content()
        _shot(driver, tmp_path, "reminder-mail.png")
        driver.get(url + "/relances?date=2024-06-21")
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "Calendrier de campagne"))
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "Envoyé"))
        _shot(driver, tmp_path, "relances.png")
