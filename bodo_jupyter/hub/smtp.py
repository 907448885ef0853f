"""Sending a mail over SMTP (blocking: callers run it in a thread, off the event loop).

The settings' password is left out of their repr, and errors are reported by their class
and the server's reply, which never contains the password.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage

SECURITY = ("none", "starttls", "tls")


@dataclass(frozen=True)
class SMTPSettings:
    host: str = "localhost"
    port: int = 25
    security: str = "none"  # none | starttls | tls (SMTPS, implicit TLS)
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    ca_file: str = ""  # CA bundle the server's certificate must chain to; "": the system's

    def __post_init__(self) -> None:
        if self.security not in SECURITY:
            raise ValueError(f"SMTP security must be one of {', '.join(SECURITY)},"
                             f" not {self.security!r}")


def send(settings: SMTPSettings, msg: EmailMessage) -> None:
    """Deliver ``msg`` through the server; raises smtplib/OS errors as they come."""
    context = ssl.create_default_context(cafile=settings.ca_file or None)
    smtp: smtplib.SMTP
    if settings.security == "tls":
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    with smtp:
        if settings.security == "starttls":
            smtp.starttls(context=context)
        if settings.username:
            smtp.login(settings.username, settings.password)
        smtp.send_message(msg)
