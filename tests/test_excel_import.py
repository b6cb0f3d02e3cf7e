"""Excel in: sheets/importer.py on the schools sheet (round trip, preview, apply, undo, every bad file)."""

from __future__ import annotations

import csv
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from models.audit import AuditEntry, Source
from models.schools import Mode, School
from sheets.engine import importer
from sheets.engine.caller import Caller
from sheets.engine.exporter import export_sheet
from sheets.engine.importer import ImportFileError, import_xlsx, read_xlsx
from sheets.engine.writes import WriteRefused, create_rows, undo_last
from sheets.engine.xlsx import XlsxColumn, write_xlsx
from sheets.schools import SCHOOLS
from tests.conftest import shared_file
from tests.factories import make_school

ACTOR = "alice@example.fr"


def xlsx(path: Path, header: list[str], rows: list[list[Any]], kinds: list[str] | None = None) -> Path:
    """Write a small .xlsx with the project's writer."""
    columns = [XlsxColumn(h, (kinds or [])[i] if kinds else "text") for i, h in enumerate(header)]
    write_xlsx(path, columns, rows)
    return path


def openpyxl_file(path: Path, header: list[str], rows: list[list[Any]]) -> tuple[Path, Any, Any]:
    """A workbook written by openpyxl (for formulas, merged cells, text formats); returns (path, book, sheet)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    return path, book, sheet


async def snapshot() -> list[tuple[Any, ...]]:
    """Every school's values, to prove the database is unchanged."""
    return [tuple(r) for r in await School.all().order_by("id").values_list(
        "uai", "name", "mode", "commune", "csn_deployed", "wifi_ssid", "version")]


# --- Round trip, preview, apply, audit, undo ---------------------------------------------------------

async def test_import_of_an_edited_export_previews_exactly_the_edits_then_applies_and_undoes(
        db: str, tmp_path: Path) -> None:
    schools = [await make_school(name=f"Lycée {n}", commune="Paris") for n in range(6)]
    exported = tmp_path / "export.xlsx"
    await export_sheet(SCHOOLS, exported)
    same = await import_xlsx(SCHOOLS, exported, caller=Caller(ACTOR, "agent"))
    assert (same.rows, same.unchanged, same.changed, same.new, same.refused) == (6, 6, 0, 0, 0)
    assert same.ok and same.preview == []

    book = openpyxl.load_workbook(exported)
    sheet = book.worksheets[0]
    rows = {sheet.cell(r, 1).value: r for r in range(2, 8)}
    sheet.cell(rows[schools[1].uai], 2).value = "Lycée Rosa Parks"
    sheet.cell(rows[schools[3].uai], 8).value = "papier"  # a choice by its label, any case
    sheet.cell(rows[schools[3].uai], 12).value = True  # CSN déployé
    sheet.cell(rows[schools[4].uai], 7).value = "Versailles"  # read-only column: ignored
    edited = tmp_path / "edited.xlsx"
    book.save(edited)
    before = await snapshot()
    preview = await import_xlsx(SCHOOLS, edited, caller=Caller(ACTOR, "agent"))
    assert await snapshot() == before  # dry run by default
    assert (preview.changed, preview.changed_cells, preview.unchanged, preview.refused) == (2, 3, 4, 0)
    assert sorted((p["key"], p["column"], p["old"], p["new"]) for p in preview.preview) == sorted([
        (schools[1].uai, "Nom", "Lycée 1", "Lycée Rosa Parks"),
        (schools[3].uai, "Manuels", "Numérique", "Papier"),
        (schools[3].uai, "CSN déployé", "Non", "Oui"),
    ])
    assert "Colonnes en lecture seule, ignorées : Département, Académie, Modifié le." in preview.warnings

    applied = await import_xlsx(SCHOOLS, edited, caller=Caller(ACTOR, "agent"), dry_run=False)
    assert applied.applied and applied.written_rows == 2
    assert (await School.get(uai=schools[1].uai)).name == "Lycée Rosa Parks"
    changed = await School.get(uai=schools[3].uai)
    assert changed.mode == Mode.PAPIER and changed.csn_deployed and changed.version == 2
    audit = await AuditEntry.filter(sheet="schools").order_by("id")
    assert len(audit) == 3 and {a.source for a in audit} == {Source.IMPORT} and {a.actor for a in audit} == {ACTOR}
    assert {a.batch for a in audit} == {applied.batch}

    undone = await undo_last(Caller(ACTOR, "agent"))
    assert undone is not None
    assert await snapshot() == [(*row[:6], row[6] + (2 if row[0] in (schools[1].uai, schools[3].uai) else 0))
                                for row in before]  # values back, versions moved on


async def test_headers_match_whatever_their_case_accents_spaces_or_alias(db: str, tmp_path: Path) -> None:
    school = await make_school(name="Lycée Hoche", commune="Versailles", departement="78")
    path = xlsx(tmp_path / "aliases.xlsx", ["  code UAI ", "ÉTABLISSEMENT", "wifi_ssid", "cp", "Remarques"],
                [[school.uai.lower(), "Lycée Hoche", "HOCHE-WIFI", "78000", "à voir"]])
    report = await import_xlsx(SCHOOLS, path, caller=Caller(ACTOR, "agent"))
    assert report.columns == {"code UAI": "UAI", "ÉTABLISSEMENT": "Nom", "wifi_ssid": "SSID", "cp": "Code postal"}
    assert report.unknown_columns == ["Remarques (colonne E)"]
    assert any("Colonnes inconnues, ignorées : Remarques" in w for w in report.warnings)
    assert (report.changed, report.changed_cells) == (1, 2)


async def test_refused_rows_say_line_column_value_and_what_is_expected(db: str, tmp_path: Path) -> None:
    school = await make_school()
    other = await make_school()
    path = xlsx(tmp_path / "bad.xlsx", ["UAI", "Nom", "Manuels", "CSN déployé"], [
        [school.uai, "", "Tablette", "peut-être"],
        ["0750650W", "Lycée X", "Papier", "Oui"],
        [other.uai, "Lycée Y", "Papier", "Non"],
    ])
    before = await snapshot()
    report = await import_xlsx(SCHOOLS, path, caller=Caller(ACTOR, "agent"), dry_run=False)
    assert (report.refused, report.changed) == (2, 1)
    by_line = report.errors_by_line
    assert set(by_line) == {2, 4 - 1}
    messages = " | ".join(by_line[2])
    assert "« Nom » est obligatoire" in messages
    assert "« Tablette » refusé pour « Manuels » : attendu une des valeurs : Numérique, Papier" in messages
    assert "« peut-être » refusé pour « CSN déployé » : attendu Oui ou Non" in messages
    # R-SCH-1: a key that fails its validator says which control letter is expected.
    assert by_line[3] == ["UAI « 0750650W » invalide : pour 0750650, la lettre de contrôle doit être « Z » "
                          "(soit 0750650Z)."]
    issue = next(i for i in report.issues if i.line == 3)
    assert (issue.column, issue.value) == ("UAI", "0750650W")
    # the valid row was written, the refused ones were not
    assert (await School.get(uai=other.uai)).name == "Lycée Y"
    assert (await School.get(uai=school.uai)).name == dict((r[0], r[1]) for r in before)[school.uai]


async def test_all_or_nothing_writes_nothing_when_a_row_is_refused(db: str, tmp_path: Path) -> None:
    school = await make_school()
    path = xlsx(tmp_path / "mixed.xlsx", ["UAI", "Nom"], [[school.uai, "Nouveau nom"], ["0750650W", "X"]])
    before = await snapshot()
    report = await import_xlsx(SCHOOLS, path, caller=Caller(ACTOR, "agent"), dry_run=False, all_or_nothing=True)
    assert not report.applied and report.refused == 1 and report.changed == 1
    assert any("tout ou rien" in w for w in report.warnings)
    assert await snapshot() == before
    assert await AuditEntry.all().count() == 0


async def test_unknown_key_is_refused_to_a_role_that_cannot_create_rows(db: str, tmp_path: Path) -> None:
    """Schools are created by admins only: an agent's import refuses unknown UAIs, an admin's creates them."""
    path = xlsx(tmp_path / "new.xlsx", ["UAI", "Nom"], [["0750650Z", "Lycée nouveau"]])
    report = await import_xlsx(SCHOOLS, path, caller=Caller(ACTOR, "agent"), dry_run=False)
    assert report.refused == 1 and "absent de la base" in report.errors_by_line[2][0]
    assert await School.all().count() == 0
    with pytest.raises(WriteRefused, match="ne pouvez pas ajouter") as refused:
        await create_rows(SCHOOLS, [{"uai": "0750650Z", "name": "X"}], Caller(ACTOR, "agent", Source.IMPORT))
    assert refused.value.status == 403 and await School.all().count() == 0
    created = await import_xlsx(SCHOOLS, path, caller=Caller(ACTOR, "admin"), dry_run=False)
    assert created.created_rows == 1 and (await School.get(uai="0750650Z")).academie == "paris"


async def test_duplicate_keys_in_the_file_refuse_every_occurrence(db: str, tmp_path: Path) -> None:
    school = await make_school(name="Lycée A")
    path = xlsx(tmp_path / "dup.xlsx", ["UAI", "Nom"], [[school.uai, "Lycée B"], [school.uai, "Lycée C"]])
    report = await import_xlsx(SCHOOLS, path, caller=Caller(ACTOR, "agent"), dry_run=False)
    assert (report.refused, report.changed, report.unchanged) == (2, 0, 0)
    assert report.errors_by_line[2] == [f"UAI « {school.uai} » en double : présent aux lignes 2, 3 du fichier. "
                                        "Gardez une seule ligne par UAI."]
    assert "déjà ligne 2" in report.errors_by_line[3][0]
    assert (await School.get(uai=school.uai)).name == "Lycée A"


async def test_report_file_has_the_original_rows_and_an_erreurs_column(db: str, tmp_path: Path) -> None:
    school = await make_school()
    path = xlsx(tmp_path / "in.xlsx", ["UAI", "Nom", "Code postal"],
                [[school.uai, "Lycée bon", 75001], ["0750650W", "Lycée mauvais", "75002"]],
                ["text", "text", "integer"])
    report = await import_xlsx(SCHOOLS, path, caller=Caller(ACTOR, "agent"))
    out = tmp_path / "rapport.xlsx"
    assert report.write_report(out) == 2
    rows = CalamineWorkbook.from_path(str(out)).get_sheet_by_index(0).to_python()
    assert rows[0] == ["UAI", "Nom", "Code postal", "erreurs"]
    assert rows[1] == [school.uai, "Lycée bon", 75001.0, ""]
    assert rows[2][:3] == ["0750650W", "Lycée mauvais", "75002"] and "lettre de contrôle" in rows[2][3]
    data = report.as_dict()
    assert data["refused"] == 1 and data["issues"][0]["line"] == 3 and data["summary"].startswith("2 ligne(s)")
    # the report re-imports
    refused_file = await import_xlsx(SCHOOLS, tmp_path / "rapport.xlsx", caller=Caller(ACTOR, "agent"))
    assert "erreurs" not in " ".join(refused_file.unknown_columns)


# --- Bad files: each refused with a clear French message, the database unchanged --------------------------

async def assert_refused(path: Path, *fragments: str, **kwargs: Any) -> None:
    """The import is refused whole with a message containing every fragment, and nothing is written."""
    before = await snapshot()
    report = await import_xlsx(SCHOOLS, path, caller=Caller(ACTOR, "agent"), dry_run=False, **kwargs)
    assert report.fatal and not report.applied, report.summary()
    for fragment in fragments:
        assert fragment in " ".join(report.fatal), report.fatal
    assert await snapshot() == before
    assert await AuditEntry.all().count() == 0
    report.write_report(path.with_suffix(".rapport.xlsx"))  # a refused file still gets its report


async def test_zero_byte_file(db: str, tmp_path: Path) -> None:
    await make_school()
    (tmp_path / "vide.xlsx").write_bytes(b"")
    await assert_refused(tmp_path / "vide.xlsx", "Le fichier est vide (0 octet)")


async def test_csv_renamed_xlsx(db: str, tmp_path: Path) -> None:
    school = await make_school()
    (tmp_path / "ecoles.xlsx").write_text(f"UAI;Nom\n{school.uai};Autre nom\n", encoding="utf-8")
    await assert_refused(tmp_path / "ecoles.xlsx", "pas un classeur Excel mais du texte", "CSV")
    for encoding in ("utf-8-sig", "latin-1", "utf-16"):
        (tmp_path / "accents.xlsx").write_text("Établissement;UAI\nLycée;0750650Z\n", encoding=encoding)
        await assert_refused(tmp_path / "accents.xlsx", "mais du texte")
    (tmp_path / "image.xlsx").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    await assert_refused(tmp_path / "image.xlsx", "n'est pas un classeur Excel (.xlsx)")


async def test_pdf_renamed_xlsx(db: str, tmp_path: Path) -> None:
    (tmp_path / "ecoles.xlsx").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    await assert_refused(tmp_path / "ecoles.xlsx", "PDF")


async def test_zip_that_is_not_a_workbook(db: str, tmp_path: Path) -> None:
    path = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    await assert_refused(path, "n'est pas un classeur Excel")
    (tmp_path / "tronque.xlsx").write_bytes(xlsx(tmp_path / "ok.xlsx", ["UAI"], [["x"]]).read_bytes()[:300])
    await assert_refused(tmp_path / "tronque.xlsx", "abîmé")


async def test_password_protected_workbook(db: str, tmp_path: Path) -> None:
    ooxml = pytest.importorskip("msoffcrypto.format.ooxml", reason="msoffcrypto-tool (test dependency) absent")
    school = await make_school()
    plain = xlsx(tmp_path / "clair.xlsx", ["UAI", "Nom"], [[school.uai, "Autre"]])
    protected = tmp_path / "protege.xlsx"
    with plain.open("rb") as src, protected.open("wb") as dst:
        ooxml.OOXMLFile(src).encrypt("secret", dst)
    await assert_refused(protected, "protégé par un mot de passe", "retirez le mot de passe")


async def test_old_xls_format(db: str, tmp_path: Path) -> None:
    path = tmp_path / "ancien.xlsx"
    path.write_bytes(importer._OLE_MAGIC + b"\0" * 1024)
    await assert_refused(path, "ancien classeur Excel (.xls)")


async def test_empty_workbook_and_header_only(db: str, tmp_path: Path) -> None:
    empty = tmp_path / "vide.xlsx"
    openpyxl.Workbook().save(empty)
    await assert_refused(empty, "est vide")
    header_only = xlsx(tmp_path / "entete.xlsx", ["UAI", "Nom"], [])
    await assert_refused(header_only, "ne contient que l'en-tête")


async def test_missing_key_column_and_duplicate_columns(db: str, tmp_path: Path) -> None:
    await make_school()
    await assert_refused(xlsx(tmp_path / "sans-cle.xlsx", ["Nom", "Commune"], [["A", "B"]]),
                         "Colonne obligatoire absente : « UAI »")
    await assert_refused(xlsx(tmp_path / "deux.xlsx", ["UAI", "Nom", "nom"], [["0750650Z", "A", "B"]]),
                         "La colonne « Nom » apparaît deux fois (colonnes B et C)")


async def test_merged_header_cells(db: str, tmp_path: Path) -> None:
    school = await make_school()
    path, book, sheet = openpyxl_file(tmp_path / "fusion.xlsx", ["UAI", "Nom", None], [[school.uai, "A", "B"]])
    sheet.merge_cells("B1:C1")
    book.save(path)
    await assert_refused(path, "cellules fusionnées (B1:C1)", "défusionnez")


async def test_too_many_rows_are_refused_before_loading(db: str, tmp_path: Path) -> None:
    path = xlsx(tmp_path / "grand.xlsx", ["UAI", "Nom"], ([f"{n:07d}X", "x"] for n in range(2001)))  # type: ignore[arg-type]
    await assert_refused(path, "plus de 2\u202f000 lignes", "Découpez", max_rows=2000)


def test_a_full_excel_sheet_of_1048576_rows_is_refused_with_the_default_limit(tmp_path: Path) -> None:
    path = tmp_path / "plein.xlsx"
    columns = [XlsxColumn("UAI")]
    write_xlsx(path, columns, (("0750650Z",) for _ in range(1_048_575)))
    with pytest.raises(ImportFileError, match="plus de 600\u202f000 lignes"):
        importer._read(path, importer.MAX_ROWS)


async def test_formulas_import_their_cached_values_with_a_warning(db: str, tmp_path: Path) -> None:
    school = await make_school(name="Lycée A")
    source = tmp_path / "source.xlsx"
    xlsx(source, ["UAI", "Nom"], [[school.uai, "Lycée A"]])
    # A formula with its cached value, as Excel saves it (openpyxl cannot write cached values).
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(tmp_path / "formule.xlsx", "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b'<c r="B2" t="inlineStr"><is><t>Lyc\xc3\xa9e A</t></is></c>',
                                    b'<c r="B2" t="str"><f>CONCAT("Lyc\xc3\xa9e ","B")</f><v>Lyc\xc3\xa9e B</v></c>')
                assert b"<f>" in data
            zout.writestr(item, data)
    report = await import_xlsx(SCHOOLS, tmp_path / "formule.xlsx", caller=Caller(ACTOR, "agent"))
    assert report.preview == [{"line": 2, "key": school.uai, "column": "Nom", "old": "Lycée A", "new": "Lycée B"}]
    assert any("1 formule(s) (ex. B2)" in w and "dernière valeur calculée" in w for w in report.warnings)


async def test_numbers_and_dates_as_text_convert_when_unambiguous_and_are_refused_otherwise(
        db: str, tmp_path: Path) -> None:
    from sheets.engine.declaration import Column

    decimal = Column("amount", "Montant", kind="euro", editable=True)
    date = Column("delivered", "Livré le", kind="date", editable=True)
    assert importer.parse_cell(decimal, "1 234,50")[1] == "number"
    assert str(importer.parse_cell(decimal, "1 234,50")[0]) == "1234.50"
    assert str(importer.parse_cell(decimal, 12.5)[0]) == "12.50" and importer.parse_cell(decimal, 12.5)[1] is None
    for ambiguous in ("1.234", "1,234", "1,234.50"):
        with pytest.raises(ValueError, match="refusé pour « Montant »"):
            importer.parse_cell(decimal, ambiguous)
    assert importer.parse_cell(date, "05/09/2026") == (importer.dt.date(2026, 9, 5), "date")
    assert importer.parse_cell(date, "2026-09-05")[0] == importer.dt.date(2026, 9, 5)
    for ambiguous in ("05/09/26", "09/13/2026", "5 sept."):
        with pytest.raises(ValueError, match="attendu jj/mm/aaaa"):
            importer.parse_cell(date, ambiguous)
    # through a file: a postal code typed as a number in a text column is fine (no warning needed)
    school = await make_school()
    path, book, _ = openpyxl_file(tmp_path / "texte.xlsx", ["UAI", "Code postal"], [[school.uai, 75011]])
    book.save(path)
    report = await import_xlsx(SCHOOLS, path, caller=Caller(ACTOR, "agent"))
    assert report.preview[0]["new"] == "75011" and report.refused == 0


async def test_numbers_as_text_warn_in_the_report(db: str, tmp_path: Path) -> None:
    from sheets.engine.declaration import Column, Sheet

    sheet = replace(SCHOOLS, name="schools_test", columns=(
        *SCHOOLS.columns, Column("version", "Version", kind="integer", editable=True)))
    school = await make_school()
    path = xlsx(tmp_path / "v.xlsx", ["UAI", "Version"], [[school.uai, "7"]])
    report = await import_xlsx(sheet, path, caller=Caller(ACTOR, "agent"))
    assert isinstance(sheet, Sheet) and report.changed == 1
    assert any("Colonne « Version » : 1 nombre(s) écrit(e)s comme du texte, converti(e)s (ex. ligne 2 : « 7 »)" in w
               for w in report.warnings)
    bad = xlsx(tmp_path / "w.xlsx", ["UAI", "Version"], [[school.uai, "1.234"]])
    refused = await import_xlsx(sheet, bad, caller=Caller(ACTOR, "agent"))
    assert refused.refused == 1 and "ambigu" in refused.errors_by_line[2][0]


async def test_read_xlsx_gives_headers_and_lazy_rows(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "a.xlsx", ["UAI", "Effectif"], [["0750650Z", 12]], ["text", "integer"])
    book = await read_xlsx(path)
    try:
        assert book.headers == ["UAI", "Effectif"] and book.row_count == 1 and book.first_row == 1
        assert list(book.iter_rows()) == [["0750650Z", 12.0]]  # calamine: numbers as floats
    finally:
        book.close()


# --- Creation (schools: admins) -------------------------------------------------------------------------

async def test_real_lycee_list_creates_rows_then_reimports_unchanged(db: str, tmp_path: Path) -> None:
    source = shared_file("data/idf_lycees_publics_2021-2022.csv")
    creating = SCHOOLS
    with source.open(encoding="utf-8") as fh:
        records = list(csv.DictReader(fh))
    assert len(records) == 452
    header = ["numero_lycee", "Nom", "type", "Commune", "CP"]
    rows = [[r["uai"], r["nom"], r["type_lycee"], r["commune"], r["code_postal"] or None] for r in records]
    path = xlsx(tmp_path / "lycees.xlsx", header, rows)
    preview = await import_xlsx(creating, path, caller=Caller(ACTOR, "admin"))
    assert (preview.new, preview.refused) == (452, 0) and await School.all().count() == 0
    applied = await import_xlsx(creating, path, caller=Caller(ACTOR, "admin"), dry_run=False)
    assert applied.applied and applied.created_rows == 452, applied.issues[:3]
    assert await School.filter(academie="creteil").count() == 166  # derived by the model (R-SCH-2)
    assert await AuditEntry.filter(column="*", source=Source.IMPORT).count() == 452
    again = await import_xlsx(creating, path, caller=Caller(ACTOR, "admin"))
    assert (again.unchanged, again.new, again.changed) == (452, 0, 0)
    without_name = xlsx(tmp_path / "sans-nom.xlsx", ["UAI"], [["0750001U"]])  # not in the list
    refused = await import_xlsx(creating, without_name, caller=Caller(ACTOR, "admin"))
    assert refused.fatal and "obligatoire(s) absente(s) pour créer les 1 nouvelle(s) ligne(s) : Nom" in refused.fatal[0]




# --- CLI ---------------------------------------------------------------------------------------------------

def test_cli_export_then_import_with_dry_run_refusals_and_report(isolated_settings: Path, tmp_path: Path) -> None:
    import getpass
    import sqlite3

    from tests.cli import run_cli

    assert run_cli("seed").returncode == 0
    out = tmp_path / "creteil.xlsx"
    exported = run_cli("export", "schools", str(out), "--filter", "academie=Créteil")
    assert exported.returncode == 0, exported.stderr
    assert "Export terminé" in exported.stdout and "lignes écrites" in exported.stdout
    database = isolated_settings / "test.sqlite3"
    with sqlite3.connect(database) as con:
        creteil = con.execute("SELECT count(*) FROM school WHERE academie='creteil'").fetchone()[0]
    rows = CalamineWorkbook.from_path(str(out)).get_sheet_by_index(0).to_python()
    assert len(rows) == creteil + 1 and {r[6] for r in rows[1:]} == {"Créteil"}

    book = openpyxl.load_workbook(out)
    sheet = book.worksheets[0]
    uai = sheet["A2"].value
    sheet["B2"] = "Lycée modifié par la CLI"
    edited = tmp_path / "edited.xlsx"
    book.save(edited)
    with sqlite3.connect(database) as con:
        audited = con.execute("SELECT count(*) FROM audit_entry").fetchone()[0]  # the demo seed's own writes
        assert audited == con.execute("SELECT coalesce(max(id), 0) FROM audit_entry").fetchone()[0]
    dry = run_cli("import", "schools", str(edited), "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"ligne 2 {uai} · Nom" in dry.stdout and "→ « Lycée modifié par la CLI »" in dry.stdout
    assert "Simulation : rien n'a été enregistré" in dry.stdout

    sheet["A3"] = "0750650W"
    bad = tmp_path / "bad.xlsx"
    book.save(bad)
    report = tmp_path / "rapport.xlsx"
    refused = run_cli("import", "schools", str(bad), "--all-or-nothing", "--report", str(report))
    assert refused.returncode == 1
    assert "REFUSÉ ligne 3, colonne « UAI »" in refused.stdout
    assert "lettre de contrôle doit être « Z »" in refused.stdout
    assert report.is_file()
    with sqlite3.connect(database) as con:
        assert con.execute("SELECT count(*) FROM audit_entry").fetchone()[0] == audited  # nothing written

    applied = run_cli("import", "schools", str(edited))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    with sqlite3.connect(database) as con:
        assert con.execute("SELECT name FROM school WHERE uai=?", (uai,)).fetchone()[0] == "Lycée modifié par la CLI"
        assert con.execute("SELECT actor, source, column FROM audit_entry WHERE id > ?", (audited,)).fetchall() == [
            (f"cli:{getpass.getuser()}", "import", "name")]

    unknown = run_cli("export", "fleet", str(out))
    assert unknown.returncode == 2 and "Feuille inconnue « fleet »" in unknown.stderr
    not_xlsx = tmp_path / "x.xlsx"
    not_xlsx.write_text("uai;nom\n", encoding="utf-8")
    refused_file = run_cli("import", "schools", str(not_xlsx))
    assert refused_file.returncode == 1 and "Fichier refusé" in refused_file.stdout


async def test_rows_refused_while_writing_are_reported_and_the_others_written(db: str, tmp_path: Path) -> None:
    import json

    async def hook(ctx: Any) -> None:
        if "interdit" in str(ctx.values.get("name", "")):
            raise ValueError("Nom refusé par la règle métier (test).")

    guarded = replace(SCHOOLS, change_hook=hook)
    a, b = await make_school(name="A"), await make_school(name="B")
    path = xlsx(tmp_path / "hook.xlsx", ["UAI", "Nom"], [[a.uai, "A bis"], [b.uai, "nom interdit"]])
    report = await import_xlsx(guarded, path, caller=Caller(ACTOR, "agent"), dry_run=False)
    assert report.applied and report.written_rows == 1 and report.refused == 1 and report.changed == 1
    assert report.errors_by_line == {3: ["Nom refusé par la règle métier (test)."]}
    assert (await School.get(id=a.id)).name == "A bis" and (await School.get(id=b.id)).name == "B"
    json.dumps(report.as_dict())  # JSON-ready for the page and the API

    await School.filter(id=a.id).update(name="A")
    whole = await import_xlsx(guarded, path, caller=Caller(ACTOR, "agent"), dry_run=False, all_or_nothing=True)
    assert not whole.applied and whole.written_rows == 0
    assert (await School.get(id=a.id)).name == "A"
    assert await AuditEntry.filter(source=Source.IMPORT).count() == 1  # only the first import's change


async def test_formula_without_a_cached_value_is_read_empty_and_warned(db: str, tmp_path: Path) -> None:
    school = await make_school(name="Lycée A")
    path, book, _ = openpyxl_file(tmp_path / "sans-cache.xlsx", ["UAI", "Nom", "Commune"],
                                  [[school.uai, '=CONCAT("Lycée ","Z")', "=UPPER(\"meaux\")"]])
    book.save(path)  # openpyxl writes formulas without their computed value
    report = await import_xlsx(SCHOOLS, path, caller=Caller(ACTOR, "agent"), dry_run=False)
    assert any("2 formule(s) (ex. B2, C2)" in w for w in report.warnings)
    assert report.refused == 1 and "« Nom » est obligatoire" in report.errors_by_line[2][0]
    assert (await School.get(id=school.id)).name == "Lycée A"
