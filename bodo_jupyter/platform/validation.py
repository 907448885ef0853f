"""Checks on query parameters, each failing with a message that says what to fix.

Request bodies are checked by the API contract (``Model.parse``); these are for
the few numbers that arrive in a query string.
"""

from __future__ import annotations

from typing import Any

from .errors import BadRequest


def check_int(value: Any, field: str, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{field} must be a whole number, got {value!r}", field=field)
    if value < minimum:
        raise BadRequest(f"{field} must be at least {minimum}, got {value}", field=field)
    if value > maximum:
        raise BadRequest(f"{field} must be at most {maximum}, got {value}", field=field)
    return value
