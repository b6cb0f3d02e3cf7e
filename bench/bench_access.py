"""Benchmark of what school access costs: a link asked, a link used, and the per-request work of a school session.

Usage: python bench/bench_access.py [--n 200] [--devices 50000]

On an SQLite file with the demo's 470 schools and their contacts (and `--devices` devices): asking a link for a
known address (journal, rate limits, scope, hashed token), opening a session with it, the guard's work per request
of a school session (the session row, then the scope and grants computed again from the contacts, their roles and
the calendar's R-ORG-1 period), for a person in one school and in two; and a block of 100 devices read as the
school's person (the scope is a filter on the school) next to the same block for the Région's team.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def timed(label: str, n: int, work: Callable[[], object]) -> None:
    """Run a coroutine function n times and print the median and p95."""
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await work()  # type: ignore[misc]
        samples.append(time.perf_counter() - start)
    samples.sort()
    print(f"{label:<58} median {statistics.median(samples) * 1000:8.2f} ms   "
          f"p95 {samples[int(len(samples) * 0.95) - 1] * 1000:8.2f} ms")


async def run(n: int, devices: int) -> None:
    """The measures, on a throwaway demo database."""
    import models.access as access
    from models import db
    from models.access import live_session, open_session, request_link
    from models.fleet import Device
    from models.schools import Contact, ContactRole, ContactRoleAssignment, School
    from seed import seed_everything
    from seed.calendar import seed_calendar
    from sheets.engine.caller import Caller
    from sheets.engine.query import BlockRequest, fetch_block
    from sheets.fleet import DEVICES

    access.LINKS_PER_EMAIL = access.REQUESTS_PER_ADDRESS = 10**9  # measure the work, not the limits
    with tempfile.TemporaryDirectory() as tmp:
        await db.init(f"sqlite://{Path(tmp) / 'bench.sqlite3'}")
        try:
            started = time.perf_counter()
            await seed_everything(devices=devices)
            await seed_calendar()
            await db.analyze()
            print(f"demo data: {await School.all().count()} schools, {await Contact.all().count()} contacts, "
                  f"{await Device.all().count()} devices ({time.perf_counter() - started:.1f} s)")
            head = await Contact.filter(roles__role=ContactRole.CHEF).order_by("id").first()
            assert head is not None
            school = await School.get(id=head.school_id)
            other = await School.exclude(id=school.id).order_by("uai").first()
            assert other is not None
            twin = await Contact.create(school=other, full_name=head.full_name, email=head.email)  # R-ORG-1
            await ContactRoleAssignment.create(contact=twin, role=ContactRole.CHEF)
            one = await Contact.filter(roles__role=ContactRole.COORDONNATEUR).exclude(email=head.email).first()
            assert one is not None
            await timed("ask a link, known address (request_link)", n, lambda: request_link(one.email, "10.0.0.1"))
            await timed("ask a link, unknown address", n, lambda: request_link("personne@ac-paris.fr", "10.0.0.2"))
            secrets = [(await request_link(one.email, "10.0.0.3")).secret for _ in range(n)]  # type: ignore[union-attr]
            it = iter(secrets)
            opened = []

            async def use() -> None:
                opened.append(await open_session(next(it), "10.0.0.3"))

            await timed("use a link (open_session)", n, use)
            session = opened[0]
            assert session is not None
            await timed("per request: a school session, one school", n,
                        lambda: live_session(session.session.session_id, session.key))
            link = await request_link(head.email, "10.0.0.4")
            assert link is not None
            two = await open_session(link.secret, "10.0.0.4")
            assert two is not None
            await timed("per request: a school session, two schools (R-ORG-1)", n,
                        lambda: live_session(two.session.session_id, two.key))
            access_now = session.session.access
            person = Caller.school(access_now.email, access_now.scope, access_now.grants)
            team = Caller("agent@bench", "agent")
            block = BlockRequest(0, 100, [{"colId": "serial", "sort": "asc"}])
            await timed("100 devices, the school's person (scoped)", n, lambda: fetch_block(DEVICES, block, person))
            await timed("100 devices, the Région's team (all schools)", n, lambda: fetch_block(DEVICES, block, team))
        finally:
            await db.close()


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="repetitions of each measure")
    parser.add_argument("--devices", type=int, default=50_000, help="devices of the demo fleet")
    args = parser.parse_args()
    asyncio.run(run(args.n, args.devices))


if __name__ == "__main__":
    main()
