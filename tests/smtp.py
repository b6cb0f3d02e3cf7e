"""A real SMTP server on loopback for tests (aiosmtpd Controller in a thread) that records what it receives."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.browser import free_port


@dataclass
class Received:
    """One message the server accepted."""

    envelope_to: list[str]
    message: EmailMessage

    @property
    def key(self) -> str:
        """The outbox idempotency key carried in the X-Rentree-Key header."""
        return str(self.message["X-Rentree-Key"])


@dataclass
class RecordingHandler:
    """Keeps every accepted message; refuses listed recipients with 550; may answer slowly."""

    refuse: set[str] = field(default_factory=set)
    delay: float = 0.0
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    entered: int = 0  # DATA phases started (a message fully transmitted, not yet accepted)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        """Refuse the listed recipients permanently."""
        if address.lower() in self.refuse:
            return "550 5.1.1 Destinataire inconnu"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Accept (after an optional delay: a kill during it means the server never accepted)."""
        with self.lock:
            self.entered += 1
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(Received(list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def keys(self) -> Counter[str]:
        """How many times each idempotency key was received."""
        with self.lock:
            return Counter(m.key for m in self.messages)

    def wait_for(self, count: int, timeout: float = 30, *, entered: bool = False) -> None:
        """Block until at least `count` messages were accepted (or, with entered, transmitted)."""
        deadline = time.monotonic() + timeout
        while (self.entered if entered else len(self.messages)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.messages)} message(s) received, {count} expected")
            time.sleep(0.02)


@dataclass
class SmtpServer:
    """A running test server: its port and handler."""

    port: int
    handler: RecordingHandler
    controller: Controller | None

    def stop(self) -> None:
        """Stop listening (the port stays the same when restarted)."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def start(self) -> None:
        """Listen (again) on the same port."""
        if self.controller is None:
            self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
            self.controller.start()


@contextmanager
def smtp_server(handler: RecordingHandler | None = None, port: int | None = None) -> Iterator[SmtpServer]:
    """Start a recording aiosmtpd server on a free loopback port for the duration of a block."""
    server = SmtpServer(port=port or free_port(), handler=handler or RecordingHandler(), controller=None)
    server.start()
    try:
        yield server
    finally:
        server.stop()
