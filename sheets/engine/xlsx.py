"""Small, fast, streaming XLSX writer for the subset of SpreadsheetML Rentrée needs.

Rows are rendered to XML by a row function generated once per column layout (one
specialised code path per column kind, no per-cell dispatch for the common value types)
and streamed in chunks straight into the deflated zip entry of the worksheet, so memory
does not grow with the row count. Elements that need the final row count (autoFilter,
dataValidations) come after ``<sheetData>`` in the schema and are appended at the end.
Compression and CRC run in a background thread (zlib releases the GIL) while the main
thread renders the next chunk.
"""

from __future__ import annotations

import numbers
import os
import queue
import re
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import islice
from typing import IO, Any
from xml.sax.saxutils import escape as _xml_escape
from zoneinfo import ZoneInfo

__all__ = ["KINDS", "MAX_DATA_ROWS", "MAX_SHEET_XML_BYTES", "XlsxColumn", "column_letter", "write_xlsx"]

KINDS: frozenset[str] = frozenset(
    {"text", "integer", "number", "decimal", "euro", "date", "datetime", "boolean", "choice"}
)
MAX_DATA_ROWS = 1_048_575  # Excel: 1,048,576 rows per sheet, minus the header row
MAX_COLUMNS = 16_384
MAX_SHEET_XML_BYTES = zipfile.ZIP64_LIMIT  # without ZIP64, one zip entry holds at most 4 GiB - 1
INFO_SHEET = "Informations"
LISTS_SHEET = "_listes"

_PARIS = ZoneInfo("Europe/Paris")
_EXCEL_EPOCH_ORDINAL = 693594  # date(1899, 12, 30).toordinal(): serial 0 in the 1900 date system
_MAX_CELL_TEXT = 32767  # Excel's limit on the length of a cell's text, in UTF-16 code units
_CHUNK_ROWS = 2000
_QUEUE_CHUNKS = 4
_END = object()

# cellXfs indexes (see _STYLES_XML)
_S_DEFAULT = 0
_S_BOLD = 1
_S_INTEGER = 2
_S_DECIMAL = 3
_S_EURO = 4
_S_DATE = 5
_S_DATETIME = 6
_S_QUOTE = 7
_S_BOLD_QUOTE = 8

_NUM_STYLE = {"integer": _S_INTEGER, "decimal": _S_DECIMAL, "euro": _S_EURO}

# A text starting with one of these would be taken as a formula (or a DDE payload) on re-edit.
_INJECTION_FIRST = frozenset("=+-@\t\r")
# First characters that send a string down the slow text path (injection, leading space).
_SLOW_FIRST = frozenset("=+-@ ")
# Characters that are not allowed in XML 1.0 (tab, LF and CR are allowed), plus lone surrogates.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Excel decodes _xHHHH_ in strings; a literal one is protected by escaping its underscore.
_EXCEL_ESCAPE = re.compile("_(?=x[0-9A-Fa-f]{4}_)")
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")

_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


@dataclass(frozen=True)
class XlsxColumn:
    """One column of an export: header label, value kind, width and optional drop-down choices."""

    header: str  # French label shown in row 1
    kind: str = "text"  # text, integer (grouped 1 234), number (plain: an id, a year), decimal, euro, date,
    # datetime, boolean, choice
    width: float | None = None  # in Excel character units; None -> computed from header (min 10, max 60)
    choices: tuple[str, ...] = ()  # for kind 'choice': drop-down list (data validation) on the data cells


# --------------------------------------------------------------------------- helpers


def column_letter(index: int) -> str:
    """Return the Excel column letters for a 0-based column index (0 -> A, 26 -> AA)."""
    if not 0 <= index < MAX_COLUMNS:
        raise ValueError(f"column index out of range: {index}")
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _clean_text(value: str) -> str:
    """Return the plain str data of value without the characters XML 1.0 forbids, cut to Excel's limit."""
    if type(value) is not str:
        value = str.__str__(value)
    if not value.isprintable():
        value = _ILLEGAL_XML.sub("", value)
    if len(value) > _MAX_CELL_TEXT // 2 and len(value.encode("utf-16-le")) > 2 * _MAX_CELL_TEXT:
        value = value.encode("utf-16-le")[: 2 * _MAX_CELL_TEXT].decode("utf-16-le", "ignore")
    return value


def _escape_text(value: str) -> str:
    """XML-escape a cleaned string for element content (CR kept as a character reference)."""
    if "_x" in value:
        value = _EXCEL_ESCAPE.sub("_x005F_", value)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if "\r" in value:
        value = value.replace("\r", "&#13;")
    return value


def _text_cell(ref: str, value: str, style: int = _S_DEFAULT, quote_style: int = _S_QUOTE) -> str:
    """Render a string as an inline-string cell (slow path: cleaning, escaping, injection)."""
    value = _clean_text(value)
    if not value:
        return ""
    if value[0] in _INJECTION_FIRST:
        style = quote_style
    space = ' xml:space="preserve"' if value[0].isspace() or value[-1].isspace() else ""
    s = f' s="{style}"' if style else ""
    return f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{_escape_text(value)}</t></is></c>'


def _date_serial(value: date) -> int | None:
    """Return the Excel serial day of a date (1900 system, leap-year bug included), None before 1900."""
    serial = value.toordinal() - _EXCEL_EPOCH_ORDINAL
    if serial < 61:  # Excel counts a fictitious 1900-02-29 (serial 60)
        serial -= 1
        if serial < 1:
            return None
    return serial


def _datetime_serial(value: datetime) -> float | None:
    """Return the Excel serial of a datetime; aware values are converted to Europe/Paris wall time."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(_PARIS)
    day = _date_serial(value)
    if day is None:
        return None
    seconds = value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
    return day + seconds / 86400


def _value_cell(ref: str, value: Any, num_style: int = _S_DEFAULT, date_style: int = _S_DATE) -> str:
    """Render any value as a cell; the generic path used when a column's fast path does not apply."""
    if value is None:
        return ""
    if isinstance(value, str):
        return _text_cell(ref, value)
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    s = f' s="{num_style}"' if num_style else ""
    if isinstance(value, int):
        return f'<c r="{ref}"{s}><v>{int(value)}</v></c>'
    if isinstance(value, float):
        if value - value == 0:  # finite
            return f'<c r="{ref}"{s}><v>{float(value)!r}</v></c>'
        return _text_cell(ref, str(value))
    if isinstance(value, Decimal):
        if value.is_finite():
            return f'<c r="{ref}"{s}><v>{value}</v></c>'
        return _text_cell(ref, str(value))
    if isinstance(value, datetime):
        serial = _datetime_serial(value)
        if serial is None:
            return _text_cell(ref, value.isoformat(sep=" "))
        return f'<c r="{ref}" s="{_S_DATETIME}"><v>{serial!r}</v></c>'
    if isinstance(value, date):
        serial = _date_serial(value)
        if serial is None:
            return _text_cell(ref, value.isoformat())
        return f'<c r="{ref}" s="{date_style}"><v>{serial}</v></c>'
    if isinstance(value, numbers.Integral):
        return _value_cell(ref, int(value), num_style, date_style)
    if isinstance(value, numbers.Real):
        return _value_cell(ref, float(value), num_style, date_style)
    return _text_cell(ref, str(value))


# --------------------------------------------------------------------------- row renderer


def _fast_path(kind: str, i: int, letter: str) -> list[str]:
    """Return the generated source lines that render value v{i} of column `letter` into c{i}."""
    v, c = f"v{i}", f"c{i}"
    ref = letter + "{r}"
    if kind in ("text", "choice"):
        return [
            f"if {v}.__class__ is str and {v}:",
            f"    if ({v}.isprintable() and {v}[0] not in SLOW and {v}[-1] != ' ' and '&' not in {v}"
            f" and '<' not in {v} and '>' not in {v} and '_x' not in {v} and len({v}) <= HALF_MAX):",
            f"        {c} = f'<c r=\"{ref}\" t=\"inlineStr\"><is><t>{{{v}}}</t></is></c>'",
            "    else:",
            f"        {c} = tcell(f'{ref}', {v})",
            f"elif {v} is None:",
            f"    {c} = ''",
            "else:",
            f"    {c} = vcell(f'{ref}', {v})",
        ]
    if kind in ("integer", "number"):
        style = _S_INTEGER if kind == "integer" else _S_DEFAULT
        return [
            f"if {v}.__class__ is int:",
            f"    {c} = f'<c r=\"{ref}\" s=\"{style}\"><v>{{{v}}}</v></c>'",
            f"elif {v} is None:",
            f"    {c} = ''",
            "else:",
            f"    {c} = vcell(f'{ref}', {v}, {style})",
        ]
    if kind in ("decimal", "euro"):
        style = _NUM_STYLE[kind]
        return [
            f"t = {v}.__class__",
            f"if (t is Decimal and {v}.is_finite()) or (t is float and {v} - {v} == 0) or t is int:",
            f"    {c} = f'<c r=\"{ref}\" s=\"{style}\"><v>{{{v}}}</v></c>'",
            f"elif {v} is None:",
            f"    {c} = ''",
            "else:",
            f"    {c} = vcell(f'{ref}', {v}, {style})",
        ]
    if kind == "date":
        return [
            f"if {v}.__class__ is date and ({v}.toordinal() - EPOCH) > 60:",
            f"    {c} = f'<c r=\"{ref}\" s=\"{_S_DATE}\"><v>{{{v}.toordinal() - EPOCH}}</v></c>'",
            f"elif {v} is None:",
            f"    {c} = ''",
            "else:",
            f"    {c} = vcell(f'{ref}', {v})",
        ]
    if kind == "datetime":
        return [
            f"if {v}.__class__ is datetime and {v}.tzinfo is None and ({v}.toordinal() - EPOCH) > 60:",
            f"    {c} = (f'<c r=\"{ref}\" s=\"{_S_DATETIME}\"><v>{{{v}.toordinal() - EPOCH + ({v}.hour * 3600"
            f" + {v}.minute * 60 + {v}.second + {v}.microsecond / 1e6) / 86400}}</v></c>')",
            f"elif {v} is None:",
            f"    {c} = ''",
            "else:",
            f"    {c} = vcell(f'{ref}', {v}, {_S_DEFAULT}, {_S_DATETIME})",
        ]
    if kind == "boolean":
        return [
            f"if {v} is True:",
            f"    {c} = f'<c r=\"{ref}\" t=\"b\"><v>1</v></c>'",
            f"elif {v} is False:",
            f"    {c} = f'<c r=\"{ref}\" t=\"b\"><v>0</v></c>'",
            f"elif {v} is None:",
            f"    {c} = ''",
            "else:",
            f"    {c} = vcell(f'{ref}', {v})",
        ]
    raise ValueError(f"unknown column kind: {kind!r}")


RowRenderer = Callable[[Iterable[Sequence[Any]], int], list[str]]


def _compile_renderer(columns: Sequence[XlsxColumn]) -> RowRenderer:
    """Generate a function rendering a batch of rows to '<row>' XML strings for this column layout.

    Only column letters, style indexes and kinds (all validated) go into the generated source;
    cell values are never part of it.
    """
    n = len(columns)
    unpack = ", ".join(f"v{i}" for i in range(n)) + ("," if n == 1 else "")
    cells = "".join(f"{{c{i}}}" for i in range(n))
    body: list[str] = []
    for i, col in enumerate(columns):
        body.extend(_fast_path(col.kind, i, column_letter(i)))
    src = "\n".join(
        [
            "def render(rows, start):",
            "    out = []",
            "    append = out.append",
            "    for r, row in zip(map(str, range(start, start + 1_100_000)), rows):",
            f"        if len(row) != {n}:",
            "            bad_row(r, row)",
            f"        {unpack} = row",
            *("        " + line for line in body),
            f"        append(f'<row r=\"{{r}}\">{cells}</row>')",
            "    return out",
        ]
    )
    namespace: dict[str, Any] = {
        "SLOW": _SLOW_FIRST,
        "HALF_MAX": _MAX_CELL_TEXT // 2,
        "EPOCH": _EXCEL_EPOCH_ORDINAL,
        "tcell": _text_cell,
        "vcell": _value_cell,
        "bad_row": _bad_row,
        "Decimal": Decimal,
        "date": date,
        "datetime": datetime,
    }
    exec(compile(src, "<xlsx_writer row renderer>", "exec"), namespace)
    return namespace["render"]


def _bad_row(r: str, row: Any) -> None:
    """Raise the error for a row whose length does not match the columns."""
    raise ValueError(f"row {int(r) - 1} has {len(row)} values, expected one per column")


# --------------------------------------------------------------------------- package parts


_STYLES_XML = (
    _XML_DECL + f'<styleSheet xmlns="{_NS_MAIN}">'
    '<numFmts count="3">'
    '<numFmt numFmtId="164" formatCode="#,##0.00 &quot;€&quot;"/>'
    '<numFmt numFmtId="165" formatCode="dd/mm/yyyy"/>'
    '<numFmt numFmtId="166" formatCode="dd/mm/yyyy hh:mm"/>'
    "</numFmts>"
    '<fonts count="2">'
    '<font><sz val="11"/><color theme="1"/><name val="Calibri"/><family val="2"/>'
    '<scheme val="minor"/></font>'
    '<font><b/><sz val="11"/><color theme="1"/><name val="Calibri"/><family val="2"/>'
    '<scheme val="minor"/></font>'
    "</fonts>"
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="9">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'  # 0 default
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'  # 1 bold
    '<xf numFmtId="1" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'  # 2 integer "0"
    '<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'  # 3 "#,##0.00"
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'  # 4 euro
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'  # 5 date
    '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'  # 6 datetime
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'  # 7 text, quoted
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" quotePrefix="1"/>'  # 8
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '<dxfs count="0"/><tableStyles count="0"/>'
    "</styleSheet>"
)

_ROOT_RELS_XML = (
    _XML_DECL + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/'
    'core-properties" Target="docProps/core.xml"/>'
    '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'extended-properties" Target="docProps/app.xml"/>'
    "</Relationships>"
)

_APP_XML = (
    _XML_DECL + '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"'
    ' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
    "<Application>Rentrée</Application><DocSecurity>0</DocSecurity><ScaleCrop>false</ScaleCrop>"
    "</Properties>"
)


def _core_xml() -> str:
    """Return docProps/core.xml with creator Rentrée and the current UTC time."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        _XML_DECL + '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
        'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
        ' xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<dc:creator>Rentrée</dc:creator><cp:lastModifiedBy>Rentrée</cp:lastModifiedBy>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{now}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{now}</dcterms:modified>'
        "</cp:coreProperties>"
    )


def _content_types_xml(n_sheets: int) -> str:
    """Return [Content_Types].xml for a workbook with n_sheets worksheets."""
    sheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, n_sheets + 1)
    )
    return (
        _XML_DECL + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        f"{sheets}"
        '<Override PartName="/xl/styles.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/'
        'vnd.openxmlformats-package.core-properties+xml"/>'
        '<Override PartName="/docProps/app.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.extended-properties+xml"/>'
        "</Types>"
    )


def _workbook_xml(sheets: list[tuple[str, bool]], filter_ref: str) -> str:
    """Return xl/workbook.xml; sheets are (name, hidden); the first one carries the autofilter."""
    entries = "".join(
        f'<sheet name="{_xml_escape(name, {chr(34): "&quot;"})}" sheetId="{i}"'
        + (' state="hidden"' if hidden else "")
        + f' r:id="rId{i}"/>'
        for i, (name, hidden) in enumerate(sheets, start=1)
    )
    quoted = "'" + sheets[0][0].replace("'", "''") + "'"
    return (
        _XML_DECL + f'<workbook xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}">'
        '<bookViews><workbookView activeTab="0"/></bookViews>'
        f"<sheets>{entries}</sheets>"
        '<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
        f"{_xml_escape(quoted)}!{filter_ref}</definedName></definedNames>"
        '<calcPr calcId="191029"/>'
        "</workbook>"
    )


def _workbook_rels_xml(n_sheets: int) -> str:
    """Return xl/_rels/workbook.xml.rels: one relationship per sheet, then the styles."""
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="{_NS_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, n_sheets + 1)
    )
    return (
        _XML_DECL + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'{rels}<Relationship Id="rId{n_sheets + 1}" Type="{_NS_REL}/styles" Target="styles.xml"/>'
        "</Relationships>"
    )


def _cols_xml(widths: Sequence[float]) -> str:
    """Return the <cols> element for the given column widths."""
    cols = "".join(
        f'<col min="{i}" max="{i}" width="{w:.2f}" customWidth="1"/>' for i, w in enumerate(widths, start=1)
    )
    return f"<cols>{cols}</cols>"


def _auto_width(text: str, minimum: float = 10, maximum: float = 60) -> float:
    """Return a column width fitting text (plus room for the autofilter button), clamped."""
    longest = max((len(line) for line in text.splitlines()), default=0)
    return float(min(maximum, max(minimum, longest * 1.1 + 4)))


def _sheet_head(widths: Sequence[float] | None, frozen: bool, selected: bool) -> str:
    """Return the worksheet XML up to and including '<sheetData>'."""
    if frozen:
        view = (
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
        )
    else:
        view = ""
    tab = ' tabSelected="1"' if selected else ""
    views = f'<sheetViews><sheetView{tab} workbookViewId="0">{view}</sheetView></sheetViews>'
    cols = _cols_xml(widths) if widths else ""
    return (
        _XML_DECL + f'<worksheet xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}">'
        f'{views}<sheetFormatPr defaultRowHeight="15"/>{cols}<sheetData>'
    )


_SHEET_FOOT = (
    '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>'
)


def _needs_list_sheet(choices: Sequence[str]) -> bool:
    """Tell whether a choice list cannot be written inline in the validation formula."""
    return len(",".join(choices)) > 255 or any("," in c or '"' in c for c in choices)


def _info_sheet_xml(info: Sequence[tuple[Any, Any]]) -> str:
    """Return the Informations worksheet: bold labels in column A, values in column B."""
    rows = []
    for n, (label, value) in enumerate(info, start=1):
        label_cell = _text_cell(f"A{n}", str(label), _S_BOLD, _S_BOLD_QUOTE)
        rows.append(f'<row r="{n}">{label_cell}{_value_cell(f"B{n}", value)}</row>')
    widths = [
        _auto_width("\n".join(str(label) for label, _ in info)),
        _auto_width("\n".join("" if v is None else str(v) for _, v in info), maximum=100),
    ]
    return _sheet_head(widths, frozen=False, selected=False) + "".join(rows) + "</sheetData>" + _SHEET_FOOT


def _lists_sheet_xml(lists: list[tuple[str, tuple[str, ...]]]) -> str:
    """Return the hidden _listes worksheet: one column per long choice list."""
    depth = max(len(choices) for _, choices in lists)
    rows = []
    for n in range(1, depth + 1):
        cells = "".join(
            _text_cell(f"{letter}{n}", choices[n - 1]) for letter, choices in lists if n <= len(choices)
        )
        rows.append(f'<row r="{n}">{cells}</row>')
    return _sheet_head(None, frozen=False, selected=False) + "".join(rows) + "</sheetData>" + _SHEET_FOOT


def _validations_xml(validations: list[tuple[str, str]], last_row: int) -> str:
    """Return <dataValidations> for (column letter, formula1) pairs over rows 2..last_row."""
    items = "".join(
        '<dataValidation type="list" allowBlank="1" showInputMessage="1" showErrorMessage="1"'
        ' errorTitle="Valeur non autorisée" error="Choisissez une valeur dans la liste."'
        f' sqref="{letter}2:{letter}{last_row}"><formula1>{_xml_escape(formula)}</formula1></dataValidation>'
        for letter, formula in validations
    )
    return f'<dataValidations count="{len(validations)}">{items}</dataValidations>'


def _check_sheet_title(title: str) -> None:
    """Raise ValueError when title is not a valid Excel sheet name."""
    if not isinstance(title, str) or not title.strip() or len(title) > 31:
        raise ValueError(f"invalid sheet title {title!r}: 1 to 31 characters")
    if _SHEET_NAME_FORBIDDEN.search(title) or _ILLEGAL_XML.search(title) or "'" in (title[0], title[-1]):
        raise ValueError(f"invalid sheet title {title!r}: forbidden character")
    if title.casefold() in (INFO_SHEET.casefold(), LISTS_SHEET.casefold(), "history"):
        raise ValueError(f"invalid sheet title {title!r}: reserved name")


def _check_columns(columns: Sequence[XlsxColumn]) -> list[XlsxColumn]:
    """Validate the column definitions and return them as a list."""
    cols = list(columns)
    if not 1 <= len(cols) <= MAX_COLUMNS:
        raise ValueError(f"between 1 and {MAX_COLUMNS} columns are required, got {len(cols)}")
    for col in cols:
        if col.kind not in KINDS:
            raise ValueError(f"column {col.header!r}: unknown kind {col.kind!r}")
        if col.width is not None and not 0 < col.width <= 255:
            raise ValueError(f"column {col.header!r}: width must be in (0, 255]")
    return cols


# --------------------------------------------------------------------------- streaming


class _BackgroundWriter:
    """Write byte chunks to a file object from a worker thread (zlib and crc32 release the GIL)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUE_CHUNKS)
        self._error: BaseException | None = None
        self.size = 0
        self._thread = threading.Thread(target=self._run, name="xlsx-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            data = self._queue.get()
            if data is None:
                return
            if self._error is None:
                try:
                    self._fh.write(data)
                except BaseException as exc:  # re-raised in the producer thread
                    self._error = exc

    def write(self, data: bytes) -> None:
        """Queue data for writing; re-raise a previous write error."""
        if self._error is not None:
            raise self._error
        self.size += len(data)
        if self.size >= MAX_SHEET_XML_BYTES:
            raise ValueError("export too large: the sheet XML would exceed 4 GiB (too many rows or columns)")
        self._queue.put(data)

    def close(self) -> None:
        """Wait until every queued chunk is written; re-raise a write error."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


def write_xlsx(
    target: str | os.PathLike[str] | IO[bytes],
    columns: Sequence[XlsxColumn],
    rows: Iterable[Sequence[Any]],
    *,
    sheet_title: str = "Données",
    info: Iterable[tuple[Any, Any]] | None = None,
    progress: Callable[[int], object] | None = None,
    progress_every: int = 10000,
) -> int:
    """Stream rows into an .xlsx file; return the number of data rows written."""
    cols = _check_columns(columns)
    _check_sheet_title(sheet_title)
    if progress_every < 1:
        raise ValueError("progress_every must be >= 1")
    info_pairs = [tuple(pair) for pair in info] if info is not None else None
    if info_pairs is not None and any(len(pair) != 2 for pair in info_pairs):
        raise ValueError("info must contain (label, value) pairs")
    render = _compile_renderer(cols)

    # Decide the layout of the workbook before streaming, so [Content_Types].xml comes first.
    sheet_names: list[tuple[str, bool]] = [(sheet_title, False)]
    if info_pairs is not None:
        sheet_names.append((INFO_SHEET, False))
    lists: list[tuple[str, tuple[str, ...]]] = []
    validations: list[tuple[str, str]] = []
    for i, col in enumerate(cols):
        choices = tuple(c for c in (_clean_text(str(c)) for c in col.choices) if c)
        if not choices:
            continue
        if _needs_list_sheet(choices):
            list_letter = column_letter(len(lists))
            lists.append((list_letter, choices))
            formula = f"{LISTS_SHEET}!${list_letter}$1:${list_letter}${len(choices)}"
        else:
            formula = '"' + ",".join(choices) + '"'
        validations.append((column_letter(i), formula))
    if lists:
        sheet_names.append((LISTS_SHEET, True))

    widths = [col.width if col.width is not None else _auto_width(col.header) for col in cols]
    header = "".join(
        _text_cell(f"{column_letter(i)}1", col.header, _S_BOLD, _S_BOLD_QUOTE) for i, col in enumerate(cols)
    )
    last_letter = column_letter(len(cols) - 1)

    is_path = isinstance(target, (str, os.PathLike))
    count = 0
    try:
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            zf.writestr("[Content_Types].xml", _content_types_xml(len(sheet_names)))
            zf.writestr("_rels/.rels", _ROOT_RELS_XML)
            zf.writestr("docProps/app.xml", _APP_XML)
            zf.writestr("docProps/core.xml", _core_xml())
            zf.writestr("xl/_rels/workbook.xml.rels", _workbook_rels_xml(len(sheet_names)))
            zf.writestr("xl/styles.xml", _STYLES_XML)
            sheet_info = zipfile.ZipInfo("xl/worksheets/sheet1.xml", date_time=time.localtime()[:6])
            sheet_info.compress_type = zipfile.ZIP_DEFLATED
            sheet_info._compresslevel = 1  # what ZipFile.open(str) sets; no public setter before 3.13
            # No ZIP64 headers: Excel is known to reject ZIP64 records on entries that do not need
            # them, so the sheet part is capped at 4 GiB of XML (see MAX_SHEET_XML_BYTES).
            with zf.open(sheet_info, "w", force_zip64=False) as entry:
                out = _BackgroundWriter(entry)
                try:
                    head = _sheet_head(widths, frozen=True, selected=True)
                    out.write(f'{head}<row r="1">{header}</row>'.encode())
                    count = _stream_rows(render, iter(rows), out.write, progress, progress_every)
                    last_row = count + 1
                    tail = f'</sheetData><autoFilter ref="A1:{last_letter}{last_row}"/>'
                    if validations and count:
                        tail += _validations_xml(validations, last_row)
                    out.write((tail + _SHEET_FOOT).encode())
                finally:
                    out.close()
            filter_ref = f"$A$1:${last_letter}${count + 1}"
            zf.writestr("xl/workbook.xml", _workbook_xml(sheet_names, filter_ref))
            n_sheet = 1
            if info_pairs is not None:
                n_sheet += 1
                zf.writestr(f"xl/worksheets/sheet{n_sheet}.xml", _info_sheet_xml(info_pairs))
            if lists:
                n_sheet += 1
                zf.writestr(f"xl/worksheets/sheet{n_sheet}.xml", _lists_sheet_xml(lists))
    except BaseException:
        if is_path:
            try:
                os.unlink(target)  # type: ignore[arg-type]
            except OSError:
                pass
        raise
    return count


def _stream_rows(
    render: RowRenderer,
    it: Iterator[Sequence[Any]],
    write: Callable[[bytes], None],
    progress: Callable[[int], object] | None,
    progress_every: int,
) -> int:
    """Render rows chunk by chunk, hand the encoded XML to write, report progress; return the row count."""
    count = 0
    reported = -1
    next_report = progress_every
    while True:
        room = MAX_DATA_ROWS - count
        if room == 0:
            if next(it, _END) is not _END:
                raise ValueError(f"more than {MAX_DATA_ROWS} rows: an Excel sheet cannot hold them")
            break
        limit = min(_CHUNK_ROWS, next_report - count, room)
        parts = render(islice(it, limit), count + 2)
        if parts:
            count += len(parts)
            write("".join(parts).encode())
        if count == next_report:
            if progress is not None:
                progress(count)
            reported = count
            next_report += progress_every
        if len(parts) < limit:
            break
    if progress is not None and reported != count:
        progress(count)
    return count
