"""The mails the hub sends, built as ``EmailMessage`` objects (pure: no network, no clock).

Each mail carries its one link on a line of its own, so a person (and the console mail
catcher) finds it at once.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr, make_msgid


def _message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    domain = sender.rpartition("@")[2].strip(">") or "localhost"
    msg["Message-ID"] = make_msgid(domain=domain)
    msg.set_content(body)
    return msg


def activation_message(*, sender: str, to: str, name: str, link: str, hours: float,
                       site: str) -> EmailMessage:
    """The mail with the link that activates a new account."""
    return _message(sender, formataddr((name, to)), f"Activate your {site} account", (
        f"Hello {name},\n\n"
        f"follow this link to activate your {site} account:\n\n"
        f"{link}\n\n"
        f"The link works once, for {hours:g} hours. If you did not sign up, ignore this"
        f" mail: nothing happens without the link.\n"))


def already_registered_message(*, sender: str, to: str, login_url: str, resend_url: str,
                               site: str) -> EmailMessage:
    """Sent instead of a second account: the sign-up page never says an e-mail is taken."""
    return _message(sender, to, f"Someone tried to sign up to {site} with your e-mail", (
        f"Hello,\n\n"
        f"someone (perhaps you) tried to create a {site} account with this e-mail address,"
        f" which already has one. No new account was made.\n\n"
        f"Log in here:\n\n{login_url}\n\n"
        f"If the account is not activated yet, get a new activation link here:\n\n"
        f"{resend_url}\n"))


def invitation_message(*, sender: str, to: str, org: str, inviter: str, link: str,
                       days: float, site: str) -> EmailMessage:
    """The invitation an organisation's admin sends to a newcomer."""
    return _message(sender, to, f"{inviter} invites you to {org} on {site}", (
        f"Hello,\n\n"
        f"{inviter} invites you to join the organisation {org} on {site}."
        f" Follow this link to create your account in it:\n\n"
        f"{link}\n\n"
        f"The link works once, for {days:g} days.\n"))
