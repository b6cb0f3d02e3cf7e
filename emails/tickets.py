"""The mails of a maintenance ticket (R-TICKET-4 and the SLA watch), built from templates, apart from sending."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from emails.render import _ENV, BuiltMail, fr_long_date

PARIS = ZoneInfo("Europe/Paris")


def fr_moment(value: dt.datetime | None, tz: dt.tzinfo = PARIS) -> str:
    """« mardi 15 juillet 2025 à 09:30 » (empty when None)."""
    if value is None:
        return ""
    local = value.astimezone(tz)
    return f"{fr_long_date(local.date())} à {local:%H:%M}"


@dataclass
class TicketMail:
    """What a ticket mail tells: the school, the ticket, the step and, for a redirection, the desk to call."""

    number: str
    school_name: str
    school_uai: str
    summary: str
    category: str
    status: str
    step: str
    note: str = ""
    handling: str = ""
    contractor: str = ""
    due_at: dt.datetime | None = None
    paused: bool = False
    desk: dict[str, str] = field(default_factory=dict)
    app_url: str = ""


def _context(mail: TicketMail) -> dict[str, object]:
    return {"t": mail, "due": fr_moment(mail.due_at)}


def render_ticket_step(mail: TicketMail) -> BuiltMail:
    """The mail to the school (ce.UAI and the reporter) at one step of a ticket."""
    subject = f"Ticket {mail.number} : {mail.step} – {mail.school_name} ({mail.school_uai})"
    return BuiltMail(subject=subject[:300], text=_ENV.get_template("ticket_step.txt").render(_context(mail)),
                     html=_ENV.get_template("ticket_step.html").render(_context(mail)))


def render_ticket_breach(mail: TicketMail, phase: str) -> BuiltMail:
    """The mail to the contractor's desk when a ticket's deadline is missed (once per breach)."""
    what = "délai d'ouverture" if phase == "opening" else "délai de résolution"
    subject = f"[Délai dépassé] Ticket {mail.number} – {what} – {mail.school_name} ({mail.school_uai})"
    context = {**_context(mail), "what": what}
    return BuiltMail(subject=subject[:300], text=_ENV.get_template("ticket_breach.txt").render(context), html="")
