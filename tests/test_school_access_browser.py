"""Issue 11 in a real browser: a school's person goes from the /acces form to the mail (received by a local aiosmtpd
server) to the link, lands on its school's page, uploads a SIECLE list, cannot open another school's page or rows,
and the link does not open a second time."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from tests.browser import chromium, free_port, running_app
from tests.smtp import smtp_server

pytestmark = pytest.mark.browser

LINK = re.compile(r"https?://[^\s\"'<>]+/acces/[A-Za-z0-9_\-]+")


def _wait_text(driver: object, text: str, timeout: float = 30) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), text))


def _connected(driver: object) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        "return !!(window.socket && window.socket.connected && window.did_handshake)"))


def _click(driver: object, xpath: str) -> None:
    """Click a button wherever it is on the page (scrolled into view first: the footer may cover it)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    element = WebDriverWait(driver, 20).until(lambda d: d.find_element(By.XPATH, xpath))
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();",  # type: ignore
                          element)


def _a_head(data: Path) -> tuple[str, str, str, int]:
    """A demo head of a school with students (an address that is in one school only): e-mail, UAI, name, id."""
    with sqlite3.connect(data / "app.sqlite3") as con:
        return con.execute(
            "SELECT c.email, s.uai, s.name, s.id FROM contact c JOIN school s ON s.id = c.school_id "
            "JOIN contact_role r ON r.contact_id = c.id WHERE r.role = 'chef_etablissement' "
            "AND (SELECT COUNT(*) FROM contact c2 WHERE c2.email = c.email) = 1 "
            "AND EXISTS (SELECT 1 FROM holder h WHERE h.school_id = s.id AND h.kind = 'eleve') "
            "ORDER BY s.uai LIMIT 1").fetchone()


def _siecle_file(data: Path, school_id: int, target: Path) -> int:
    """The school's student list as SIECLE would give it, with one new student; returns the students listed."""
    from sheets.engine.xlsx import write_xlsx
    from sheets.fleet_movements import SAMPLE_COLUMNS

    with sqlite3.connect(data / "app.sqlite3") as con:
        students = con.execute("SELECT ident, last_name, first_name, class_name, level FROM holder WHERE school_id = ? "
                               "AND kind = 'eleve' AND situation = 'scolarise' ORDER BY ident",
                               (school_id,)).fetchall()
    rows = [[i, n, p, c, lv or "", "Générale"] for i, n, p, c, lv in students]
    rows.append(["INE2024BROWSER", "Navigateur", "Inès", "2de A", "2de", "Générale"])
    write_xlsx(target, SAMPLE_COLUMNS, rows)
    return len(rows)


def test_a_contact_signs_in_by_mail_uploads_its_list_and_reaches_nothing_else(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    data = tmp_path / "data"
    with smtp_server(port=free_port()) as smtp, running_app(data, env={
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), "DEMO_SMTP_SERVER": "false",
            "SCHEDULER_ENABLED": "false"}) as url, chromium(1440, 900) as driver:
        email, uai, name, school_id = _a_head(data)
        with sqlite3.connect(data / "app.sqlite3") as con:
            other_uai, other_name, other_id = con.execute(
                "SELECT uai, name, id FROM school WHERE uai != ? ORDER BY uai LIMIT 1", (uai,)).fetchone()
            other_device = con.execute("SELECT id, serial FROM device WHERE school_id = ? LIMIT 1",
                                       (other_id,)).fetchone()
        # The form: one field, the same answer for everyone.
        driver.get(url + "/acces")
        _connected(driver)
        driver.find_element(By.CSS_SELECTOR, 'input[aria-label="Adresse e-mail"]').send_keys(email)
        driver.find_element(By.XPATH, "//button[contains(., \"Recevoir mon lien d'accès\")]").click()
        _wait_text(driver, "Demande enregistrée")
        driver.save_screenshot(str(tmp_path / "acces.png"))
        # The mail, received by the local SMTP server, at the contact's own address.
        smtp.handler.wait_for(1, timeout=30)
        message = smtp.handler.messages[0]
        assert message.envelope_to == [email]
        link = LINK.search(message.message.get_body(("plain",)).get_content()).group(0)  # type: ignore[union-attr]
        assert link.startswith(url + "/acces/")
        # The link: the school's page.
        driver.get(link)
        WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith(f"/etablissement/{uai}"))
        _wait_text(driver, f"Mon établissement · {name}")
        _connected(driver)
        _wait_text(driver, "Vos rôles : Chef d'établissement")
        driver.save_screenshot(str(tmp_path / "etablissement.png"))
        # The SIECLE list, through the shared upload dialog with its preview, then applied.
        listed = _siecle_file(data, school_id, tmp_path / "siecle.xlsx")
        _click(driver, "//button[contains(., 'Importer la base élèves (SIECLE)')]")
        upload = WebDriverWait(driver, 20).until(lambda d: d.find_element(By.CSS_SELECTOR, "input[type=file]"))
        upload.send_keys(str(tmp_path / "siecle.xlsx"))
        _wait_text(driver, "Nouveaux (1)")
        _wait_text(driver, "INE2024BROWSER")
        driver.save_screenshot(str(tmp_path / "siecle-apercu.png"))
        _click(driver, "//button[contains(., 'Appliquer')]")
        _wait_text(driver, "(appliqué)")
        _click(driver, "//button[contains(., 'Fermer')]")
        _wait_text(driver, f"par {email}")  # the page shows the list as imported (R-SLOT-2 done)
        with sqlite3.connect(data / "app.sqlite3") as con:
            assert con.execute("SELECT school_id FROM holder WHERE ident = 'INE2024BROWSER'").fetchone() == (school_id,)
            upload_row = con.execute("SELECT kind, uploaded_by, new FROM list_upload WHERE school_id = ?",
                                     (school_id,)).fetchone()
            assert upload_row == ("eleve", email, 1)
            audit = con.execute("SELECT actor, source FROM audit_entry WHERE sheet = 'holders' ORDER BY id DESC "
                                "LIMIT 1").fetchone()
            assert audit == (email, "ecole")  # the contact, « lien e-mail »
        assert listed > 1
        # Another school's page: 404, nothing of it shown; a staff page: the French 403.
        driver.get(url + f"/etablissement/{other_uai}")
        _wait_text(driver, "Page introuvable (erreur 404)")
        assert other_name not in driver.find_element(By.TAG_NAME, "body").text
        driver.get(url + f"/ecoles/{other_uai}")
        _wait_text(driver, "Accès refusé")
        assert other_name not in driver.find_element(By.TAG_NAME, "body").text
        # Another school's rows, asked from the page's own session: none.
        driver.get(url + f"/etablissement/{uai}")
        _wait_text(driver, "Mon établissement")
        answers = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const post = (path, body) => fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                      body: JSON.stringify(body)}).then(r => r.json());
            Promise.all([
              post('/api/sheets/devices/rows', {startRow: 0, endRow: 1000, quick: arguments[0]}),
              post('/api/sheets/schools/rows', {startRow: 0, endRow: 1000}),
              fetch('/api/sheets/devices/rows/' + arguments[1] + '/history').then(r => r.json()),
              fetch('/api/me').then(r => r.json()),
            ]).then(done);""", other_device[1], other_device[0])
        devices, schools, history, me = answers
        assert devices == {"rows": [], "lastRow": 0}
        assert [s["uai"] for s in schools["rows"]] == [uai]
        assert history == []
        assert me["role"] == "ecole" and me["uais"] == [uai]
        # The link again: refused, with the way to a new one.
        driver.get(link)
        _wait_text(driver, "n'est plus valable")
        assert "Demander un nouveau lien" in driver.find_element(By.TAG_NAME, "body").text
        driver.save_screenshot(str(tmp_path / "lien-refuse.png"))
