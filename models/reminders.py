"""Reminder rules: the plug-in point through which each module says which schools have what pending, when.

A module declares a rule once, at import time::

    register(ReminderRule(code="R-SLOT-1-booking", label="…", list_pending=my_function))

`list_pending(today, horizon)` returns the PendingItem of every (school, due date, pending action)
whose due date lies in [today, horizon]; the reminder run keeps those whose `due - today` is one of
the rule's (or the item's) `days_before`, groups them per school and builds one digest per school.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from models.schools import Contact, ContactRole, School

DEFAULT_DAYS_BEFORE: tuple[int, ...] = (14, 7, 2, 0)


@dataclass(frozen=True)
class PendingItem:
    """One action a school still has to take before a due date."""

    school: School
    due: dt.date
    rule_id: str  # the livret rule it enforces, e.g. R-SLOT-1
    title: str  # what is due, in French
    action: str  # what to do, in French
    where: str = ""  # where to do it (tool, address, page)
    cc_roles: tuple[ContactRole, ...] = ()
    days_before: tuple[int, ...] | None = None  # overrides the rule's
    key: str = ""  # stable identity of the deadline (defaults to rule_id + due date)

    @property
    def deadline_key(self) -> str:
        """Identity of the deadline inside its rule (for idempotency keys)."""
        return self.key or f"{self.rule_id}:{self.due.isoformat()}"


ListPending = Callable[[dt.date, dt.date], Awaitable[list[PendingItem]]]


@dataclass(frozen=True)
class ReminderRule:
    """A reminder rule: which deadlines (function), how many days before, to whom, which template."""

    code: str
    label: str
    list_pending: ListPending
    days_before: tuple[int, ...] = DEFAULT_DAYS_BEFORE
    cc_roles: tuple[ContactRole, ...] = ()
    template: str = "digest"
    supersedes: tuple[str, ...] = field(default=())  # calendar event slugs this rule replaces
    look_ahead: int = 0  # days ahead to ask for, when items carry their own days_before
    tracks_state: bool = True  # items disappear once done (a school booked): a past due item is late
    url: str = ""  # where the team follows it (a filtered grid); the home page links there

    @property
    def horizon_days(self) -> int:
        """How far ahead the rule looks."""
        return max((*self.days_before, self.look_ahead), default=0)


_RULES: dict[str, ReminderRule] = {}


def register(rule: ReminderRule) -> ReminderRule:
    """Declare (or re-declare, on re-import) a reminder rule."""
    _RULES[rule.code] = rule
    return rule


def rules() -> list[ReminderRule]:
    """Every registered rule, by code (every module of `models/` imported first: rules are found, not listed)."""
    from models import import_all

    import_all()
    return [_RULES[code] for code in sorted(_RULES)]


def superseded_event_codes() -> set[str]:
    """Calendar event codes that a registered module rule replaces (e.g. booking reminders of the slots)."""
    from models import import_all

    import_all()
    return {code for rule in _RULES.values() for code in rule.supersedes}


@dataclass
class SchoolDigest:
    """Every item due for reminding today for one school, most urgent first, and its recipients."""

    school: School
    items: list[tuple[ReminderRule, PendingItem]]
    recipients: list[str]

    @property
    def urgent_first(self) -> list[PendingItem]:
        """Items sorted by due date, then title."""
        return [item for _, item in sorted(self.items, key=lambda ri: (ri[1].due, ri[1].title))]


@dataclass
class RuleOutlook:
    """What a rule has due soon and late, for the steering page."""

    rule: ReminderRule
    soon: int = 0  # items due within the horizon
    late: int = 0  # items past due and still pending (rules that follow each school's state)
    next_due: dt.date | None = None


async def outlook(today: dt.date, days: int = 14, late_days: int = 120) -> list[RuleOutlook]:
    """Per rule: items due in the next `days` days, and (for rules that follow the schools' state) items past due
    in the last `late_days` days that are still pending."""
    out: list[RuleOutlook] = []
    for rule in rules():
        start = today - dt.timedelta(days=late_days) if rule.tracks_state else today
        seen = RuleOutlook(rule)
        for item in await rule.list_pending(start, today + dt.timedelta(days=days)):
            if item.due < today:
                seen.late += 1
            else:
                seen.soon += 1
                seen.next_due = item.due if seen.next_due is None else min(seen.next_due, item.due)
        if seen.soon or seen.late:
            out.append(seen)
    return out


async def due_items(today: dt.date) -> list[tuple[ReminderRule, PendingItem]]:
    """Items of every rule whose reminder falls today (due - today in its days_before)."""
    found: list[tuple[ReminderRule, PendingItem]] = []
    for rule in rules():
        for item in await rule.list_pending(today, today + dt.timedelta(days=rule.horizon_days)):
            days = item.days_before if item.days_before is not None else rule.days_before
            if (item.due - today).days in days:
                found.append((rule, item))
    return found


async def role_emails(school_ids: list[int], roles: set[ContactRole]) -> dict[tuple[int, ContactRole], list[str]]:
    """E-mails of the contacts holding each role, per school (one query for all schools)."""
    if not school_ids or not roles:
        return {}
    rows = await Contact.filter(school_id__in=school_ids, roles__role__in=list(roles)).values(
        "school_id", "email", "roles__role")
    found: dict[tuple[int, ContactRole], list[str]] = {}
    for row in rows:
        emails = found.setdefault((row["school_id"], ContactRole(row["roles__role"])), [])
        if row["email"] not in emails:
            emails.append(row["email"])
    return found


async def digests_for(today: dt.date) -> list[SchoolDigest]:
    """One digest per school that has something due for reminding today (none for the others)."""
    by_school: dict[int, list[tuple[ReminderRule, PendingItem]]] = {}
    for rule, item in await due_items(today):
        by_school.setdefault(item.school.id, []).append((rule, item))
    roles = {role for items in by_school.values() for rule, item in items for role in (*rule.cc_roles, *item.cc_roles)}
    emails = await role_emails(list(by_school), roles)
    digests: list[SchoolDigest] = []
    for school_id in sorted(by_school, key=lambda sid: by_school[sid][0][1].school.uai):
        items = by_school[school_id]
        school = items[0][1].school
        recipients = [school.generic_email]
        for rule, item in items:
            for role in (*rule.cc_roles, *item.cc_roles):
                for email in emails.get((school_id, role), []):
                    if email not in recipients:
                        recipients.append(email)
        digests.append(SchoolDigest(school=school, items=items, recipients=recipients))
    return digests


async def pending_for_school(school_id: int, today: dt.date, days: int = 120) -> list[tuple[ReminderRule, PendingItem]]:
    """What one school still has to do from today to `days` ahead, from every rule, most urgent first (its page's
    « À faire »: a module's rule lists an item only while it is pending, so nothing done is listed)."""
    horizon = today + dt.timedelta(days=days)
    found: list[tuple[ReminderRule, PendingItem]] = []
    for rule in rules():
        for item in await rule.list_pending(today, horizon):
            if item.school.id == school_id:
                found.append((rule, item))
    found.sort(key=lambda ri: (ri[1].due, ri[1].title))
    return found
