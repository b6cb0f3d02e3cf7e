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


def next_working_day(day: dt.date) -> dt.date:
    """The first working day strictly after `day`."""
    current = day + dt.timedelta(days=1)
    while not is_working_day(current):
        current += dt.timedelta(days=1)
    return current


def working_days_after(day: dt.date, count: int) -> dt.date:
    """The `count`-th working day after `day` (D+count in working days; 0 gives `day` itself)."""
    if count < 0:
        raise ValueError("Le nombre de jours ouvrés doit être positif ou nul.")
    current = day
    for _ in range(count):
        current = next_working_day(current)
    return current


# --- Working time: Mon–Fri within service hours, French public holidays excluded ---------------------
# Times are read in the zone of the given datetime (the app's, Europe/Paris); a naive datetime is taken as local.

DAY_START = dt.time(8, 0)
DAY_END = dt.time(18, 0)


def _clamp(local: dt.datetime, start: dt.time, end: dt.time) -> dt.datetime:
    """The first working instant at or after a local time (before opening: opening; after closing: next day)."""
    day = local.date()
    if is_working_day(day):
        if local.time() < start:
            return dt.datetime.combine(day, start)
        if local.time() < end:
            return local
    return dt.datetime.combine(next_working_day(day), start)


def _as_local(moment: dt.datetime, tz: dt.tzinfo | None) -> dt.datetime:
    return moment.astimezone(tz).replace(tzinfo=None) if tz is not None and moment.tzinfo is not None else (
        moment.replace(tzinfo=None))


def add_working_minutes(moment: dt.datetime, minutes: float, *, tz: dt.tzinfo | None = None,
                        start: dt.time = DAY_START, end: dt.time = DAY_END) -> dt.datetime:
    """`moment` plus `minutes` of working time (service hours of working days): 17:30 + 2 h → 9:30 next working day.

    The result is in `tz` (default: the moment's own zone); a budget that ends exactly at closing time ends then.
    """
    if minutes < 0:
        raise ValueError("Une durée ouvrée est positive ou nulle.")
    zone = tz or moment.tzinfo
    current = _clamp(_as_local(moment, zone), start, end)
    remaining = dt.timedelta(minutes=minutes)
    while True:
        closing = dt.datetime.combine(current.date(), end)
        available = closing - current
        if remaining <= available:
            result = current + remaining
            break
        remaining -= available
        current = dt.datetime.combine(next_working_day(current.date()), start)
    return result.replace(tzinfo=zone) if zone is not None else result


def working_minutes_between(first: dt.datetime, second: dt.datetime, *, tz: dt.tzinfo | None = None,
                            start: dt.time = DAY_START, end: dt.time = DAY_END) -> float:
    """Minutes of working time in [first, second] (0 when second is not after first)."""
    if second <= first:
        return 0.0
    zone = tz or first.tzinfo
    a = _clamp(_as_local(first, zone), start, end)
    b = _clamp(_as_local(second, zone), start, end)
    if b <= a:
        return 0.0
    total = dt.timedelta()
    while a.date() < b.date():
        total += dt.datetime.combine(a.date(), end) - a
        a = dt.datetime.combine(next_working_day(a.date()), start)
    total += b - a
    return total.total_seconds() / 60


def end_of_working_day(day: dt.date, *, tz: dt.tzinfo | None = None, end: dt.time = DAY_END) -> dt.datetime:
    """Closing time of a day (in `tz` when given)."""
    moment = dt.datetime.combine(day, end)
    return moment.replace(tzinfo=tz) if tz is not None else moment


def in_service_hours(moment: dt.datetime, *, tz: dt.tzinfo | None = None, start: dt.time = DAY_START,
                     end: dt.time = DAY_END) -> bool:
    """True on a working day between opening and closing time (a free line's hours)."""
    local = _as_local(moment, tz or moment.tzinfo)
    return is_working_day(local.date()) and start <= local.time() < end
