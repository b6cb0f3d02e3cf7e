"""French formatting of values for display: dates dd/mm/yyyy, euros `1 234,50 €`, yes/no."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
NBSP = "\u202f"


def fr_date(value: dt.date | dt.datetime | None) -> str:
    """A date as dd/mm/yyyy (datetimes shown in Europe/Paris)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(PARIS)
        return value.strftime("%d/%m/%Y %H:%M")
    return value.strftime("%d/%m/%Y")


def fr_number(value: int | float | Decimal | None, decimals: int = 0) -> str:
    """A number with French separators: 1 234,5."""
    if value is None:
        return ""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", NBSP).replace(".", ",")


def fr_euro(value: int | float | Decimal | None) -> str:
    """An amount in euros: 1 234,50 €."""
    return "" if value is None else f"{fr_number(value, 2)}{NBSP}€"


def yes_no(value: bool | None) -> str:
    """Oui / Non."""
    return "" if value is None else ("Oui" if value else "Non")
