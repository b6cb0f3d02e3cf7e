"""Tiny hostile .xlsx files, built with zipfile (each one took `main` down or far above its memory before issue 10)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

_CT = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
       'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
       '+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
       'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
       'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
       'spreadsheetml.worksheet+xml"/></Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
         '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_BOOK = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
         '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
         '<sheet name="Feuil1" sheetId="1" r:id="rId1"/></sheets></workbook>')
_BOOK_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
              'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
              'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship '
              'Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
              'Target="sharedStrings.xml"/></Relationships>')
_SHEET_HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="http://schemas.'
               b'openxmlformats.org/spreadsheetml/2006/main">')
HEADER_ROW = (b'<row r="1"><c r="A1" t="inlineStr"><is><t>UAI</t></is></c><c r="B1" t="inlineStr"><is><t>Nom</t>'
              b'</is></c></row>')
_SST_HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'


def _write(zf: zipfile.ZipFile, name: str, parts: Iterable[bytes]) -> None:
    """Stream a part into the zip (so a 400 MB part is never held whole)."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=True) as fh:
        for part in parts:
            fh.write(part)


def workbook(path: Path, sheet: Iterable[bytes], shared: Iterable[bytes] | None = None,
             extra: dict[str, Iterable[bytes]] | None = None) -> Path:
    """An .xlsx whose first sheet's XML (and shared strings) are the given byte pieces."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", _CT)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("xl/workbook.xml", _BOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", _BOOK_RELS)
        _write(zf, "xl/worksheets/sheet1.xml", sheet)
        if shared is not None:
            _write(zf, "xl/sharedStrings.xml", shared)
        for name, parts in (extra or {}).items():
            _write(zf, name, parts)
    return path


def _sheet(*rows: bytes, head: bytes = b"") -> list[bytes]:
    """The XML of a sheet with these rows."""
    return [_SHEET_HEAD, head, b"<sheetData>", *rows, b"</sheetData></worksheet>"]


def _repeat(piece: bytes, total: int) -> Iterable[bytes]:
    """`total` bytes of `piece` repeated, in 1 MB writes."""
    count = total // len(piece)
    per_block = max(1, (1 << 20) // len(piece))
    block = piece * per_block
    for _ in range(count // per_block):
        yield block
    yield piece * (count % per_block)


def far_cell(path: Path, dimension: bool = False) -> Path:
    """Header + one cell at XFD1048576 (1.8 KB: python-calamine asked for 512 GB and aborted the process)."""
    head = b'<dimension ref="A1:XFD1048576"/>' if dimension else b""
    return workbook(path, _sheet(HEADER_ROW, b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>', head=head))


def cell_at_z500000(path: Path) -> Path:
    """Header + one cell at Z500000 (446 MB on main)."""
    return workbook(path, _sheet(HEADER_ROW, b'<row r="500000"><c r="Z500000" t="inlineStr"><is><t>x</t></is></c>'
                                             b"</row>"))


def huge_shared_string(path: Path, size: int = 400 << 20) -> Path:
    """One shared string of `size` bytes in a file of a few hundred KB (2.8 GB peak on main for 400 MB)."""
    sst = [_SST_HEAD.replace(b"<sst ", b'<sst count="1" uniqueCount="1" '), b"<si><t>",
           *_repeat(b"a", size), b"</t></si></sst>"]
    return workbook(path, _sheet(HEADER_ROW, b'<row r="2"><c r="A2" t="s"><v>0</v></c></row>'), sst)


def many_shared_strings(path: Path, count: int = 30_000_000) -> Path:
    """`count` tiny shared strings in about a megabyte (1.65 GB on main for 30 million)."""
    item = b"<si><t>a</t></si>"
    sst = [_SST_HEAD, *_repeat(item, count * len(item)), b"</sst>"]
    return workbook(path, _sheet(HEADER_ROW, b'<row r="2"><c r="A2" t="s"><v>0</v></c></row>'), sst)


def zip_bomb_sheet(path: Path, size: int = 300 << 20) -> Path:
    """A sheet padded with `size` bytes of blanks between two rows: a part compressed about 1,000 times."""
    return workbook(path, [_SHEET_HEAD, b"<sheetData>", HEADER_ROW, *_repeat(b" ", size),
                           b'<row r="2"><c r="A2" t="inlineStr"><is><t>0750650Z</t></is></c></row>',
                           b"</sheetData></worksheet>"])


def huge_inline_string(path: Path, size: int = 400 << 20) -> Path:
    """One inline string of `size` bytes in the sheet itself."""
    return workbook(path, _sheet(HEADER_ROW, b'<row r="2"><c r="A2" t="inlineStr"><is><t>0750650Z</t></is></c>'
                                             b'<c r="B2" t="inlineStr"><is><t>', *_repeat(b"a", size),
                                 b"</t></is></c></row>"))


def long_cell(path: Path, chars: int = 100_000) -> Path:
    """A cell longer than Excel allows, not compressible enough to look like a zip bomb."""
    import random

    rng = random.Random(10)
    text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzéè0123456789 ") for _ in range(chars)).encode()
    return workbook(path, _sheet(HEADER_ROW, b'<row r="2"><c r="A2" t="inlineStr"><is><t>0750650Z</t></is></c>'
                                             b'<c r="B2" t="inlineStr"><is><t>' + text + b"</t></is></c></row>"))


def rich_text_cell(path: Path, runs: int = 40, run_chars: int = 30_000) -> Path:
    """An inline string of many rich-text runs, each under Excel's limit, together far above it."""
    import random

    rng = random.Random(11)
    run = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(run_chars)).encode()
    body = b"".join(b"<r><t>" + run + b"</t></r>" for _ in range(runs))
    return workbook(path, _sheet(HEADER_ROW, b'<row r="2"><c r="A2" t="inlineStr"><is><t>0750650Z</t></is></c>'
                                             b'<c r="B2" t="inlineStr"><is>' + body + b"</is></c></row>"))


def entity_expansion(path: Path) -> Path:
    """A billion-laughs DOCTYPE in the sheet XML."""
    dtd = b'<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa">' + b"".join(
        b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&%s;" % bytes([97 + i])) * 10) for i in range(8)) + b"]>"
    sheet = [_SHEET_HEAD.replace(b"\n<worksheet", b"\n" + dtd + b"<worksheet"), b"<sheetData>", HEADER_ROW,
             b'<row r="2"><c r="A2" t="inlineStr"><is><t>&i;</t></is></c></row></sheetData></worksheet>']
    return workbook(path, sheet)


def deep_nesting(path: Path, depth: int = 1_000_000) -> Path:
    """A cell whose inline string nests a million elements."""
    return workbook(path, _sheet(HEADER_ROW, b'<row r="2"><c r="A2" t="inlineStr"><is><t>0750650Z</t></is></c>'
                                             b'<c r="B2" t="inlineStr"><is>', b"<r>" * depth, b"<t>x</t>",
                                 b"</r>" * depth, b"</is></c></row>"))


HOSTILE = {
    "far_cell": far_cell,
    "cell_at_z500000": cell_at_z500000,
    "huge_shared_string": huge_shared_string,
    "many_shared_strings": many_shared_strings,
    "zip_bomb_sheet": zip_bomb_sheet,
    "huge_inline_string": huge_inline_string,
    "long_cell": long_cell,
    "rich_text_cell": rich_text_cell,
    "entity_expansion": entity_expansion,
    "deep_nesting": deep_nesting,
}
