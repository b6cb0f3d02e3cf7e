"""Rentrée: entry point. `python app.py` serves the app; `python app.py --help` lists the commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import settings as settings_module
from settings import Settings, SettingsError

log = logging.getLogger("rentree")
DEMO_ACCOUNTS_FILE = "demo-accounts.txt"


def say(message: str) -> None:
    """Print a progress line of a long command."""
    print(message, flush=True)


# --- Web app ---------------------------------------------------------------------------------------

def build_web(settings: Settings) -> None:
    """Register pages, API, start-up and shut-down hooks on NiceGUI's app."""
    from nicegui import app as nicegui_app

    import pages
    from models import db

    settings_module.set_current(settings)
    # NiceGUI's own lifespan, kept once: re-wiring (tests do it per test) must not stack ours on ours,
    # and FastAPI's include_router merges lifespans, so the router's current value can't be trusted.
    if not hasattr(nicegui_app, "rentree_nicegui_lifespan"):
        nicegui_app.rentree_nicegui_lifespan = nicegui_app.router.lifespan_context  # type: ignore[attr-defined]
    nicegui_lifespan = nicegui_app.rentree_nicegui_lifespan  # type: ignore[attr-defined]
    pages.setup(settings)

    async def open_database() -> None:
        started = time.perf_counter()
        await db.init(settings.db_url)
        if settings.seed_demo:
            from models.schools import School
            from seed import seed_everything

            if not await School.exists():
                created = await seed_everything(progress=log.info)
                await db.analyze()
                log.info("Données de démonstration créées : %s", created)
            from seed.accounts import credentials_text, keep_credentials, seed_demo_users

            accounts = await seed_demo_users()
            if accounts:
                print(credentials_text(accounts), flush=True)
                keep_credentials(settings.data_dir, accounts)
            kept = Path(settings.data_dir) / DEMO_ACCOUNTS_FILE
            if kept.exists():  # every start: where the demo accounts are, not lost among the log lines
                print(f"Comptes de démonstration (un par rôle) : voir {kept}", flush=True)
        from seed.calendar import ensure_calendar

        if await ensure_calendar(_today(settings)):
            log.info("Calendrier de campagne du livret créé.")
        from models.accounts import User, seal_plaintext_rows

        sealed = await seal_plaintext_rows()  # rows of before encryption at rest (issue 10)
        if sealed:
            log.info("%d clé(s) TOTP chiffrée(s) avec SECRET_KEY.", sealed)
        if not await User.exists():
            log.warning("Aucun compte : créez le premier administrateur avec "
                        "`python app.py users add prenom.nom@iledefrance.fr --role admin`.")
        log.info("Base prête en %.2f s (%s)", time.perf_counter() - started, _safe_url(settings.db_url))
        from sheets.fleet import regional_figures

        warm = asyncio.get_running_loop().create_task(regional_figures())  # the steering figures, before a visit
        warm.add_done_callback(lambda t: t.cancelled() or t.exception())

    # NiceGUI runs async `on_startup` handlers as background tasks: the server (and a test's client)
    # would answer before the database is open. Open it inside the ASGI lifespan instead, around
    # NiceGUI's own, so no request is served before it is ready and it closes after NiceGUI stops.
    @asynccontextmanager
    async def lifespan(asgi_app: object) -> AsyncIterator[None]:
        from jobs import runtime as jobs_runtime
        from jobs.backup import hold_running_lock, sqlite_path

        database_file = sqlite_path(settings.db_url)
        with hold_running_lock(database_file) if database_file else contextlib.nullcontext():
            await open_database()  # while the app runs, `restore` refuses to replace its SQLite file
            # The demo mail box and the scheduler start once the database is open, and stop before it closes.
            background = await jobs_runtime.start(settings)
            try:
                async with nicegui_lifespan(asgi_app):
                    yield
            finally:
                await background.stop()
                await db.close()

    nicegui_app.router.lifespan_context = lifespan


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Start the web server (blocking) on the settings' host and port."""
    from nicegui import ui

    settings = settings_module.ensure_secret_key(settings_module.ensure_storage_secret(settings))
    settings = dataclasses.replace(settings, host=host or settings.host, port=port or settings.port)
    build_web(settings)
    ui.run(
        host=settings.host,
        port=settings.port,
        title="Rentrée",
        storage_secret=settings.storage_secret,
        language="fr",
        favicon="🎒",
        show=False,
        reload=False,
        fastapi_docs=False,  # /docs and /openapi.json come from pages/security.py, with local files
        show_welcome_message=True,
        # Session cookie: always HttpOnly (Starlette), SameSite=Lax, Secure behind https (PUBLIC_URL or COOKIE_SECURE).
        session_middleware_kwargs={"https_only": settings.secure_cookie, "same_site": "lax"},
        # Forwarded headers are read by pages/security.py, and only from TRUSTED_PROXIES (uvicorn's own
        # handling trusts every loopback client).
        proxy_headers=False,
    )


def _safe_url(url: str) -> str:
    """The database URL without its password, for logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


# --- CLI -------------------------------------------------------------------------------------------

def _run_db(settings: Settings, work: Callable[[], Awaitable[int]]) -> int:
    """Open the database (migrated), run a coroutine, close; return its exit code."""
    from models import db

    settings_module.set_current(settings_module.ensure_secret_key(settings))  # secrets stored for accounts

    async def main() -> int:
        await db.init(settings.db_url)
        try:
            return await work()
        finally:
            await db.close()

    return asyncio.run(main())


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    """Apply the committed migrations."""
    from models import db

    async def main() -> None:
        await db.migrate(settings.db_url)

    asyncio.run(main())
    say(f"Base à jour : {_safe_url(settings.db_url)}")
    return 0


def cmd_makemigration(settings: Settings, args: argparse.Namespace) -> int:
    """Write the migration of the models' changes (tortoise makemigrations on a scratch database at the head of
    the committed migrations), in this project's compact form."""
    import subprocess
    import tempfile
    from pathlib import Path

    from migrations._compact import compact
    from models import db

    folder = Path(__file__).resolve().parent / "migrations"
    before = set(folder.glob("0*.py"))
    url = f"sqlite://{tempfile.mkdtemp(prefix='rentree-makemigration-')}/head.sqlite3"
    asyncio.run(db.migrate(url))
    done = subprocess.run([sys.executable, "-m", "tortoise", "makemigrations", "--name", args.name],
                          env={**os.environ, "DATABASE_URL": url}, cwd=folder.parent, check=False)
    for path in sorted(set(folder.glob("0*.py")) - before):
        say(f"Migration écrite : {path.name}" + ("" if compact(path) else " (forme non compacte)"))
    return done.returncode


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    """Create the demo data that is missing (idempotent)."""
    from models import db
    from seed import seed_everything

    async def work() -> int:
        started = time.perf_counter()
        created = await seed_everything(progress=say, devices=getattr(args, "devices", None))
        from sheets.engine import textindex
        from sheets.engine.declaration import load_all

        load_all()  # the quick search's text index, built here once the rows are in (else the app's first start
        await textindex.ensure()  # builds it: 22 s at 500,000 devices); already built, its triggers kept it
        await db.analyze()
        say(f"Terminé en {time.perf_counter() - started:.1f} s : " +
            ", ".join(f"{k} +{v}" for k, v in created.items()))
        return 0

    return _run_db(settings, work)


# Whoever runs the CLI on the server already reaches the database: the CLI acts with an admin's rights.
CLI_ROLE = "admin"


def _cli_actor() -> str:
    """The audit's author of a command: cli:<unix user>."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:{os.getuid()}"


def cli_caller() -> object:
    """The engine's caller of a command: an admin's rights, audited as cli:<unix user>, source « cli »."""
    from models.audit import Source
    from sheets.engine.caller import Caller

    return Caller(actor=_cli_actor(), role=CLI_ROLE, source=Source.CLI, address="local")


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    """Export a sheet (with filters) to an .xlsx file."""
    from sheets.engine.declaration import get_sheet
    from sheets.engine.exporter import export_sheet
    from sheets.engine.query import QueryError, cli_filters

    try:
        sheet = get_sheet(args.name)
        filters = cli_filters(sheet, args.filter or [])
    except (KeyError, QueryError) as exc:
        print(f"Erreur : {str(exc).strip(chr(39))}", file=sys.stderr)
        return 2

    async def work() -> int:
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            if done == total or done % 50000 < 5000:
                say(f"{done} / {total} lignes écrites")

        try:
            count = await export_sheet(sheet, args.out, filter_model=filters, caller=cli_caller(),  # type: ignore[arg-type]
                                       progress=progress)
        except QueryError as exc:
            print(f"Erreur : {exc}", file=sys.stderr)
            return 2
        say(f"Export terminé en {time.perf_counter() - started:.1f} s : {count} ligne(s) de « {sheet.label} » "
            f"dans {args.out}")
        return 0

    return _run_db(settings, work)


def _today(settings: Settings) -> dt.date:
    """Today in the app's time zone."""
    return settings_module.today()


def cmd_remind(settings: Settings, args: argparse.Namespace) -> int:
    """Run the reminders of a day as the daily job would (queue and send), or show them (--dry-run)."""
    from jobs.lease import JobLock
    from jobs.reminders import run_reminders
    from models.outbox import utcnow
    from seed.calendar import ensure_calendar

    try:
        day = dt.date.fromisoformat(args.date) if args.date else _today(settings)
    except ValueError:
        print(f"Date « {args.date} » invalide : attendu AAAA-MM-JJ (ex. 2024-06-21).", file=sys.stderr)
        return 2

    async def work() -> int:
        await ensure_calendar(_today(settings))
        lock = JobLock(settings.db_url)
        held = False if args.dry_run else await lock.hold()
        try:
            # Holding the lock, no other worker sends: mails left `sending` by a dead process go back to pending.
            report = await run_reminders(settings, day, dry_run=args.dry_run, send=held,
                                         release_before=utcnow() if held else None)
        finally:
            await lock.release()
        mode = "Simulation (aucun envoi)" if args.dry_run else "Relances"
        say(f"{mode} du {day:%d/%m/%Y} : {len(report.planned)} établissement(s) à relancer.")
        for p in report.planned:
            flag = " [déjà en file]" if p.already_queued else ""
            say(f"{p.school.uai} {p.school.name} → {', '.join(p.recipients)}{flag}")
            for item in p.digest.urgent_first:
                say(f"    {item.due:%d/%m/%Y} (J-{(item.due - day).days}) {item.rule_id} : {item.title}")
            for refusal in p.refused:
                say(f"    destinataire écarté : {refusal}")
        for line in report.skipped:
            say(f"Non envoyé : {line}")
        if not args.dry_run and not held:
            say("Une autre instance détient le verrou des tâches : les courriels sont en file, elle les enverra.")
        say(report.summary())
        return 0

    return _run_db(settings, work)


def cmd_tickets(settings: Settings, args: argparse.Namespace) -> int:
    """Maintenance tickets: one run of the SLA watch, or a contractor's monthly statement (.xlsx)."""
    if args.action == "statement":
        try:
            year, month = (int(x) for x in args.month.split("-"))
            if not 1 <= month <= 12:
                raise ValueError
        except ValueError:
            print(f"Mois « {args.month} » invalide : attendu AAAA-MM (ex. 2025-03).", file=sys.stderr)
            return 2

    async def work() -> int:
        from jobs.lease import JobLock
        from jobs.outbox import send_pending
        from jobs.tickets import sla_watch
        from models.outbox import utcnow
        from models.tickets import Contractor, monthly_statement
        from sheets.tickets import write_statement

        if args.action == "watch":
            lock = JobLock(settings.db_url)
            held = await lock.hold()
            try:
                if not held:  # a running app holds the lock: its own watch runs every SLA_WATCH_INTERVAL seconds
                    say("Une autre instance détient le verrou des tâches : sa veille des délais tourne déjà.")
                    return 0
                report = await sla_watch()
                say(report.summary())
                if report.mails:
                    say(f"Envoi : {(await send_pending(settings, release_before=utcnow())).summary()}")
            finally:
                await lock.release()
            return 0
        contractor = await Contractor.get_or_none(code=args.contractor.upper())
        if contractor is None:
            codes = ", ".join(await Contractor.all().order_by("code").values_list("code", flat=True))
            print(f"Prestataire « {args.contractor} » inconnu (prestataires : {codes or 'aucun'}).", file=sys.stderr)
            return 2
        statement = await monthly_statement(contractor.code, year, month, settings_module.tz())
        write_statement(statement, contractor.name, args.out)
        median = statement.median_hours
        say(f"Relevé {contractor.code} {args.month} : {len(statement.rows)} ticket(s), {len(statement.resolved)} "
            f"résolu(s), délai médian {'—' if median is None else str(median).replace('.', ',') + ' h ouvrées'}, "
            f"{statement.breaches} dépassement(s) → {args.out}")
        return 0

    return _run_db(settings, work)


def cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    """Print a school's distribution plan (R-SLOT-6): its booked slot's sessions, or the planner's proposal."""

    async def work() -> int:
        from models.schools import InvalidUAI, School, normalize_uai
        from models.slots import Session, Slot, SlotStatus, plan_lines, slot_plan

        try:
            uai = normalize_uai(args.uai)
        except InvalidUAI as exc:
            print(str(exc), file=sys.stderr)
            return 2
        school = await School.get_or_none(uai=uai)
        if school is None:
            print(f"Aucun lycée n'a l'UAI {uai}.", file=sys.stderr)
            return 2
        query = Slot.filter(school_id=school.id).exclude(status=SlotStatus.CANCELLED)
        if args.year:
            query = query.filter(year=args.year)
        slot = await query.order_by("-year").first()
        if slot is None or slot.distribution_on is None:
            print(f"{school.name} ({uai}) n'a pas de créneau réservé" + (f" en {args.year}" if args.year else "")
                  + " : pas de plan de distribution.", file=sys.stderr)
            return 1
        plan = await slot_plan(slot)
        stored = await Session.filter(slot_id=slot.id).count()
        say(f"{school.name} ({uai}) — campagne {slot.year} : livraison le {slot.delivery_on:%d/%m/%Y}, distribution "
            f"le {slot.distribution_on:%d/%m/%Y}, {slot.laptops} PC, {slot.rooms} salle(s), {len(plan)} classe(s)"
            + ("" if stored else " (plan proposé, pas encore enregistré)"))
        for line in plan_lines(plan, slot.rooms):
            say(line)
        return 0

    return _run_db(settings, work)


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Import an .xlsx or .csv file into a sheet (exit 1 when the file or rows are refused)."""
    from sheets.engine.declaration import get_sheet
    from sheets.engine.importer import import_xlsx

    try:
        sheet = get_sheet(args.name)
    except KeyError as exc:
        print(f"Erreur : {str(exc).strip(chr(39))}", file=sys.stderr)
        return 2

    async def work() -> int:
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            if done >= total or done % 50000 < 2000:
                say(f"{done} / {total} lignes analysées")

        report = await import_xlsx(sheet, args.file, caller=cli_caller(), dry_run=args.dry_run,  # type: ignore[arg-type]
                                   all_or_nothing=args.all_or_nothing, progress=progress)
        for warning in report.warnings:
            say(f"Attention : {warning}")
        for item in report.preview[:20]:
            if item["column"] == "(nouvelle ligne)":
                say(f"  ligne {item['line']} {item['key']} : nouvelle ligne")
            else:
                say(f"  ligne {item['line']} {item['key']} · {item['column']} : « {item['old']} » → « {item['new']} »")
        if len(report.preview) > 20:
            say(f"  … et d'autres changements ({report.changed_cells} cellule(s) en tout)")
        for issue in report.issues[:20]:
            where = f"ligne {issue.line}" + (f", colonne « {issue.column} »" if issue.column else "")
            say(f"  REFUSÉ {where} : {issue.message}")
        if len(report.issues) > 20:
            say(f"  … {len(report.issues) - 20} autre(s) erreur(s) : voir le rapport (--report).")
        if args.report:
            await asyncio.to_thread(report.write_report, args.report)
            say(f"Rapport écrit dans {args.report}")
        say(f"{report.summary()} ({time.perf_counter() - started:.1f} s)")
        return 0 if report.ok else 1

    return _run_db(settings, work)


def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    """Keys of SECRET_KEY: print a new one, or encrypt every stored secret again with the first one."""
    from models.crypto import generate_key

    if args.action == "generate":
        say(generate_key())
        return 0
    from models.accounts import rotate_secrets
    from models.crypto import SecretKeyError

    async def work() -> int:
        try:
            count = await rotate_secrets()
        except SecretKeyError as exc:
            print(f"Erreur : {exc}", file=sys.stderr)
            return 1
        keys = settings_module.get().secret_keys
        say(f"{count} secret(s) chiffré(s) à nouveau avec la première clé de SECRET_KEY "
            f"({len(keys)} clé(s) en vigueur).")
        if len(keys) > 1:
            say("Les anciennes clés ne servent plus : retirez-les de SECRET_KEY, puis redémarrez l'application.")
        return 0

    return _run_db(settings, work)


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    """Back up the database to a file (SQLite online backup, or pg_dump), while the app may run."""
    from pathlib import Path

    from jobs.backup import BackupError, backup_sqlite, pg_dump_command, run_pg_tool, sqlite_path

    dest = Path(args.file)
    database_file = sqlite_path(settings.db_url)
    started = time.perf_counter()
    try:
        if database_file is not None:
            report = backup_sqlite(database_file, dest)
            say(f"Sauvegarde de {database_file} dans {report.path} en {report.seconds:.2f} s "
                f"({report.size / 1e6:.1f} Mo, {sum(report.tables.values())} lignes, intégrité vérifiée).")
        else:
            command = pg_dump_command(settings.db_url, dest)
            say("Commande : " + " ".join(command) + "  (mot de passe passé par PGPASSWORD)")
            run_pg_tool(command, settings.db_url)
            os.chmod(dest, 0o600)
            say(f"Sauvegarde PostgreSQL dans {dest} en {time.perf_counter() - started:.2f} s "
                f"({dest.stat().st_size / 1e6:.1f} Mo) ; restauration : python app.py restore {dest}")
    except BackupError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return 1
    say("Rappel : SECRET_KEY n'est pas dans la sauvegarde ; gardez-la à part, sans elle les clés TOTP sont perdues.")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    """Replace the database by a backup; refused while an app runs on it, unless --force."""
    from pathlib import Path

    from jobs.backup import (
        RUNNING_REFUSAL,
        BackupError,
        pg_other_connections,
        pg_restore_command,
        restore_sqlite,
        run_pg_tool,
        sqlite_path,
    )

    source = Path(args.file)
    database_file = sqlite_path(settings.db_url)
    try:
        if database_file is not None:
            report = restore_sqlite(source, database_file, force=args.force)
            if report.safety_copy:
                say(f"Base remplacée gardée dans {report.safety_copy}.")
            say(f"Restauration de {source} dans {database_file} en {report.seconds:.2f} s "
                f"({sum(report.tables.values())} lignes).")
        else:
            if not source.is_file():
                raise BackupError(f"Fichier introuvable : {source}.")
            if asyncio.run(pg_other_connections(settings.db_url)) and not args.force:
                raise BackupError(RUNNING_REFUSAL)
            command = pg_restore_command(settings.db_url, source)
            say("Commande : " + " ".join(command) + "  (mot de passe passé par PGPASSWORD)")
            run_pg_tool(command, settings.db_url)
            say(f"Restauration PostgreSQL de {source} terminée.")
    except BackupError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return 1
    if args.force:
        say("Redémarrez maintenant l'application qui tournait sur cette base.")
    say("Les migrations plus récentes que la sauvegarde s'appliqueront au prochain démarrage (ou `python app.py "
        "migrate`).")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the web app."""
    serve(settings, host=args.host, port=args.port)
    return 0


def cmd_users(settings: Settings, args: argparse.Namespace) -> int:
    """Manage accounts from the command line: add, list, disable, enable, reset-totp, reset-password, token."""
    from models import accounts

    async def work() -> int:
        if args.action == "list":
            users = await accounts.User.all().order_by("email")
            say(f"{'e-mail':<36} {'rôle':<12} {'actif':<6} {'TOTP':<5} organisation")
            for u in users:
                say(f"{u.email:<36} {accounts.Role(u.role).value:<12} {'oui' if u.is_active else 'non':<6} "
                    f"{'oui' if u.totp_enabled else 'non':<5} {u.organisation}")
            say(f"{len(users)} compte(s).")
            return 0
        if args.action == "add":
            try:
                user, one_time = await accounts.create_user(args.email, args.name or "", args.role,
                                                            organisation=args.organisation or "")
            except accounts.AccountError as exc:
                print(f"Erreur : {exc}", file=sys.stderr)
                return 1
            say(f"Compte créé : {user.email} ({accounts.Role.label_of(args.role)}).")
            say(f"Mot de passe provisoire (affiché une seule fois, à changer à la première connexion) : {one_time}")
            if args.role == "admin":
                say("À la première connexion, la double authentification (TOTP) sera activée avant tout le reste.")
            return 0
        user = await accounts.find_user(args.email)
        if user is None:
            print(f"Erreur : aucun compte pour « {args.email} » (voir `python app.py users list`).", file=sys.stderr)
            return 1
        try:
            if args.action in {"disable", "enable"}:
                await accounts.set_active(user, args.action == "enable", ip="cli")
                say(f"Compte {user.email} {'réactivé' if args.action == 'enable' else 'désactivé'}.")
            elif args.action == "reset-totp":
                await accounts.reset_totp(user, ip="cli")
                say(f"Double authentification de {user.email} réinitialisée (inscrit au journal) : "
                    "elle sera activée à nouveau à la prochaine connexion.")
            elif args.action == "reset-password":
                one_time = await accounts.reset_password(user, ip="cli")
                say(f"Mot de passe provisoire de {user.email} (affiché une seule fois) : {one_time}")
            elif args.action == "token":
                token, secret = await accounts.create_token(user, args.name or "jeton (ligne de commande)", ip="cli")
                say(f"Jeton d'API « {token.name} » pour {user.email} (affiché une seule fois) :")
                say(secret)
        except accounts.AccountError as exc:
            print(f"Erreur : {exc}", file=sys.stderr)
            return 1
        return 0

    return _run_db(settings, work)


def _add_users_parser(sub: argparse._SubParsersAction) -> None:
    """The `users` command and its actions."""
    from models.accounts import ACCOUNT_ROLES

    p_users = sub.add_parser("users", help="gérer les comptes (add, list, disable, enable, reset-totp, "
                                           "reset-password, token)")
    actions = p_users.add_subparsers(dest="action", metavar="ACTION", required=True)
    p_add = actions.add_parser("add", help="créer un compte et afficher son mot de passe provisoire")
    p_add.add_argument("email")
    p_add.add_argument("--role", required=True, choices=[r.value for r in ACCOUNT_ROLES])
    p_add.add_argument("--name", help="nom complet")
    p_add.add_argument("--organisation", help="organisation (par défaut selon le rôle)")
    actions.add_parser("list", help="lister les comptes")
    for action, text in (("disable", "désactiver un compte"), ("enable", "réactiver un compte"),
                         ("reset-totp", "réinitialiser la double authentification (journalisé)"),
                         ("reset-password", "donner un nouveau mot de passe provisoire")):
        actions.add_parser(action, help=text).add_argument("email")
    p_token = actions.add_parser("token", help="créer un jeton d'API (affiché une seule fois)")
    p_token.add_argument("email")
    p_token.add_argument("--name", help="nom du jeton")
    p_users.set_defaults(func=cmd_users)


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="python app.py",
        description="Rentrée : équipement numérique des lycées publics d'Île-de-France.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMANDE")
    p_serve = sub.add_parser("serve", help="servir l'application web (par défaut)")
    p_serve.add_argument("--host", help="adresse d'écoute (défaut : RENTREE_HOST ou 127.0.0.1)")
    p_serve.add_argument("--port", type=int, help="port (défaut : RENTREE_PORT ou 8080)")
    p_serve.set_defaults(func=cmd_serve)
    p_seed = sub.add_parser("seed", help="créer les données de démonstration manquantes (idempotent)")
    p_seed.add_argument("--devices", type=int, metavar="N",
                        help="taille du parc de démonstration (appareils ; défaut 5000, ex. 500000)")
    p_seed.set_defaults(func=cmd_seed)
    p_migrate = sub.add_parser("migrate", help="appliquer les migrations de la base")
    p_migrate.set_defaults(func=cmd_migrate)
    p_makemigration = sub.add_parser("makemigration", help="écrire la migration des changements des modèles "
                                                           "(développement)")
    p_makemigration.add_argument("name", help="nom court de la migration (ex. slots)")
    p_makemigration.set_defaults(func=cmd_makemigration)
    p_export = sub.add_parser("export", help="exporter une feuille dans un fichier Excel (.xlsx)")
    p_export.add_argument("name", help="nom de la feuille (ex. schools)")
    p_export.add_argument("out", help="fichier .xlsx à écrire")
    p_export.add_argument("--filter", action="append", metavar="COLONNE=VALEUR",
                          help="ne garder que les lignes où la colonne vaut la valeur (répétable)")
    p_export.set_defaults(func=cmd_export)
    p_import = sub.add_parser("import", help="importer un fichier Excel (.xlsx) ou CSV dans une feuille")
    p_import.add_argument("name", help="nom de la feuille (ex. schools)")
    p_import.add_argument("file", help="fichier .xlsx ou .csv à lire")
    p_import.add_argument("--dry-run", action="store_true", help="simulation : montrer les changements sans écrire")
    p_import.add_argument("--all-or-nothing", action="store_true",
                          help="ne rien enregistrer si une seule ligne est refusée")
    p_import.add_argument("--report", metavar="RAPPORT.xlsx", help="écrire le rapport (lignes + colonne erreurs)")
    p_import.set_defaults(func=cmd_import)
    p_remind = sub.add_parser("remind", help="relances du jour : mettre en file et envoyer (--dry-run : montrer)")
    p_remind.add_argument("--date", help="jour des relances, AAAA-MM-JJ (défaut : aujourd'hui)")
    p_remind.add_argument("--dry-run", action="store_true", help="montrer ce qui serait envoyé, à qui, sans envoyer")
    p_remind.set_defaults(func=cmd_remind)
    p_tickets = sub.add_parser("tickets", help="tickets de maintenance : veille des délais, relevé mensuel")
    tickets_actions = p_tickets.add_subparsers(dest="action", metavar="ACTION", required=True)
    tickets_actions.add_parser("watch", help="une passe de la veille des délais (à risque, dépassé, courriels)")
    p_statement = tickets_actions.add_parser("statement", help="relevé mensuel d'un prestataire (.xlsx)")
    p_statement.add_argument("contractor", help="code du prestataire (ex. SPIE)")
    p_statement.add_argument("month", help="mois, AAAA-MM (ex. 2025-03)")
    p_statement.add_argument("out", help="fichier .xlsx à écrire")
    p_tickets.set_defaults(func=cmd_tickets)
    p_plan = sub.add_parser("plan", help="plan de distribution d'un lycée (R-SLOT-6)")
    p_plan.add_argument("uai", help="UAI du lycée (ex. 0750001A)")
    p_plan.add_argument("--year", type=int, help="campagne (défaut : la dernière)")
    p_plan.set_defaults(func=cmd_plan)
    _add_users_parser(sub)
    p_keys = sub.add_parser("keys", help="clés de chiffrement des secrets des comptes (SECRET_KEY)")
    keys_actions = p_keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    keys_actions.add_parser("generate", help="afficher une nouvelle clé, à mettre en tête de SECRET_KEY")
    keys_actions.add_parser("rotate", help="chiffrer à nouveau chaque secret avec la première clé de SECRET_KEY")
    p_keys.set_defaults(func=cmd_keys)
    p_backup = sub.add_parser("backup", help="sauvegarder la base dans un fichier (l'application peut tourner)")
    p_backup.add_argument("file", help="fichier de sauvegarde à écrire")
    p_backup.set_defaults(func=cmd_backup)
    p_restore = sub.add_parser("restore", help="remplacer la base par une sauvegarde (application arrêtée)")
    p_restore.add_argument("file", help="fichier de sauvegarde à restaurer")
    p_restore.add_argument("--force", action="store_true",
                           help="restaurer même si une application tourne sur la base (redémarrez-la ensuite)")
    p_restore.set_defaults(func=cmd_restore)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; `serve` when no command is given."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("apscheduler", "tortoise", "aiosmtpd", "mail.log", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # the console keeps what a person must read
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    commands = {name for action in parser._subparsers._group_actions for name in action.choices}  # type: ignore[union-attr]
    if not words or (words[0] not in commands and words[0] not in {"-h", "--help"}):
        words = ["serve", *words]
    args = parser.parse_args(words)
    try:
        settings = settings_module.load()
    except SettingsError as exc:
        print(f"Erreur de configuration : {exc}", file=sys.stderr)
        return 2
    return int(args.func(settings, args) or 0)


if __name__ in {"__main__", "__mp_main__"}:
    if os.environ.get("NICEGUI_USER_SIMULATION"):
        # Under NiceGUI's `user` test fixture: wire the app with the test's settings, no CLI.
        serve(settings_module.load())
    else:
        sys.exit(main())
