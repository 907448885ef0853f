"""The sign-up form's rules (pure): what each field must be, and the message when not.

Every field is checked, so a person sees all that is wrong at once, each message under
its field. Nothing here knows whether an e-mail or organisation exists: that is the
store's to say.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bodo_jupyter.contract.hub_groups import check_org_name

from .passwords import WeakPassword, check_password

#: Deliberately narrower than RFC 5322: the address becomes the hub user name, which
#: appears in URLs (/user/<name>/) and must not hold '/', quotes or spaces.
EMAIL = re.compile(r"^[a-z0-9._%+-]{1,64}@[a-z0-9-]+(\.[a-z0-9-]+)+$")
FIELDS = ("full_name", "email", "organization", "password", "terms")


def check_email(value: str) -> str:
    """The address lower-cased, or ValueError saying what is wrong."""
    email = value.strip().lower()
    if len(email) > 254 or not EMAIL.match(email) or ".." in email:
        raise ValueError("Enter an e-mail address such as ada@example.com (letters, digits"
                         " and . _ % + - before the @).")
    return email


def check_full_name(value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise ValueError("Enter your name.")
    if len(name) > 200 or any(unicodedata.category(c).startswith("C") for c in name):
        raise ValueError("Enter a name of at most 200 printable characters.")
    return name


@dataclass(frozen=True)
class SignUp:
    full_name: str
    email: str
    organization: str
    password: str

    def __repr__(self) -> str:  # never the password, wherever this is printed
        return f"SignUp({self.full_name!r}, {self.email!r}, {self.organization!r})"


def parse_sign_up(values: dict[str, str], fixed_org: str | None = None,
                  fixed_email: str | None = None) -> tuple[SignUp | None, dict[str, str]]:
    """(the sign-up, {}) if the form is good; (None, {field: message}) if not.

    ``fixed_org``/``fixed_email`` come from an invitation and replace what was posted.
    """
    errors: dict[str, str] = {}
    out: dict[str, str] = {}
    raw_email = fixed_email if fixed_email is not None else values.get("email", "")
    raw_org = fixed_org if fixed_org is not None else values.get("organization", "").strip()
    for field, check, raw in (("full_name", check_full_name, values.get("full_name", "")),
                              ("email", check_email, raw_email),
                              ("organization", check_org_name, raw_org)):
        try:
            out[field] = check(raw)
        except ValueError as e:
            msg = str(e)
            errors[field] = msg[0].upper() + msg[1:] + ("" if msg.endswith(".") else ".")
    password = values.get("password", "")
    try:
        check_password(password, email=out.get("email", ""),
                       names=(out.get("full_name", ""), out.get("organization", "")))
    except WeakPassword as e:
        errors["password"] = str(e)
    if values.get("terms") not in ("on", "yes", "true", "1"):
        errors["terms"] = "Accept the terms and conditions to create an account."
    if errors:
        return None, errors
    return SignUp(out["full_name"], out["email"], out["organization"], password), {}
