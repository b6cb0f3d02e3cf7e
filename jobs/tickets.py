"""The SLA watch of the maintenance tickets: marks « à risque » and « dépassé » through the engine, writes the
mark in each ticket's timeline and mails the contractor's desk once per breach (R-TICKET-1, R-TICKET-7)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

import settings as settings_module
from models.outbox import enqueue_many
from models.tickets import RUNNING_STATUSES, SlaState, Ticket, TicketStatus, code_of
from sheets.engine.caller import Caller
from sheets.engine.writes import create_rows, set_values, unit_of_work
from sheets.tickets import BREACH_FIELDS, EVENTS, TICKETS, breach_mail_row, breach_text

log = logging.getLogger("rentree.tickets")

JOB_NAME = "sla_watch"
_FIELDS = BREACH_FIELDS


@dataclass
class WatchReport:
    """What one run of the watch found and did."""

    checked: int = 0
    at_risk: int = 0
    breached: int = 0
    late_openings: int = 0
    mails: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        """One French line."""
        return (f"Veille des délais : {self.checked} ticket(s) en cours, {self.at_risk} passé(s) « à risque », "
                f"{self.breached} « dépassé » dont {self.late_openings} ouverture(s) tardive(s), "
                f"{self.mails} courriel(s) au prestataire ({self.seconds:.2f} s)")


async def sla_watch(now: dt.datetime | None = None) -> WatchReport:
    """One run: every running ticket past its risk time or its deadline is marked, with its event and mail."""
    started = time.perf_counter()
    now = now or settings_module.now()
    tz = settings_module.tz()
    running = [s.value for s in RUNNING_STATUSES]
    report = WatchReport(checked=await Ticket.filter(status__in=running).count())
    breached = await Ticket.filter(status__in=running, due_at__lt=now).exclude(
        sla_state=SlaState.BREACHED).order_by("id").values(*_FIELDS)
    at_risk = await Ticket.filter(status__in=running, sla_state=SlaState.OK, risk_at__lte=now,
                                  due_at__gte=now).order_by("id").values(*_FIELDS)
    if not breached and not at_risk:
        report.seconds = time.perf_counter() - started
        return report
    caller = Caller.job(JOB_NAME)
    opening = [r for r in breached if code_of(r["status"]) == TicketStatus.NEW]
    resolution = [r for r in breached if code_of(r["status"]) != TicketStatus.NEW]
    events: list[dict[str, object]] = []
    mails: list[dict[str, object]] = []
    for rows, phase in ((opening, "opening"), (resolution, "resolution")):
        for r in rows:
            events.append({"ticket": r["number"], "school": r["school__uai"], "at": now, "author": caller.actor,
                           "kind": "delai", "text": breach_text(phase, r["due_at"], tz)})
            mail = breach_mail_row(r, phase)
            if mail is not None:
                mails.append(mail)
    for r in at_risk:
        events.append({"ticket": r["number"], "school": r["school__uai"], "at": now, "author": caller.actor,
                       "kind": "delai", "text": f"À risque : échéance le {r['due_at'].astimezone(tz):%d/%m/%Y %H:%M}"})
    async with unit_of_work():  # marks, timeline and mails in one transaction: all or nothing
        if opening:
            await set_values(TICKETS, [r["id"] for r in opening],
                             {"sla_state": SlaState.BREACHED.value, "late_opening": True}, caller)
        if resolution:
            await set_values(TICKETS, [r["id"] for r in resolution], {"sla_state": SlaState.BREACHED.value}, caller)
        if at_risk:
            await set_values(TICKETS, [r["id"] for r in at_risk], {"sla_state": SlaState.AT_RISK.value}, caller)
        for start in range(0, len(events), 1000):
            await create_rows(EVENTS, events[start:start + 1000], caller, parsed=False)
        created, _kept = await enqueue_many(mails) if mails else (0, 0)
    report.at_risk, report.breached, report.late_openings, report.mails = (len(at_risk), len(breached), len(opening),
                                                                             created)
    report.seconds = time.perf_counter() - started
    log.info(report.summary())
    return report
