"""A local SMTP sink: accepts every message on 127.0.0.1 and stores it as an .eml file.

The local stack runs it (``devstack.stack.run smtp``). Each message lands in
DIR as ``<arrival time ns>-<sequence>.eml`` (so names sort by arrival), written to a hidden
temporary file first and renamed into place, so a reader never sees half a message. The
envelope is recorded in ``X-MailFrom`` and ``X-RcptTo`` headers (Bcc recipients included).
"""

from __future__ import annotations

import email.policy
import itertools
import logging
import os
import signal
import threading
import time
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

logger = logging.getLogger("devstack.smtp_sink")

EML_SUFFIX = ".eml"


class MaildirHandler:
    """aiosmtpd handler that writes each accepted message into a directory."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self.maildir.mkdir(parents=True, exist_ok=True)
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()

    def store(self, content: bytes, mail_from: str, rcpt_tos: list[str]) -> Path:
        """Write one message atomically; return its final path."""
        envelope_headers = (
            f"X-MailFrom: {mail_from}\r\nX-RcptTo: {', '.join(rcpt_tos)}\r\n".encode()
        )
        with self._lock:
            name = f"{time.time_ns():020d}-{next(self._sequence):06d}{EML_SUFFIX}"
        final = self.maildir / name
        tmp = self.maildir / f".{name}.tmp"
        with tmp.open("wb") as fh:
            fh.write(envelope_headers)
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        return final

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        path = self.store(content or b"", envelope.mail_from or "", list(envelope.rcpt_tos))
        logger.info("stored %s from %s to %s", path.name, envelope.mail_from, envelope.rcpt_tos)
        return "250 Message accepted for delivery"


def message_paths(maildir: Path | str) -> list[Path]:
    """The stored .eml files in ``maildir``, oldest first."""
    directory = Path(maildir)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob(f"*{EML_SUFFIX}") if not p.name.startswith("."))


def read_message(path: Path) -> EmailMessage:
    """Parse one stored message."""
    with path.open("rb") as fh:
        message = BytesParser(policy=email.policy.default).parse(fh)
    assert isinstance(message, EmailMessage)
    return message


def read_messages(maildir: Path | str) -> list[EmailMessage]:
    """All messages stored in ``maildir``, oldest first."""
    return [read_message(path) for path in message_paths(maildir)]


def make_controller(maildir: Path, host: str = "127.0.0.1", port: int = 2525) -> Controller:
    """A not-yet-started aiosmtpd controller bound to ``host:port`` writing into ``maildir``."""
    return Controller(
        MaildirHandler(maildir),
        hostname=host,
        port=port,
        server_hostname="quoteflow-smtp-sink",
        enable_SMTPUTF8=True,
    )


def serve(maildir: Path, host: str = "127.0.0.1", port: int = 2525) -> None:
    """Run the sink until SIGTERM or SIGINT."""
    controller = make_controller(maildir, host=host, port=port)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        logger.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    controller.start()
    logger.info("SMTP sink listening on %s:%s, maildir %s", host, port, maildir)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        controller.stop()
