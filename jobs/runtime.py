"""What runs beside the web app: the demo SMTP server and the job scheduler (started in the ASGI lifespan)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from emails.demo_box import box_folder, start_server
from jobs.scheduler import JobRunner
from settings import Settings

log = logging.getLogger("rentree.jobs")


@dataclass
class Runtime:
    """The background parts of one app instance."""

    smtp_server: asyncio.Server | None = None
    runner: JobRunner | None = None

    async def stop(self) -> None:
        """Stop the scheduler (giving its lock up), then the demo SMTP server."""
        if self.runner is not None:
            await self.runner.stop()
            self.runner = None
        if self.smtp_server is not None:
            self.smtp_server.close()
            await self.smtp_server.wait_closed()
            self.smtp_server = None


current: Runtime | None = None  # this process's background parts, once started


async def send_outbox_now(settings: Settings) -> object | None:
    """Send the outbox now, by this process's scheduler when it holds the job lock, else by taking the lock for
    the run (as the CLI does); None when another instance holds it (that instance sends at its next run)."""
    from jobs.lease import JobLock
    from jobs.outbox import send_pending

    if current is not None and current.runner is not None:
        return await current.runner.outbox_job()
    lock = JobLock(settings.db_url)
    if not await lock.hold():
        return None
    try:
        return await send_pending(settings)
    finally:
        await lock.release()


async def start(settings: Settings) -> Runtime:
    """Start the demo mail box (demo only) and the scheduler (when enabled); after the database opened."""
    global current
    runtime = Runtime()
    current = runtime
    if settings.is_demo and settings.demo_smtp_server and settings.smtp_host in {"127.0.0.1", "localhost"}:
        runtime.smtp_server = await start_server(box_folder(settings.data_dir), settings.smtp_port)
    if settings.scheduler_enabled:
        runtime.runner = JobRunner(settings)
        await runtime.runner.start()
        log.info("Planificateur démarré : relances chaque jour à %s, file d'envoi toutes les %s s.",
                 settings.reminders_at, settings.outbox_interval)
    return runtime
