"""Benchmark of a reminder run: 470 schools × every rule, built, queued and sent to a local aiosmtpd server.

Usage: python bench/bench_reminders.py [--date 2024-09-10] [--connections 10] [--postgres URL]

The database is a fresh SQLite file (or the PostgreSQL URL given) with the demo schools and the livret
calendar. On 10/09/2024 every school has something due (R-BASKET-6 returns and order closing, 7 days
before): one digest per school. Printed: time to build the digests, to queue them, to send them, and
the total (target < 10 s). A second run the same day must queue and send nothing (printed too).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class CountingHandler:
    """aiosmtpd handler that only counts what it accepts."""

    def __init__(self) -> None:
        self.count = 0
        self.bytes = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        """Count the message."""
        self.count += 1
        self.bytes += len(envelope.content or b"")  # type: ignore[attr-defined]
        return "250 OK"


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main(day: str, connections: int, pg_url: str) -> None:
    """Seed, run twice, print the figures."""
    import datetime as dt

    from aiosmtpd.controller import Controller

    import settings as settings_module
    from jobs.outbox import send_pending
    from jobs.reminders import plan_day, run_reminders
    from models import db
    from models.outbox import enqueue_many
    from seed.calendar import seed_calendar
    from seed.demo import seed_demo

    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-reminders-"))
    url = pg_url or f"sqlite://{tmp / 'bench.sqlite3'}"
    settings = dataclasses.replace(settings_module.load({}, dotenv=Path("/nonexistent")), data_dir=tmp,
                                   database_url=url, smtp_port=port, outbox_connections=connections)
    await db.init(url)
    try:
        await seed_demo()
        await seed_calendar()
        await db.analyze()
        when = dt.date.fromisoformat(day)
        started = time.perf_counter()
        planned, _ = await plan_day(when)
        built = time.perf_counter()
        import json

        rows = [{"key": p.key, "kind": "digest", "school_uai": p.school.uai, "recipients": ",".join(p.recipients),
                 "subject": p.mail.subject, "body_text": p.mail.text, "body_html": p.mail.html,
                 "items": json.dumps(p.item_keys)} for p in planned]
        queued, _ = await enqueue_many(rows)
        queued_at = time.perf_counter()
        report = await send_pending(settings)
        sent_at = time.perf_counter()
        items = sum(len(p.digest.items) for p in planned)
        backend = "PostgreSQL" if pg_url else "SQLite"
        print(f"Reminder run of {when:%d/%m/%Y} on {backend}: {len(planned)} schools, {items} pending items, "
              f"{queued} digests queued")
        print(f"  build digests : {built - started:6.2f} s")
        print(f"  queue         : {queued_at - built:6.2f} s")
        print(f"  send ({connections:>2} conn): {sent_at - queued_at:6.2f} s  "
              f"({report.sent / max(sent_at - queued_at, 1e-9):.0f} mails/s, {handler.count} received, "
              f"{handler.bytes / max(handler.count, 1) / 1024:.1f} KiB each)")
        print(f"  total         : {sent_at - started:6.2f} s  (target < 10 s)")
        again_start = time.perf_counter()
        again = await run_reminders(settings, when)
        print(f"  second run same day: {again.queued} queued, {again.send.sent if again.send else 0} sent, "
              f"{time.perf_counter() - again_start:.2f} s; server received {handler.count} in all")
    finally:
        await db.close()
        controller.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", default="2024-09-10")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL of an EMPTY database to use instead")
    args = parser.parse_args()
    asyncio.run(main(args.date, args.connections, args.postgres))
