"""Tests of sheets/xlsx_writer.py: files read back by openpyxl, python-calamine and LibreOffice."""

import csv
import io
import re
import shutil
import subprocess
import tracemalloc
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

import sheets.engine.xlsx as xlsx_writer
from sheets.engine.xlsx import XlsxColumn, column_letter, write_xlsx

PARIS = ZoneInfo("Europe/Paris")
KIND_ORDER = ("text", "integer", "decimal", "euro", "date", "datetime", "boolean", "choice")
STATUSES = ("En service", "En panne", "Perdu")
ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
EXCEL_ESCAPE = re.compile("_x([0-9A-Fa-f]{4})_")
NUMBER_FORMATS = {
    "text": "General",
    "integer": "0",
    "decimal": "#,##0.00",
    "euro": '#,##0.00 "€"',
    "date": "dd/mm/yyyy",
    "datetime": "dd/mm/yyyy hh:mm",
    "boolean": "General",
    "choice": "General",
}
TEXTS: list[str | None] = [
    "Lycée Léonard-de-Vinci",
    "Élève àéèùç ÀÉÈ œ ß « guillemets »",
    "<>&\"'",
    "emoji 🎒📚👩‍🏫",
    "L" * 5000 + "é",
    "a\x00b\x01c\x08d\x0be\x0cf\x1fg",
    "ligne 1\nligne 2",
    "tab\tdedans",
    "  espaces devant",
    "espaces derrière  ",
    "_x0041_ littéral",
    "]]> fin de CDATA",
    "NBSP\u00a0ici",
    "=1+1",
    "+33 1 23",
    "-2",
    "@SUM(A1)",
    "\tX",
    "\rX",
    "a\r\nb",
    "",
    None,
    "\ufffe\uffff ok",
]
INJECTIONS = [
    "=1+1", "+33 1 23", "-2", "@SUM(A1)", "\tX", "\rX", '=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0",
]


def make_columns(repeat: int = 4) -> list[XlsxColumn]:
    """Every kind `repeat` times, so there are more than 26 columns."""
    columns = []
    for r in range(repeat):
        for kind in KIND_ORDER:
            choices = STATUSES if kind == "choice" else ()
            width = 25.0 if (r, kind) == (0, "integer") else None
            columns.append(XlsxColumn(f"{kind.capitalize()} n°{r + 1}", kind, width, choices))
    return columns


def make_value(kind: str, i: int, r: int) -> Any:
    """Deterministic value of row i for a column of this kind (r: repetition of the kind)."""
    k = i + 7 * r
    if kind == "text":
        return TEXTS[k % len(TEXTS)]
    if k % 13 == 5:
        return None
    if kind == "integer":
        return [k * 7919, -k * 31, 2**40 + k, 0][k % 4]
    if kind == "decimal":
        return [Decimal("1234.50"), Decimal(-k) / Decimal(8), 0.1 * k, -k][k % 4]
    if kind == "euro":
        return [Decimal(f"{k}.{k % 100:02d}"), Decimal(f"-{k}.05"), Decimal("1E+3"), k][k % 4]
    if kind == "date":
        return date(2020, 1, 1) + timedelta(days=3 * k)
    if kind == "datetime":
        base = datetime(2024, 1, 1, 8, 0, 0) + timedelta(minutes=37 * k, seconds=k)
        return [
            base,
            base.replace(tzinfo=UTC),
            base.replace(tzinfo=timezone(timedelta(hours=5, minutes=30))),
            base.replace(tzinfo=PARIS),
        ][k % 4]
    if kind == "boolean":
        return k % 3 == 0
    if kind == "choice":
        return STATUSES[k % 3]
    raise AssertionError(kind)


def make_rows(columns: list[XlsxColumn], n: int) -> Iterator[tuple[Any, ...]]:
    """Lazily generate n rows for the columns of make_columns."""
    for i in range(n):
        yield tuple(make_value(col.kind, i, j // len(KIND_ORDER)) for j, col in enumerate(columns))


def expected(kind: str, value: Any) -> Any:
    """What a reader should give back for a written value (None for an empty cell)."""
    if value is None:
        return None
    if isinstance(value, str):
        cleaned = ILLEGAL.sub("", value)
        return cleaned or None
    if kind == "datetime":
        if value.tzinfo is not None:
            value = value.astimezone(PARIS)
        return value.replace(tzinfo=None)
    if kind in ("decimal", "euro"):
        return float(value)
    return value


def excel_unescape(value: Any) -> Any:
    """Decode _xHHHH_ as Excel, LibreOffice and calamine do (openpyxl does not, for inline strings)."""
    if isinstance(value, str):
        return EXCEL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
    return value


def calamine_rows(path: Path | io.BytesIO, sheet: str) -> list[list[Any]]:
    """All the rows of a sheet as python-calamine reads them."""
    if isinstance(path, io.BytesIO):
        workbook = CalamineWorkbook.from_filelike(path)
    else:
        workbook = CalamineWorkbook.from_path(str(path))
    return workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)


def from_calamine(kind: str, value: Any) -> Any:
    """Convert a calamine value to the Python value of the column kind."""
    if value == "":
        return None
    if kind == "integer" and isinstance(value, float):
        return int(value)
    return value


N_ROWS = 300


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[XlsxColumn], int]:
    """A workbook with every kind, 32 columns and N_ROWS rows, plus an Informations sheet."""
    path = tmp_path_factory.mktemp("xlsx") / "export.xlsx"
    columns = make_columns()
    info = [
        ("Exporté le", datetime(2024, 9, 2, 10, 15)),
        ("Filtres", "Statut = En service; lycée = 0750001A"),
        ("Auteur", "Jeanne d'Arc <jeanne@example.org>"),
        ("Lignes", N_ROWS),
        ("Formule ?", "=2+2"),
    ]
    count = write_xlsx(path, columns, make_rows(columns, N_ROWS), info=info)
    return path, columns, count


def test_round_trip_values_with_openpyxl(round_trip: tuple[Path, list[XlsxColumn], int]) -> None:
    path, columns, count = round_trip
    assert count == N_ROWS
    ws = openpyxl.load_workbook(path)["Données"]
    assert ws.max_row == N_ROWS + 1 and ws.max_column == 32
    assert [c.value for c in ws[1]] == [col.header for col in columns]
    for i, row in enumerate(ws.iter_rows(min_row=2), start=0):
        for j, (cell, col) in enumerate(zip(row, columns, strict=True)):
            written = make_value(col.kind, i, j // len(KIND_ORDER))
            want = expected(col.kind, written)
            got = excel_unescape(cell.value)
            assert cell.data_type != "f", cell.coordinate
            if want is None:
                assert got is None, (cell.coordinate, got)
            elif col.kind == "date":
                assert got.date() == want, cell.coordinate
            elif col.kind == "datetime":
                assert abs(got - want) < timedelta(milliseconds=1), (cell.coordinate, got, want)
            elif col.kind in ("decimal", "euro"):
                assert got == pytest.approx(want, rel=1e-15), cell.coordinate
            else:
                assert got == want, (cell.coordinate, got, want)
                assert type(got) is type(want), cell.coordinate
            if want is not None and not isinstance(written, str):
                assert cell.number_format == NUMBER_FORMATS[col.kind], cell.coordinate


def test_round_trip_values_with_calamine(round_trip: tuple[Path, list[XlsxColumn], int]) -> None:
    path, columns, _ = round_trip
    rows = calamine_rows(path, "Données")
    assert len(rows) == N_ROWS + 1
    assert rows[0] == [col.header for col in columns]
    for i, row in enumerate(rows[1:]):
        assert len(row) == len(columns)
        for j, (value, col) in enumerate(zip(row, columns, strict=True)):
            want = expected(col.kind, make_value(col.kind, i, j // len(KIND_ORDER)))
            got = from_calamine(col.kind, value)
            where = f"{column_letter(j)}{i + 2}"
            if col.kind == "datetime" and want is not None:
                assert isinstance(got, datetime), where
                assert abs(got - want) < timedelta(milliseconds=1), (where, got, want)
            elif col.kind in ("decimal", "euro") and want is not None:
                assert got == pytest.approx(want, rel=1e-15), where
            else:
                assert got == want, (where, got, want)
                if col.kind == "date" and want is not None:
                    assert type(got) is date, where


def test_layout_styles_and_validations(round_trip: tuple[Path, list[XlsxColumn], int]) -> None:
    path, columns, _ = round_trip
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Données", "Informations"]
    ws = wb["Données"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:AF{N_ROWS + 1}"
    assert all(cell.font.b for cell in ws[1])
    assert not any(cell.font.b for cell in ws[2])
    widths = {letter: dim.width for letter, dim in ws.column_dimensions.items()}
    assert widths["B"] == 25.0  # explicit width
    assert all(10 <= widths[column_letter(j)] <= 60 for j in range(len(columns)))
    validations = ws.data_validations.dataValidation
    choice_letters = [column_letter(j) for j, col in enumerate(columns) if col.kind == "choice"]
    want_ranges = sorted(f"{c}2:{c}{N_ROWS + 1}" for c in choice_letters)
    assert sorted(str(dv.sqref) for dv in validations) == want_ranges
    assert {dv.type for dv in validations} == {"list"}
    assert {dv.formula1 for dv in validations} == {'"En service,En panne,Perdu"'}
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names[0] == "[Content_Types].xml"
        assert "xl/sharedStrings.xml" not in names
        workbook_xml = zf.read("xl/workbook.xml").decode()
        sheet_xml = zf.read("xl/worksheets/sheet1.xml").decode()
        core_xml = zf.read("docProps/core.xml").decode()
    assert f"'Données'!$A$1:$AF${N_ROWS + 1}</definedName>" in workbook_xml
    assert 'name="_xlnm._FilterDatabase"' in workbook_xml
    assert f'<autoFilter ref="A1:AF{N_ROWS + 1}"/>' in sheet_xml
    assert 't="inlineStr"' in sheet_xml and "<f>" not in sheet_xml
    assert "<dc:creator>Rentrée</dc:creator>" in core_xml
    assert wb.properties.creator == "Rentrée"


def test_informations_sheet(round_trip: tuple[Path, list[XlsxColumn], int]) -> None:
    path, _, _ = round_trip
    ws = openpyxl.load_workbook(path)["Informations"]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values == [
        ["Exporté le", datetime(2024, 9, 2, 10, 15)],
        ["Filtres", "Statut = En service; lycée = 0750001A"],
        ["Auteur", "Jeanne d'Arc <jeanne@example.org>"],
        ["Lignes", N_ROWS],
        ["Formule ?", "=2+2"],
    ]
    assert all(ws.cell(row=r, column=1).font.b for r in range(1, 6))
    assert not ws["B1"].font.b
    assert ws["B1"].number_format == "dd/mm/yyyy hh:mm"
    assert ws["B5"].data_type == "s" and ws["B5"].quotePrefix
    assert calamine_rows(path, "Informations")[3] == ["Lignes", 300.0]


def test_formula_injection_is_neutralised(tmp_path: Path) -> None:
    path = tmp_path / "injection.xlsx"
    columns = [
        XlsxColumn("Texte"), XlsxColumn("Choix", "choice", choices=("=A", "B")), XlsxColumn("N", "integer"),
    ]
    rows = [(s, s, -2) for s in INJECTIONS] + [("Bonjour", "B", 3)]
    write_xlsx(path, columns, rows)
    ws = openpyxl.load_workbook(path).active
    for r, text in enumerate(INJECTIONS, start=2):
        for c in (1, 2):
            cell = ws.cell(row=r, column=c)
            assert cell.value == text, (cell.coordinate, cell.value)
            assert cell.data_type == "s" and cell.data_type != "f", cell.coordinate
            assert cell.quotePrefix, cell.coordinate
        number = ws.cell(row=r, column=3)
        assert number.value == -2 and number.data_type == "n" and not number.quotePrefix
    assert ws.cell(row=len(INJECTIONS) + 2, column=1).value == "Bonjour"
    assert not ws.cell(row=len(INJECTIONS) + 2, column=1).quotePrefix
    assert [row[0] for row in calamine_rows(path, "Données")[1:]] == [*INJECTIONS, "Bonjour"]
    with zipfile.ZipFile(path) as zf:
        xml = zf.read("xl/worksheets/sheet1.xml").decode()
        styles = zf.read("xl/styles.xml").decode()
    assert "<f>" not in xml and "<f " not in xml
    assert 'quotePrefix="1"' in styles


def test_long_or_comma_choice_lists_use_hidden_sheet(tmp_path: Path) -> None:
    path = tmp_path / "choices.xlsx"
    long_list = tuple(f"Lycée numéro {i:03d} de l'académie" for i in range(40))
    commas = ("Oui, tout à fait", 'Non "jamais"', "Peut-être")
    columns = [
        XlsxColumn("Lycée", "choice", choices=long_list),
        XlsxColumn("Avis", "choice", choices=commas),
        XlsxColumn("Statut", "choice", choices=STATUSES),
    ]
    rows = ((long_list[i % 40], commas[i % 3], STATUSES[i % 3]) for i in range(50))
    assert write_xlsx(path, columns, rows) == 50
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Données", "_listes"]
    assert wb["_listes"].sheet_state == "hidden"
    assert wb["Données"].sheet_state == "visible"
    assert [c.value for c in wb["_listes"]["A"]] == list(long_list)
    assert [c.value for c in wb["_listes"]["B"][:3]] == list(commas)
    validations = {str(dv.sqref): dv.formula1 for dv in wb["Données"].data_validations.dataValidation}
    assert validations == {
        "A2:A51": "_listes!$A$1:$A$40",
        "B2:B51": "_listes!$B$1:$B$3",
        "C2:C51": '"En service,En panne,Perdu"',
    }
    assert wb["Données"]["B3"].value == 'Non "jamais"'
    assert calamine_rows(path, "_listes")[0] == [long_list[0], commas[0]]


def test_file_object_targets(tmp_path: Path) -> None:
    columns = [XlsxColumn("Nom"), XlsxColumn("Montant", "euro")]
    rows = [("Élève", Decimal("12.30")), ("Prof", Decimal("-4"))]
    buffer = io.BytesIO()
    assert write_xlsx(buffer, columns, iter(rows), sheet_title="Export") == 2
    buffer.seek(0)
    ws = openpyxl.load_workbook(buffer)["Export"]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values == [["Nom", "Montant"], ["Élève", 12.3], ["Prof", -4]]

    class WriteOnly(io.RawIOBase):
        """A non-seekable binary sink, like a pipe or an HTTP response body."""

        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            self.data += b
            return len(b)

    sink = WriteOnly()
    assert write_xlsx(sink, columns, rows) == 2
    assert calamine_rows(io.BytesIO(bytes(sink.data)), "Données")[2] == ["Prof", -4.0]

    with open(tmp_path / "opened.xlsx", "wb") as fh:
        write_xlsx(fh, columns, rows)
    assert calamine_rows(tmp_path / "opened.xlsx", "Données")[1] == ["Élève", 12.3]


def test_zero_rows_writes_header_only(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    columns = [XlsxColumn(f"Colonne {j}") for j in range(7)]
    columns.append(XlsxColumn("Statut", "choice", choices=STATUSES))
    calls: list[int] = []
    assert write_xlsx(path, columns, iter(()), progress=calls.append) == 0
    assert calls == [0]
    ws = openpyxl.load_workbook(path).active
    assert ws.max_row == 1
    assert [c.value for c in ws[1]] == [col.header for col in columns]
    assert ws.auto_filter.ref == "A1:H1"
    assert ws.freeze_panes == "A2"
    assert calamine_rows(path, "Données") == [[col.header for col in columns]]


def test_progress_is_called_every_n_rows_while_streaming(tmp_path: Path) -> None:
    consumed = 0

    def rows() -> Iterator[tuple[int]]:
        nonlocal consumed
        for i in range(2_550):
            consumed += 1
            yield (i,)

    seen: list[tuple[int, int]] = []
    count = write_xlsx(
        tmp_path / "p.xlsx",
        [XlsxColumn("N", "integer")],
        rows(),
        progress=lambda n: seen.append((n, consumed)),
        progress_every=500,
    )
    assert count == 2_550
    # reported at each multiple and at the end, with the generator consumed only that far
    assert seen == [(500, 500), (1000, 1000), (1500, 1500), (2000, 2000), (2500, 2500), (2550, 2550)]
    calls: list[int] = []
    write_xlsx(tmp_path / "q.xlsx", [XlsxColumn("N", "integer")], ((i,) for i in range(1000)),
               progress=calls.append, progress_every=500)
    assert calls == [500, 1000]


def test_memory_does_not_grow_with_row_count(tmp_path: Path) -> None:
    columns = [XlsxColumn("Série"), XlsxColumn("Titulaire"), XlsxColumn("Livré le", "date"),
               XlsxColumn("Version", "integer"), XlsxColumn("Statut", "choice", choices=STATUSES)]

    def rows(n: int) -> Iterator[tuple[Any, ...]]:
        for i in range(n):
            yield f"UNW-24-{i:07d}", f"Élève n°{i} du lycée", date(2024, 9, 1), i, STATUSES[i % 3]

    def peak(n: int) -> int:
        tracemalloc.start()
        try:
            write_xlsx(tmp_path / f"m{n}.xlsx", columns, rows(n))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(4_000), peak(40_000)
    with zipfile.ZipFile(tmp_path / "m40000.xlsx") as zf:
        xml_size = zf.getinfo("xl/worksheets/sheet1.xml").file_size
    assert xml_size > 10_000_000
    assert large < xml_size / 2, (large, xml_size)
    assert large < small * 1.5 + 1_000_000, (small, large)


def test_column_widths(tmp_path: Path) -> None:
    path = tmp_path / "widths.xlsx"
    headers = ["N", "x" * 100, "Numéro de série", "Numéro de série de l'équipement", "Y"]
    columns = [XlsxColumn(h) for h in headers[:-1]] + [XlsxColumn("Y", width=33.5)]
    write_xlsx(path, columns, [])
    dims = openpyxl.load_workbook(path).active.column_dimensions
    widths = [dims[column_letter(j)].width for j in range(len(columns))]
    assert widths[0] == 10  # minimum
    assert widths[1] == 60  # maximum
    assert len(headers[2]) < widths[2] < widths[3] < 60  # grows with the header
    assert widths[4] == 33.5  # explicit


def test_column_letters_beyond_z() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 27, 51, 52, 701, 702, 16383)] == [
        "A", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA", "XFD",
    ]
    with pytest.raises(ValueError):
        column_letter(16384)


def test_edge_values(tmp_path: Path) -> None:
    path = tmp_path / "edge.xlsx"
    columns = [XlsxColumn("Valeur"), XlsxColumn("Date", "date"), XlsxColumn("Nombre", "decimal")]
    huge = "é" * 40_000
    rows = [
        (huge, date(1900, 1, 1), float("nan")),
        (True, date(1900, 3, 1), Decimal("Infinity")),
        (12.5, date(1899, 12, 31), 3),
        (Decimal("-0.5"), datetime(2024, 3, 31, 1, 59, tzinfo=UTC), None),
    ]
    write_xlsx(path, columns, rows)
    ws = openpyxl.load_workbook(path).active
    assert ws["A2"].value == "é" * 32767  # Excel's cell text limit
    assert ws["B2"].value == datetime(1900, 1, 1)  # serial 1, Excel's 1900 leap-year quirk handled
    assert ws["C2"].value == "nan" and ws["C3"].value == "Infinity"
    assert ws["A3"].value is True and ws["A3"].data_type == "b"
    assert ws["B3"].value == datetime(1900, 3, 1)
    assert ws["A4"].value == 12.5 and ws["B4"].value == "1899-12-31" and ws["C4"].value == 3
    assert ws["A5"].value == -0.5
    assert ws["B5"].value == datetime(2024, 3, 31, 3, 59)  # after the switch to summer time
    assert ws["B5"].number_format == "dd/mm/yyyy hh:mm"


def test_invalid_input_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    columns = [XlsxColumn("A"), XlsxColumn("B", "integer")]
    with pytest.raises(ValueError, match="unknown kind"):
        write_xlsx(tmp_path / "x.xlsx", [XlsxColumn("A", "money")], [])
    with pytest.raises(ValueError, match="sheet title"):
        write_xlsx(tmp_path / "x.xlsx", columns, [], sheet_title="a/b")
    with pytest.raises(ValueError, match="sheet title"):
        write_xlsx(tmp_path / "x.xlsx", columns, [], sheet_title="Informations", info=[])
    path = tmp_path / "bad.xlsx"
    with pytest.raises(ValueError, match="row 2 has 1 values"):
        write_xlsx(path, columns, [("a", 1), ("b",)])
    assert not path.exists()  # no half-written file left behind
    monkeypatch.setattr(xlsx_writer, "MAX_DATA_ROWS", 10)
    assert write_xlsx(tmp_path / "ten.xlsx", columns, (("a", i) for i in range(10))) == 10
    with pytest.raises(ValueError, match="more than 10 rows"):
        write_xlsx(tmp_path / "eleven.xlsx", columns, (("a", i) for i in range(11)))
    assert not (tmp_path / "eleven.xlsx").exists()


def test_zip_container_has_no_zip64_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Excel rejects ZIP64 headers on entries that do not need them: every entry must be plain
    path = tmp_path / "plain.xlsx"
    columns = make_columns(1)
    write_xlsx(path, columns, make_rows(columns, 3_000), info=[("a", 1)])
    data = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        infos = zf.infolist()
    assert len(infos) == 9
    for info in infos:
        offset = info.header_offset
        assert data[offset:offset + 4] == b"PK\x03\x04"
        version = int.from_bytes(data[offset + 4:offset + 6], "little")
        extra_len = int.from_bytes(data[offset + 28:offset + 30], "little")
        assert (info.filename, version, extra_len) == (info.filename, 20, 0)
        assert info.extract_version == 20 and info.extra == b"" and info.compress_type == zipfile.ZIP_DEFLATED
    assert b"PK\x06\x06" not in data[-200:]  # no ZIP64 end of central directory record
    # the sheet part cannot exceed 4 GiB without ZIP64: refused with a clear error
    monkeypatch.setattr(xlsx_writer, "MAX_SHEET_XML_BYTES", 100_000)
    big = tmp_path / "big.xlsx"
    with pytest.raises(ValueError, match="export too large"):
        write_xlsx(big, columns, make_rows(columns, 3_000))
    assert not big.exists()


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_opens_the_file(tmp_path: Path) -> None:
    path = tmp_path / "lo.xlsx"
    columns = [
        XlsxColumn("Texte"),
        XlsxColumn("Entier", "integer"),
        XlsxColumn("Date", "date"),
        XlsxColumn("Horodatage", "datetime"),
        XlsxColumn("Montant", "euro"),
        XlsxColumn("Statut", "choice", choices=tuple(f"Choix, n°{i}" for i in range(40))),
    ]
    rows = [
        ("=1+1", -5, date(2024, 9, 2), datetime(2024, 9, 2, 8, 30), Decimal("1234.50"), "Choix, n°3"),
        ('Élève "<>&" 🎒', 7, None, None, None, None),
        ("_x0041_", None, None, None, None, None),
        ("@SUM(A1)", 0, None, None, Decimal("-2"), None),
    ]
    write_xlsx(path, columns, rows, info=[("Auteur", "Test")])
    # fields: separator, quote, UTF-8, first line, formats, language, quote all, detect numbers,
    # save as shown, export formulas, remove spaces, sheet 1
    filter_ = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,false,true,false,false,1"
    result = subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{tmp_path}/profile", "--headless",
         "--convert-to", filter_, "--outdir", str(tmp_path / "out"), str(path)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    out = list((tmp_path / "out").glob("*.csv"))
    assert out, result.stdout + result.stderr
    lines = list(csv.reader(out[0].open(encoding="utf-8")))
    assert lines[0] == ["Texte", "Entier", "Date", "Horodatage", "Montant", "Statut"]
    assert lines[1][:4] == ["=1+1", "-5", "02/09/2024", "02/09/2024 08:30"]
    assert re.fullmatch(r"1\D?234\D50 €", lines[1][4]), lines[1][4]
    assert lines[1][5] == "Choix, n°3"
    assert lines[2] == ['Élève "<>&" 🎒', "7", "", "", "", ""]
    assert lines[3] == ["_x0041_", "", "", "", "", ""]
    assert lines[4][:2] == ["@SUM(A1)", "0"]
    assert re.fullmatch(r"-2\D00 €", lines[4][4]), lines[4][4]
