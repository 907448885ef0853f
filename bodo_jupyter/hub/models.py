"""The authenticator's own tables: organisations, accounts, invitations, login failures.

They live in a database of their own (``BodoAuthenticator.db_url``), not the hub's and not
the control plane's: the hub's database holds who is logged in, this one who may log in.
E-mails are stored lower-cased (unique, so case-insensitively), organisation names as
typed with a lower-cased key that is unique.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64), unique=True)  # name.lower()
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # lower-cased
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(512))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    #: What the current activation link is bound to; None once activated (links die).
    activation_nonce: Mapped[str | None] = mapped_column(String(64), nullable=True)
    terms_version: Mapped[str] = mapped_column(String(64))
    terms_accepted_at: Mapped[datetime] = mapped_column(DateTime)
    #: When a mail about this account last went out (resends are spaced by this).
    last_mail_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    org: Mapped[Organization] = relationship(lazy="joined", innerjoin=True)  # FOR UPDATE works


class Invitation(Base):
    __tablename__ = "invitations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # random, in the link
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))  # lower-cased
    invited_by: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    org: Mapped[Organization] = relationship(lazy="joined", innerjoin=True)  # FOR UPDATE works


class LoginFailure(Base):
    """Failed logins per e-mail, registered or not (so a lock reveals nothing)."""

    __tablename__ = "login_failures"

    email: Mapped[str] = mapped_column(String(254), primary_key=True)  # lower-cased
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
