"""SMTP_TLS starttls and tls against a real aiosmtpd with a self-signed certificate (trusted via SSL_CERT_FILE)."""

from __future__ import annotations

import dataclasses
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

import settings as settings_module
from jobs.outbox import send_pending
from models.outbox import MailStatus, OutboxMail, enqueue
from tests.browser import free_port
from tests.smtp import RecordingHandler


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, trusted by Python's default SSL context in this test."""
    if not shutil.which("openssl"):
        pytest.skip("openssl absent : pas de certificat de test.")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return cert, key


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_smtp_tls_modes_send(mode: str, certificate: tuple[Path, Path], sqlite_db: str) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = RecordingHandler()
    port = free_port()
    if mode == "tls":
        controller = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=context)
    else:
        controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True)
    controller.start()
    try:
        settings = dataclasses.replace(settings_module.load(), smtp_host="localhost", smtp_port=port, smtp_tls=mode)
        await enqueue("tls-test", ["ce.0750650z@ac-paris.fr"], "Essai TLS", "Corps")
        report = await send_pending(settings)
    finally:
        controller.stop()
    assert report.sent == 1, report.errors
    assert (await OutboxMail.get(key="tls-test")).status == MailStatus.SENT
    assert handler.keys() == {"tls-test": 1}
