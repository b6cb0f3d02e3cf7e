"""One Settings object for Rentrée, read from the environment and an optional `.env` file.

Every setting is declared once in SETTINGS with its environment name, default and help text;
the README's settings table is checked against this list by a test.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message says which and what to do."""


@dataclass(frozen=True)
class Setting:
    """Declaration of one setting: environment name, attribute, type, default and help."""

    env: str
    attr: str
    kind: type
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("RENTREE_ENV", "env", str, "demo",
            "`demo` (default: generated secret, demo data, local mail box) or `production`."),
    Setting("RENTREE_DATA_DIR", "data_dir", Path, ROOT / "data",
            "Folder of the SQLite file, the generated secret and exports."),
    Setting("DATABASE_URL", "database_url", str, "",
            "Empty: SQLite file `rentree.sqlite3` in the data folder. "
            "`postgres://user:pass@host:5432/db` for PostgreSQL (asyncpg)."),
    Setting("RENTREE_HOST", "host", str, "127.0.0.1", "Address the web server listens on."),
    Setting("RENTREE_PORT", "port", int, 8080, "Port of the web server."),
    Setting("STORAGE_SECRET", "storage_secret", str, "",
            "Secret signing the session cookies. Required in production; the demo generates one "
            "and keeps it in the data folder."),
    Setting("RENTREE_TIMEZONE", "timezone", str, "Europe/Paris", "Time zone of dates and jobs."),
    Setting("CAMPAIGN_YEAR", "campaign_year", int, 2024,
            "Year of the current rentrée campaign (the livret's dates are its data)."),
    Setting("SMTP_HOST", "smtp_host", str, "127.0.0.1", "SMTP server that sends the mail."),
    Setting("SMTP_PORT", "smtp_port", int, 8025, "Port of the SMTP server."),
    Setting("SMTP_TLS", "smtp_tls", str, "none", "`none`, `starttls` or `tls`."),
    Setting("SMTP_USER", "smtp_user", str, "", "SMTP login, if the server asks for one."),
    Setting("SMTP_PASSWORD", "smtp_password", str, "", "SMTP password."),
    Setting("MAIL_FROM", "mail_from", str, "Rentrée <rentree-noreply@iledefrance.fr>",
            "Sender of every mail."),
    Setting("RSSI_EMAIL", "rssi_email", str, "rssi.lycees@iledefrance.fr",
            "Where security incidents are reported (R-SEC-3)."),
    Setting("DPO_EMAIL", "dpo_email", str, "dpo.lycees@iledefrance.fr",
            "Where personal-data leaks are reported (R-SEC-3)."),
    Setting("SEED_DEMO", "seed_demo", bool, True,
            "Fill an empty database with demo data when the app starts (demo only)."),
    Setting("SCHEDULER_ENABLED", "scheduler_enabled", bool, True,
            "Run the scheduled jobs (daily reminders, outbox worker) in this process."),
    Setting("REMINDERS_AT", "reminders_at", str, "07:30", "Time of the daily reminder run (HH:MM, RENTREE_TIMEZONE)."),
    Setting("OUTBOX_INTERVAL", "outbox_interval", int, 15, "Seconds between two runs of the outbox worker."),
    Setting("OUTBOX_CONNECTIONS", "outbox_connections", int, 4, "SMTP connections the outbox worker reuses."),
    Setting("SLA_WATCH_INTERVAL", "sla_watch_interval", int, 300,
            "Seconds between two runs of the maintenance tickets' SLA watch (« à risque », « dépassé »)."),
    Setting("OUTBOX_MAX_ATTEMPTS", "outbox_max_attempts", int, 10,
            "Attempts before a mail is marked failed (exponential backoff from 30 s, capped at 1 h)."),
    Setting("DEMO_SMTP_SERVER", "demo_smtp_server", bool, True,
            "Demo only: start a local SMTP server on 127.0.0.1:SMTP_PORT that keeps what it receives "
            "(the « boîte de démonstration »)."),
    Setting("SESSION_IDLE_MINUTES", "session_idle_minutes", int, 30,
            "A session expires after this many minutes without a page load."),
    Setting("COOKIE_SECURE", "cookie_secure", bool, False,
            "Mark the session cookie Secure even without an https PUBLIC_URL (e.g. https ended by a proxy)."),
    Setting("PUBLIC_URL", "public_url", str, "",
            "Address people use to reach the app (e.g. `https://rentree.iledefrance.fr`), put in the links of mails "
            "(school access links, « Accéder à votre espace »); empty: this server's own host and port. When it "
            "starts with https://, the session cookie is Secure and HSTS is sent."),
    Setting("TRUSTED_PROXIES", "trusted_proxies", str, "",
            "Comma-separated addresses or networks (CIDR) of the reverse proxies whose X-Forwarded-For and "
            "X-Forwarded-Proto are believed; empty: no proxy header is honoured."),
    Setting("SECRET_KEY", "secret_key", str, "",
            "Comma-separated Fernet keys encrypting the secrets stored for accounts (TOTP keys); the first "
            "encrypts, the others still decrypt (rotation). Required in production; the demo generates one "
            "and keeps it in the data folder."),
    Setting("PASSWORD_MAX_AGE_DAYS", "password_max_age_days", int, 182,
            "Days before a password must be renewed (R-SEC-2: twice per school year)."),
)

_TRUE = {"1", "true", "yes", "oui", "on"}
_FALSE = {"0", "false", "no", "non", "off", ""}


def _convert(setting: Setting, raw: str) -> Any:
    """Convert a raw string to the setting's type, with a French error on failure."""
    try:
        if setting.kind is bool:
            low = raw.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(raw)
        if setting.kind is int:
            return int(raw)
        if setting.kind is Path:
            return Path(raw).expanduser().resolve()
        return raw
    except ValueError:
        raise SettingsError(
            f"Réglage {setting.env} invalide : « {raw} » (attendu : {setting.kind.__name__})."
        ) from None


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file of KEY=VALUE lines (comments and blank lines ignored)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


@dataclass(frozen=True)
class Settings:
    """The settings in force for one process (or one test)."""

    env: str = "demo"
    data_dir: Path = ROOT / "data"
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    storage_secret: str = ""
    timezone: str = "Europe/Paris"
    campaign_year: int = 2024
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_tls: str = "none"
    smtp_user: str = ""
    smtp_password: str = ""
    mail_from: str = "Rentrée <rentree-noreply@iledefrance.fr>"
    rssi_email: str = "rssi.lycees@iledefrance.fr"
    dpo_email: str = "dpo.lycees@iledefrance.fr"
    seed_demo: bool = True
    scheduler_enabled: bool = True
    reminders_at: str = "07:30"
    outbox_interval: int = 15
    outbox_connections: int = 4
    sla_watch_interval: int = 300
    outbox_max_attempts: int = 10
    demo_smtp_server: bool = True
    session_idle_minutes: int = 30
    cookie_secure: bool = False
    public_url: str = ""
    trusted_proxies: str = ""
    secret_key: str = ""
    password_max_age_days: int = 182
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_demo(self) -> bool:
        """True when running the demo (generated secret, demo data)."""
        return self.env == "demo"

    @property
    def https(self) -> bool:
        """True when the app is reached over https (PUBLIC_URL): Secure cookies and HSTS."""
        return self.public_url.lower().startswith("https://")

    @property
    def base_url(self) -> str:
        """The address in the links of mails (access links, « Accéder à votre espace »): PUBLIC_URL, else this server's
        own host and port; never a request's Host header (a forged one would send a victim's link elsewhere)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def secure_cookie(self) -> bool:
        """True when the session cookie must be Secure: an https PUBLIC_URL, or COOKIE_SECURE."""
        return self.https or self.cookie_secure

    @property
    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The networks of TRUSTED_PROXIES."""
        return parse_networks(self.trusted_proxies)

    @property
    def secret_keys(self) -> list[str]:
        """The keys of SECRET_KEY, the encrypting one first."""
        return split_keys(self.secret_key)

    @property
    def db_url(self) -> str:
        """The database URL in force: DATABASE_URL or the SQLite file of the data folder."""
        return self.database_url or f"sqlite://{self.data_dir / 'rentree.sqlite3'}"


def parse_networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Addresses and CIDR networks of a comma-separated list, or SettingsError naming the bad one."""
    networks = []
    for item in (part.strip() for part in raw.replace(";", ",").split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SettingsError(f"TRUSTED_PROXIES : « {item} » n'est ni une adresse IP ni un réseau CIDR "
                                "(exemples : 10.0.0.5, 10.0.0.0/24, ::1).") from None
    return tuple(networks)


def split_keys(raw: str) -> list[str]:
    """The keys of a comma- or line-separated list, in order, without blanks."""
    return [k.strip() for k in raw.replace("\n", ",").split(",") if k.strip()]


def check_keys(keys: list[str], origin: str = "SECRET_KEY") -> None:
    """SettingsError unless every key is a Fernet key (32 bytes in url-safe base64)."""
    import base64
    import binascii

    for i, key in enumerate(keys, 1):
        try:
            ok = len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
        except (binascii.Error, ValueError, UnicodeEncodeError):
            ok = False
        if not ok:
            raise SettingsError(f"{origin} : la clé n° {i} n'est pas une clé valide (44 caractères base64 url) : "
                                "générez-en une avec `python app.py keys generate`.")


def load(environ: dict[str, str] | None = None, dotenv: Path | None = None) -> Settings:
    """Build the settings from `.env` then the environment (the environment wins)."""
    env = dict(read_dotenv(dotenv if dotenv is not None else ROOT / ".env"))
    env.update(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for s in SETTINGS:
        values[s.attr] = _convert(s, env[s.env]) if s.env in env else s.default
    if values["env"] not in {"demo", "production"}:
        raise SettingsError(f"RENTREE_ENV doit valoir « demo » ou « production », pas « {values['env']} ».")
    if values["smtp_tls"] not in {"none", "starttls", "tls"}:
        raise SettingsError(f"SMTP_TLS doit valoir none, starttls ou tls, pas « {values['smtp_tls']} ».")
    if not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", values["reminders_at"]):
        raise SettingsError(f"REMINDERS_AT doit être une heure HH:MM (ex. 07:30), pas « {values['reminders_at']} ».")
    parse_networks(values["trusted_proxies"])
    if values["public_url"] and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", values["public_url"]):
        raise SettingsError(f"PUBLIC_URL doit être une adresse http(s)://… (ex. https://rentree.iledefrance.fr), "
                            f"pas « {values['public_url']} ».")
    if values["secret_key"]:
        check_keys(split_keys(values["secret_key"]))
    if values["env"] == "production":
        values["demo_smtp_server"] = False
        if len(values["storage_secret"]) < 32:
            raise SettingsError(
                "STORAGE_SECRET est obligatoire en production (au moins 32 caractères) : "
                "générez-en un avec `python -c \"import secrets; print(secrets.token_urlsafe(48))\"`."
            )
        if not values["secret_key"]:
            raise SettingsError(
                "SECRET_KEY est obligatoire en production (elle chiffre les clés TOTP des comptes) : "
                "générez-en une avec `python app.py keys generate` et gardez-la hors de la base et des sauvegardes."
            )
        values["seed_demo"] = False
    return Settings(**values)


def ensure_storage_secret(settings: Settings) -> Settings:
    """Return settings with a storage secret: the configured one, or the demo's kept in the data folder."""
    if settings.storage_secret:
        return settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "storage_secret.txt"
    if not path.is_file():
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return replace(settings, storage_secret=path.read_text(encoding="utf-8").strip())


def ensure_secret_key(settings: Settings) -> Settings:
    """Return settings with a SECRET_KEY: the configured one, or the demo's kept in the data folder (mode 600)."""
    if settings.secret_key:
        return settings
    from cryptography.fernet import Fernet

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "secret_key.txt"
    if not path.is_file():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(Fernet.generate_key().decode() + "\n")
    keys = split_keys(path.read_text(encoding="utf-8"))
    check_keys(keys, str(path))
    return replace(settings, secret_key=",".join(keys))


_current: Settings | None = None


def get() -> Settings:
    """The settings of this process, loaded on first use."""
    global _current
    if _current is None:
        _current = load()
    return _current


def set_current(settings: Settings | None) -> None:
    """Replace the settings of this process (the CLI and tests use it)."""
    global _current
    _current = settings


# --- One clock ---------------------------------------------------------------------------------------

def tz() -> ZoneInfo:
    """The app's time zone (RENTREE_TIMEZONE, Europe/Paris by default)."""
    return ZoneInfo(get().timezone)


def now() -> dt.datetime:
    """Now, aware, in the app's time zone."""
    return dt.datetime.now(tz())


def today() -> dt.date:
    """Today in the app's time zone: every date rule (deadlines, windows, reminders) reads this."""
    return now().date()
