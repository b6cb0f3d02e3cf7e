"""Sending over SMTP (aiosmtplib): MIME building of an outbox row, connections, error classification."""

from __future__ import annotations

from dataclasses import dataclass
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr

import aiosmtplib

from models.outbox import OutboxMail, utcnow
from settings import Settings


class TemporaryFailure(Exception):
    """The server is unreachable or answered 4xx: retry later."""


class PermanentFailure(Exception):
    """The server refused for good (5xx): do not retry."""


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send."""

    host: str
    port: int
    tls: str = "none"
    user: str = ""
    password: str = ""
    mail_from: str = "Rentrée <rentree-noreply@iledefrance.fr>"
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        """The SMTP settings in force."""
        return cls(host=settings.smtp_host, port=settings.smtp_port, tls=settings.smtp_tls,
                   user=settings.smtp_user, password=settings.smtp_password, mail_from=settings.mail_from)


def build_message(mail: OutboxMail, mail_from: str) -> MIMEMultipart:
    """The MIME message of an outbox row: plain text with an HTML alternative, Message-ID from the key.

    Built with the compat32 MIME classes: 5-10x faster than EmailMessage's header registry, which
    dominated the send time of a 470-mail run.
    """
    msg = MIMEMultipart("alternative")
    name, address = parseaddr(mail_from)
    msg["From"] = formataddr((name, address), charset="utf-8")
    msg["To"] = ", ".join(mail.recipient_list)
    msg["Subject"] = Header(mail.subject, "utf-8")  # type: ignore[assignment]
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = mail.message_id
    msg["X-Rentree-Key"] = mail.key
    msg["Auto-Submitted"] = "auto-generated"
    msg.attach(MIMEText(mail.body_text, "plain", "utf-8"))
    if mail.body_html:
        msg.attach(MIMEText(mail.body_html, "html", "utf-8"))
    return msg


async def connect(cfg: SmtpConfig) -> aiosmtplib.SMTP:
    """An open (and logged in) SMTP connection; TemporaryFailure when the server cannot be reached."""
    smtp = aiosmtplib.SMTP(hostname=cfg.host, port=cfg.port, use_tls=cfg.tls == "tls",
                           start_tls=True if cfg.tls == "starttls" else False, timeout=cfg.timeout)
    try:
        await smtp.connect()
        if cfg.user:
            await smtp.login(cfg.user, cfg.password)
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise TemporaryFailure(f"Authentification SMTP refusée ({exc.code}) : vérifiez SMTP_USER et "
                               "SMTP_PASSWORD.") from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise TemporaryFailure(f"Serveur SMTP {cfg.host}:{cfg.port} injoignable ({exc.__class__.__name__}: "
                               f"{exc}). Les courriels attendent et seront renvoyés.") from None
    return smtp


async def send(smtp: aiosmtplib.SMTP, mail: OutboxMail, mail_from: str) -> str:
    """Send one mail on an open connection; return a note on refused recipients (empty when all accepted)."""
    message = build_message(mail, mail_from)
    try:
        refused, _ = await smtp.sendmail(parseaddr(mail_from)[1], mail.recipient_list, message.as_bytes())
    except aiosmtplib.SMTPRecipientsRefused as exc:
        reasons = "; ".join(f"{r.recipient} : {r.code} {r.message}" for r in exc.recipients)
        if all(r.code >= 500 for r in exc.recipients):
            raise PermanentFailure(f"Destinataire refusé définitivement ({reasons}).") from None
        raise TemporaryFailure(f"Destinataire refusé temporairement ({reasons}).") from None
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code >= 500:
            raise PermanentFailure(f"Refusé par le serveur SMTP ({exc.code} {exc.message}).") from None
        raise TemporaryFailure(f"Refus temporaire du serveur SMTP ({exc.code} {exc.message}).") from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise TemporaryFailure(f"Connexion SMTP perdue ({exc.__class__.__name__}: {exc}).") from None
    if refused:
        return "Refusé pour : " + "; ".join(f"{addr} ({resp.code} {resp.message})" for addr, resp in refused.items())
    return ""
