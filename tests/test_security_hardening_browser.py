"""Issue 10 in a real browser: NiceGUI under the Content-Security-Policy, forwarded addresses, sessions that end."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.browser import browser_login, chromium, demo_credentials, running_app
from tests.cli import run_cli

pytestmark = pytest.mark.browser


def _wait_text(driver: object, text: str, timeout: float = 20) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), text))


def _csp_violations(driver: object) -> list[str]:
    """Console messages about the Content-Security-Policy since the last call."""
    return [entry["message"] for entry in driver.get_log("browser")  # type: ignore[attr-defined]
            if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]]


def test_pages_work_under_the_csp_and_a_loopback_client_cannot_fake_its_address(tmp_path: Path) -> None:
    """Every kind of page renders, its websocket carries events, /docs works offline: no CSP violation logged."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    data = tmp_path / "data"
    with running_app(data) as url, chromium(console=True) as driver:
        creds = demo_credentials(data)
        # A client on loopback sends X-Forwarded-For: no longer believed (TRUSTED_PROXIES is empty).
        driver.execute_cdp_cmd("Network.enable", {})  # type: ignore[attr-defined]
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders",  # type: ignore[attr-defined]
                               {"headers": {"X-Forwarded-For": "203.0.113.77"}})
        driver.get(url + "/login")
        driver.find_element(By.CSS_SELECTOR, 'input[aria-label="Adresse e-mail"]').send_keys(creds["agent"]["email"])
        driver.find_element(By.CSS_SELECTOR, 'input[aria-label="Mot de passe"]').send_keys("mauvais mot de passe\n")
        _wait_text(driver, "E-mail ou mot de passe incorrect")
        with sqlite3.connect(data / "app.sqlite3") as con:
            ips = {r[0] for r in con.execute("SELECT ip FROM securityevent WHERE kind = 'login_failed'")}
        assert ips == {"127.0.0.1"}, ips
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})  # type: ignore[attr-defined]
        assert _csp_violations(driver) == []
        browser_login(driver, url, creds["admin"])
        with sqlite3.connect(data / "app.sqlite3") as con:
            uai = con.execute("SELECT uai FROM school ORDER BY uai LIMIT 1").fetchone()[0]
        pages = {"/": "Tableau de bord", "/ecoles": "470 ligne(s)", f"/ecoles/{uai}": "Adresse générique",
                 "/parc": "Parc", f"/parc/ecoles/{uai}": "Parc", "/parc/appareils": "ligne(s)",
                 "/relances": "Relances", "/boite-demo": "Boîte de démonstration", "/support": "support",
                 "/journal": "Journal des modifications", "/compte": "Jetons d'API",
                 "/utilisateurs": "maintenance@demo.rentree.fr", "/securite/journal": "Connexion réussie"}
        for path, marker in pages.items():
            driver.get(url + path)
            _wait_text(driver, marker)
            WebDriverWait(driver, 10).until(lambda d: d.execute_script(
                "return !!(window.socket && window.socket.connected && window.did_handshake)"))
            assert _csp_violations(driver) == [], path
        # Events go through the websocket and rows through fetch: the quick search filters the grid.
        driver.get(url + "/ecoles")
        _wait_text(driver, "470 ligne(s)")
        driver.find_element(By.CSS_SELECTOR, "input[placeholder='Recherche rapide…']").send_keys(uai)
        _wait_text(driver, "1 ligne(s)")
        # Swagger UI from the app's own files (this machine has no internet: a CDN would leave it blank).
        driver.get(url + "/docs")
        WebDriverWait(driver, 20).until(lambda d: d.execute_script(
            "return document.querySelectorAll('.opblock').length > 5"))
        assert "Rentrée" in driver.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
        assert _csp_violations(driver) == []
        driver.save_screenshot(str(tmp_path / "docs.png"))


def test_an_open_schools_grid_saves_nothing_after_logout_elsewhere_or_users_disable(tmp_path: Path) -> None:
    """Logout in another tab sends the open grid to the login page; after `users disable` its edit is refused."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    data = tmp_path / "data"
    with running_app(data) as url, chromium() as driver:
        agent = demo_credentials(data)["agent"]
        browser_login(driver, url, agent)
        driver.get(url + "/ecoles")
        _wait_text(driver, "470 ligne(s)")
        grid_tab = driver.current_window_handle
        driver.switch_to.new_window("tab")  # same browser, same session cookie
        driver.get(url + "/logout")
        _wait_text(driver, "Vous êtes déconnecté(e).")
        driver.switch_to.window(grid_tab)
        WebDriverWait(driver, 10).until(lambda d: "/login" in d.current_url)  # the open grid was sent away
        _wait_text(driver, "Votre session a pris fin : reconnectez-vous.")
        # Log in again; the account is disabled from the command line (another process) while the grid is open.
        browser_login(driver, url, agent)
        driver.get(url + "/ecoles")
        _wait_text(driver, "470 ligne(s)")
        cell = driver.find_element(By.CSS_SELECTOR, ".ag-row[row-index='0'] .ag-cell[col-id='commune']")
        uai = driver.find_element(By.CSS_SELECTOR, ".ag-row[row-index='0'] .ag-cell[col-id='uai']").text
        with sqlite3.connect(data / "app.sqlite3") as con:
            before = con.execute("SELECT commune, version FROM school WHERE uai = ?", (uai,)).fetchone()
            audits = con.execute("SELECT count(*) FROM audit_entry").fetchone()[0]
        disabled = run_cli("users", "disable", agent["email"],
                           env={"RENTREE_DATA_DIR": str(data), "DATABASE_URL": f"sqlite://{data}/app.sqlite3"})
        assert disabled.returncode == 0, disabled.stderr
        ActionChains(driver).double_click(cell).perform()
        editor = WebDriverWait(driver, 10).until(
            lambda d: d.find_element(By.CSS_SELECTOR, ".ag-cell-inline-editing input"))
        editor.send_keys(Keys.CONTROL, "a")
        editor.send_keys("Ville fantôme", Keys.ENTER)
        WebDriverWait(driver, 10).until(lambda d: "/login" in d.current_url)
        _wait_text(driver, "Votre session a pris fin : reconnectez-vous.")
        with sqlite3.connect(data / "app.sqlite3") as con:
            assert con.execute("SELECT commune, version FROM school WHERE uai = ?", (uai,)).fetchone() == before
            assert con.execute("SELECT count(*) FROM audit_entry").fetchone()[0] == audits
