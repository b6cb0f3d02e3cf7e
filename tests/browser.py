"""Helpers for real-browser tests: a running app in a subprocess and a headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import IN_CI, ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(data_dir: Path, env: dict[str, str] | None = None, timeout: float = 60) -> Iterator[str]:
    """Start `python app.py serve` on a free port; yield its base URL once it answers 200; stop it."""
    port = free_port()
    full_env = {**os.environ, "RENTREE_DATA_DIR": str(data_dir), "DATABASE_URL": f"sqlite://{data_dir}/app.sqlite3",
                "SEED_DEMO": "true", **(env or {})}
    full_env.pop("PYTEST_CURRENT_TEST", None)  # else NiceGUI believes it runs under pytest's screen plugin
    log = (data_dir.parent / f"server-{port}.log").open("w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "serve", "--port", str(port)],
                            cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the app exited ({proc.returncode}): see {log.name}")
            try:
                with urllib.request.urlopen(url + "/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not answer within {timeout} s: see {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def demo_credentials(data_dir: Path) -> dict[str, dict[str, str]]:
    """The demo accounts the app printed at first start (read from its log), by role."""
    import re

    logs = sorted(data_dir.parent.glob("server-*.log"), key=lambda p: p.stat().st_mtime)
    found: dict[str, dict[str, str]] = {}
    for log in logs:
        text = log.read_text(encoding="utf-8", errors="replace")
        for m in re.finditer(r"(\S+)@demo\.rentree\.fr\s+mot de passe : (\S+)", text):
            found[m.group(1)] = {"email": f"{m.group(1)}@demo.rentree.fr", "password": m.group(2)}
        key = re.search(r"clé TOTP .*? : ([A-Z2-7]+)", text)
        if key and "admin" in found:
            found["admin"]["totp_secret"] = key.group(1)
    return found


def browser_login(driver: object, url: str, account: dict[str, str]) -> None:
    """Log in through the real login form (and the TOTP step when the account has a key)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 20)
    driver.get(url + "/login")  # type: ignore[attr-defined]
    email = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, 'input[aria-label="Adresse e-mail"]')))
    email.send_keys(account["email"])
    password = driver.find_element(By.CSS_SELECTOR, 'input[aria-label="Mot de passe"]')  # type: ignore[attr-defined]
    password.send_keys(account["password"], Keys.ENTER)
    if account.get("totp_secret"):
        import pyotp

        code = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, 'input[aria-label="Code de vérification"]')))
        code.send_keys(pyotp.TOTP(account["totp_secret"]).now(), Keys.ENTER)
    wait.until(lambda d: "/login" not in d.current_url)


def require_browser() -> None:
    """Skip (or fail under CI) when Chromium and chromedriver are not installed."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        message = "Chromium/chromedriver absents (paquets Debian chromium et chromium-driver)."
        if IN_CI:
            pytest.fail(message + " .ci/run doit les installer.")
        pytest.skip(message)


@contextmanager
def chromium(width: int = 1400, height: int = 900, *, console: bool = False) -> Iterator[object]:
    """A headless Chromium driven by Selenium with the flags this machine needs (console: keep its log)."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    if console:  # driver.get_log("browser") then returns the console, CSP violations included
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    profile = tempfile.mkdtemp(prefix="rentree-chrome-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
