"""Checks on user input, each failing with a message that says what to fix."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import BadRequest

NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
NAME_RULE = (
    "1-63 characters: lowercase letters, digits and '-', starting with a letter "
    "and not ending with '-'"
)


def check_name(value: Any, what: str = "cluster name", field: str = "name") -> str:
    """DNS-label names: they end up in hostnames, tags and file names."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{what} is required ({NAME_RULE})", field=field)
    if len(value) > 63 or not NAME_RE.match(value):
        raise BadRequest(f"invalid {what} {value!r}: use {NAME_RULE}", field=field)
    return value


def check_int(value: Any, field: str, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{field} must be a whole number, got {value!r}", field=field)
    if value < minimum:
        raise BadRequest(f"{field} must be at least {minimum}, got {value}", field=field)
    if value > maximum:
        raise BadRequest(f"{field} must be at most {maximum}, got {value}", field=field)
    return value


def check_bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    raise BadRequest(f"{field} must be true or false, got {value!r}", field=field)


def check_str(value: Any, field: str, *, required: bool = True, max_len: int = 256) -> str:
    if value is None or value == "":
        if required:
            raise BadRequest(f"{field} is required", field=field)
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string, got {value!r}", field=field)
    if len(value) > max_len:
        raise BadRequest(f"{field} is longer than {max_len} characters", field=field)
    return value


def check_fields(body: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Unknown fields are an error, not silently ignored (a typo would vanish)."""
    allowed = set(allowed)
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(
            f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}",
            field=unknown[0],
        )
