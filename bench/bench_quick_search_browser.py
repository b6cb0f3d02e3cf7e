"""« Recherche rapide » as a person sees it: Chromium on /parc/appareils at 500,000 devices, the time from the last
keystroke to the rows of the search in the grid (issue 15's target: ≤ 150 ms), measured inside the page.

Uses the database of bench/bench_quick_search.py (or seeds one): the app runs on a copy's folder, the demo accounts
are added, an agent logs in, types a text in the quick search and waits for the grid's first row to change.
Run: python bench/bench_quick_search_browser.py --database /tmp/search-bench.sqlite3 [--runs 10]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import browser_login, chromium, demo_credentials, running_app  # noqa: E402

TEXTS = ["0025000", "00310", "INE000166667", "0757701N", "00123456", "0040404"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True, help="an SQLite file with 500,000 devices")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    data = Path(tempfile.mkdtemp(prefix="rentree-quick-browser-")) / "data"
    data.mkdir(parents=True)
    shutil.copyfile(args.database, data / "app.sqlite3")
    with running_app(data, env={"SCHEDULER_ENABLED": "false"}, timeout=300) as url, chromium(1440, 900) as driver:
        browser_login(driver, url, demo_credentials(data)["agent"])
        driver.get(url + "/parc/appareils")
        box = None
        for _ in range(200):
            found = driver.find_elements(By.CSS_SELECTOR, "input[placeholder='Recherche rapide…']")
            rows = driver.find_elements(By.CSS_SELECTOR, ".ag-center-cols-container .ag-row")
            if found and rows:
                box = found[0]
                break
            time.sleep(0.1)
        assert box is not None, "the grid did not show"
        # Measured in the page: the last key's keydown, the request sent, its answer, the first row showing the text.
        driver.execute_script("""
          const box = arguments[0];
          box.addEventListener('keydown', () => { window.__t0 = performance.now(); });
          const send = window.fetch;
          window.fetch = (...a) => {
            if (String(a[0]).includes('/rows')) window.__tf = performance.now();
            return send(...a).then(r => { if (String(a[0]).includes('/rows')) window.__tr = performance.now();
                                          return r; });
          };
          new MutationObserver(() => {
            const t = [...document.querySelectorAll('.ag-row[row-index="0"]')].map(r => r.innerText).join(' ');
            if (window.__want && !window.__t1 && t.toUpperCase().includes(window.__want)) {
              window.__t1 = performance.now(); }
          }).observe(document.querySelector('.ag-root'), {subtree: true, childList: true, characterData: true});
        """, box)
        times, sent, answered = [], [], []
        for i in range(args.runs):
            text = TEXTS[i % len(TEXTS)]
            box.send_keys(Keys.CONTROL, "a")
            box.send_keys(Keys.DELETE)
            time.sleep(1.5)  # the whole table back
            box.send_keys(text[:-1])
            time.sleep(0.3)
            driver.execute_script("window.__want = arguments[0]; window.__t1 = null;", text.upper())
            box.send_keys(text[-1])  # the last keystroke
            for _ in range(100):
                if driver.execute_script("return window.__t1"):
                    break
                time.sleep(0.05)
            t0, tf, tr, t1 = driver.execute_script("return [window.__t0, window.__tf, window.__tr, window.__t1]")
            if not t1:
                print(f"  « {text} »: not shown within 5 s")
                continue
            times.append(t1 - t0)
            sent.append(tf - t0)
            answered.append(tr - tf)
            print(f"  « {text} »: request sent after {tf - t0:.0f} ms, answered in {tr - tf:.0f} ms, "
                  f"rows shown after {t1 - t0:.0f} ms")
        times.sort()
        print(f"last keystroke → rows in the grid: p50 {statistics.median(times):.0f} ms, "
              f"max {times[-1]:.0f} ms over {len(times)} searches (of which the box's pause "
              f"{statistics.median(sent):.0f} ms, the request {statistics.median(answered):.0f} ms)")


if __name__ == "__main__":
    main()
