"""The command line (help, migrate, seed) and the settings."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

import settings as settings_module
from tests.cli import run_cli
from tests.conftest import ROOT


def test_help_lists_the_subcommands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("serve", "seed", "migrate"):
        assert command in result.stdout
    serve_help = run_cli("serve", "--help")
    assert "--host" in serve_help.stdout and "--port" in serve_help.stdout


def test_seed_is_idempotent_and_shows_progress(isolated_settings: Path) -> None:
    first = run_cli("seed")
    assert first.returncode == 0, first.stderr
    assert "Établissements : 470 ajouté(s)" in first.stdout
    assert "établissements préparés" in first.stdout  # progress lines
    second = run_cli("seed")
    assert second.returncode == 0, second.stderr
    assert "Établissements : 0 ajouté(s), 470 déjà présent(s)" in second.stdout
    with sqlite3.connect(isolated_settings / "test.sqlite3") as con:
        assert con.execute("SELECT count(*) FROM school").fetchone()[0] == 470
        assert con.execute("SELECT count(DISTINCT uai) FROM school").fetchone()[0] == 470
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("SELECT count(*) FROM sqlite_stat1").fetchone()[0] > 0  # ANALYZE ran
        # The quick search's text index is built by the seed (the app's first start does not wait for it) and
        # holds every device.
        assert {r[0] for r in con.execute("SELECT sheet FROM engine_text_index")} == {"devices", "holders"}
        assert con.execute("SELECT count(*) FROM device_text").fetchone()[0] == con.execute(
            "SELECT count(*) FROM device").fetchone()[0] > 0


def test_demo_seed_generates_valid_schools_over_the_8_departements() -> None:
    from models.schools import academie_for_departement, normalize_uai
    from seed.demo import generate_schools

    schools = generate_schools()
    assert len(schools) == 470
    assert {s["departement"] for s in schools} == {"75", "77", "78", "91", "92", "93", "94", "95"}
    for s in schools:
        assert normalize_uai(s["uai"]) == s["uai"]  # R-SCH-1
        assert s["academie"] is academie_for_departement(s["uai"][1:3])  # R-SCH-2
    shared = ROOT.parent / "shared" / "data" / "idf_lycees_publics_2021-2022.csv"
    if shared.is_file():  # generated, not copied: only chance coincidences with the 452 real UAIs
        real = set(re.findall(r"^(\d{7}[A-Z]),", shared.read_text(encoding="utf-8"), re.M))
        assert len(real) == 452
        assert len(real & {s["uai"] for s in schools}) < 20


def test_migrate_command_creates_the_database(isolated_settings: Path) -> None:
    result = run_cli("migrate")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(isolated_settings / "test.sqlite3") as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"school", "contact", "contact_role", "support_desk", "enrolment"} <= tables


def test_production_without_storage_secret_fails_clearly() -> None:
    result = run_cli("migrate", env={"RENTREE_ENV": "production", "STORAGE_SECRET": ""})
    assert result.returncode == 2
    assert "STORAGE_SECRET est obligatoire en production" in result.stderr


def test_bad_setting_value_is_reported() -> None:
    with pytest.raises(settings_module.SettingsError, match="RENTREE_PORT invalide"):
        settings_module.load({"RENTREE_PORT": "huit"}, dotenv=Path("/nonexistent"))
    with pytest.raises(settings_module.SettingsError, match="SMTP_TLS"):
        settings_module.load({"SMTP_TLS": "ssl"}, dotenv=Path("/nonexistent"))


def test_dotenv_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nRENTREE_PORT=9000\nCAMPAIGN_YEAR='2025'\n", encoding="utf-8")
    loaded = settings_module.load({"RENTREE_PORT": "9100"}, dotenv=env_file)
    assert loaded.port == 9100 and loaded.campaign_year == 2025


def test_demo_generates_and_keeps_its_storage_secret(tmp_path: Path) -> None:
    base = settings_module.load({"RENTREE_DATA_DIR": str(tmp_path)}, dotenv=Path("/nonexistent"))
    first = settings_module.ensure_storage_secret(base)
    second = settings_module.ensure_storage_secret(base)
    assert len(first.storage_secret) >= 32 and first.storage_secret == second.storage_secret


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [s.env for s in settings_module.SETTINGS if f"`{s.env}`" not in readme]
    assert not missing, f"settings missing from README.md: {missing}"
