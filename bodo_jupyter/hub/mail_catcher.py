"""A console mail catcher: a real SMTP server on loopback that prints each mail's links.

For a hub with no mail server (the run command, a newcomer's laptop): point
``BodoAuthenticator.smtp_host``/``smtp_port`` at it, and the activation and invitation
links appear in the console. It delivers nothing anywhere else::

    python -m bodo_jupyter.hub.mail_catcher --port 8025
"""

from __future__ import annotations

import argparse
import email
import email.policy
import re
import signal
import sys
import threading
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any, TextIO

from aiosmtpd.controller import Controller

LINK = re.compile(r"https?://[^\s<>\"']+")


def links(msg: EmailMessage) -> list[str]:
    """Every http(s) link in the mail's text."""
    body = msg.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else ""
    return LINK.findall(text)


def summary(msg: EmailMessage) -> str:
    """What the console shows of one mail: who, what, and its links."""
    lines = [f"Mail to {msg['To']}: {msg['Subject']}"]
    lines += [f"    {link}" for link in links(msg)]
    return "\n".join(lines)


class MailCatcher:
    """The aiosmtpd handler: keeps each mail, tells ``on_mail`` and prints a summary."""

    def __init__(self, out: TextIO | None = sys.stdout,
                 on_mail: Callable[[EmailMessage], None] | None = None) -> None:
        self.out = out
        self.on_mail = on_mail
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self.lock:
            self.messages.append(msg)
        if self.out is not None:
            print(summary(msg), file=self.out, flush=True)
        if self.on_mail is not None:
            self.on_mail(msg)
        return "250 OK"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8025, help="port to listen on")
    args = parser.parse_args(argv)
    controller = Controller(MailCatcher(), hostname=args.host, port=args.port)
    controller.start()
    print(f"Mail catcher on {args.host}:{args.port}: each mail's links are printed here",
          flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
