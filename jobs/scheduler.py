"""APScheduler wiring: the daily reminder run, the outbox worker and the tickets' SLA watch, run only by the lock
holder."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from jobs.lease import JobLock
from jobs.outbox import SendReport, send_pending
from jobs.reminders import RunReport, run_reminders
from jobs.tickets import WatchReport, sla_watch
from models.joblease import last_run, record_run
from models.outbox import utcnow
from settings import Settings

log = logging.getLogger("rentree.jobs")

DAILY_JOB = "daily_reminders"
OUTBOX_JOB = "outbox_worker"
CATCH_UP_JOB = "daily_reminders_catch_up"
SLA_JOB = "tickets_sla_watch"
MISFIRE_GRACE = 6 * 3600


class JobRunner:
    """The scheduler of one app instance and the lock that decides whether it runs the jobs."""

    def __init__(self, settings: Settings, holder: str | None = None) -> None:
        self.settings = settings
        self.tz = ZoneInfo(settings.timezone)
        self.lock = JobLock(settings.db_url, holder)
        self.scheduler = AsyncIOScheduler(timezone=self.tz)
        self._released_stale = False
        self._sending = asyncio.Lock()  # one outbox run at a time in an instance (the daily run also sends)

    def today(self) -> dt.date:
        """Today in the app's time zone."""
        return dt.datetime.now(self.tz).date()

    async def start(self) -> None:
        """Start the scheduler; add each job only if missing; run a missed daily run once."""
        hour, minute = (int(x) for x in self.settings.reminders_at.split(":"))
        self.scheduler.start()
        if self.scheduler.get_job(DAILY_JOB) is None:
            self.scheduler.add_job(self.daily_job, CronTrigger(hour=hour, minute=minute, timezone=self.tz),
                                   id=DAILY_JOB, coalesce=True, misfire_grace_time=MISFIRE_GRACE, max_instances=1)
        if self.scheduler.get_job(OUTBOX_JOB) is None:
            self.scheduler.add_job(self.outbox_job, IntervalTrigger(seconds=self.settings.outbox_interval),
                                   id=OUTBOX_JOB, coalesce=True, misfire_grace_time=60, max_instances=1,
                                   next_run_time=dt.datetime.now(self.tz))
        if self.scheduler.get_job(SLA_JOB) is None:
            self.scheduler.add_job(self.sla_job, IntervalTrigger(seconds=self.settings.sla_watch_interval),
                                   id=SLA_JOB, coalesce=True, misfire_grace_time=300, max_instances=1,
                                   next_run_time=dt.datetime.now(self.tz))
        now = dt.datetime.now(self.tz)
        state = await last_run(DAILY_JOB)
        due_today = (now.hour, now.minute) >= (hour, minute)
        if due_today and (state is None or state.last_run_on is None or state.last_run_on < now.date()):
            if self.scheduler.get_job(CATCH_UP_JOB) is None:
                log.info("Relances du jour manquées (arrêt) : exécutées une fois maintenant.")
                self.scheduler.add_job(self.daily_job, id=CATCH_UP_JOB, next_run_time=now,
                                       misfire_grace_time=MISFIRE_GRACE)

    async def stop(self) -> None:
        """Stop the scheduler and give the lock up."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.lock.release()

    async def daily_job(self) -> RunReport | None:
        """The daily reminder run for today, once per day, by the lock holder only."""
        if not await self._hold():
            return None
        day = self.today()
        state = await last_run(DAILY_JOB)
        if state is not None and state.last_run_on == day:
            return None
        report = await run_reminders(self.settings, day, send=False)
        await record_run(DAILY_JOB, day, utcnow(), report.summary())
        await self.outbox_job()
        return report

    async def outbox_job(self) -> SendReport | None:
        """Send what is due in the outbox, by the lock holder only."""
        async with self._sending:
            if not await self._hold():
                return None
            release_before = None
            if not self._released_stale:
                # First run as holder: any mail still `sending` was claimed by an instance that is gone.
                release_before = utcnow()
                self._released_stale = True
            return await send_pending(self.settings, release_before=release_before)

    async def sla_job(self) -> WatchReport | None:
        """The tickets' SLA watch, by the lock holder only; its breach mails leave at once."""
        if not await self._hold():
            return None
        report = await sla_watch()
        if report.mails:
            await self.outbox_job()
        return report

    async def _hold(self) -> bool:
        held = await self.lock.hold()
        if not held:
            self._released_stale = False
        return held
