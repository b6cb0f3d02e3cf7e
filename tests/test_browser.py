"""Real browser: headless Chromium on a running app with demo data."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from seed.demo import generate_schools
from tests.browser import browser_login, chromium, demo_credentials, running_app

pytestmark = pytest.mark.browser


def _wait_text(driver: object, text: str, timeout: float = 20) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), text))


def test_schools_grid_in_chromium_finds_a_seeded_school(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    target = generate_schools()[123]
    with running_app(tmp_path / "data") as url, chromium() as driver:
        kept = tmp_path / "data" / "demo-accounts.txt"  # issue 15: the demo accounts do not scroll away
        assert kept.stat().st_mode & 0o777 == 0o600 and "admin@demo.rentree.fr" in kept.read_text(encoding="utf-8")
        log = next(tmp_path.glob("server-*.log")).read_text(encoding="utf-8")
        assert f"Comptes de démonstration (un par rôle) : voir {kept}" in log
        assert " INFO apscheduler" not in log and " INFO tortoise" not in log  # quieter console
        browser_login(driver, url, demo_credentials(tmp_path / "data")["agent"])
        driver.get(url + "/ecoles")
        _wait_text(driver, "470 ligne(s)")
        box = driver.find_element(By.CSS_SELECTOR, "input[placeholder='Recherche rapide…']")
        box.send_keys(str(target["uai"]))
        _wait_text(driver, "1 ligne(s)")
        _wait_text(driver, str(target["name"]))
        driver.save_screenshot(str(tmp_path / "ecoles.png"))
        driver.find_element(By.LINK_TEXT, str(target["uai"])).click()
        _wait_text(driver, "Adresse générique")
        body = driver.find_element(By.TAG_NAME, "body").text
        assert f"ce.{str(target['uai']).lower()}@ac-" in body
        assert "Contacts (" in body


def _scroll_to_end(driver: object) -> None:
    """Scroll the grid's viewport to its last row, as a person dragging the scrollbar down."""
    driver.execute_script(  # type: ignore[attr-defined]
        "const v = document.querySelector('.ag-body-viewport'); v.scrollTop = v.scrollHeight;")


def test_grid_scrolls_100000_rows_to_the_end_edits_and_keeps_the_value(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    data = tmp_path / "data"
    with running_app(data) as url:
        with sqlite3.connect(data / "app.sqlite3") as con:  # 100,000 more contacts, fast path
            school_ids = [r[0] for r in con.execute("SELECT id FROM school ORDER BY id")]
            con.executemany(
                "INSERT INTO contact (school_id, full_name, email, version, created_at, updated_at) "
                "VALUES (?, ?, ?, 1, datetime('now'), datetime('now'))",
                ((school_ids[i % len(school_ids)], f"Zz Personne {i:06d}", f"p{i:06d}@ac-paris.fr")
                 for i in range(100_000)))
            total = con.execute("SELECT count(*) FROM contact").fetchone()[0]
        assert total > 100_000
        with chromium() as driver:
            browser_login(driver, url, demo_credentials(data)["agent"])
            driver.get(url + "/feuilles/contacts")
            _wait_text(driver, f"{total:,} ligne(s)".replace(",", "\u202f"), timeout=30)
            # Sort by id so the last row is the last contact inserted.
            header = driver.find_element(By.CSS_SELECTOR, ".ag-header-cell[col-id='id'] .ag-header-cell-label")
            header.click()
            time.sleep(0.5)
            from selenium.common.exceptions import StaleElementReferenceException

            wait = WebDriverWait(driver, 30, ignored_exceptions=(StaleElementReferenceException,))

            def last_row_cell(drv: object) -> object:
                _scroll_to_end(drv)
                cells = drv.find_elements(  # type: ignore[attr-defined]
                    By.CSS_SELECTOR, f".ag-row[row-index='{total - 1}'] .ag-cell[col-id='full_name']")
                return cells[0] if cells and cells[0].text else False

            cell = wait.until(last_row_cell)
            assert cell.text == "Zz Personne 099999"
            driver.save_screenshot(str(tmp_path / "grid-end.png"))
            from selenium.webdriver.common.action_chains import ActionChains

            driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", cell)
            ActionChains(driver).double_click(cell).perform()
            editor = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".ag-cell-inline-editing input"))
            editor.send_keys(Keys.CONTROL, "a")
            editor.send_keys("Nom modifié au bout", Keys.ENTER)
            _wait_text(driver, "Nom enregistré.")

            driver.refresh()
            _wait_text(driver, "ligne(s)", timeout=30)
            header = driver.find_element(By.CSS_SELECTOR, ".ag-header-cell[col-id='id'] .ag-header-cell-label")
            if driver.find_elements(By.CSS_SELECTOR, ".ag-header-cell[col-id='id'][aria-sort='ascending']") == []:
                header.click()  # the sort is kept per user; click only if it was not restored
            cell = wait.until(last_row_cell)
            assert cell.text == "Nom modifié au bout"
        with sqlite3.connect(data / "app.sqlite3") as con:
            assert con.execute("SELECT full_name FROM contact ORDER BY id DESC LIMIT 1").fetchone()[0] == \
                "Nom modifié au bout"
            assert con.execute("SELECT count(*) FROM audit_entry WHERE sheet='contacts'").fetchone()[0] == 1


def test_import_from_the_page_shows_the_preview_then_applies(tmp_path: Path) -> None:
    """A person exports the sheet, changes one name in Excel, uploads it: preview first, then applied."""

    import openpyxl
    from selenium.webdriver.common.by import By

    data = tmp_path / "data"
    with running_app(data) as url:
        with sqlite3.connect(data / "app.sqlite3") as con:  # the file a person would have exported
            rows = con.execute("SELECT uai, name FROM school WHERE departement='93' ORDER BY uai").fetchall()
        book = openpyxl.Workbook()
        book.active.append(["UAI", "Nom"])
        for row in rows:
            book.active.append(list(row))
        sheet = book.worksheets[0]
        uai, old_name = sheet.cell(2, 1).value, sheet.cell(2, 2).value
        sheet.cell(2, 2).value = "Lycée renommé par import"
        upload = tmp_path / "etablissements.xlsx"
        book.save(upload)
        with chromium() as driver:
            browser_login(driver, url, demo_credentials(data)["agent"])
            driver.get(url + "/ecoles")
            _wait_text(driver, "470 ligne(s)")
            next(b for b in driver.find_elements(By.TAG_NAME, "button") if "Importer" in b.text).click()
            _wait_text(driver, "Rien n'est écrit avant votre confirmation")
            driver.find_element(By.CSS_SELECTOR, ".q-dialog input[type=file]").send_keys(str(upload))
            _wait_text(driver, "1 modifiée(s)", timeout=30)
            body = driver.find_element(By.TAG_NAME, "body").text
            assert "Lycée renommé par import" in body and old_name in body  # preview: old → new
            with sqlite3.connect(data / "app.sqlite3") as con:  # dry run: nothing written yet
                assert con.execute("SELECT name FROM school WHERE uai=?", (uai,)).fetchone()[0] == old_name
            driver.save_screenshot(str(tmp_path / "import-preview.png"))
            buttons = driver.find_elements(By.TAG_NAME, "button")
            next(b for b in buttons if "APPLIQUER" in b.text.upper() and b.is_displayed()).click()
            _wait_text(driver, "Enregistré")
        with sqlite3.connect(data / "app.sqlite3") as con:
            assert con.execute("SELECT name FROM school WHERE uai=?", (uai,)).fetchone()[0] == \
                "Lycée renommé par import"
            assert con.execute("SELECT source FROM audit_entry WHERE row_key=?", (uai,)).fetchone()[0] == "import"


def test_paste_a_block_copied_from_excel_onto_the_grid(tmp_path: Path) -> None:
    """A person clicks a cell and pastes two rows × two columns copied from Excel: saved in one go."""
    from selenium.webdriver.common.by import By

    data = tmp_path / "data"
    with running_app(data) as url, chromium() as driver:
        browser_login(driver, url, demo_credentials(data)["agent"])
        driver.get(url + "/ecoles")
        _wait_text(driver, "470 ligne(s)")
        cell = driver.find_element(By.CSS_SELECTOR, ".ag-row[row-index='0'] .ag-cell[col-id='commune']")
        cell.click()
        uais = [driver.find_element(By.CSS_SELECTOR, f".ag-row[row-index='{i}'] .ag-cell[col-id='uai']").text
                for i in (0, 1)]
        driver.execute_script("""
            const dt = new DataTransfer();
            dt.setData('text/plain', 'Meaux\\t77100\\r\\nMelun\\t77000\\r\\n');
            document.activeElement.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true}));
        """)
        _wait_text(driver, "Collage enregistré : 4 cellule(s) modifiée(s).")
        with sqlite3.connect(data / "app.sqlite3") as con:
            rows = {r[0]: (r[1], r[2]) for r in con.execute(
                "SELECT uai, commune, postal_code FROM school WHERE uai IN (?, ?)", uais)}
        assert rows[uais[0]] == ("Meaux", "77100") and rows[uais[1]] == ("Melun", "77000")
        # A bad cell refuses the whole block, and says where.
        cell = driver.find_element(By.CSS_SELECTOR, ".ag-row[row-index='0'] .ag-cell[col-id='type']")
        cell.click()
        driver.execute_script("""
            const dt = new DataTransfer();
            dt.setData('text/plain', 'LPO\\nLycée inventé\\n');
            document.activeElement.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true}));
        """)
        _wait_text(driver, "Collage refusé : rien n'a été modifié")
        assert "ligne 2" in driver.find_element(By.TAG_NAME, "body").text
