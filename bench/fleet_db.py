"""What several benchmarks share: a database with the demo schools and a fleet of n devices (seeded once)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models import db  # noqa: E402
from seed.demo import seed_demo  # noqa: E402
from seed.fleet import seed_fleet  # noqa: E402


def fleet_arguments(doc: str | None, runs: int) -> argparse.Namespace:
    """--devices, --runs, --database-url (a temporary SQLite file when not given)."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--devices", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--database-url", default="")
    return parser.parse_args()


async def open_fleet(args: argparse.Namespace, prefix: str) -> None:
    """Open the database, seed the demo then the fleet when absent (printing how long it took), ANALYZE."""
    url = args.database_url or f"sqlite://{tempfile.mkdtemp(prefix=prefix)}/bench.sqlite3"
    await db.init(url)
    await seed_demo()
    t0 = time.perf_counter()
    created = await seed_fleet(args.devices)
    if created["devices"]:
        print(f"seed: {created['devices']:,} devices + {created['holders']:,} holders in "
              f"{time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        await db.analyze()
        print(f"ANALYZE: {time.perf_counter() - t0:.1f} s")
