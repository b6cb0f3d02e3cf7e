"""Security in a real browser: user input is shown as text (no script runs), and the account pages' screenshots."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from seed.demo import generate_schools
from tests.browser import browser_login, chromium, demo_credentials, running_app

pytestmark = pytest.mark.browser

ALERT = "<img src=x onerror=alert(1)>"
FLAG = '<img src=x onerror="window.__xss=1">'


def _shots(tmp_path: Path) -> Path:
    """Where screenshots go: RENTREE_SHOTS when set (for people to look at), else the test's folder."""
    folder = Path(os.environ.get("RENTREE_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _wait_text(driver: object, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 20).until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), text))


def _no_script_ran(driver: object) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        alert = driver.switch_to.alert  # type: ignore[attr-defined]
    except NoAlertPresentException:
        pass
    else:
        text = alert.text
        alert.dismiss()
        pytest.fail(f"an alert opened: {text}")
    assert driver.execute_script("return window.__xss === undefined")  # type: ignore[attr-defined]
    assert not driver.execute_script(  # type: ignore[attr-defined]
        "return document.querySelectorAll('img[src=\"x\"]').length")


def test_user_input_is_shown_as_text_not_run(tmp_path: Path) -> None:
    """A school name and a contact name carrying HTML run no script on /, /ecoles and /ecoles/<uai>."""
    data = tmp_path / "data"
    target = min(str(s["uai"]) for s in generate_schools())
    with running_app(data) as url, chromium() as driver:
        with sqlite3.connect(data / "app.sqlite3") as con:
            con.execute("UPDATE school SET name = ?, wifi_mdm_configured = 0 WHERE uai = ?",
                        (f"Lycée {ALERT} {FLAG}", target))
            school_id = con.execute("SELECT id FROM school WHERE uai = ?", (target,)).fetchone()[0]
            con.execute("UPDATE contact SET full_name = ? WHERE school_id = ?", (f"Contact {ALERT} {FLAG}", school_id))
            con.execute("UPDATE app_user SET full_name = ? WHERE role = 'agent'", (f"Agent {FLAG}",))
        browser_login(driver, url, demo_credentials(data)["agent"])
        driver.get(url + "/")  # the home counts schools (Wi-Fi alert) and names none; its own text is shown
        _wait_text(driver, "Wi-Fi à configurer")
        _no_script_ran(driver)
        for path in ("/ecoles", f"/ecoles/{target}"):
            driver.get(url + path)
            _wait_text(driver, ALERT)  # shown, as text
            _no_script_ran(driver)
        body = driver.find_element("tag name", "body").text
        assert f"Contact {ALERT} {FLAG}" in body


def test_account_pages_in_chromium(tmp_path: Path) -> None:
    """Login page, TOTP enrolment with its QR code, user management and the journal, as a person sees them."""
    from selenium.webdriver.common.by import By

    data = tmp_path / "data"
    shots = _shots(tmp_path)
    with running_app(data) as url, chromium(1400, 1000) as driver:
        creds = demo_credentials(data)
        assert set(creds) == {"admin", "agent", "lecteur", "laposte", "unowhy", "maintenance"}
        driver.get(url + "/ecoles")
        _wait_text(driver, "Mot de passe oublié")
        assert "/login?redirect_to=/ecoles" in driver.current_url
        driver.save_screenshot(str(shots / "login.png"))
        # A wrong password: the French message.
        driver.find_element(By.CSS_SELECTOR, 'input[aria-label="Adresse e-mail"]').send_keys("x@demo.rentree.fr")
        driver.find_element(By.CSS_SELECTOR, 'input[aria-label="Mot de passe"]').send_keys("faux\n")
        _wait_text(driver, "E-mail ou mot de passe incorrect")
        # A reader enrols TOTP: QR code and key.
        browser_login(driver, url, creds["lecteur"])
        driver.get(url + "/compte/double-authentification")
        _wait_text(driver, "Scannez ce QR code")
        assert driver.find_elements(By.CSS_SELECTOR, "svg path")  # the QR code is drawn
        driver.save_screenshot(str(shots / "totp-enrolment.png"))
        driver.get(url + "/logout")
        _wait_text(driver, "Vous êtes déconnecté(e).")
        # The admin, with the TOTP key printed for the demo, manages users.
        browser_login(driver, url, creds["admin"])
        driver.get(url + "/utilisateurs")
        _wait_text(driver, "maintenance@demo.rentree.fr")
        driver.save_screenshot(str(shots / "users.png"))
        driver.find_element(By.CSS_SELECTOR, 'button[aria-label="Modifier"]').click()
        _wait_text(driver, "Compte actif")
        driver.save_screenshot(str(shots / "user-edit.png"))
        driver.get(url + "/securite/journal")
        _wait_text(driver, "Connexion réussie")
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "Échec de connexion" in body and "x@demo.rentree.fr" in body
        driver.save_screenshot(str(shots / "security-journal.png"))
        driver.get(url + "/compte")
        _wait_text(driver, "Jetons d'API")
        driver.save_screenshot(str(shots / "account.png"))


def test_first_admin_from_the_cli_changes_password_and_enrols_totp_before_anything(tmp_path: Path) -> None:
    """R-SEC-1 in Chromium: `users add --role admin`, one-time password, new password, TOTP with QR, then admin."""
    import re

    import pyotp
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from tests.cli import run_cli

    data = tmp_path / "data"
    shots = _shots(tmp_path)
    env = {"RENTREE_DATA_DIR": str(data), "DATABASE_URL": f"sqlite://{data}/app.sqlite3"}
    added = run_cli("users", "add", "responsable.numerique@iledefrance.fr", "--role", "admin",
                    "--name", "Responsable numérique", env=env)
    assert added.returncode == 0, added.stderr
    one_time = re.search(r"première connexion\) : (\S+)", added.stdout).group(1)  # type: ignore[union-attr]
    with running_app(data) as url, chromium(1400, 1000) as driver:
        browser_login(driver, url, {"email": "responsable.numerique@iledefrance.fr", "password": one_time})
        _wait_text(driver, "Votre mot de passe doit être changé avant de continuer")
        new_password = "Les lycées franciliens rentrent en septembre"
        driver.find_element(By.CSS_SELECTOR, 'input[aria-label="Mot de passe actuel"]').send_keys(one_time)
        driver.find_element(By.CSS_SELECTOR, 'input[aria-label="Nouveau mot de passe"]').send_keys(new_password)
        driver.find_element(By.CSS_SELECTOR, 'input[aria-label="Confirmer le nouveau mot de passe"]').send_keys(
            new_password)
        driver.find_element(By.XPATH, "//button[contains(., 'Changer le mot de passe')]").click()
        _wait_text(driver, "Scannez ce QR code")
        assert driver.current_url.endswith("/compte/double-authentification")
        driver.get(url + "/utilisateurs")  # nothing else before enrolment
        _wait_text(driver, "Les administrateurs doivent activer la double authentification")
        assert driver.current_url.endswith("/compte/double-authentification")
        driver.save_screenshot(str(shots / "totp-enrolment-admin.png"))
        key = driver.find_element(By.CSS_SELECTOR, '[data-testid="totp-key"]').text.replace(" ", "")
        code = driver.find_element(By.CSS_SELECTOR, 'input[aria-label="Code à 6 chiffres"]')
        code.send_keys(pyotp.TOTP(key).now(), Keys.ENTER)
        _wait_text(driver, "Double authentification activée.")
        codes = re.findall(r"\b[a-z2-9]{5}-[a-z2-9]{5}\b", driver.find_element(By.TAG_NAME, "body").text)
        assert len(codes) == 10
        driver.save_screenshot(str(shots / "recovery-codes.png"))
        driver.get(url + "/utilisateurs")
        _wait_text(driver, "responsable.numerique@iledefrance.fr")
        assert driver.current_url.endswith("/utilisateurs")
