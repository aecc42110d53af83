"""Sending one mail of the outbox (feeds/alerts.py), with aiosmtplib.

`[alerts] smtp` says where: `smtp://host:port` (STARTTLS where the server offers it) or
`smtps://user:password@host:465` (TLS from the start). The text goes as UTF-8; the
Message-ID is derived from what the mail is about, so a resent one is one message.
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

import aiosmtplib

from feeds.config import Alerts
from feeds.store import Mail

TIMEOUT_SECONDS = 30.0


class MailError(Exception):
    """The mail could not be handed to the SMTP server (it is tried again later)."""


def message(alerts: Alerts, mail: Mail) -> EmailMessage:
    built = EmailMessage()
    built["From"] = alerts.sender
    built["To"] = ", ".join(mail.recipients)
    built["Subject"] = mail.subject
    built["Date"] = formatdate(localtime=False)
    domain = alerts.sender.rpartition("@")[2]
    # The same for every try: a resent mail is one message to servers and mail programs.
    built["Message-ID"] = f"<{hashlib.sha256(mail.key.encode()).hexdigest()[:32]}@{domain}>"
    built["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to it
    built.set_content(mail.body)
    return built


async def send(alerts: Alerts, mail: Mail) -> None:
    server = urlsplit(alerts.smtp)
    secure = server.scheme == "smtps"
    try:
        await aiosmtplib.send(
            message(alerts, mail),
            hostname=server.hostname or "localhost",
            port=server.port or (465 if secure else 25),
            username=unquote(server.username) if server.username else None,
            password=unquote(server.password) if server.password else None,
            use_tls=secure,
            start_tls=False if secure else None,  # None: STARTTLS where offered
            timeout=TIMEOUT_SECONDS,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise MailError(f"{type(exc).__name__}: {exc}") from exc
