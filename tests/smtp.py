"""A real SMTP server for tests (aiosmtpd): what it receives is what a recipient reads.
The `inbox` fixture (tests/conftest.py) starts one on a free port."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from aiosmtpd.smtp import SMTP, Envelope, Session


class Inbox:
    """What the SMTP server received."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"
