"""The tickets' SLA watch at scale: 5,000 open tickets (target: a run ≤ 1 s).

Seeds the demo schools, the contract's categories and N running tickets whose deadlines spread from just past to
a few working days ahead (with the states a previous run left), then times `jobs.tickets.sla_watch` as the scheduler
runs it, on a Tuesday at 10:00:
- a run with nothing to change (the steady state);
- runs 5, 15, 30 and 60 minutes later: the tickets that crossed a threshold meanwhile are marked (engine, audit,
  timeline, breach mails);
- the worst case: every state put back to « dans les délais », one run marks them all again.
Run: python bench/bench_tickets.py [--tickets 5000] [--database-url postgres://…]
(open_key is left empty in the bench data: 5,000 open tickets exceed one per school and category of the demo.)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jobs.tickets import sla_watch  # noqa: E402
from models import db  # noqa: E402
from models.outbox import OutboxMail  # noqa: E402
from models.schools import School  # noqa: E402
from models.tickets import (  # noqa: E402
    RISK_SHARE,
    Channel,
    Handling,
    SlaState,
    Ticket,
    TicketCategory,
    TicketEvent,
    TicketStatus,
)
from models.workdays import add_working_minutes  # noqa: E402
from seed.demo import seed_demo  # noqa: E402
from seed.tickets import seed_reference  # noqa: E402

PARIS = ZoneInfo("Europe/Paris")


async def seed(count: int, now: dt.datetime) -> float:
    """N running tickets (new, taken, in intervention) whose deadlines spread from just past to a few working days
    ahead, with the SLA state a previous run of the watch left; seconds spent."""
    started = time.perf_counter()
    await seed_demo()
    await seed_reference()
    schools = list(await School.all().values_list("id", flat=True))
    categories = [c for c in await TicketCategory.all().prefetch_related("contractor") if c.contractor is not None]
    rng = random.Random(14)
    tickets = []
    for n in range(count):
        category = rng.choice(categories)
        # As in the demo's year: few calls wait to be taken, most tickets are worked on site.
        status = rng.choices((TicketStatus.NEW, TicketStatus.TAKEN, TicketStatus.INTERVENTION), (1, 4, 5))[0]
        handling = None if status == TicketStatus.NEW else rng.choices((Handling.REMOTE, Handling.ONSITE), (1, 4))[0]
        budget = 120 if status == TicketStatus.NEW else 60 if handling == Handling.REMOTE else rng.choice(
            (600, 1200, 1800, 3000))
        left = rng.uniform(-0.05, 1.0) * budget  # working minutes left before the deadline
        due = add_working_minutes(now, left, tz=PARIS) if left > 0 else now + dt.timedelta(minutes=left)
        risk_left = left - RISK_SHARE * budget
        risk = add_working_minutes(now, risk_left, tz=PARIS) if risk_left > 0 else now + dt.timedelta(
            minutes=risk_left)
        state = SlaState.BREACHED if due < now else SlaState.AT_RISK if risk <= now else SlaState.OK
        opened = now - dt.timedelta(days=2)
        tickets.append(Ticket(number=f"B{n:07d}", school_id=rng.choice(schools), category_id=category.id,
                              summary="Panne", channel=Channel.EMAIL, opened_at=opened, status=status,
                              handling=handling, contractor_id=category.contractor.id, profile=category.profile,
                              taken_at=None if status == TicketStatus.NEW else opened, due_at=due, risk_at=risk,
                              sla_state=state))
    await Ticket.bulk_create(tickets, batch_size=1000)
    await db.analyze()
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    url = args.database_url or f"sqlite://{Path(tempfile.mkdtemp(prefix='bench-tickets-')) / 'bench.sqlite3'}"
    await db.init(url)
    try:
        now = dt.datetime(2025, 3, 11, 10, 0, tzinfo=PARIS)  # a Tuesday morning: the working clock runs
        print(f"Base : {url.split('@')[-1]}")
        print(f"Données : {args.tickets:,} tickets en cours créés en {await seed(args.tickets, now):.1f} s")

        async def run(label: str, moment: dt.datetime) -> None:
            report = await sla_watch(moment)
            print(f"Veille, {label:<40}: {report.seconds * 1000:7.1f} ms — {report.checked:,} en cours, "
                  f"{report.at_risk:,} à risque, {report.breached:,} dépassés, {report.mails:,} courriels")

        await run("rien à changer", now)
        for minutes in (5, 15, 30, 60):
            await run(f"{minutes} min plus tard", now + dt.timedelta(minutes=minutes))
        marked = await Ticket.filter(sla_state__in=[SlaState.AT_RISK, SlaState.BREACHED]).update(sla_state=SlaState.OK)
        await run(f"tout à marquer d'un coup ({marked:,} tickets)", now + dt.timedelta(minutes=60))
        print(f"Lignes d'historique : {await TicketEvent.all().count():,} ; courriels en file : "
              f"{await OutboxMail.all().count():,}")
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
