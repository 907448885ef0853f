"""Passwords: the strength rule (pure) and argon2 hashing with rehash on new parameters.

The rule is deliberately simple to explain on a form: at least ``MIN_LENGTH`` characters,
and not a well-known password or one built from the e-mail, name or organisation with a
few digits around it (``acme2024!!``, ``P@ssw0rd1234``, ``qwertyuiop``). zxcvbn would
estimate better; this catches what guessing lists try first without a dependency.
"""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 1024  # the KDF's input stays bounded

# Words guessing lists start with; a password whose core (without digits, symbols and
# leetspeak) is one of these, or is made of them, is refused.
COMMON_WORDS = frozenset("""
password passwort motdepasse contrasena qwerty qwertz azerty asdf zxcv letmein welcome
admin administrator root login master secret changeme default iloveyou loveyou monkey
dragon football baseball basketball soccer hockey sunshine princess shadow superman
batman starwars trustno pokemon whatever freedom hello charlie michael jordan jennifer
summer winter spring autumn access flower cookie cheese computer internet google
bodo jupyter jupyterhub notebook python test testing guest user abc abcd
""".split())

SEQUENCES = ("abcdefghijklmnopqrstuvwxyz", "01234567890", "qwertyuiopasdfghjklzxcvbnm",
             "qwertzuiopasdfghjklyxcvbnm", "azertyuiopqsdfghjklmwxcvbn", "1qaz2wsx3edc4rfv")

_LEET = str.maketrans({"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e",
                       "$": "s", "5": "s", "7": "t", "+": "t", "9": "g"})


class WeakPassword(ValueError):
    """A password the rule refuses; the message says why, for the form."""


def _is_sequence(text: str) -> bool:
    return any(text in seq or text in seq[::-1] for seq in SEQUENCES)


def _words_only(text: str, words: set[str]) -> bool:
    """Whether ``text`` is nothing but ``words`` (and up to 3 other letters) glued together."""
    rest = text
    for word in sorted(words, key=len, reverse=True):
        if len(word) >= 3:
            rest = rest.replace(word, "")
    return rest != text and len(rest) <= 3


def check_password(password: str, *, email: str = "", names: tuple[str, ...] = ()) -> None:
    """Raise WeakPassword if ``password`` is too short or easy to guess for this person.

    ``names`` are the full name and organisation typed on the same form.
    """
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Use at most {MAX_LENGTH} characters.")
    lower = password.lower()
    if len(set(lower)) < 5:
        raise WeakPassword("Use more different characters.")
    plain = re.sub(r"[^a-z0-9]", "", lower)
    # The letters, as typed and read as leetspeak: "P@ssw0rd1234" is "password" twice over.
    cores = {re.sub(r"[^a-z]", "", lower), re.sub(r"[^a-z]", "", lower.translate(_LEET))}
    if any(_is_sequence(t) for t in (lower, plain, *cores) if t):
        raise WeakPassword("That is a keyboard or alphabet sequence; choose something"
                           " harder to guess.")
    personal: set[str] = set()
    local, _, domain = email.lower().partition("@")
    personal.update([*re.split(r"[^a-z0-9]+", local), re.sub(r"[^a-z0-9]", "", local)])
    personal.update(domain.split(".")[:-1])  # not the top-level domain ("com" in welcome)
    for name in names:
        personal.update(re.split(r"[^a-z0-9]+", name.lower()))
        personal.add(re.sub(r"[^a-z0-9]", "", name.lower()))
    personal = {p for p in personal if len(p) >= 3}
    if personal and any(_words_only(t, personal) or (
            _words_only(t, personal | COMMON_WORDS) and any(p in t for p in personal))
            for t in (plain, *cores)):
        raise WeakPassword("Do not build the password from your e-mail, name or"
                           " organisation.")
    if len(re.sub(r"[^a-z]", "", lower)) < 4:
        raise WeakPassword("Use some letters too, not mostly digits and symbols.")
    if any(_words_only(c, set(COMMON_WORDS)) for c in cores):
        raise WeakPassword("That is a common password (a word and some digits or"
                           " symbols); choose something harder to guess.")


class Passwords:
    """argon2id hashing with the configured parameters; old hashes are upgraded on login."""

    def __init__(self, time_cost: int = 3, memory_cost: int = 65536,
                 parallelism: int = 4) -> None:
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost,
                                     parallelism=parallelism)
        #: Verified when the e-mail is unknown, so that costs what a wrong password costs.
        self.dummy_hash = self.hasher.hash("not a password of anyone")

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored`` (None: an unknown account, same work)."""
        try:
            return self.hasher.verify(stored or self.dummy_hash, password) and bool(stored)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self.hasher.check_needs_rehash(stored)
