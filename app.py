"""Rentrée: entry point. `python app.py` serves the app; `python app.py --help` lists the commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import settings as settings_module
from settings import Settings, SettingsError

log = logging.getLogger("rentree")


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
            from seed.demo import seed_demo

            if not await School.exists():
                created = await seed_demo(progress=log.info)
                await db.analyze()
                log.info("Données de démonstration créées : %s", created)
            from seed.accounts import credentials_text, seed_demo_users

            accounts = await seed_demo_users()
            if accounts:
                print(credentials_text(accounts), flush=True)
        from models.accounts import User

        if not await User.exists():
            log.warning("Aucun compte : créez le premier administrateur avec "
                        "`python app.py users add prenom.nom@iledefrance.fr --role admin`.")
        log.info("Base prête en %.2f s (%s)", time.perf_counter() - started, _safe_url(settings.db_url))

    # NiceGUI runs async `on_startup` handlers as background tasks: the server (and a test's client)
    # would answer before the database is open. Open it inside the ASGI lifespan instead, around
    # NiceGUI's own, so no request is served before it is ready and it closes after NiceGUI stops.
    @asynccontextmanager
    async def lifespan(asgi_app: object) -> AsyncIterator[None]:
        await open_database()
        try:
            async with nicegui_lifespan(asgi_app):
                yield
        finally:
            await db.close()

    nicegui_app.router.lifespan_context = lifespan


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Start the web server (blocking) on the settings' host and port."""
    from nicegui import ui

    settings = settings_module.ensure_storage_secret(settings)
    build_web(settings)
    ui.run(
        host=host or settings.host,
        port=port or settings.port,
        title="Rentrée",
        storage_secret=settings.storage_secret,
        language="fr",
        favicon="🎒",
        show=False,
        reload=False,
        fastapi_docs=True,
        show_welcome_message=True,
        # Session cookie: always HttpOnly (Starlette), SameSite=Lax, Secure when served over https.
        session_middleware_kwargs={"https_only": settings.cookie_secure, "same_site": "lax"},
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


def cmd_seed(settings: Settings, _args: argparse.Namespace) -> int:
    """Create the demo data that is missing (idempotent)."""
    from models import db
    from seed.demo import seed_demo

    async def work() -> int:
        started = time.perf_counter()
        created = await seed_demo(progress=say)
        await db.analyze()
        say(f"Terminé en {time.perf_counter() - started:.1f} s : " +
            ", ".join(f"{k} +{v}" for k, v in created.items()))
        return 0

    return _run_db(settings, work)


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
            say(f"Compte créé : {user.email} ({accounts.ROLE_LABELS[args.role]}).")
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
    from models.accounts import Role

    p_users = sub.add_parser("users", help="gérer les comptes (add, list, disable, enable, reset-totp, "
                                           "reset-password, token)")
    actions = p_users.add_subparsers(dest="action", metavar="ACTION", required=True)
    p_add = actions.add_parser("add", help="créer un compte et afficher son mot de passe provisoire")
    p_add.add_argument("email")
    p_add.add_argument("--role", required=True, choices=[r.value for r in Role])
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
    p_seed.set_defaults(func=cmd_seed)
    p_migrate = sub.add_parser("migrate", help="appliquer les migrations de la base")
    p_migrate.set_defaults(func=cmd_migrate)
    _add_users_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; `serve` when no command is given."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
