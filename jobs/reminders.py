"""The daily reminder run: digests per school from every registered rule, validated, queued, then sent."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field

from emails.render import BuiltMail, render_digest
from jobs.outbox import SendReport, send_pending
from models.outbox import InvalidRecipient, enqueue_many, existing_keys, validate_recipient
from models.reminders import SchoolDigest, digests_for
from models.schools import School
from settings import Settings

log = logging.getLogger("rentree.reminders")


@dataclass
class PlannedMail:
    """The digest one school would get on a day, with its recipients and whether it is already queued."""

    school: School
    digest: SchoolDigest
    recipients: list[str]
    mail: BuiltMail
    key: str
    item_keys: list[str]
    refused: list[str] = field(default_factory=list)
    already_queued: bool = False


@dataclass
class RunReport:
    """What a reminder run found, queued and sent."""

    day: dt.date
    planned: list[PlannedMail] = field(default_factory=list)
    queued: int = 0
    already: int = 0
    skipped: list[str] = field(default_factory=list)
    build_seconds: float = 0.0
    send: SendReport | None = None

    def summary(self) -> str:
        """One French line."""
        text = (f"Relances du {self.day:%d/%m/%Y} : {len(self.planned)} établissement(s) concerné(s), "
                f"{self.queued} courriel(s) mis en file, {self.already} déjà en file")
        if self.skipped:
            text += f", {len(self.skipped)} refusé(s)"
        if self.send is not None:
            text += f" ; envoi : {self.send.summary()}"
        return text


def digest_key(school: School, day: dt.date) -> str:
    """Idempotency key of a school's digest of a day (one digest per school per day)."""
    return f"digest:{school.uai}:{day.isoformat()}"


async def plan_day(day: dt.date) -> tuple[list[PlannedMail], list[str]]:
    """Build (without queueing) the digest of every school with something due today; refusals apart."""
    import settings as settings_module

    base_url = settings_module.get().base_url  # « Accéder à votre espace » → /acces
    planned: list[PlannedMail] = []
    skipped: list[str] = []
    for digest in await digests_for(day):
        recipients: list[str] = []
        refused: list[str] = []
        for raw in digest.recipients:
            try:
                recipients.append(validate_recipient(raw))
            except InvalidRecipient as exc:
                refused.append(str(exc))
        if not recipients or not recipients[0].startswith("ce."):
            skipped.append(f"{digest.school.uai} : " + ("; ".join(refused) or "adresse générique absente"))
            continue
        planned.append(PlannedMail(
            school=digest.school, digest=digest, recipients=recipients, mail=render_digest(digest, day, base_url),
            key=digest_key(digest.school, day), refused=refused,
            item_keys=[f"{rule.code}:{item.deadline_key}:{digest.school.uai}:{day.isoformat()}"
                       for rule, item in digest.items]))
    present = await existing_keys([p.key for p in planned])
    for p in planned:
        p.already_queued = p.key in present
    return planned, skipped


async def run_reminders(settings: Settings, day: dt.date, *, dry_run: bool = False, send: bool = True,
                        release_before: dt.datetime | None = None) -> RunReport:
    """Run the reminders of a day as the daily job does: build, queue (once per key), then send."""
    started = time.perf_counter()
    planned, skipped = await plan_day(day)
    report = RunReport(day=day, planned=planned, skipped=skipped)
    report.build_seconds = time.perf_counter() - started
    if dry_run:
        report.already = sum(p.already_queued for p in planned)
        return report
    rows = [{"key": p.key, "kind": "digest", "school_uai": p.school.uai, "recipients": ",".join(p.recipients),
             "subject": p.mail.subject, "body_text": p.mail.text, "body_html": p.mail.html,
             "items": json.dumps(p.item_keys)} for p in planned]
    report.queued, report.already = await enqueue_many(rows)
    for line in skipped:
        log.warning("Relance non mise en file : %s", line)
    if send:
        report.send = await send_pending(settings, release_before=release_before)
    log.info(report.summary())
    return report
