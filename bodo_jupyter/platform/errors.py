"""Errors a person can act on.

Every error the control plane raises on purpose is a :class:`PlatformError`
carrying an HTTP status, a stable machine code and one sentence for people.
Anything else is a bug: the API turns it into a 500 without a traceback.
"""

from __future__ import annotations


class PlatformError(Exception):
    """An error meant for the user, with the HTTP status that describes it."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def to_dict(self) -> dict:
        out = {"code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


class BadRequest(PlatformError):
    status = 400
    code = "bad_request"


class Unauthorized(PlatformError):
    status = 401
    code = "unauthorized"


class Forbidden(PlatformError):
    status = 403
    code = "forbidden"


class NotFound(PlatformError):
    status = 404
    code = "not_found"


class Conflict(PlatformError):
    status = 409
    code = "conflict"


class Unavailable(PlatformError):
    status = 503
    code = "unavailable"


class ProvisionError(PlatformError):
    """A provider could not make what was asked; the message says why."""

    status = 500
    code = "provision_failed"


def contract_error(e: ValueError) -> BadRequest:
    """A request that breaks the API contract (``ContractError``) as a 400 naming the field."""
    return BadRequest(getattr(e, "message", str(e)), field=getattr(e, "field", None) or None)
