"""Who is asking: the user and the organisation every API call is scoped to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    user_id: str
    user_name: str
    org_id: str
    org_name: str
    is_admin: bool = False
