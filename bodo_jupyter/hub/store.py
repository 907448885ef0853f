"""AccountStore: every read and write of the authenticator's database, and the KDF work.

All of it blocks (SQL, argon2), so the authenticator calls it with ``asyncio.to_thread``.
Each method is one transaction; a race between two sign-ups for one e-mail or
organisation ends at the unique indexes and is answered as if it had come second.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from .forms import SignUp
from .models import Account, Base, Invitation, LoginFailure, Organization
from .passwords import Passwords


def utcnow() -> datetime:
    """Naive UTC: what both SQLite and PostgreSQL give back unchanged."""
    return datetime.now(UTC).replace(tzinfo=None)


class SignUpRefused(ValueError):
    """A sign-up the store refuses, with the form field the message belongs under."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SignUpResult:
    #: created: a new account awaits activation; exists: the e-mail has an account (mail
    #: its owner, say nothing else); joined: an invitation made an active member.
    kind: str
    account_id: int = 0
    nonce: str = ""
    org: str = ""
    notify: bool = True  # False: a mail about this account went out moments ago


@dataclass(frozen=True)
class LoginResult:
    #: ok | invalid (unknown e-mail or wrong password) | locked | inactive
    kind: str
    org: str = ""
    admin: bool = False


@dataclass(frozen=True)
class Member:
    email: str
    full_name: str
    org: str
    admin: bool
    active: bool


@dataclass(frozen=True)
class InvitationView:
    id: str
    org: str
    email: str
    state: str  # open | used | expired


def _sqlite_private(url: str) -> None:
    """Make a SQLite file 0600 before the engine creates it (it holds password hashes)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return
    path = Path(u.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


class AccountStore:
    def __init__(self, db_url: str, passwords: Passwords,
                 now: Callable[[], datetime] = utcnow) -> None:
        _sqlite_private(db_url)
        self.passwords = passwords
        self.now = now
        kwargs: dict[str, object] = {"pool_pre_ping": True}
        if make_url(db_url).get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = create_engine(db_url, **kwargs)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        self.session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # -- sign-up and activation ---------------------------------------------------------

    def sign_up(self, form: SignUp, terms_version: str, resend_after: timedelta,
                invitation_id: str | None = None,
                pending_for: timedelta = timedelta(hours=24)) -> SignUpResult:
        """Create an account (and, without an invitation, its organisation, with it as the
        admin), or say why not. The password is hashed first, whatever follows, so every
        path costs about the same.

        Sign-ups nobody activated hold nothing for long: a new sign-up with the e-mail of
        a pending account replaces it (its name, password and organisation; only the
        newest link activates, and it goes to that mailbox), so whoever signed up with
        someone else's address gains nothing; an organisation whose members are all
        pending, with links older than ``pending_for``, is free for the next sign-up.
        """
        pw_hash = self.passwords.hash(form.password)
        args = (form, pw_hash, terms_version, resend_after, invitation_id, pending_for)
        try:
            return self._sign_up(*args)
        except IntegrityError:  # lost a race for the e-mail or the organisation name
            return self._sign_up(*args)

    def _sign_up(self, form: SignUp, pw_hash: str, terms_version: str,
                 resend_after: timedelta, invitation_id: str | None,
                 pending_for: timedelta) -> SignUpResult:
        now = self.now()
        with self.session.begin() as s:
            existing = s.scalar(select(Account).where(Account.email == form.email))
            if invitation_id is not None:
                inv = s.get(Invitation, invitation_id, with_for_update=True)
                if inv is None or inv.used_at is not None or inv.expires_at <= now:
                    raise SignUpRefused("invitation", "This invitation is no longer valid:"
                                        " ask your organisation's admin for a new one.")
                if inv.email != form.email:
                    raise SignUpRefused("email", f"This invitation is for {inv.email}.")
                if existing is not None:
                    raise SignUpRefused("email", "An account with this e-mail exists"
                                        " already: log in instead.")
                s.add(self._account(form, pw_hash, inv.org, admin=False, terms=terms_version,
                                    activated=now))
                inv.used_at = now
                return SignUpResult("joined", org=inv.org.name)
            org = s.scalar(select(Organization).where(
                Organization.name_key == form.organization.lower()))
            pending = existing is not None and existing.activated_at is None
            if pending and existing.last_mail_at is not None and \
                    existing.last_mail_at > now - resend_after:
                # Mailed moments ago: change nothing (a second sign-up cannot take over
                # the link that just went out) and send nothing.
                return SignUpResult("exists", account_id=existing.id, notify=False)
            if org is not None:
                members = list(s.scalars(select(Account).where(Account.org_id == org.id)))
                own = pending and [m.id for m in members] == [existing.id]
                abandoned = all(m.activated_at is None and (m.last_mail_at or m.created_at)
                                <= now - pending_for for m in members)
                if not own and not abandoned:
                    raise SignUpRefused("organization", f"The organisation {org.name} exists"
                                        " already: ask its admin for an invitation.")
                if not own:  # nobody activated it in time: the name is free again
                    for m in members:
                        s.delete(m)
                    s.delete(org)
                    s.flush()
                    org = None
                    if existing in members:
                        existing, pending = None, False
            if existing is not None and not pending:
                notify = existing.last_mail_at is None or \
                    existing.last_mail_at <= now - resend_after
                if notify:
                    existing.last_mail_at = now
                return SignUpResult("exists", account_id=existing.id, notify=notify)
            if org is None:
                org = Organization(name=form.organization, name_key=form.organization.lower(),
                                   created_at=now)
                s.add(org)
            if existing is not None:  # a pending sign-up of this e-mail: the new one wins
                old_org = existing.org
                existing.full_name, existing.password_hash = form.full_name, pw_hash
                existing.org, existing.is_admin = org, True
                existing.terms_version, existing.terms_accepted_at = terms_version, now
                account = existing
                s.flush()
                if old_org.id != org.id and s.scalar(select(func.count()).select_from(
                        Account).where(Account.org_id == old_org.id)) == 0:
                    s.delete(old_org)
            else:
                account = self._account(form, pw_hash, org, admin=True, terms=terms_version)
                s.add(account)
            account.activation_nonce = secrets.token_hex(16)
            account.last_mail_at = now
            s.flush()
            return SignUpResult("created", account_id=account.id,
                                nonce=account.activation_nonce, org=org.name)

    def _account(self, form: SignUp, pw_hash: str, org: Organization, *, admin: bool,
                 terms: str, activated: datetime | None = None) -> Account:
        now = self.now()
        return Account(email=form.email, full_name=form.full_name, password_hash=pw_hash,
                       org=org, is_admin=admin, created_at=now, activated_at=activated,
                       terms_version=terms, terms_accepted_at=now)

    def activate(self, account_id: int, nonce: str) -> str:
        """activated (now), used (already active), stale (a newer link replaced this one),
        unknown (no such account)."""
        with self.session.begin() as s:
            account = s.get(Account, account_id, with_for_update=True)
            if account is None:
                return "unknown"
            if account.activated_at is not None:
                return "used"
            if account.activation_nonce is None or not secrets.compare_digest(
                    account.activation_nonce, nonce):
                return "stale"
            account.activated_at = self.now()
            account.activation_nonce = None
            return "activated"

    def renew_activation(self, email: str, resend_after: timedelta
                         ) -> tuple[int, str, str] | None:
        """(account id, new nonce, full name) for a new activation link -- older links
        stop working -- or None: no account awaiting activation, or mailed moments ago."""
        now = self.now()
        with self.session.begin() as s:
            account = s.scalar(select(Account).where(Account.email == email))
            if account is None or account.activated_at is not None:
                return None
            if account.last_mail_at is not None and account.last_mail_at > now - resend_after:
                return None
            account.activation_nonce = secrets.token_hex(16)
            account.last_mail_at = now
            return account.id, account.activation_nonce, account.full_name

    # -- login ----------------------------------------------------------------------------

    def login(self, email: str, password: str, max_failures: int,
              lock_for: timedelta) -> LoginResult:
        """Check a password, counting failures per e-mail (known or not): after
        ``max_failures`` in a row the e-mail is locked for ``lock_for``, across restarts."""
        now = self.now()
        with self.session.begin() as s:
            failure = s.get(LoginFailure, email)
            if failure is not None and failure.locked_until is not None \
                    and failure.locked_until > now:
                return LoginResult("locked")
            account = s.scalar(select(Account).where(Account.email == email))
        ok = self.passwords.verify(account.password_hash if account else None, password)
        with self.session.begin() as s:
            failure = s.get(LoginFailure, email, with_for_update=True)
            if not ok:
                if failure is None:
                    failure = LoginFailure(email=email, failures=0, last_failure_at=now)
                    s.add(failure)
                elif failure.last_failure_at <= now - lock_for:
                    failure.failures = 0  # old failures do not add up forever
                failure.failures += 1
                failure.last_failure_at = now
                if failure.failures >= max_failures:
                    failure.failures = 0
                    failure.locked_until = now + lock_for
                    return LoginResult("locked")
                return LoginResult("invalid")
            if failure is not None:
                s.delete(failure)
            assert account is not None
            if self.passwords.needs_rehash(account.password_hash):
                s.get(Account, account.id).password_hash = self.passwords.hash(password)
            if account.activated_at is None:
                return LoginResult("inactive")
            return LoginResult("ok", org=account.org.name, admin=account.is_admin)

    def member(self, email: str) -> Member | None:
        with self.session() as s:
            a = s.scalar(select(Account).where(Account.email == email))
            if a is None:
                return None
            return Member(a.email, a.full_name, a.org.name, a.is_admin,
                          a.activated_at is not None)

    # -- invitations ----------------------------------------------------------------------

    def invite(self, inviter_email: str, email: str, ttl: timedelta) -> InvitationView:
        """A new invitation into the inviter's organisation; PermissionError unless the
        inviter is an active admin of it."""
        now = self.now()
        with self.session.begin() as s:
            inviter = s.scalar(select(Account).where(Account.email == inviter_email))
            if inviter is None or not inviter.is_admin or inviter.activated_at is None:
                raise PermissionError("only an organisation's admins can invite")
            inv = Invitation(id=secrets.token_hex(16), org=inviter.org, email=email,
                             invited_by=inviter.id, created_at=now, expires_at=now + ttl)
            s.add(inv)
            return InvitationView(inv.id, inviter.org.name, email, "open")

    def invitation(self, invitation_id: str) -> InvitationView | None:
        with self.session() as s:
            inv = s.get(Invitation, invitation_id)
            if inv is None:
                return None
            state = "used" if inv.used_at else "expired" if inv.expires_at <= self.now() \
                else "open"
            return InvitationView(inv.id, inv.org.name, inv.email, state)

    # -- the initial admin ----------------------------------------------------------------

    def ensure_admin(self, email: str, full_name: str, org_name: str, password: str,
                     terms_version: str) -> bool:
        """Create an active admin account (and its organisation) unless the e-mail has an
        account already; True if one was made. Its password is never changed here."""
        with self.session.begin() as s:
            if s.scalar(select(Account.id).where(Account.email == email)) is not None:
                return False
            org = s.scalar(select(Organization).where(
                Organization.name_key == org_name.lower()))
            if org is None:
                org = Organization(name=org_name, name_key=org_name.lower(),
                                   created_at=self.now())
                s.add(org)
            form = SignUp(full_name, email, org_name, password)
            s.add(self._account(form, self.passwords.hash(password), org, admin=True,
                                terms=terms_version, activated=self.now()))
            return True

    def counts(self) -> dict[str, int]:
        """Rows per table (for operators and tests: what a refused input left behind)."""
        with self.session() as s:
            return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
                    for m in (Organization, Account, Invitation, LoginFailure)}


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


__all__ = ["AccountStore", "InvitationView", "LoginResult", "Member",
           "SignUpRefused", "SignUpResult", "utcnow"]
