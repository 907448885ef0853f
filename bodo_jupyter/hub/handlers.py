"""The hub pages of sign-up, activation, resend and invitations, and the login page.

Each is a JupyterHub ``BaseHandler`` (so XSRF, cookies and templates are the hub's); the
authenticator (``self.authenticator``) holds the store, the key and the mail settings.
Every POST form carries the hub's ``_xsrf`` token. Tokens travel in a ``token`` query
parameter, which the hub's request log scrubs.
"""

from __future__ import annotations

from typing import Any

from jupyterhub.handlers import BaseHandler
from jupyterhub.handlers.login import LoginHandler
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httputil import url_concat

from . import mail, tokens
from .forms import FIELDS, check_email, parse_sign_up
from .store import InvitationView, SignUpRefused

#: Messages the login page shows after a redirect; the query names one, never the text.
NOTICES = {
    "activated": "Your account is active: log in with your e-mail and password.",
    "joined": "Your account is active and a member of your organisation: log in.",
}


class BodoLoginHandler(LoginHandler):
    """The hub's login form, asking for an e-mail, with links to sign up and resend."""

    def render_template(self, name: str, **ns: Any) -> Any:
        if name == "login.html":
            name = "bodo-login.html"
            ns.setdefault("notice", NOTICES.get(self.get_argument("notice", ""), ""))
            ns["signup_url"] = url_path_join(self.hub.base_url, "bodo/signup")
            ns["resend_url"] = url_path_join(self.hub.base_url, "bodo/resend")
        return super().render_template(name, **ns)


class Page(BaseHandler):
    """What the pages share: rendering with the site's name, links, problem pages."""

    def url(self, path: str, **query: str) -> str:
        return url_concat(url_path_join(self.hub.base_url, path), query or None)

    async def page(self, template: str, status: int = 200, **ns: Any) -> None:
        self.set_status(status)
        auth = self.authenticator
        html = await self.render_template(
            template, site=auth.site_name, terms_url=auth.terms_url,
            signup_url=self.url("bodo/signup"), resend_url=self.url("bodo/resend"),
            hub_login_url=self.url("login"), **ns)
        self.finish(html)

    async def problem(self, status: int, title: str, message: str,
                      resend: bool = False) -> None:
        await self.page("bodo-message.html", status, title=title, message=message,
                        show_resend=resend, show_login=True)

    async def open_invitation(self, token: str) -> InvitationView | None:
        """The open invitation a token names, or None after answering with why not."""
        auth = self.authenticator
        try:
            claims = auth.read_token(tokens.INVITATION, token)
            view = await auth.run(auth.store.invitation, str(claims["i"]))
        except tokens.TokenError as e:
            view, state = None, e.reason
        except KeyError:
            view, state = None, "tampered"
        else:
            state = view.state if view else "tampered"
        if view is not None and state == "open":
            return view
        title, message = {
            "expired": ("Invitation expired", "This invitation has expired: ask your"
                        " organisation's admin for a new one."),
            "used": ("Invitation used", "This invitation was used already. If you made"
                     " the account, log in."),
        }.get(state, ("Invitation not valid", "This invitation link is not valid (it was"
                      " changed or cut short): open the link from the mail again, or ask"
                      " your organisation's admin for a new one."))
        await self.problem(410 if state in ("expired", "used") else 400, title, message)
        return None


class SignUpHandler(Page):
    """The sign-up form; with ``?token=`` (an invitation) its e-mail and organisation
    are fixed and the new account joins the organisation as a member."""

    async def get(self) -> None:
        token = self.get_argument("token", "")
        invitation = await self.open_invitation(token) if token else None
        if token and invitation is None:
            return
        await self.form(invitation, token, {}, {})

    async def form(self, invitation: InvitationView | None, token: str,
                   values: dict[str, str], errors: dict[str, str], status: int = 200) -> None:
        values = {k: v for k, v in values.items() if k != "password"}  # never sent back
        if invitation is not None:
            values.update(email=invitation.email, organization=invitation.org)
        await self.page("bodo-signup.html", status, values=values, errors=errors,
                        invitation=invitation, invitation_token=token,
                        terms_version=self.authenticator.terms_version)

    async def post(self) -> None:
        auth = self.authenticator
        token = self.get_body_argument("invitation", "")
        invitation = await self.open_invitation(token) if token else None
        if token and invitation is None:
            return
        values = {k: self.get_body_argument(k, "", strip=k != "password") for k in FIELDS}
        form, errors = parse_sign_up(
            values, fixed_org=invitation.org if invitation else None,
            fixed_email=invitation.email if invitation else None)
        if form is None:
            return await self.form(invitation, token, values, errors, 400)
        try:
            result = await auth.run(auth.store.sign_up, form, auth.terms_version,
                                    auth.resend_after, invitation.id if invitation else None,
                                    auth.activation_window)
        except SignUpRefused as e:
            return await self.form(invitation, token, values, {e.field: str(e)}, 400)
        if result.kind == "joined":
            self.log.info("New member %s of organisation %s (invitation)", form.email,
                          result.org)
            return self.redirect(self.url("login", notice="joined"))
        if result.kind == "created":
            self.log.info("New account %s, admin of new organisation %s", form.email,
                          result.org)
            auth.send_later(mail.activation_message(
                sender=auth.mail_from, to=form.email, name=form.full_name,
                link=auth.activation_link(self, result.account_id, result.nonce),
                hours=auth.activation_hours, site=auth.site_name))
        elif result.notify:  # the e-mail has an account: tell its owner, nobody else
            auth.send_later(mail.already_registered_message(
                sender=auth.mail_from, to=form.email, site=auth.site_name,
                login_url=auth.page_url(self, "login"),
                resend_url=auth.page_url(self, "bodo/resend")))
        self.redirect(self.url("bodo/signup/sent"))


class SentHandler(Page):
    async def get(self) -> None:
        await self.page("bodo-message.html", title="Check your mail", message=(
            "An activation link is on its way to the address you gave. Follow it to"
            " activate your account, then log in."), show_resend=True, show_login=False)


class ActivateHandler(Page):
    """Following an activation link: once, before it expires, signed by this hub."""

    async def get(self) -> None:
        auth = self.authenticator
        try:
            claims = auth.read_token(tokens.ACTIVATION, self.get_argument("token", ""))
            account_id, nonce = int(claims["a"]), str(claims["n"])
        except tokens.TokenError as e:
            if e.reason == "expired":
                return await self.problem(410, "Link expired", "This activation link has"
                                          " expired: get a new one below.", resend=True)
            outcome = "unknown"
        except (KeyError, TypeError, ValueError):
            outcome = "unknown"
        else:
            outcome = await auth.run(auth.store.activate, account_id, nonce)
        if outcome == "activated":
            self.log.info("Account %s activated", account_id)
            return self.redirect(self.url("login", notice="activated"))
        if outcome == "used":
            return await self.problem(410, "Link already used", "This activation link was"
                                      " used already, and the account is active: log in.")
        if outcome == "stale":
            return await self.problem(410, "Link replaced", "A newer activation link was"
                                      " sent since this one: use the newest mail, or get"
                                      " another link below.", resend=True)
        await self.problem(400, "Link not valid", "This activation link is not valid (it"
                           " was changed or cut short): open it from the mail again, or get"
                           " a new one below.", resend=True)


class ResendHandler(Page):
    """A new activation link for an e-mail; the answer is the same whether or not the
    e-mail has an account waiting."""

    async def get(self) -> None:
        await self.page("bodo-resend.html", email=self.get_argument("email", ""), error="")

    async def post(self) -> None:
        auth = self.authenticator
        raw = self.get_body_argument("email", "", strip=True)
        try:
            email = check_email(raw)
        except ValueError as e:
            return await self.page("bodo-resend.html", 400, email=raw, error=str(e))
        renewed = await auth.run(auth.store.renew_activation, email, auth.resend_after)
        if renewed is not None:
            account_id, nonce, name = renewed
            auth.send_later(mail.activation_message(
                sender=auth.mail_from, to=email, name=name,
                link=auth.activation_link(self, account_id, nonce),
                hours=auth.activation_hours, site=auth.site_name))
        await self.page("bodo-message.html", title="Check your mail", message=(
            f"If an account for {email} is waiting for activation, a new link is on its"
            " way; earlier links no longer work."), show_resend=False, show_login=True)


class InvitationsHandler(Page):
    """An organisation's admins invite people by e-mail (logged in with the hub cookie)."""

    async def admin(self) -> Any:
        auth = self.authenticator
        member = await auth.run(auth.store.member, self.current_user.name)
        if member is None or not member.admin or not member.active:
            await self.problem(403, "Admins only", "Only an organisation's admins can"
                               " invite people to it.")
            return None
        return member

    @web.authenticated
    async def get(self) -> None:
        member = await self.admin()
        if member is not None:
            await self.page("bodo-invitations.html", org=member.org, email="", error="",
                            sent="")

    @web.authenticated
    async def post(self) -> None:
        auth = self.authenticator
        member = await self.admin()
        if member is None:
            return
        raw = self.get_body_argument("email", "", strip=True)
        try:
            email = check_email(raw)
        except ValueError as e:
            return await self.page("bodo-invitations.html", 400, org=member.org, email=raw,
                                   error=str(e), sent="")
        try:
            view = await auth.run(auth.store.invite, member.email, email,
                                  auth.invitation_ttl)
        except PermissionError:
            return await self.problem(403, "Admins only", "Only an organisation's admins"
                                      " can invite people to it.")
        self.log.info("%s invited %s to organisation %s", member.email, email, view.org)
        auth.send_later(mail.invitation_message(
            sender=auth.mail_from, to=email, org=view.org, inviter=member.full_name,
            link=auth.invitation_link(self, view.id), days=auth.invitation_days,
            site=auth.site_name))
        await self.page("bodo-invitations.html", org=member.org, email="", error="",
                        sent=email)


HANDLERS: list[tuple[str, type]] = [
    ("/login", BodoLoginHandler),
    ("/bodo/signup", SignUpHandler),
    ("/bodo/signup/sent", SentHandler),
    ("/bodo/activate", ActivateHandler),
    ("/bodo/resend", ResendHandler),
    ("/bodo/invitations", InvitationsHandler),
]
