"""Working days in France: weekends and French public holidays (the `holidays` package) excluded."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _french_holidays(year: int) -> frozenset[dt.date]:
    """French public holidays of one year (metropolitan France)."""
    return frozenset(holidays.country_holidays("FR", years=[year]).keys())


def holiday_name(day: dt.date) -> str:
    """French name of the public holiday on a day, or an empty string."""
    names = holidays.country_holidays("FR", years=[day.year], language="fr")
    return str(names.get(day, ""))


def is_working_day(day: dt.date) -> bool:
    """True from Monday to Friday, except French public holidays."""
    return day.weekday() < 5 and day not in _french_holidays(day.year)


def working_days_before(day: dt.date, count: int) -> dt.date:
    """The date `count` working days before `day` (R-SLOT-2: SIECLE/STS upload 7 working days before delivery)."""
    if count < 0:
        raise ValueError("Le nombre de jours ouvrés doit être positif ou nul.")
    current = day
    remaining = count
    while remaining:
        current -= dt.timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days in ]start, end] (0 when end <= start)."""
    days = 0
    current = start
    while current < end:
        current += dt.timedelta(days=1)
        days += is_working_day(current)
    return days
