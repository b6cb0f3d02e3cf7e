"""Bounded reading of the files an import takes (.xlsx, .csv): every size is checked before anything is allocated.

Limits (README « Import Excel », table « Limites ») — a file beyond one is refused whole with a French message
that names the limit and quotes at most a short prefix of the bad value:

- the file: MAX_FILE_BYTES; the zip: MAX_ZIP_ENTRIES entries, each part's uncompressed size (MAX_SHEET_BYTES for
  a sheet, MAX_SHARED_BYTES for the shared strings, MAX_PART_BYTES for the small parts) and its compression
  ratio (MAX_RATIO, zip bombs), checked on the zip directory first and again while inflating;
- the sheet: its `<dimension>` and every cell reference (column ≤ max_columns, row ≤ max_rows + 1), the XML of
  one row (MAX_ROW_BYTES), each cell (MAX_CELL_CHARS, Excel's own limit);
- the shared strings: part size, count (MAX_SHARED_STRINGS) and each string's length; they are kept packed
  (UTF-8 bytes and offsets), a few bytes per string;
- a CSV: the same file size, rows, columns and cell length, plus the length of a line (MAX_LINE_CHARS).

No general XML parser reads any part: the parts are streamed in bounded chunks and read with regular expressions
over bytes, a DOCTYPE is refused and only the five XML entities and character references are understood, so no
entity expansion and no nesting depth can cost memory. Rows come lazily, a chunk at a time: memory does not grow
with the number of rows. Everything here is synchronous: callers run it in a worker thread.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import math
import re
import zipfile
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_ROWS = 600_000  # data rows under the header
MAX_FILE_BYTES = 100 * 2**20  # the uploaded file (a 500,000-row export of the devices is ≈ 46 MB)
MAX_ZIP_ENTRIES = 1_000
MAX_SHEET_BYTES = 2**30  # uncompressed XML of the sheet read (≈ 380 MB for 500,000 devices)
MAX_SHARED_BYTES = 128 * 2**20  # uncompressed shared strings part
MAX_SHARED_STRINGS = 4_000_000
MAX_PART_BYTES = 16 * 2**20  # any other part read (workbook, relationships, styles)
MAX_RATIO = 200  # uncompressed / compressed size of a part above RATIO_FLOOR
RATIO_FLOOR = 2**20
MAX_CELL_CHARS = 32_767  # Excel's own limit for one cell
MAX_ROW_BYTES = 16 * 2**20  # XML of one row
MAX_LINE_CHARS = 2**20  # one line of a CSV
MAX_RECORD_CHARS = 4 * 2**20  # one CSV record (quoted fields may span lines)
DEFAULT_MAX_COLUMNS = 256  # a file read without a sheet declaration
EXTRA_COLUMNS = 50  # columns allowed beyond a sheet's declared ones (notes, « erreurs »…)
QUOTE_CHARS = 40  # at most this much of a bad value is quoted in a message

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CHUNK = 1 << 20
_ROW_CHUNK = 1 << 20  # one regular-expression call holds the GIL a few milliseconds
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


class ImportFileError(ValueError):
    """A file refused whole (not an xlsx, empty, protected, too big…); the message is French."""


def max_columns_for(declared: int) -> int:
    """The widest file accepted for a sheet of `declared` columns."""
    return declared + EXTRA_COLUMNS


def fr_int(n: int) -> str:
    """An integer with French thousands separators (narrow no-break spaces)."""
    return f"{n:,}".replace(",", "\u202f")


def clip(value: Any, limit: int = QUOTE_CHARS) -> str:
    """At most `limit` characters of a value, for a message (with « … » when cut)."""
    text = value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)
    text = text[:limit + 1]
    text = "".join(c if c.isprintable() else " " for c in text)
    return text[:limit] + "…" if len(text) > limit else text


def column_letter(index: int) -> str:
    """Excel letters of a 0-based column index (0 → A, 26 → AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_index(letters: bytes) -> int:
    """0-based column index of Excel letters (b'A' → 0)."""
    n = 0
    for b in letters:
        n = n * 26 + (b - 64)
    return n - 1


def _too_big(what: str, limit: int, unit: str = "octets") -> ImportFileError:
    """The refusal of a part or value above a size limit."""
    if unit == "octets" and limit >= 2**20:
        amount = f"{fr_int(limit // 2**20)} Mo"
    else:
        amount = f"{fr_int(limit)} {unit}"
    return ImportFileError(f"{what} dépasse la limite de {amount} : le fichier est refusé (il n'est pas lu plus loin). "
                           "Enregistrez à nouveau le tableau depuis Excel, sans les lignes, colonnes ou valeurs "
                           "inutiles, ou découpez-le en plusieurs fichiers.")


def _damaged(detail: str) -> ImportFileError:
    """The refusal of a file whose structure cannot be read."""
    return ImportFileError(f"Le classeur est abîmé ({detail}) : ouvrez-le dans Excel, enregistrez-le à nouveau au "
                           "format .xlsx puis réessayez.")


# --- The file as a whole ----------------------------------------------------------------------------------

def _looks_like_text(sample: bytes) -> bool:
    """Whether the first bytes of a file are text (UTF-8, UTF-16 with its mark, or Latin-1 without controls)."""
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3:  # a character cut by the sample's end
            return True
    return not any(b < 32 and b not in (9, 10, 13) for b in sample)


def sniff(path: Path) -> str:
    """The kind of a file ('xlsx' or 'csv') from its size, name and first bytes; ImportFileError otherwise."""
    size = path.stat().st_size
    if size == 0:
        raise ImportFileError("Le fichier est vide (0 octet) : vérifiez que le téléchargement ou la copie "
                              "s'est bien terminé, puis importez-le à nouveau.")
    if size > MAX_FILE_BYTES:
        raise _too_big(f"Le fichier ({fr_int(size // 2**20)} Mo)", MAX_FILE_BYTES)
    with path.open("rb") as fh:
        head = fh.read(8)
        if head == OLE_MAGIC:
            data = fh.read(min(size, 4 << 20))
            if "EncryptionInfo".encode("utf-16-le") in data or "EncryptedPackage".encode("utf-16-le") in data:
                raise ImportFileError(
                    "Le fichier est protégé par un mot de passe : ouvrez-le dans Excel, retirez le mot de passe "
                    "(Fichier › Informations › Protéger le classeur › Chiffrer avec mot de passe, laisser vide), "
                    "enregistrez-le puis importez-le à nouveau.")
            raise ImportFileError("C'est un ancien classeur Excel (.xls) : ouvrez-le dans Excel et enregistrez-le "
                                  "au format « Classeur Excel (.xlsx) », puis importez-le à nouveau.")
    if head.startswith(b"%PDF"):
        raise ImportFileError("Ce fichier est un PDF (renommé) : un PDF ne s'importe pas. Demandez le "
                              "tableau au format Excel (.xlsx) ou CSV.")
    if head.startswith(b"PK"):
        return "xlsx"
    with path.open("rb") as fh:
        sample = fh.read(4096)
    text = _looks_like_text(sample)
    if text and path.suffix.lower() == ".csv":
        return "csv"
    if text:
        raise ImportFileError("Ce fichier n'est pas un classeur Excel mais du texte (un CSV renommé en .xlsx ?) : "
                              "donnez-lui l'extension .csv, ou ouvrez-le dans Excel et enregistrez-le au format "
                              "« Classeur Excel (.xlsx) ».")
    raise ImportFileError("Ce fichier n'est pas un classeur Excel (.xlsx) ni un CSV : enregistrez le tableau au format "
                          "« Classeur Excel (.xlsx) » et importez-le à nouveau.")


# --- The table read --------------------------------------------------------------------------------------

Rows = Iterator[tuple[int, list[Any]]]


@dataclass
class XlsxFile:
    """The first sheet of an .xlsx (or a CSV), checked: header, size, merged cells; rows read lazily.

    `formula_count` and `formula_cells` are known once the rows have been read to the end.
    """

    path: Path
    sheet_name: str
    headers: list[str]
    row_count: int  # data rows under the header (rows present in the file)
    first_row: int  # line number of the header (1 unless the sheet starts lower)
    formula_count: int = 0
    formula_cells: list[str] = field(default_factory=list)
    merged_data: list[str] = field(default_factory=list)
    kind: str = "xlsx"
    max_columns: int = DEFAULT_MAX_COLUMNS
    _open_rows: Callable[[set[int] | None], Rows] | None = None
    _merges: list[tuple[int, int, str]] = field(default_factory=list)
    _rows_seen: int = 0
    _row_lines: list[int] = field(default_factory=list)

    def numbered_rows(self, columns: set[int] | None = None) -> Rows:
        """(line number, values) of each data row with a value; only the `columns` given (0-based) are read."""
        if self._open_rows is None:
            raise ValueError("file closed")
        for line, values in self._open_rows(columns):
            if line > self.first_row:
                yield line, values

    def iter_rows(self) -> Iterator[list[Any]]:
        """Every line under the header, empty ones as empty lists (values as python-calamine gave them)."""
        expected = self.first_row + 1
        for line, values in self.numbered_rows():
            while expected < line:
                expected += 1
                yield []
            expected = line + 1
            yield values

    def close(self) -> None:
        """Release what the reader holds (the shared strings)."""
        self._open_rows = None


def read_table(path: Path, max_rows: int = MAX_ROWS, max_columns: int = DEFAULT_MAX_COLUMNS) -> XlsxFile:
    """Check and open an .xlsx or .csv within every limit (synchronous); ImportFileError when refused."""
    kind = sniff(path)
    source = _open_csv(path, max_rows, max_columns) if kind == "csv" else _open_xlsx(path, max_rows, max_columns)
    assert source._open_rows is not None
    first = next(((line, values) for line, values in source._open_rows(None)
                  if any(v not in ("", None) for v in values)), None)
    if first is None:
        raise ImportFileError(f"La feuille « {source.sheet_name} » est vide : la première ligne doit contenir les "
                              "titres des colonnes, et les lignes suivantes les données.")
    source.first_row = first[0]
    source.headers = ["" if v is None else str(v).strip() for v in first[1]]
    header_merges = [ref for r1, r2, ref in source._merges if r1 <= first[0] <= r2]
    if header_merges:
        raise ImportFileError(
            f"L'en-tête (ligne {first[0]}) contient des cellules fusionnées ({', '.join(header_merges[:5])}) : "
            "défusionnez-les pour avoir un titre par colonne (Accueil › Fusionner et centrer), puis importez "
            "à nouveau.")
    source.merged_data = [ref for r1, _, ref in source._merges if r1 > first[0]][:20]
    source.row_count = max(0, source._rows_seen - sum(1 for n in source._row_lines if n <= first[0]))
    if source.row_count == 0 or next(source.numbered_rows(), None) is None:
        raise ImportFileError(f"La feuille « {source.sheet_name} » ne contient que l'en-tête : aucune ligne de données "
                              "à importer.")
    return source


def _too_many_rows(max_rows: int) -> ImportFileError:
    """The refusal of a file with more data rows than allowed."""
    return ImportFileError(
        f"Le fichier compte plus de {fr_int(max_rows)} lignes de données : l'import est refusé au-delà de "
        f"cette limite (Excel en accepte jusqu'à 1 048 576). Découpez-le en plusieurs fichiers "
        f"ou gardez les lignes utiles, puis importez chaque fichier.")


def _too_wide(where: str, max_columns: int) -> ImportFileError:
    """The refusal of a cell beyond the widest column accepted."""
    return ImportFileError(
        f"{where} est au-delà de la colonne {column_letter(max_columns - 1)} ({fr_int(max_columns)} colonnes au plus "
        "pour cette feuille) : l'import est refusé. Supprimez les colonnes en trop (sélectionnez-les, clic droit › "
        "Supprimer), enregistrez puis importez à nouveau.")


def _too_low(where: str, max_rows: int) -> ImportFileError:
    """The refusal of a cell below the last line accepted."""
    return ImportFileError(
        f"{where} est au-delà de la ligne {fr_int(max_rows + 1)} : l'import est refusé au-delà de "
        f"{fr_int(max_rows)} lignes de données. Supprimez les lignes en trop (ou découpez le fichier), enregistrez "
        "puis importez à nouveau.")


def _too_long_cell(where: str, value: Any) -> ImportFileError:
    """The refusal of a cell longer than Excel allows."""
    return ImportFileError(
        f"{where} contient plus de {fr_int(MAX_CELL_CHARS)} caractères (la limite d'Excel pour une cellule) : "
        f"« {clip(value)} ». Raccourcissez cette valeur, enregistrez puis importez à nouveau.")


# --- XML text --------------------------------------------------------------------------------------------

_ENTITY = re.compile(r"&(#[0-9]{1,8}|#x[0-9A-Fa-f]{1,7}|[A-Za-z][\w.-]{0,31});")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_XESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _entity(match: re.Match[str]) -> str:
    """The character of one XML entity or character reference (an undeclared entity makes the file refused)."""
    name = match.group(1)
    if name[0] != "#":
        if name not in _ENTITIES:
            raise _damaged(f"entité XML inconnue « &{clip(name, 20)}; »")
        return _ENTITIES[name]
    code = int(name[2:], 16) if name[1] == "x" else int(name[1:])
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"


def xml_text(raw: bytes) -> str:
    """The text of XML character data: UTF-8, the five entities and character references, Excel's _xHHHH_ escapes."""
    text = raw.decode("utf-8", "replace")
    if "&" in text:
        text = _ENTITY.sub(_entity, text)
    if "_x" in text:
        text = _XESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return text


def _attr(tag: bytes, name: bytes) -> str | None:
    """The value of one attribute of a start tag (entities decoded), None when absent."""
    match = re.search(rb"\s" + re.escape(name) + rb"""\s*=\s*(?:"([^"]*)"|'([^']*)')""", tag)
    if match is None:
        return None
    return xml_text(match.group(1) if match.group(1) is not None else match.group(2))


# --- The zip ---------------------------------------------------------------------------------------------

def _check_zip(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Refuse a zip with too many entries, an encrypted entry, or a part too big or too compressed (zip bomb)."""
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_ENTRIES:
        raise _too_big(f"L'archive .xlsx contient {fr_int(len(infos))} éléments et", MAX_ZIP_ENTRIES, "éléments")
    for info in infos:
        if info.flag_bits & 0x1:
            raise ImportFileError("Le classeur est chiffré : retirez le mot de passe dans Excel, enregistrez-le puis "
                                  "importez-le à nouveau.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _damaged(f"méthode de compression inconnue pour « {clip(info.filename)} »")
        if info.file_size > MAX_SHEET_BYTES:
            raise _too_big(f"La partie « {clip(info.filename)} » de l'archive ({fr_int(info.file_size // 2**20)} Mo "
                           "une fois décompressée)", MAX_SHEET_BYTES)
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            raise ImportFileError(
                f"La partie « {clip(info.filename)} » de l'archive est compressée {fr_int(ratio)} "
                f"fois (limite : {MAX_RATIO} fois) : c'est la marque d'une « bombe zip », le fichier est refusé. "
                "Enregistrez le tableau à nouveau depuis Excel.")
    return {info.filename: info for info in infos}


def _stream(zf: zipfile.ZipFile, name: str, limit: int, what: str, size: int = _CHUNK) -> Iterator[bytes]:
    """The chunks of a part, inflated; refused as soon as more than `limit` bytes come out (zip bomb)."""
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise _too_big(f"{what} ({fr_int(info.file_size // 2**20)} Mo une fois décompressé)", limit)
    total = 0
    with zf.open(info) as fh:
        while True:
            chunk = fh.read(size)
            if not chunk:
                return
            total += len(chunk)
            if total > limit:
                raise _too_big(what, limit)
            yield chunk


def _read_part(zf: zipfile.ZipFile, name: str, what: str) -> bytes:
    """A small part (workbook, relationships, styles), bounded, refused if it declares a DOCTYPE."""
    data = b"".join(_stream(zf, name, MAX_PART_BYTES, what))
    _refuse_doctype(data[:4096] if b"<!" not in data else data, what)
    return data


def _refuse_doctype(data: bytes, what: str) -> None:
    """Refuse XML that declares a DOCTYPE or entities (never in an .xlsx; the door to entity expansion)."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ImportFileError(f"{what} contient une déclaration DOCTYPE ou ENTITY, qu'un classeur Excel n'a jamais : "
                              "le fichier est refusé. Enregistrez le tableau à nouveau depuis Excel.")


_SHEET_TAG = re.compile(rb"<(?:\w+:)?sheet\s[^>]*>")
_REL_TAG = re.compile(rb"<(?:\w+:)?Relationship\s[^>]*>")
_DATE1904 = re.compile(rb"<(?:\w+:)?workbookPr\s[^>]*date1904\s*=\s*[\"'](?:1|true)[\"']")


def _first_sheet(zf: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo]) -> tuple[str, str, bool]:
    """Name and zip part of the workbook's first sheet, and whether dates count from 1904."""
    if "xl/workbook.xml" not in names:
        raise ImportFileError("Cette archive n'est pas un classeur Excel (.xlsx) : enregistrez le tableau au format "
                              "« Classeur Excel (.xlsx) » et importez-le à nouveau.")
    if "xl/_rels/workbook.xml.rels" not in names:
        raise _damaged("structure illisible")
    book = _read_part(zf, "xl/workbook.xml", "La partie « xl/workbook.xml »")
    rels = _read_part(zf, "xl/_rels/workbook.xml.rels", "La partie « xl/_rels/workbook.xml.rels »")
    first = _SHEET_TAG.search(book)
    if first is None:
        raise ImportFileError("Le classeur ne contient aucune feuille.")
    tag = first.group(0)
    rid = next((v for v in (_attr(tag, b"r:id"),) if v), None)
    if rid is None:
        rid = next((xml_text(m.group(1)) for m in re.finditer(rb"\s\w+:id\s*=\s*[\"']([^\"']*)[\"']", tag)), None)
    target = ""
    for rel in _REL_TAG.findall(rels):
        if _attr(rel, b"Id") == rid:
            target = _attr(rel, b"Target") or ""
            break
    part = target.lstrip("/") if target.startswith("/") else "xl/" + target
    if part not in names:
        raise _damaged("feuille introuvable")
    return _attr(tag, b"name") or "Feuil1", part, _DATE1904.search(book) is not None


# --- Styles: which cells hold dates ----------------------------------------------------------------------

_DATE_BUILTINS = {*range(14, 23), *range(27, 37), 45, 47, *range(50, 59)}
_DURATION_BUILTINS = {46}
_NUMFMT_TAG = re.compile(rb"<(?:\w+:)?numFmt\s[^>]*>")
_CELLXFS = re.compile(rb"<(?:\w+:)?cellXfs\b[^>]*>(.*?)</(?:\w+:)?cellXfs>", re.S)
_XF_TAG = re.compile(rb"<(?:\w+:)?xf\b[^>]*>")
_FORMAT_NOISE = re.compile(r'"[^"]*"|\\.|_.|\*.|\[[^\]]*\]')


def _format_kind(code: str) -> str | None:
    """'date', 'duration' or None for a custom number format code."""
    if re.search(r"\[(?:h+|m+|s+)\]", code, re.I):
        return "duration"
    bare = _FORMAT_NOISE.sub("", code.split(";")[0])
    if bare.lower() == "general":
        return None
    return "date" if re.search(r"[dmyhs]", bare, re.I) else None


def _styles(zf: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo]) -> dict[bytes, str]:
    """Style index (as written in a cell's s attribute) → 'date' or 'duration', for the styles that format dates."""
    if "xl/styles.xml" not in names:
        return {}
    data = _read_part(zf, "xl/styles.xml", "La partie « xl/styles.xml »")
    custom: dict[int, str | None] = {}
    for tag in _NUMFMT_TAG.findall(data):
        try:
            custom[int(_attr(tag, b"numFmtId") or "")] = _format_kind(_attr(tag, b"formatCode") or "")
        except ValueError:
            continue
    xfs = _CELLXFS.search(data)
    kinds: dict[bytes, str] = {}
    for i, tag in enumerate(_XF_TAG.findall(xfs.group(1)) if xfs else []):
        try:
            fmt = int(_attr(tag, b"numFmtId") or "0")
        except ValueError:
            continue
        kind = custom[fmt] if fmt in custom else (
            "date" if fmt in _DATE_BUILTINS else "duration" if fmt in _DURATION_BUILTINS else None)
        if kind:
            kinds[str(i).encode()] = kind
    return kinds


_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)
_MAX_SERIAL = 2_958_466  # 31/12/9999


def excel_date(serial: float, kind: str, date1904: bool) -> Any:
    """A number of a date-formatted cell as python-calamine gives it: date, datetime, time or timedelta."""
    if kind == "duration":
        return dt.timedelta(days=serial)
    if not 0 <= serial < _MAX_SERIAL:
        return serial
    if serial < 1 and not date1904:
        ms = round(serial * 86_400_000)
        return (dt.datetime.min + dt.timedelta(milliseconds=ms)).time() if ms < 86_400_000 else dt.time(0)
    if date1904:
        base = _EPOCH_1904
    else:
        base = _EPOCH_1900 if serial >= 60 else _EPOCH_1900 + dt.timedelta(days=1)
    days = math.floor(serial)
    ms = round((serial - days) * 86_400_000)
    value = base + dt.timedelta(days=days, milliseconds=ms)
    return value.date() if ms == 0 else value


# --- Shared strings --------------------------------------------------------------------------------------

class SharedStrings:
    """The shared strings of a workbook, packed: UTF-8 bytes and end offsets (a few bytes per string)."""

    def __init__(self) -> None:
        self._blob = bytearray()
        self._ends = array("Q", [0])

    def __len__(self) -> int:
        return len(self._ends) - 1

    def add(self, text: bytes) -> None:
        """Append one string (UTF-8)."""
        self._blob += text
        self._ends.append(len(self._blob))

    def get(self, index: int) -> str:
        """The string of an index; ImportFileError when the file names one that does not exist."""
        if not 0 <= index < len(self._ends) - 1:
            raise _damaged(f"chaîne partagée n° {index} introuvable")
        return self._blob[self._ends[index]:self._ends[index + 1]].decode("utf-8", "replace")


_SI = re.compile(rb"<(?:\w+:)?si\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?si>)", re.S)
_SI_PLAIN = re.compile(rb"<(?:\w+:)?t(?:\s+xml:space=\"preserve\")?>([^<&_]*)</(?:\w+:)?t>\Z")
_T = re.compile(rb"<(?:\w+:)?t(?:\s[^>]*)?(?:/>|>([^<]*)</(?:\w+:)?t>)")
_RPH = re.compile(rb"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.S)
_SI_END = re.compile(rb"</(?:\w+:)?si>|<(?:\w+:)?si\b[^>]*/>")


def rich_text(body: bytes, where: str) -> str:
    """The text of a string item (plain or rich text runs, phonetic runs left out), length-checked."""
    plain = _SI_PLAIN.match(body)
    if plain is not None:
        raw = plain.group(1)
        text = raw.decode("utf-8", "replace")
    else:
        if b"rPh" in body:
            body = _RPH.sub(b"", body)
        parts = [m.group(1) or b"" for m in _T.finditer(body)]
        if sum(map(len, parts)) > MAX_CELL_CHARS * 10:  # at most 10 bytes per character (&#x10FFFF;)
            raise _too_long_cell(where, parts[0] if parts else b"")
        text = "".join(xml_text(p) for p in parts)
    if len(text) > MAX_CELL_CHARS:
        raise _too_long_cell(where, text)
    return text


def _shared_strings(zf: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo]) -> SharedStrings | None:
    """Load the shared strings part within its limits (size, count, each string's length)."""
    rels = b""
    if "xl/_rels/workbook.xml.rels" in names:
        rels = _read_part(zf, "xl/_rels/workbook.xml.rels", "La partie « xl/_rels/workbook.xml.rels »")
    part = "xl/sharedStrings.xml"
    for rel in _REL_TAG.findall(rels):
        if (_attr(rel, b"Type") or "").endswith("/sharedStrings"):
            target = _attr(rel, b"Target") or ""
            part = target.lstrip("/") if target.startswith("/") else "xl/" + target
    if part not in names:
        return None
    what = "La table des chaînes partagées (xl/sharedStrings.xml)"
    table = SharedStrings()
    tail = b""
    first = True
    for chunk in _stream(zf, part, MAX_SHARED_BYTES, what):
        buffer = tail + chunk
        if first:
            _refuse_doctype(buffer[:4096], what)
            count = re.search(rb"<(?:\w+:)?sst\b[^>]*\suniqueCount\s*=\s*[\"'](\d{1,12})[\"']", buffer[:4096])
            if count and int(count.group(1)) > MAX_SHARED_STRINGS:
                raise _too_big(f"{what} annonce {fr_int(int(count.group(1)))} chaînes et", MAX_SHARED_STRINGS,
                               "chaînes")
            first = False
        ends = [m.end() for m in _SI_END.finditer(buffer)]
        cut = ends[-1] if ends else 0
        if b"<!" in buffer:
            _refuse_doctype(buffer, what)
        for match in _SI.finditer(buffer, 0, cut):
            if len(table) >= MAX_SHARED_STRINGS:
                raise _too_big(f"{what} compte plus de {fr_int(MAX_SHARED_STRINGS)} chaînes et", MAX_SHARED_STRINGS,
                               "chaînes")
            body = match.group(1) or b""
            plain = _SI_PLAIN.match(body)
            if plain is not None and len(plain.group(1)) <= MAX_CELL_CHARS:
                table.add(plain.group(1))
            else:
                table.add(rich_text(body, f"La chaîne partagée n° {fr_int(len(table))}").encode())
        tail = buffer[cut:]
        if len(tail) > MAX_ROW_BYTES:
            raise _too_big(f"Une chaîne de {what.lower()}", MAX_ROW_BYTES)
    return table


# --- The sheet: a bounded pre-scan, then rows streamed ----------------------------------------------------

@dataclass
class _Scan:
    """What the pre-scan found in the sheet XML."""

    prefix: bytes
    rows: int = 0
    merges: list[tuple[int, int, str]] = field(default_factory=list)
    row_lines: list[int] = field(default_factory=list)  # line numbers of the first rows (header search)


_PREFIX = re.compile(rb"<(\w+:)?worksheet[\s>]")
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]{1,3})([0-9]{1,7}):([A-Z]{1,3})([0-9]{1,7})"')
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref\s*=\s*[\"']([^\"']{0,64})[\"']")
_REF = re.compile(r"\$?([A-Z]{1,7})\$?([0-9]{1,10})")
_ROW_R = re.compile(rb"\sr\s*=\s*[\"']([0-9]{1,10})[\"']")


def _scan(zf: zipfile.ZipFile, part: str, max_rows: int, max_columns: int) -> _Scan:
    """Stream the sheet XML once, bounded: no DOCTYPE, its dimension, its rows (count and numbers), merged cells."""
    what = "La feuille (XML de la feuille)"
    scan: _Scan | None = None
    row_end = b"</row>"
    tail = b""
    for chunk in _stream(zf, part, MAX_SHEET_BYTES, what):
        buffer = tail + chunk
        if scan is None:
            head = buffer[:8192]
            _refuse_doctype(head, what)  # a DOCTYPE can only come before the root element
            prefix = _PREFIX.search(head)
            scan = _Scan(prefix.group(1) or b"" if prefix else b"")
            row_end = b"</" + scan.prefix + b"row>"
            dimension = _DIMENSION.search(head)
            if dimension:
                _check_dimension(dimension.group(1).decode("ascii", "replace"), max_rows, max_columns)
        cut = buffer.rfind(row_end)
        if cut < 0:
            if len(buffer) > MAX_ROW_BYTES:
                raise _too_big("Une ligne de la feuille (son XML)", MAX_ROW_BYTES)
            tail = buffer
            continue
        cut += len(row_end)
        body = buffer[:cut]
        rows = body.count(b"<" + scan.prefix + b"row")
        if len(scan.row_lines) < 20 and rows:
            for m in re.finditer(rb"<" + re.escape(scan.prefix) + rb"row\b([^>]*)>", body):
                if len(scan.row_lines) >= 20:
                    break
                r = _ROW_R.search(m.group(1))
                scan.row_lines.append(int(r.group(1)) if r else (scan.row_lines[-1] + 1 if scan.row_lines else 1))
        scan.rows += rows
        if scan.rows - 1 > max_rows:
            raise _too_many_rows(max_rows)
        tail = buffer[cut:]
    if scan is None:
        raise _damaged("feuille vide ou illisible")
    scan.rows += tail.count(b"<" + scan.prefix + b"row ") + tail.count(b"<" + scan.prefix + b"row>")
    if scan.rows - 1 > max_rows:
        raise _too_many_rows(max_rows)
    for match in _MERGE.finditer(tail):  # merged cells come after the rows
        if len(scan.merges) < 10_000:
            c1, r1, c2, r2 = (g.decode() for g in match.groups())
            scan.merges.append((int(r1), int(r2), f"{c1}{r1}:{c2}{r2}"))
    return scan


def _check_dimension(ref: str, max_rows: int, max_columns: int) -> None:
    """Refuse a sheet whose declared extent (`<dimension ref>`) goes beyond the limits."""
    for letters, digits in _REF.findall(ref):
        if len(letters) > 3 or _column_index(letters.encode()) >= max_columns:
            raise _too_wide(f"L'étendue déclarée de la feuille ({clip(ref, 30)})", max_columns)
        if len(digits) > 7 or int(digits) > max_rows + 1:
            raise _too_low(f"L'étendue déclarée de la feuille ({clip(ref, 30)})", max_rows)


def _letters_at_most(columns: int) -> bytes:
    """A regex matching the letters of the first `columns` columns (A … the last one), nothing beyond."""
    last = column_letter(columns - 1)
    options = [rb"[A-Z]{%d}" % n for n in range(1, len(last))]
    for i, ch in enumerate(last):
        if ch != "A":
            options.append(last[:i].encode() + b"[A-" + chr(ord(ch) - 1).encode() + b"]" +
                           b"[A-Z]" * (len(last) - i - 1))
    options.append(last.encode())
    return b"(?:" + b"|".join(options) + b")"


_PLAIN: tuple[bytes, str | None] = (b"", None)  # a number without a date style


class _SheetRows:
    """Stream the rows of a sheet part: (line number, values), each cell checked (column, length) before it is kept.

    The fast path reads canonical XML (every row and cell with its `r` first, no namespace prefix: what Excel,
    LibreOffice, openpyxl and this project write) with one regular expression per chunk; the cells of columns
    not read that follow a cell are consumed by the same match (unless beyond the last column accepted, which
    refuses the file); anything else (a cell or row without `r` first, a prefix) switches to the general path,
    which looks at every cell.
    """

    def __init__(self, path: Path, part: str, prefix: bytes, shared: SharedStrings | None, styles: dict[bytes, str],
                 date1904: bool, max_rows: int, max_columns: int, wanted: set[int] | None) -> None:
        self.path, self.part, self.shared, self.styles = path, part, shared, styles
        self.date1904, self.max_rows, self.max_columns, self.wanted = date1904, max_rows, max_columns, wanted
        p = re.escape(prefix)
        self.row_end = b"</" + prefix + b"row>"
        self.row_start = b"<" + prefix + b"row"
        self.cell_re = re.compile(rb"<" + p + rb"c\b([^>]*?)(?:/>|>(.*?)</" + p + rb"c>)", re.S)
        self.v_re = re.compile(rb"<" + p + rb"v(?:\s[^>]*)?>([^<]*)</" + p + rb"v>")
        self.is_re = re.compile(rb"<" + p + rb"is\b[^>]*>(.*?)</" + p + rb"is>", re.S)
        self.f_tag = b"<" + prefix + b"f"
        self.fast = not prefix
        skip = b""  # the cells of columns not read that follow a cell: consumed by the same match, unseen
        if wanted is not None:
            names = b"|".join(column_letter(i).encode() for i in sorted(wanted) if i < max_columns) or b"(?!)"
            skip = (rb'(?:<c r="(?!(?:' + names + rb')[0-9])' + _letters_at_most(max_columns) +
                    rb'[0-9]+"[^>]*>(?:(?<=/>)|<v>[^<]*</v></c>|<is><t>[^<]*</t></is></c>|.*?</c>))*')
        self.fast_re = re.compile(  # every cell is matched whole: the engine then skips it at C speed
            rb'<c r="([A-Z]{1,3})[0-9]+"([^>]*)>'
            rb"(?:(?<=/>)|<v>([^<]*)</v></c>|<is><t>([^<]*)</t></is></c>|(.*?)</c>)" + skip +
            rb'|<row r="([0-9]+)"'
            rb'|(<c r="(?![A-Z]{1,3}[0-9]+")|<c(?! r=")[\s>/]|<row(?! r=")[\s>/])', re.S)
        self.columns: dict[bytes, int] = {}
        self.kinds: dict[bytes, tuple[bytes, str | None]] = {}
        self.cache: dict[Any, Any] = {}
        self.line = 0
        self.formulas = 0
        self.formula_cells: list[str] = []

    def __iter__(self) -> Rows:
        self.line = 0
        self.formulas = 0
        self.formula_cells = []
        with zipfile.ZipFile(self.path) as zf:
            tail = b""
            for chunk in _stream(zf, self.part, MAX_SHEET_BYTES, "La feuille", _ROW_CHUNK):
                buffer = tail + chunk
                cut = buffer.rfind(self.row_end)
                if cut < 0:
                    if len(buffer) > MAX_ROW_BYTES:
                        raise _too_big("Une ligne de la feuille (son XML)", MAX_ROW_BYTES)
                    tail = buffer
                    continue
                cut += len(self.row_end)
                tail = buffer[cut:]
                body = buffer[:cut]
                rows = self._fast(body) if self.fast else None
                if rows is None:
                    self.fast = False
                    rows = list(self._rows(body))
                yield from rows

    def _fast(self, body: bytes) -> list[tuple[int, list[Any]]] | None:
        """The rows of a chunk of canonical XML; None as soon as it is not canonical (the caller reads it again)."""
        out: list[tuple[int, list[Any]]] = []
        line, values = self.line, None
        columns, kinds, max_rows, cache = self.columns, self.kinds, self.max_rows, self.cache
        for letters, attrs, v, text, other, number, _marker in self.fast_re.findall(body):
            if letters:
                col = columns.get(letters)
                if col is None:
                    col = _column_index(letters)
                    if col >= self.max_columns:
                        raise _too_wide(f"La cellule {letters.decode()}{line}", self.max_columns)
                    columns[letters] = col if self.wanted is None or col in self.wanted else -1
                    col = columns[letters]
                if col < 0:
                    continue  # a column not read
                if text:
                    value: Any = text.decode("utf-8", "replace")
                    if b"&" in text or b"_x" in text or len(text) > MAX_CELL_CHARS:
                        value = self._text(text, col, line)
                elif v:
                    kind = kinds.get(attrs)
                    if kind is None:
                        kind = self._kind(attrs)
                    if kind is _PLAIN:
                        try:
                            value = float(v)
                        except ValueError:
                            value = self._text(v, col, line)
                        else:
                            if value - value != 0 or b"_" in v:  # nan, inf, 1_000
                                value = self._text(v, col, line)
                    else:  # dates, booleans, shared strings: few distinct values, converted once
                        key = (kind, v)
                        value = cache.get(key, cache)
                        if value is cache:
                            value = self._convert(kind, v, col, line)
                            if len(cache) < 100_000:
                                cache[key] = value
                elif other:
                    if self.f_tag in other:
                        self._formula(col, line)
                    value = self._value(attrs, other, col, line)
                else:
                    continue  # an empty cell (<c …/>, <v></v>)
                if value == "" or values is None:
                    continue
                n = len(values)
                if col == n:
                    values.append(value)
                elif col > n:
                    values.extend([""] * (col - n))
                    values.append(value)
                else:
                    values[col] = value
            elif number:
                if values:
                    out.append((line, values))
                line = int(number)
                if line > max_rows + 1:
                    raise _too_low(f"La ligne {fr_int(line)}", max_rows)
                values = []
            else:
                return None  # a cell or a row without its reference first, or an odd one: the general path
        if values:
            out.append((line, values))
        self.line = line
        return out

    def _kind(self, attrs: bytes) -> tuple[bytes, str | None]:
        """(type, date style) of a cell from its attributes (cached for the usual few combinations)."""
        t = re.search(rb"""\st\s*=\s*["']([^"']*)["']""", attrs)
        s = re.search(rb"""\ss\s*=\s*["']([0-9]{1,9})["']""", attrs)
        kind = (t.group(1) if t and t.group(1) != b"n" else b"", self.styles.get(s.group(1)) if s else None)
        if kind == _PLAIN:
            kind = _PLAIN
        if len(self.kinds) < 10_000:
            self.kinds[attrs] = kind
        return kind

    def _convert(self, kind: tuple[bytes, str | None], raw: bytes, col: int, line: int) -> Any:
        """The value of a <v> of a cell of this kind (not a plain number)."""
        t, style = kind
        if t:
            return self._typed(t, raw, col, line)
        try:
            number = float(raw)
        except ValueError:
            return self._text(raw, col, line)
        if number - number != 0 or b"_" in raw:
            return self._text(raw, col, line)
        return excel_date(number, style, self.date1904) if style else number

    def _formula(self, col: int, line: int) -> None:
        """Count a formula cell (its cached value is what is read)."""
        self.formulas += 1
        if len(self.formula_cells) < 20:
            self.formula_cells.append(f"{column_letter(col)}{line}")

    def _rows(self, body: bytes) -> Rows:
        """Rows of a piece of sheet XML that ends with a whole row (general path; self-closing rows are empty)."""
        row_start = self.row_start
        skip = len(row_start)
        for piece in body.split(self.row_end)[:-1]:
            i = piece.rfind(row_start)
            while i >= 0 and piece[i + skip:i + skip + 1] not in (b" ", b">", b"\t", b"\n", b"\r"):
                i = piece.rfind(row_start, 0, i)
            if i < 0:
                continue
            gt = piece.find(b">", i)
            attrs = piece[i + skip:gt]
            number = self.line + 1 + piece.count(row_start, 0, i)
            if b"r" in attrs:
                r = _ROW_R.search(attrs)
                if r:
                    number = int(r.group(1))
            if number > self.max_rows + 1:
                raise _too_low(f"La ligne {fr_int(number)}", self.max_rows)
            self.line = number
            values = self._cells(piece[gt + 1:], number)
            if values:
                yield number, values

    def _cells(self, content: bytes, line: int) -> list[Any]:
        """The values of one row (empty cells as '', like python-calamine), general path."""
        values: list[Any] = []
        position = -1
        for attrs, inner in self.cell_re.findall(content):
            col = -1
            r = re.search(rb"""\sr\s*=\s*["']([A-Z]{1,4})[0-9]""", attrs)
            if r:
                col = _column_index(r.group(1))
            if col < 0:
                col = position + 1
            position = col
            if col >= self.max_columns:
                raise _too_wide(f"La cellule {column_letter(min(col, 16383))}{line}", self.max_columns)
            if not inner or (self.wanted is not None and col not in self.wanted):
                continue
            if self.f_tag in inner:
                self._formula(col, line)
            value = self._value(attrs, inner, col, line)
            if value == "":
                continue
            n = len(values)
            if col == n:
                values.append(value)
            elif col > n:
                values.extend([""] * (col - n))
                values.append(value)
            else:
                values[col] = value
        return values

    def _value(self, attrs: bytes, inner: bytes, col: int, line: int) -> Any:
        """The value of one cell from its attributes and content (any form)."""
        t, style = self.kinds.get(attrs) or self._kind(attrs)
        if t == b"inlineStr":
            match = self.is_re.search(inner)
            return "" if match is None else rich_text(match.group(1), f"La cellule {column_letter(col)}{line}")
        match = self.v_re.search(inner)
        if match is None:
            return ""
        return self._convert((t, style), match.group(1), col, line)

    def _typed(self, t: bytes, raw: bytes, col: int, line: int) -> Any:
        """The value of a cell with a type attribute (shared string, boolean, error, ISO date, formula text)."""
        if t == b"s":
            if self.shared is None or not raw.strip().isdigit():
                raise _damaged(f"chaîne partagée « {clip(raw, 20)} » introuvable (cellule {column_letter(col)}{line})")
            return self.shared.get(int(raw))
        if t == b"b":
            return raw.strip() in (b"1", b"true")
        if t == b"e":
            return ""
        if t == b"d":
            text = raw.decode("ascii", "replace").strip()
            try:
                value = dt.datetime.fromisoformat(text.replace("Z", ""))
            except ValueError:
                return self._text(raw, col, line)
            return value.date() if "T" not in text and " " not in text else value
        return self._text(raw, col, line)

    def _text(self, raw: bytes, col: int, line: int) -> str:
        """A text value, length-checked."""
        if len(raw) > MAX_CELL_CHARS * 10:
            raise _too_long_cell(f"La cellule {column_letter(col)}{line}", raw[:200])
        text = xml_text(raw)
        if len(text) > MAX_CELL_CHARS:
            raise _too_long_cell(f"La cellule {column_letter(col)}{line}", text)
        return text


def _open_xlsx(path: Path, max_rows: int, max_columns: int) -> XlsxFile:
    """Check an .xlsx within every limit and prepare its first sheet's rows."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = _check_zip(zf)
            sheet_name, part, date1904 = _first_sheet(zf, names)
            scan = _scan(zf, part, max_rows, max_columns)
            styles = _styles(zf, names)
            shared = _shared_strings(zf, names)
    except ImportFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, RuntimeError, ValueError) as exc:
        raise ImportFileError(f"Le fichier .xlsx est abîmé ou incomplet ({exc.__class__.__name__}) : enregistrez-le "
                              "à nouveau depuis Excel puis réessayez.") from None
    source = XlsxFile(path, sheet_name, [], 0, 1, kind="xlsx", max_columns=max_columns)

    def rows(wanted: set[int] | None = None) -> Rows:
        reader = _SheetRows(path, part, scan.prefix, shared, styles, date1904, max_rows, max_columns, wanted)
        try:
            yield from reader
        except ImportFileError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, ValueError) as exc:
            raise ImportFileError(f"Le fichier .xlsx est abîmé ou incomplet ({exc.__class__.__name__}) : "
                                  "enregistrez-le à nouveau depuis Excel puis réessayez.") from None
        source.formula_count, source.formula_cells = reader.formulas, reader.formula_cells

    source._open_rows = rows
    source._merges = scan.merges
    source._rows_seen = scan.rows
    source._row_lines = scan.row_lines
    return source


# --- CSV ---------------------------------------------------------------------------------------------------

def _csv_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) or cp1252, checked over the whole file; ImportFileError otherwise."""
    with path.open("rb") as fh:
        head = fh.read(4)
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ImportFileError("Ce CSV est en UTF-16 : enregistrez-le au format « CSV UTF-8 (délimité par des "
                                  "virgules) » depuis Excel, puis importez-le à nouveau.")
        for encoding in ("utf-8", "cp1252"):
            fh.seek(0)
            decoder = codecs.getincrementaldecoder(encoding)()
            try:
                while chunk := fh.read(_CHUNK):
                    if b"\x00" in chunk:
                        raise ImportFileError("Ce fichier contient des octets nuls : ce n'est pas un CSV lisible. "
                                              "Enregistrez-le au format « CSV UTF-8 » depuis Excel.")
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                continue
            return "utf-8-sig" if encoding == "utf-8" and head.startswith(codecs.BOM_UTF8) else encoding
    raise ImportFileError("L'encodage de ce CSV n'est pas reconnu (ni UTF-8, ni Windows-1252) : enregistrez-le au "
                          "format « CSV UTF-8 » depuis Excel, puis importez-le à nouveau.")


def _csv_delimiter(path: Path, encoding: str) -> str:
    """',' or ';', whichever the first line uses most (outside quotes)."""
    with path.open(encoding=encoding, newline="") as fh:
        line = fh.readline(MAX_LINE_CHARS + 1)
    bare = re.sub(r'"[^"]*"', "", line)
    return ";" if bare.count(";") > bare.count(",") else ","


def _csv_rows(path: Path, encoding: str, delimiter: str, max_rows: int, max_columns: int) -> Rows:
    """(line number, fields) of each record of a CSV, every bound checked before the next line is read."""
    pending = [0]

    def lines() -> Iterator[str]:
        with path.open(encoding=encoding, newline="") as fh:
            while True:
                line = fh.readline(MAX_LINE_CHARS + 1)
                if not line:
                    return
                if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
                    raise _too_big(f"Une ligne du CSV (ligne {fr_int(number + 1)})", MAX_LINE_CHARS, "caractères")
                pending[0] += len(line)
                if pending[0] > MAX_RECORD_CHARS:
                    raise _too_big(f"Un enregistrement du CSV (ligne {fr_int(number + 1)}, guillemets non fermés ?)",
                                   MAX_RECORD_CHARS, "caractères")
                yield line

    number = 0
    reader = csv.reader(lines(), delimiter=delimiter, strict=False)
    try:
        for record in reader:
            pending[0] = 0
            number += 1
            if number > max_rows + 1:
                raise _too_many_rows(max_rows)
            if not record or not any(record):
                continue
            if len(record) > max_columns:
                if any(record[max_columns:]):
                    raise _too_wide(f"La ligne {fr_int(number)} ({fr_int(len(record))} champs)", max_columns)
                del record[max_columns:]
            if max(map(len, record)) > MAX_CELL_CHARS:
                col = next(i for i, v in enumerate(record) if len(v) > MAX_CELL_CHARS)
                raise _too_long_cell(f"La cellule {column_letter(col)}{number}", record[col])
            yield number, record
    except csv.Error as exc:
        raise ImportFileError(f"Le CSV est illisible ligne {fr_int(number + 1)} ({clip(exc, 80)}) : enregistrez-le "
                              "à nouveau au format « CSV UTF-8 » depuis Excel.") from None


def _open_csv(path: Path, max_rows: int, max_columns: int) -> XlsxFile:
    """Check a CSV within every limit (encoding, lines, fields, rows) and prepare its rows."""
    encoding = _csv_encoding(path)
    delimiter = _csv_delimiter(path, encoding)
    count = 0
    lines: list[int] = []
    for line, _ in _csv_rows(path, encoding, delimiter, max_rows, max_columns):
        count += 1
        if len(lines) < 20:
            lines.append(line)
    return XlsxFile(path, path.stem[:31] or "CSV", [], 0, 1, kind="csv", max_columns=max_columns,
                    _open_rows=lambda _columns: _csv_rows(path, encoding, delimiter, max_rows, max_columns),
                    _rows_seen=count, _row_lines=lines)
