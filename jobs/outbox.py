"""The outbox worker: claims due mails and sends them over a few reused SMTP connections."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field

from emails.smtp import PermanentFailure, SmtpConfig, TemporaryFailure, connect, send
from models.outbox import OutboxMail, claim, mark_failed, mark_retry, mark_sent, release_stale, utcnow
from settings import Settings

log = logging.getLogger("rentree.outbox")

STALE_AFTER = dt.timedelta(minutes=15)  # a claim older than this belongs to a dead worker


@dataclass
class SendReport:
    """What one worker run did."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    released: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One French line."""
        text = f"{self.sent} envoyé(s), {self.retried} en attente de nouvel essai, {self.failed} en échec"
        if self.released:
            text += f", {self.released} envoi(s) interrompu(s) repris"
        if self.errors:
            text += f" — {self.errors[0]}"
        return text


async def send_pending(settings: Settings, *, now: dt.datetime | None = None, connections: int | None = None,
                       batch: int = 200, release_before: dt.datetime | None = None,
                       max_attempts: int | None = None) -> SendReport:
    """Send every due mail of the outbox; SMTP down → mails back to pending with a backoff, nothing lost."""
    now = now or utcnow()
    cfg = SmtpConfig.from_settings(settings)
    workers = max(1, connections or settings.outbox_connections)
    attempts_cap = max_attempts or settings.outbox_max_attempts
    report = SendReport()
    report.released = await release_stale(release_before or (now - STALE_AFTER))
    while True:
        mails = await claim(batch, now)
        if not mails:
            break
        queue: asyncio.Queue[OutboxMail] = asyncio.Queue()
        for mail in mails:
            queue.put_nowait(mail)
        down = await _drain(queue, cfg, workers, attempts_cap, report, now)
        # Mails left when every connection failed: back to pending, with a backoff.
        while not queue.empty():
            mail = queue.get_nowait()
            await mark_retry(mail, down or "Envoi interrompu.", attempts_cap, now)
            report.retried += 1
        if down:
            report.errors.append(down)
            break
    if report.sent or report.failed or report.retried:
        log.info("Outbox : %s", report.summary())
    return report


async def _drain(queue: asyncio.Queue[OutboxMail], cfg: SmtpConfig, workers: int, attempts_cap: int,
                 report: SendReport, now: dt.datetime) -> str:
    """Run the connection workers on a queue; return the last connection error when all of them gave up."""
    errors: list[str] = []

    async def worker() -> None:
        smtp = None
        try:
            while not queue.empty():
                if smtp is None:
                    try:
                        smtp = await connect(cfg)
                    except TemporaryFailure as exc:
                        errors.append(str(exc))
                        return
                try:  # another worker may have taken the last mail while this one connected
                    mail = queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                try:
                    note = await send(smtp, mail, cfg.mail_from)
                except PermanentFailure as exc:
                    await mark_failed(mail, str(exc))
                    report.failed += 1
                except TemporaryFailure as exc:
                    await mark_retry(mail, str(exc), attempts_cap, now)
                    report.retried += 1
                    if not smtp.is_connected:
                        smtp = None
                else:
                    await mark_sent(mail, note)
                    report.sent += 1
        finally:
            if smtp is not None and smtp.is_connected:
                try:
                    await smtp.quit()
                except Exception:  # the server went away: nothing to close politely
                    smtp.close()

    await asyncio.gather(*(worker() for _ in range(min(workers, queue.qsize()) or 1)))
    return errors[-1] if errors and not queue.empty() else ""
