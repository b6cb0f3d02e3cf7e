"""Backups and restores of the database: SQLite's online backup API, `pg_dump` / `pg_restore` for PostgreSQL.

A running app holds a shared lock on `<database>.running` (SQLite) for its whole life; `restore` asks for it
exclusively and refuses while an app holds it, unless forced. On PostgreSQL, any other connection to the
database counts as a running app.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import quote, unquote, urlsplit, urlunsplit

SQLITE_HEADER = b"SQLite format 3\x00"
REQUIRED_TABLE = "app_user"  # a Rentrée database has its accounts table


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message (French) says why and what to do."""


@dataclass
class BackupReport:
    """What a backup or restore did."""

    path: Path
    seconds: float
    size: int
    tables: dict[str, int] = field(default_factory=dict)
    command: str = ""
    safety_copy: Path | None = None


def sqlite_path(db_url: str) -> Path | None:
    """The file of an SQLite URL, or None for another database."""
    if not db_url.startswith("sqlite://"):
        return None
    return Path(db_url[len("sqlite://"):])


def _row_counts(con: sqlite3.Connection) -> dict[str, int]:
    """Rows per table of an SQLite database (the migrations' bookkeeping left out)."""
    names = [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT LIKE 'tortoise_migrations%' ORDER BY name")]
    return {n: con.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}


def _copy_sqlite(source: sqlite3.Connection, target: Path) -> None:
    """Copy a database into a new file in one backup step (one read transaction: a consistent snapshot)."""
    dst = sqlite3.connect(target)
    try:
        source.backup(dst)  # pages=-1: every page in a single step, writers of a WAL database go on meanwhile
        dst.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file, no -wal beside it
        problem = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if problem != "ok":
            raise BackupError(f"La copie n'est pas intègre ({problem}) : recommencez la sauvegarde.")
    finally:
        dst.close()


def backup_sqlite(db_path: Path, dest: Path) -> BackupReport:
    """Back up a live SQLite database (WAL) into `dest` (mode 600), checked; readers and writers go on."""
    if not db_path.is_file():
        raise BackupError(f"Base introuvable : {db_path} (vérifiez RENTREE_DATA_DIR / DATABASE_URL).")
    dest = dest.resolve()
    if dest == db_path.resolve():
        raise BackupError("Le fichier de sauvegarde ne peut pas être la base elle-même : choisissez un autre nom.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partiel")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    source = sqlite3.connect(db_path, timeout=30)
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # personal data: owner only
        os.close(fd)
        _copy_sqlite(source, partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    os.replace(partial, dest)
    with contextlib.closing(sqlite3.connect(f"file:{dest}?mode=ro", uri=True)) as con:
        counts = _row_counts(con)
    return BackupReport(dest, time.perf_counter() - started, dest.stat().st_size, counts)


def check_backup_file(path: Path) -> dict[str, int]:
    """Rows per table of a backup file, or BackupError when it is not an intact Rentrée SQLite backup."""
    if not path.is_file():
        raise BackupError(f"Fichier introuvable : {path}.")
    with path.open("rb") as f:
        if f.read(16) != SQLITE_HEADER:
            raise BackupError(f"{path} n'est pas une sauvegarde SQLite de Rentrée (pour PostgreSQL : pg_restore).")
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        problem = con.execute("PRAGMA integrity_check").fetchone()[0]
        if problem != "ok":
            raise BackupError(f"La sauvegarde {path} est abîmée ({problem}) : prenez-en une autre.")
        counts = _row_counts(con)
    if REQUIRED_TABLE not in counts:
        raise BackupError(f"{path} est une base SQLite, mais pas une base de Rentrée (pas de table {REQUIRED_TABLE}).")
    return counts


def running_lock_path(db_path: Path) -> Path:
    """The file a running app keeps locked beside its SQLite database."""
    return db_path.with_name(db_path.name + ".running")


@contextlib.contextmanager
def hold_running_lock(db_path: Path) -> Iterator[IO[str]]:
    """Held by a serving app for its whole life (shared: several local processes may serve one file)."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with running_lock_path(db_path).open("a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def app_running(db_path: Path) -> bool:
    """True when a running app holds the lock of this SQLite database."""
    path = running_lock_path(db_path)
    if not path.exists():
        return False
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


RUNNING_REFUSAL = ("Une application Rentrée tourne sur cette base : arrêtez-la avant de restaurer. Sinon ses pages "
                   "ouvertes, ses caches et ses tâches continueraient avec des données qui ne sont plus en base "
                   "(modifications perdues ou mélangées). Pour restaurer quand même, ajoutez --force, puis "
                   "redémarrez l'application aussitôt.")


def restore_sqlite(backup: Path, db_path: Path, *, force: bool = False) -> BackupReport:
    """Put a backup in place of the database (after a safety copy of the current one), through the backup API."""
    started = time.perf_counter()
    counts = check_backup_file(backup)
    if app_running(db_path) and not force:
        raise BackupError(RUNNING_REFUSAL)
    safety: Path | None = None
    if db_path.is_file():
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        safety = db_path.with_name(f"{db_path.stem}.avant-restauration-{stamp}{db_path.suffix}")
        backup_sqlite(db_path, safety)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    # The backup API writes the pages under the database's own lock: a connection still open (--force)
    # sees the old or the new content, never a mix, and the -wal file stays consistent.
    with contextlib.closing(sqlite3.connect(f"file:{backup}?mode=ro", uri=True)) as source, \
            contextlib.closing(sqlite3.connect(db_path, timeout=30)) as target:
        source.backup(target)
        target.execute("PRAGMA journal_mode = WAL")
    return BackupReport(db_path, time.perf_counter() - started, db_path.stat().st_size, counts, safety_copy=safety)


# --- PostgreSQL --------------------------------------------------------------------------------------

def pg_target(db_url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without its password, and the environment carrying the password (never on a command line)."""
    parts = urlsplit(db_url)
    env: dict[str, str] = {}
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    user = quote(unquote(parts.username or "postgres"), safe="")
    netloc = f"{user}@{parts.hostname or '127.0.0.1'}:{parts.port or 5432}"
    return urlunsplit(("postgresql", netloc, parts.path, parts.query, "")), env


def pg_dump_command(db_url: str, dest: Path) -> list[str]:
    """The documented backup command of a PostgreSQL database (custom format, for pg_restore)."""
    uri, _env = pg_target(db_url)
    return ["pg_dump", "--format=custom", "--no-owner", f"--file={dest}", f"--dbname={uri}"]


def pg_restore_command(db_url: str, backup: Path) -> list[str]:
    """The documented restore command: drop and recreate every object of the dump, in one transaction."""
    uri, _env = pg_target(db_url)
    return ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", f"--dbname={uri}",
            str(backup)]


def run_pg_tool(command: list[str], db_url: str) -> None:
    """Run pg_dump / pg_restore with the password in the environment; BackupError with its message on failure."""
    import subprocess

    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} est introuvable : installez le client PostgreSQL (paquet Debian "
                          f"postgresql-client, même version majeure que le serveur), puis relancez.")
    _uri, env = pg_target(db_url)
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{command[0]} a échoué (code {done.returncode}) : {done.stderr.strip()[:2000]}")


async def pg_other_connections(db_url: str) -> int:
    """How many other sessions are connected to this PostgreSQL database (a running app has some)."""
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    finally:
        await conn.close()
