"""Job lease: which app instance runs the scheduled jobs (a lease row, used on SQLite), and job run dates."""

from __future__ import annotations

import datetime as dt

from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.models import Model


class JobLease(Model):
    """The instance holding the right to run jobs until a time (renewed while it lives)."""

    name = fields.CharField(max_length=60, primary_key=True)
    holder = fields.CharField(max_length=80)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "job_lease"


class JobState(Model):
    """When a scheduled job last ran (to run a missed daily job once after downtime)."""

    name = fields.CharField(max_length=60, primary_key=True)
    last_run_on = fields.DateField(null=True)
    last_run_at = fields.DatetimeField(null=True)
    last_result = fields.TextField(default="")

    class Meta:
        table = "job_state"


async def acquire_lease_row(name: str, holder: str, ttl: dt.timedelta, now: dt.datetime) -> bool:
    """Take or renew the lease row: True when `holder` holds it until now + ttl."""
    expires = now + ttl
    renewed = await JobLease.filter(name=name, holder=holder).update(expires_at=expires)
    if renewed:
        return True
    taken = await JobLease.filter(name=name, expires_at__lt=now).update(holder=holder, expires_at=expires)
    if taken:
        return True
    if await JobLease.exists(name=name):
        return False
    try:
        await JobLease.create(name=name, holder=holder, expires_at=expires)
    except IntegrityError:  # another instance created it first
        return bool(await JobLease.filter(name=name, holder=holder).count())
    return True


async def lease_holder(name: str) -> str | None:
    """Who holds the lease row now (expired or not), if anyone."""
    row = await JobLease.get_or_none(name=name)
    return row.holder if row else None


async def take_over_lease_row(name: str, old_holder: str, holder: str, ttl: dt.timedelta, now: dt.datetime) -> bool:
    """Take the lease from a holder known to be dead (conditional on it still being the holder)."""
    return bool(await JobLease.filter(name=name, holder=old_holder).update(holder=holder, expires_at=now + ttl))


async def release_lease_row(name: str, holder: str) -> None:
    """Give the lease up (on shutdown) so another instance takes over at once."""
    await JobLease.filter(name=name, holder=holder).delete()


async def record_run(name: str, day: dt.date, now: dt.datetime, result: str = "") -> None:
    """Remember that a job ran for a day."""
    state, _ = await JobState.get_or_create(name=name)
    state.last_run_on, state.last_run_at, state.last_result = day, now, result
    await state.save()


async def last_run(name: str) -> JobState | None:
    """The last run of a job, if any."""
    return await JobState.get_or_none(name=name)
