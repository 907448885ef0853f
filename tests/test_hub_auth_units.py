"""The authenticator's parts without a hub: tokens, the password rule, the sign-up form,
the mails, the key file, the store (SQLite and PostgreSQL, with a clock of its own),
mail failures, and the console mail catcher as a process."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bodo_jupyter.hub import mail, tokens
from bodo_jupyter.hub.authenticator import BodoAuthenticator
from bodo_jupyter.hub.forms import SignUp, parse_sign_up
from bodo_jupyter.hub.keys import load_or_create_key
from bodo_jupyter.hub.mail_catcher import links, summary
from bodo_jupyter.hub.passwords import Passwords, WeakPassword, check_password
from bodo_jupyter.hub.smtp import SMTPSettings
from bodo_jupyter.hub.store import AccountStore, SignUpRefused
from tests.net import free_port, wait_port

KEY = b"k" * 32


# -- tokens ----------------------------------------------------------------------------

def test_a_token_carries_its_claims_until_it_expires() -> None:
    t = tokens.sign(KEY, tokens.ACTIVATION, {"a": 7, "n": "abc"}, expires_at=1000)
    assert tokens.verify(KEY, tokens.ACTIVATION, t, now=999) == {"a": 7, "n": "abc",
                                                                 "exp": 1000}
    with pytest.raises(tokens.TokenError) as e:
        tokens.verify(KEY, tokens.ACTIVATION, t, now=1000)
    assert e.value.reason == "expired"


@pytest.mark.parametrize("change", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),          # the signature
    lambda t: ("e" if t[0] != "e" else "f") + t[1:],            # the claims
    lambda t: t.split(".")[0],                                   # cut short
    lambda t: t.replace(".", ".."), lambda t: "", lambda t: "é.é",
])
def test_a_changed_token_is_tampered(change) -> None:  # type: ignore[no-untyped-def]
    t = tokens.sign(KEY, tokens.ACTIVATION, {"a": 7}, expires_at=time.time() + 60)
    with pytest.raises(tokens.TokenError) as e:
        tokens.verify(KEY, tokens.ACTIVATION, change(t), now=time.time())
    assert e.value.reason == "tampered"


def test_a_token_works_only_for_its_purpose_and_key() -> None:
    t = tokens.sign(KEY, tokens.INVITATION, {"i": "x"}, expires_at=time.time() + 60)
    for key, purpose in ((KEY, tokens.ACTIVATION), (b"o" * 32, tokens.INVITATION)):
        with pytest.raises(tokens.TokenError, match="tampered"):
            tokens.verify(key, purpose, t, now=time.time())
    # An expired token with a bad signature says tampered: nothing unsigned is believed.
    old = tokens.sign(b"o" * 32, tokens.INVITATION, {"i": "x"}, expires_at=1)
    with pytest.raises(tokens.TokenError, match="tampered"):
        tokens.verify(KEY, tokens.INVITATION, old, now=time.time())


# -- passwords and the form ---------------------------------------------------------

@pytest.mark.parametrize(("password", "why"), [
    ("short-1x", "at least 10"), ("aaaaaaaaaaaa", "different characters"),
    ("1234567890", "sequence"), ("qwertyuiop", "sequence"), ("zyxwvutsrqpon", "sequence"),
    ("password123", "common"), ("P@ssw0rd1234", "common"), ("Welcome2024!", "common"),
    ("iloveyou12345", "common"), ("monkeydragon1", "common"),
    ("adalovelace1", "e-mail, name or organisation"),
    ("ada@example.com", "e-mail, name or organisation"),
    ("Engines2026!!", "e-mail, name or organisation"),
    ("0987654321", "sequence"), ("98765-43210-99", "letters"), ("2718-2818-2845", "letters"),
])
def test_weak_passwords_are_refused_with_the_reason(password: str, why: str) -> None:
    with pytest.raises(WeakPassword, match=why):
        check_password(password, email="ada.lovelace@example.com",
                       names=("Ada Lovelace", "Engines"))


@pytest.mark.parametrize("password", ["Blue-fjord-lamp-47", "kq8#Lm2!vZ",
                                      "correct horse battery", "Lovelace-horse-17"])
def test_strong_passwords_pass(password: str) -> None:
    check_password(password, email="ada@example.com", names=("Ada Lovelace", "Engines"))


def test_the_form_reports_every_bad_field_and_never_echoes_the_password() -> None:
    form, errors = parse_sign_up({"full_name": " ", "email": "x", "organization": "-no-!",
                                  "password": "pw", "terms": ""})
    assert form is None
    assert set(errors) == {"full_name", "email", "organization", "password", "terms"}
    form, errors = parse_sign_up({"full_name": " Ada   Lovelace ", "email": "Ada@Example.COM",
                                  "organization": " Engines ", "password": "Blue-fjord-lamp-47",
                                  "terms": "on"})
    assert errors == {} and form == SignUp("Ada Lovelace", "ada@example.com", "Engines",
                                           "Blue-fjord-lamp-47")
    assert "Blue" not in repr(form)
    # An invitation fixes the e-mail and organisation, whatever was posted.
    form, _ = parse_sign_up({"full_name": "B", "email": "evil@x.com", "organization": "Other",
                             "password": "Blue-fjord-lamp-47", "terms": "on"},
                            fixed_org="Engines", fixed_email="b@example.com")
    assert form and (form.email, form.organization) == ("b@example.com", "Engines")


# -- mails, key, SMTP settings ----------------------------------------------------------

def test_the_mails_carry_their_one_link() -> None:
    link = "https://hub.example.com/hub/bodo/activate?token=abc.def"
    msg = mail.activation_message(sender="hub@example.com", to="ada@example.com",
                                  name="Ada Lovelace", link=link, hours=24, site="Bodo")
    assert msg["To"] == "Ada Lovelace <ada@example.com>" and msg["From"] == "hub@example.com"
    assert msg["Subject"] == "Activate your Bodo account" and "example.com" in msg["Message-ID"]
    assert links(msg) == [link] and "for 24 hours" in msg.get_content()
    inv = mail.invitation_message(sender="hub@example.com", to="b@example.com", org="Engines",
                                  inviter="Ada Lovelace", link=link, days=7, site="Bodo")
    assert inv["Subject"] == "Ada Lovelace invites you to Engines on Bodo" and links(inv) == [link]
    notice = mail.already_registered_message(sender="hub@example.com", to="a@example.com",
                                             login_url="https://h/hub/login",
                                             resend_url="https://h/hub/bodo/resend", site="Bodo")
    assert links(notice) == ["https://h/hub/login", "https://h/hub/bodo/resend"]
    assert summary(msg).splitlines() == ["Mail to Ada Lovelace <ada@example.com>: Activate"
                                         " your Bodo account", f"    {link}"]


def test_the_key_file_is_made_private_once_and_refused_if_readable(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "key"
    key = load_or_create_key(path)
    assert len(key) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(path) == key
    path.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_or_create_key(path)


def test_smtp_settings_hide_the_password_and_check_the_security() -> None:
    s = SMTPSettings("mail", 587, "starttls", "u", "hunter2-secret")
    assert "hunter2" not in repr(s)
    with pytest.raises(ValueError, match="none, starttls, tls"):
        SMTPSettings(security="ssl")


def test_a_failed_mail_is_logged_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    auth = BodoAuthenticator(smtp_host="127.0.0.1", smtp_port=free_port(),
                             smtp_username="u", smtp_password="smtp-Secret-x1",
                             smtp_timeout=5)
    msg = mail.activation_message(sender="hub@example.com", to="ada@example.com", name="Ada",
                                  link="https://h/hub/bodo/activate?token=tok.SECRETMAC",
                                  hours=24, site="Bodo")

    async def go() -> None:
        auth.send_later(msg)  # nobody listens on that port
        await asyncio.gather(*auth._mail_tasks, return_exceptions=True)
        await asyncio.sleep(0)  # the done callback that logs

    with caplog.at_level(logging.INFO):
        asyncio.run(go())
    text = caplog.text
    assert "Mail to Ada <ada@example.com> (Activate your Bodo account) not sent:" in text
    assert "ConnectionRefusedError" in text
    assert "smtp-Secret-x1" not in text and "SECRETMAC" not in text


# -- the store ------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 12, 1, 12, 0, 0)

    def __call__(self) -> datetime:
        return self.t


@pytest.fixture
def store(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    clock = Clock()
    s = AccountStore(db_url or f"sqlite:///{tmp_path}/accounts.sqlite",
                     Passwords(time_cost=1, memory_cost=1024, parallelism=1), now=clock)
    s.clock = clock  # type: ignore[attr-defined]
    try:
        yield s
    finally:
        s.close()


FORM = SignUp("Ada Lovelace", "ada@example.com", "Engines", "Blue-fjord-lamp-47")
NO_WAIT = timedelta(0)


def test_the_store_signs_up_activates_once_and_logs_in(store: AccountStore) -> None:
    made = store.sign_up(FORM, "v1", NO_WAIT)
    assert made.kind == "created" and made.org == "Engines"
    assert store.login(FORM.email, FORM.password, 5, timedelta(minutes=15)).kind == "inactive"
    assert store.activate(made.account_id, "wrong") == "stale"
    assert store.activate(made.account_id, made.nonce) == "activated"
    assert store.activate(made.account_id, made.nonce) == "used"
    assert store.activate(made.account_id + 99, made.nonce) == "unknown"
    ok = store.login(FORM.email, FORM.password, 5, timedelta(minutes=15))
    assert (ok.kind, ok.org, ok.admin) == ("ok", "Engines", True)
    # Same e-mail again (any organisation): nothing new, and the caller mails the owner.
    again = store.sign_up(SignUp("M", "ada@example.com", "Other", "Blue-fjord-lamp-47"),
                          "v1", NO_WAIT)
    assert again.kind == "exists"
    with pytest.raises(SignUpRefused, match="The organisation Engines exists already"):
        store.sign_up(SignUp("B", "b@example.com", "ENGINES", "Blue-fjord-lamp-47"), "v1",
                      NO_WAIT)
    assert store.counts() == {"organizations": 1, "accounts": 1, "invitations": 0,
                              "login_failures": 0}


def test_the_store_locks_an_e_mail_for_a_while_then_forgets(store: AccountStore) -> None:
    made = store.sign_up(FORM, "v1", NO_WAIT)
    store.activate(made.account_id, made.nonce)
    lock = timedelta(minutes=15)
    assert [store.login(FORM.email, "Wrong-pass-1", 3, lock).kind for _ in range(3)] == \
        ["invalid", "invalid", "locked"]
    assert store.login(FORM.email, FORM.password, 3, lock).kind == "locked"
    store.clock.t += lock  # type: ignore[attr-defined]
    assert store.login(FORM.email, FORM.password, 3, lock).kind == "ok"
    # Failures spread wider apart than the lock time do not add up.
    for _ in range(4):
        assert store.login(FORM.email, "Wrong-pass-1", 3, lock).kind == "invalid"
        store.clock.t += lock + timedelta(seconds=1)  # type: ignore[attr-defined]
    # Unknown e-mails are counted and locked the same way.
    assert [store.login("ghost@example.com", "x", 2, lock).kind for _ in range(2)] == \
        ["invalid", "locked"]


def test_the_store_rehashes_a_password_when_the_parameters_change(
        store: AccountStore) -> None:
    made = store.sign_up(FORM, "v1", NO_WAIT)
    store.activate(made.account_id, made.nonce)
    old = store.engine.connect().exec_driver_sql("SELECT password_hash FROM accounts").scalar()
    store.passwords = Passwords(time_cost=2, memory_cost=2048, parallelism=1)
    assert store.login(FORM.email, FORM.password, 5, timedelta(minutes=1)).kind == "ok"
    with store.engine.connect() as c:
        new = c.exec_driver_sql("SELECT password_hash FROM accounts").scalar()
    assert old != new and "m=2048,t=2" in str(new)
    assert store.login(FORM.email, FORM.password, 5, timedelta(minutes=1)).kind == "ok"


def test_invitations_are_for_admins_single_use_and_expire(store: AccountStore) -> None:
    made = store.sign_up(FORM, "v1", NO_WAIT)
    with pytest.raises(PermissionError):  # not activated yet
        store.invite(FORM.email, "b@example.com", timedelta(days=7))
    store.activate(made.account_id, made.nonce)
    inv = store.invite(FORM.email, "b@example.com", timedelta(days=7))
    joiner = SignUp("Bea", "b@example.com", "Engines", "Blue-fjord-lamp-47")
    with pytest.raises(SignUpRefused, match=r"This invitation is for b@example\.com"):
        store.sign_up(SignUp("C", "c@example.com", "Engines", "Blue-fjord-lamp-47"), "v1",
                      NO_WAIT, inv.id)
    assert store.sign_up(joiner, "v1", NO_WAIT, inv.id).kind == "joined"
    member = store.member("b@example.com")
    assert member and member.active and not member.admin and member.org == "Engines"
    with pytest.raises(PermissionError):  # members do not invite
        store.invite("b@example.com", "c@example.com", timedelta(days=7))
    assert store.invitation(inv.id).state == "used"  # type: ignore[union-attr]
    with pytest.raises(SignUpRefused, match="no longer valid"):
        store.sign_up(joiner, "v1", NO_WAIT, inv.id)
    late = store.invite(FORM.email, "d@example.com", timedelta(days=7))
    store.clock.t += timedelta(days=7)  # type: ignore[attr-defined]
    assert store.invitation(late.id).state == "expired"  # type: ignore[union-attr]
    with pytest.raises(SignUpRefused, match="no longer valid"):
        store.sign_up(SignUp("D", "d@example.com", "Engines", "Blue-fjord-lamp-47"), "v1",
                      NO_WAIT, late.id)


def test_resends_renew_the_link_and_are_spaced(store: AccountStore) -> None:
    made = store.sign_up(FORM, "v1", timedelta(minutes=1))
    assert store.renew_activation(FORM.email, timedelta(minutes=1)) is None  # just mailed
    store.clock.t += timedelta(minutes=1, seconds=1)  # type: ignore[attr-defined]
    renewed = store.renew_activation(FORM.email, timedelta(minutes=1))
    assert renewed is not None and renewed[1] != made.nonce
    assert store.activate(made.account_id, made.nonce) == "stale"
    assert store.activate(made.account_id, renewed[1]) == "activated"
    assert store.renew_activation(FORM.email, NO_WAIT) is None  # active: nothing to renew
    assert store.renew_activation("nobody@example.com", NO_WAIT) is None


def test_the_initial_admin_is_made_once(store: AccountStore) -> None:
    assert store.ensure_admin("root@example.com", "Root", "Founders", "Initial-admin-pw-58x",
                              "v1")
    assert not store.ensure_admin("root@example.com", "Root", "Founders", "Another-pw-58x",
                                  "v1")
    ok = store.login("root@example.com", "Initial-admin-pw-58x", 5, timedelta(minutes=1))
    assert (ok.kind, ok.org, ok.admin) == ("ok", "Founders", True)


# -- the console mail catcher ---------------------------------------------------------

def test_the_mail_catcher_prints_each_mails_link() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bodo_jupyter.hub.mail_catcher",
                             "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        wait_port(port, proc, "mail catcher")  # type: ignore[arg-type]
        link = "http://127.0.0.1:8000/hub/bodo/activate?token=abc.def"
        msg = mail.activation_message(sender="hub@example.com", to="ada@example.com",
                                      name="Ada", link=link, hours=24, site="Bodo")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(msg)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert f"Mail catcher on 127.0.0.1:{port}" in out
    assert "Mail to Ada <ada@example.com>: Activate your Bodo account" in out
    assert f"    {link}\n" in out


# -- the authenticator's start ----------------------------------------------------------

def fake_hub(tmp_path: Path, bind_url: str = "http://:8000/") -> object:
    from types import SimpleNamespace

    return SimpleNamespace(db_url=f"sqlite:///{tmp_path}/jupyterhub.sqlite", public_url="",
                           bind_url=bind_url, tornado_settings={})


def test_start_puts_the_database_and_key_beside_the_hubs(tmp_path: Path) -> None:
    auth = BodoAuthenticator(argon2_memory_cost=1024)
    auth.get_handlers(fake_hub(tmp_path))
    assert (tmp_path / "bodo_accounts.sqlite").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "bodo_accounts.key").stat().st_mode & 0o777 == 0o600
    assert auth._hub_public_url == ""  # "http://:8000" names no host: the request's then
    auth2 = BodoAuthenticator(argon2_memory_cost=1024, signing_key="ab" * 16)
    auth2.get_handlers(fake_hub(tmp_path, "https://hub.example.com:8443/x/"))
    assert auth2.key == bytes.fromhex("ab" * 16)
    assert auth2._hub_public_url == "https://hub.example.com:8443"


@pytest.mark.parametrize(("password", "error"), [
    (None, "no password"), ("short", "too weak"), ("Founders2026!", "too weak")])
def test_the_hub_does_not_start_with_a_bad_initial_admin_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str | None,
        error: str) -> None:
    monkeypatch.delenv("BODO_HUB_ADMIN_PASSWORD", raising=False)
    if password is not None:
        monkeypatch.setenv("BODO_HUB_ADMIN_PASSWORD", password)
    auth = BodoAuthenticator(argon2_memory_cost=1024, initial_admin_email="ops@example.com",
                             initial_admin_organization="Founders")
    with pytest.raises(ValueError, match=error):
        auth.get_handlers(fake_hub(tmp_path))
    assert auth.store is not None and auth.store.member("ops@example.com") is None


# -- SMTP over TLS ----------------------------------------------------------------------

def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test smtp")])
    now = datetime.now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_mail_goes_over_tls_with_a_login_and_a_checked_certificate(
        tmp_path: Path, security: str) -> None:
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from bodo_jupyter.hub.mail_catcher import MailCatcher
    from bodo_jupyter.hub.smtp import send

    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    catcher = MailCatcher(out=None)
    logins: list[bytes] = []

    def auth(server, session, envelope, mechanism, data) -> AuthResult:  # type: ignore[no-untyped-def]
        logins.append(data.password)
        return AuthResult(success=data.password == b"tls-Secret-1")

    port = free_port()
    kwargs = ({"tls_context": server_ctx, "require_starttls": True} if security == "starttls"
              # aiosmtpd does not count implicit TLS as TLS for AUTH; it is TLS all the same
              else {"ssl_context": server_ctx, "auth_require_tls": False})
    controller = Controller(catcher, hostname="127.0.0.1", port=port, authenticator=auth,
                            **kwargs)
    controller.start()
    try:
        msg = mail.activation_message(sender="hub@example.com", to="ada@example.com",
                                      name="Ada", link="https://h/x", hours=1, site="Bodo")
        settings = SMTPSettings("127.0.0.1", port, security, "mailer", "tls-Secret-1",
                                timeout=10, ca_file=str(cert))
        send(settings, msg)
        assert len(catcher.messages) == 1 and logins == [b"tls-Secret-1"]
        # Without the CA, the server's certificate is refused before any login.
        with pytest.raises(ssl.SSLCertVerificationError):
            send(SMTPSettings("127.0.0.1", port, security, "mailer", "tls-Secret-1",
                              timeout=10), msg)
        assert len(logins) == 1
    finally:
        controller.stop()


def test_a_pending_sign_up_is_replaced_by_the_next_one_with_its_e_mail(
        store: AccountStore) -> None:
    minute = timedelta(minutes=1)
    squat = store.sign_up(SignUp("Mallory", "ada@example.com", "Squat", "Mallory-pw-4471"),
                          "v1", minute)
    # At once: nothing changes and nothing is sent (the link just mailed stays the one).
    quiet = store.sign_up(FORM, "v1", minute)
    assert (quiet.kind, quiet.notify) == ("exists", False)
    store.clock.t += minute  # type: ignore[attr-defined]
    mine = store.sign_up(FORM, "v1", minute)
    assert mine.kind == "created" and mine.account_id == squat.account_id
    assert store.activate(squat.account_id, squat.nonce) == "stale"  # the old link is dead
    assert store.activate(mine.account_id, mine.nonce) == "activated"
    ok = store.login(FORM.email, FORM.password, 5, minute)
    assert (ok.kind, ok.org, ok.admin) == ("ok", "Engines", True)
    assert store.login(FORM.email, "Mallory-pw-4471", 5, minute).kind == "invalid"
    assert store.counts()["organizations"] == 1  # Squat went with the pending account


def test_an_organisation_nobody_activated_in_time_is_free_again(store: AccountStore) -> None:
    day = timedelta(hours=24)
    store.sign_up(SignUp("Mallory", "m@example.com", "Engines", "Mallory-pw-4471"), "v1",
                  NO_WAIT, None, day)
    with pytest.raises(SignUpRefused, match="exists already"):  # still within its window
        store.sign_up(FORM, "v1", NO_WAIT, None, day)
    store.clock.t += day  # type: ignore[attr-defined]
    made = store.sign_up(FORM, "v1", NO_WAIT, None, day)
    assert made.kind == "created" and made.org == "Engines"
    assert store.member("m@example.com") is None
    assert store.counts()["organizations"] == 1 and store.counts()["accounts"] == 1
    # An organisation with an active member stays taken, however old.
    store.activate(made.account_id, made.nonce)
    store.clock.t += 10 * day  # type: ignore[attr-defined]
    with pytest.raises(SignUpRefused, match="exists already"):
        store.sign_up(SignUp("B", "b@example.com", "engines", "Blue-fjord-lamp-47"), "v1",
                      NO_WAIT, None, day)
