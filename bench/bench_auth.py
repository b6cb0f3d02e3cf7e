"""Benchmark of the costs the login guard and the account rules add.

Usage: python bench/bench_auth.py [--n 200]

Prints: Argon2id hash and verify (the login's main cost, by design), the password policy check, a TOTP
check (window of one step), and the per-request database work of the guard on SQLite: loading the
session's user, resolving a bearer token, and the lockout query of a login.
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


def timed(label: str, n: int, work: Callable[[], object], unit: str = "ms") -> None:
    """Run a function n times and print the median and p95."""
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    scale = 1000 if unit == "ms" else 1_000_000
    samples.sort()
    print(f"{label:<46} median {statistics.median(samples) * scale:8.2f} {unit}   "
          f"p95 {samples[int(len(samples) * 0.95) - 1] * scale:8.2f} {unit}")


async def timed_async(label: str, n: int, work: Callable[[], object]) -> None:
    """Same as timed() for coroutines."""
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await work()  # type: ignore[misc]
        samples.append(time.perf_counter() - start)
    samples.sort()
    print(f"{label:<46} median {statistics.median(samples) * 1000:8.2f} ms   "
          f"p95 {samples[int(len(samples) * 0.95) - 1] * 1000:8.2f} ms")


async def database_part(n: int) -> None:
    """Guard work per request on an SQLite file with 1,000 journal entries per account."""
    from models import db
    from models.accounts import (
        EventKind,
        SecurityEvent,
        active_user,
        create_token,
        create_user,
        lock_state,
        user_for_token,
    )

    with tempfile.TemporaryDirectory() as tmp:
        await db.init(f"sqlite://{Path(tmp) / 'bench.sqlite3'}")
        try:
            users = [(await create_user(f"u{i}@bench.fr", f"U {i}", "agent", password="x" * 12))[0] for i in range(30)]
            await SecurityEvent.bulk_create([SecurityEvent(kind=EventKind.LOGIN_FAILED, email=f"u{i % 30}@bench.fr",
                                                           ip="10.0.0.1") for i in range(30_000)], batch_size=5000)
            _t, secret = await create_token(users[0], "bench")
            await timed_async("session user (active_user)", n, lambda: active_user(users[7].id))
            await timed_async("bearer token (user_for_token)", n, lambda: user_for_token(secret))
            await timed_async("lockout query, 30k journal rows (lock_state)", n, lambda: lock_state("u7@bench.fr"))
        finally:
            await db.close()


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="repetitions of each measure")
    args = parser.parse_args()
    import pyotp

    from models.accounts import _matching_step, check_password, hash_password, password_problem

    stored = hash_password("Trois souris vertes dansent")
    timed("argon2id hash (argon2-cffi defaults)", max(10, args.n // 10), lambda: hash_password("Trois souris vertes"))
    timed("argon2id verify", max(10, args.n // 10), lambda: check_password(stored, "Trois souris vertes dansent"))
    timed("password policy check", args.n, lambda: password_problem("Trois souris vertes dansent", "a.b@x.fr"), "µs")
    secret = pyotp.random_base32(32)
    code = pyotp.TOTP(secret).now()
    timed("TOTP check, window of one step", args.n, lambda: _matching_step(secret, code), "µs")
    asyncio.run(database_part(args.n))


if __name__ == "__main__":
    main()
