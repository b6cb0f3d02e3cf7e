"""The outbox under failure: a process killed mid-send, two schedulers on one database."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import settings as settings_module
from jobs.scheduler import DAILY_JOB, JobRunner
from models.campaign import Audience, CampaignEvent
from models.joblease import JobLease, last_run
from models.outbox import MailStatus, OutboxMail
from tests.conftest import ROOT
from tests.factories import make_school
from tests.smtp import RecordingHandler, SmtpServer, smtp_server


async def _prepare(db_url: str, schools: int) -> None:
    from models import db as database
    from seed.calendar import seed_calendar

    await database.init(db_url)
    try:
        await seed_calendar()
        for _ in range(schools):
            await make_school(departement="94")
    finally:
        await database.close()


def _remind(env: dict[str, str]) -> subprocess.Popen[str]:
    full_env = {**os.environ, **env}
    full_env.pop("PYTEST_CURRENT_TEST", None)
    return subprocess.Popen([sys.executable, str(ROOT / "app.py"), "remind", "--date", "2024-06-21"], cwd=ROOT,
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _outbox_states(db_file: Path) -> dict[str, int]:
    with sqlite3.connect(db_file) as con:
        return dict(con.execute("SELECT status, count(*) FROM outbox_mail GROUP BY status").fetchall())


def test_process_killed_mid_send_then_restarted_sends_each_mail_once(isolated_settings: Path) -> None:
    db_file = isolated_settings / "test.sqlite3"
    asyncio.run(_prepare(f"sqlite://{db_file}", 30))
    handler = RecordingHandler(delay=0.3)  # slow server: the kill lands while a mail is in flight
    with smtp_server(handler) as server:
        env = {"SMTP_PORT": str(server.port), "OUTBOX_CONNECTIONS": "1"}
        first = _remind(env)
        handler.wait_for(8, entered=True)  # the 8th mail is transmitted, the server has not accepted it yet
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert first.returncode == -signal.SIGKILL
        states = _outbox_states(db_file)
        assert states == {"sent": 7, "sending": 23} or states == {"sent": 7, "sending": 1, "pending": 22}, states
        second = _remind(env)
        output, _ = second.communicate(timeout=120)
        assert second.returncode == 0, output
        assert "0 courriel(s) mis en file, 30 déjà en file" in output  # nothing queued twice
        assert "envoi(s) interrompu(s) repris" in output
        keys = handler.keys()
        assert len(keys) == 30 and set(keys.values()) == {1}, keys  # each mail received once
        assert _outbox_states(db_file) == {"sent": 30}


def test_killed_right_after_the_server_accepted_resends_at_most_once_with_the_same_message_id(
        isolated_settings: Path) -> None:
    # The documented window (at-least-once): server said 250, the process died before recording `sent`.
    db_file = isolated_settings / "test.sqlite3"
    asyncio.run(_prepare(f"sqlite://{db_file}", 10))
    handler = RecordingHandler(delay=0.05)
    with smtp_server(handler) as server:
        env = {"SMTP_PORT": str(server.port), "OUTBOX_CONNECTIONS": "1"}
        first = _remind(env)
        handler.wait_for(4)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        second = _remind(env)
        output, _ = second.communicate(timeout=120)
        assert second.returncode == 0, output
    keys = handler.keys()
    assert len(keys) == 10 and sum(keys.values()) - 10 <= 1, keys  # one connection: at most one duplicate
    for key in [k for k, n in keys.items() if n > 1]:
        ids = {m.message["Message-ID"] for m in handler.messages if m.key == key}
        assert len(ids) == 1  # the receiver can drop the duplicate by its Message-ID
    assert _outbox_states(db_file) == {"sent": 10}


async def test_two_schedulers_on_one_database_send_each_mail_once(db: str, smtp: SmtpServer) -> None:
    base = settings_module.load()
    settings = dataclasses.replace(base, database_url=db, outbox_interval=1, reminders_at="00:00",
                                   scheduler_enabled=True)
    today = dt.datetime.now(ZoneInfo(settings.timezone)).date()
    await CampaignEvent.create(year=today.year, slug="test-event", rule_id="R-SLOT-1", title="Échéance d'essai",
                               action="Faire l'essai.", due_on=today + dt.timedelta(days=7), remind_days="7",
                               audience=Audience.ALL)
    schools = [await make_school(departement="91") for _ in range(12)]
    first, second = JobRunner(settings, holder="instance-a"), JobRunner(settings, holder="instance-b")
    await first.start()
    await second.start()
    try:
        for _ in range(300):
            if len(smtp.handler.messages) >= len(schools):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(2.5)  # several more worker runs of both instances
    finally:
        await first.stop()
        await second.stop()
    keys = smtp.handler.keys()
    assert len(keys) == len(schools) and set(keys.values()) == {1}
    assert {m.envelope_to[0] for m in smtp.handler.messages} == {s.generic_email for s in schools}
    assert await OutboxMail.filter(status=MailStatus.SENT).count() == len(schools)
    assert first.lock.held != second.lock.held or not (first.lock.held or second.lock.held)
    state = await last_run(DAILY_JOB)
    assert state is not None and state.last_run_on == today  # the missed run of today ran once at start
    if db.startswith("sqlite://"):
        assert not await JobLease.exists()  # released on stop


async def test_missed_daily_run_runs_once_after_downtime_and_not_again_on_restart(sqlite_db: str,
                                                                                   smtp: SmtpServer) -> None:
    from jobs.scheduler import CATCH_UP_JOB, OUTBOX_JOB
    from models.joblease import record_run

    settings = dataclasses.replace(settings_module.load(), database_url=sqlite_db, reminders_at="00:00",
                                   outbox_interval=3600)
    tz = ZoneInfo(settings.timezone)
    today = dt.datetime.now(tz).date()
    await record_run(DAILY_JOB, today - dt.timedelta(days=3), dt.datetime.now(dt.UTC))  # down for 3 days
    runner = JobRunner(settings, holder="instance-a")
    await runner.start()
    try:
        assert runner.scheduler.get_job(CATCH_UP_JOB) is not None
        assert runner.scheduler.get_job(DAILY_JOB).trigger.fields  # the cron job is there too, once
        assert len([j for j in runner.scheduler.get_jobs() if j.id == OUTBOX_JOB]) == 1
        for _ in range(100):
            state = await last_run(DAILY_JOB)
            if state and state.last_run_on == today:
                break
            await asyncio.sleep(0.05)
        assert state is not None and state.last_run_on == today
    finally:
        await runner.stop()
    restarted = JobRunner(settings, holder="instance-b")
    await restarted.start()
    try:
        assert restarted.scheduler.get_job(CATCH_UP_JOB) is None  # already ran today: not again
    finally:
        await restarted.stop()
