"""The demo mail box: a local SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives as .eml files."""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import logging
import re
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("rentree.demo_box")
_counter = itertools.count(1)
_NAME = re.compile(r"^[0-9]+-[0-9]+\.eml$")


def box_folder(data_dir: Path) -> Path:
    """Where the demo box keeps its mail."""
    return data_dir / "boite-demo"


class DemoBoxHandler:
    """aiosmtpd handler writing every accepted message to a file of the box folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Keep the message (recipients in an X-Demo-Rcpt header), answer 250."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{next(_counter)}.eml"
        rcpt = ", ".join(envelope.rcpt_tos).encode()
        content = envelope.original_content or envelope.content or b""
        (self.folder / name).write_bytes(b"X-Demo-Rcpt: " + rcpt + b"\r\n" + content)  # type: ignore[operator]
        return "250 OK: kept in the demo box"  # SMTP replies are ASCII


async def start_server(folder: Path, port: int, host: str = "127.0.0.1") -> asyncio.Server | None:
    """Start the demo SMTP server in the running loop; None (with a warning) when the port is taken."""
    loop = asyncio.get_running_loop()
    handler = DemoBoxHandler(folder)
    try:
        server = await loop.create_server(lambda: SMTP(handler, hostname="rentree-demo"), host, port)
    except OSError as exc:
        log.warning("Boîte de démonstration non démarrée (%s:%s : %s).", host, port, exc)
        return None
    log.info("Boîte de démonstration : serveur SMTP sur %s:%s, courriels dans %s", host, port, folder)
    return server


@dataclass
class DemoMessage:
    """A message of the demo box."""

    name: str
    rcpt: str
    sender: str
    subject: str
    date: str
    message_id: str
    text: str
    html: str


def _parse(path: Path) -> DemoMessage:
    msg: EmailMessage = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[assignment]
    text_part = msg.get_body(("plain",))
    html_part = msg.get_body(("html",))
    try:
        when = parsedate_to_datetime(str(msg["Date"])).astimezone().strftime("%d/%m/%Y %H:%M") if msg["Date"] else ""
    except (TypeError, ValueError):
        when = str(msg["Date"] or "")
    return DemoMessage(
        name=path.name, rcpt=str(msg["X-Demo-Rcpt"] or msg["To"] or ""), sender=str(msg["From"] or ""),
        subject=str(msg["Subject"] or "(sans objet)"), date=when, message_id=str(msg["Message-ID"] or ""),
        text=text_part.get_content() if text_part is not None else "",
        html=html_part.get_content() if html_part is not None else "")


def list_messages(folder: Path, limit: int = 200) -> list[DemoMessage]:
    """The latest messages of the box, newest first."""
    if not folder.is_dir():
        return []
    paths = sorted((p for p in folder.iterdir() if _NAME.match(p.name)),
                   key=lambda p: tuple(int(x) for x in p.stem.split("-")), reverse=True)
    return [_parse(p) for p in paths[:limit]]


def count_messages(folder: Path) -> int:
    """How many messages the box holds."""
    return sum(1 for p in folder.iterdir() if _NAME.match(p.name)) if folder.is_dir() else 0


def read_message(folder: Path, name: str) -> DemoMessage | None:
    """One message by file name (None when unknown or malformed name)."""
    if not _NAME.match(name) or not (folder / name).is_file():
        return None
    return _parse(folder / name)
