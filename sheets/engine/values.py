"""Cell values: parse what a person typed, pasted or imported into the column's type; format for display."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sheets.engine.declaration import Column

PARIS = ZoneInfo("Europe/Paris")
# Dates a cell, a filter or an import may hold: a typo such as 2205 or 9999 is refused in French instead of reaching
# date arithmetic (a day after 31/12/9999 overflows) or a database that stores another range.
MIN_DATE, MAX_DATE = dt.date(1900, 1, 1), dt.date(2200, 12, 31)
_TRUE = {"oui", "o", "vrai", "true", "1", "x", "yes", "y"}
_FALSE = {"non", "n", "faux", "false", "0", "no", ""}


MAX_TEXT = 32_767  # Excel's own limit for a cell


class CellError(ValueError):
    """A value refused for a column; the message is French and says what is expected."""


def fold(text: str) -> str:
    """Lower case without accents and extra spaces (header and choice matching)."""
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[\s_\-'’.]+", " ", text).strip().lower()


def _expected(column: Column) -> str:
    return {
        "text": "un texte", "integer": "un nombre entier", "decimal": "un nombre (ex. 12,5)",
        "euro": "un montant en euros (ex. 1 234,50)", "date": "une date jj/mm/aaaa",
        "datetime": "une date et heure jj/mm/aaaa hh:mm", "boolean": "Oui ou Non",
        "choice": "une des valeurs : " + ", ".join(label for _, label in column.choices),
        "reference": "un code existant",
    }[column.kind]


def _number_text(raw: str) -> str:
    text = raw.strip().replace("\u202f", "").replace("\xa0", "").replace(" ", "").replace("€", "")
    if "," in text and "." in text:
        text = text.replace(".", "").replace(",", ".")  # 1.234,50 → 1234.50
    return text.replace(",", ".")


def parse_value(column: Column, raw: Any) -> Any:
    """Convert a raw value (typed text, pasted text, or a cell read from xlsx) to the column's type.

    Empty → None (refused when the column is required). Raises CellError in French otherwise.
    """
    if isinstance(raw, str):
        raw = raw.strip()
    if raw is None or raw == "":
        if column.required:
            raise CellError(f"« {column.label} » est obligatoire.")
        return None if column.kind not in ("text",) else ""
    if isinstance(raw, str) and len(raw) > MAX_TEXT:
        raise CellError(f"« {raw[:30]}… » trop long pour « {column.label} » : {MAX_TEXT} caractères au plus.")
    kind = column.kind
    try:
        if kind == "text":
            value: Any = str(raw) if not isinstance(raw, float) or not raw.is_integer() else str(int(raw))
        elif kind == "integer":
            if isinstance(raw, bool):
                raise ValueError
            if isinstance(raw, int):
                value = raw
            elif isinstance(raw, float):
                if not raw.is_integer():
                    raise ValueError
                value = int(raw)
            else:
                number = Decimal(_number_text(str(raw)))
                if number != number.to_integral_value():
                    raise ValueError
                value = int(number)
        elif kind in ("decimal", "euro"):
            if isinstance(raw, bool):
                raise ValueError
            number = Decimal(str(raw)) if isinstance(raw, int | float | Decimal) else Decimal(_number_text(str(raw)))
            if not number.is_finite():
                raise ValueError
            value = number.quantize(Decimal("0.01"))
        elif kind == "date":
            value = _parse_date(raw)
        elif kind == "datetime":
            value = _parse_datetime(raw)
        elif kind == "boolean":
            if isinstance(raw, bool):
                value = raw
            elif isinstance(raw, int | float) and raw in (0, 1):
                value = bool(raw)
            else:
                folded = fold(str(raw))
                if folded in _TRUE:
                    value = True
                elif folded in _FALSE:
                    value = False
                else:
                    raise ValueError
        elif kind == "choice":
            value = _parse_choice(column, raw)
        else:  # reference: the key of the other sheet, checked against the database by the caller
            value = str(raw).strip() if not isinstance(raw, float) or not raw.is_integer() else str(int(raw))
    except (ValueError, InvalidOperation, TypeError, OverflowError):
        raise CellError(f"« {str(raw)[:40]} » refusé pour « {column.label} » : attendu {_expected(column)}.") from None
    check_range(column, value)
    if column.max_length is not None and isinstance(value, str) and len(value) > column.max_length:
        raise CellError(f"« {value[:30]}… » trop long pour « {column.label} » : {column.max_length} caractères au "
                        "plus.")
    if column.validator is not None:
        try:
            value = column.validator(value)
        except ValueError as exc:
            raise CellError(str(exc)) from None
    return value


def check_range(column: Column, value: Any) -> None:
    """Refuse (CellError in French) a number outside what the column's database field holds, a date outside
    MIN_DATE–MAX_DATE."""
    if value is None:
        return
    if column.kind in ("integer", "decimal", "euro") and column.bounds is not None:
        low, high = column.bounds
        if not low <= value <= high:
            raise CellError(f"« {str(value)[:40]} » refusé pour « {column.label} » : nombre hors limites (de "
                            f"{fr_int(low)} à {fr_int(high)}).")
    if column.kind in ("date", "datetime"):
        day = value.date() if isinstance(value, dt.datetime) else value
        if not MIN_DATE <= day <= MAX_DATE:
            raise CellError(f"« {day.day:02d}/{day.month:02d}/{day.year:04d} » refusé pour « {column.label} » : date "
                            f"hors des années {MIN_DATE.year}–{MAX_DATE.year}.")


def fr_int(number: Any) -> str:
    """A bound as French text (thin spaces between thousands, decimals dropped)."""
    return f"{int(number):,}".replace(",", "\u202f")


def _parse_choice(column: Column, raw: Any) -> str:
    text = str(raw).strip()
    for code, label in column.choices:
        if text == code or text == label:
            return code
    folded = fold(text)
    for code, label in column.choices:
        if folded in (fold(code), fold(label)):
            return code
    raise ValueError(text)


_DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y")


def _parse_date(raw: Any) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return (dt.datetime(1899, 12, 30) + dt.timedelta(days=float(raw))).date()  # Excel serial
    text = str(raw).strip()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    try:
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        raise ValueError(text) from None


def _parse_datetime(raw: Any) -> dt.datetime:
    if isinstance(raw, dt.datetime):
        value = raw
    elif isinstance(raw, dt.date):
        value = dt.datetime.combine(raw, dt.time())
    else:
        text = str(raw).strip()
        value = None
        for fmt in ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y"):
            try:
                value = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if value is None:
            value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=PARIS)
    return value


def to_json(column: Column, value: Any) -> Any:
    """A value as the grid receives it (JSON): dates ISO, decimals as numbers, enums as codes."""
    if value is None:
        return None
    if hasattr(value, "value") and not isinstance(value, Decimal | bool | int | float | str):
        value = value.value  # enums
    if isinstance(value, dt.datetime):
        return value.astimezone(PARIS).isoformat(timespec="minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def to_text(column: Column, value: Any) -> str:
    """A value as a French text (history panel, messages, audit)."""
    value = to_json(column, value)
    if value is None or value == "":
        return ""
    if column.kind == "boolean":
        return "Oui" if value else "Non"
    if column.kind == "choice":
        return column.choice_label(value)
    if column.kind == "date":
        return dt.date.fromisoformat(value).strftime("%d/%m/%Y")
    if column.kind == "datetime":
        return dt.datetime.fromisoformat(value).strftime("%d/%m/%Y %H:%M")
    if column.kind in ("decimal", "euro"):
        text = f"{value:,.2f}".replace(",", "\u202f").replace(".", ",")
        return text + ("\u202f€" if column.kind == "euro" else "")
    return str(value)


def same(a: Any, b: Any) -> bool:
    """Equality of two stored values (enums and their codes, Decimal and float compare equal)."""
    a = a.value if hasattr(a, "value") and not isinstance(a, Decimal | bool | int | float | str) else a
    b = b.value if hasattr(b, "value") and not isinstance(b, Decimal | bool | int | float | str) else b
    if isinstance(a, Decimal | float) and isinstance(b, Decimal | float | int):
        return Decimal(str(a)) == Decimal(str(b))
    return a == b
