"""Keyset pagination of every list: newest first on (created_at, id).

A page is read with ``limit + 1`` rows in one statement, so the answer knows
whether another page follows without counting. The cursor (``next``) is
opaque to clients: where the page stopped, and the list it belongs to (its
*scope*: ``clusters``, ``tasks``, ``jobs``, ``runs:<job id>``). A cursor given
to another list than the one it came from is refused (400, field ``cursor``)
rather than silently paging something else.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, true, tuple_

from .errors import BadRequest
from .validation import check_int

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode_cursor(scope: str, created_at: datetime, id_: str) -> str:
    raw = json.dumps([scope, created_at.isoformat(), id_], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, datetime, str]:
    """(scope, created_at, id); a 400 naming ``cursor`` when it is not one of ours."""
    try:
        pad = "=" * (-len(cursor) % 4)
        scope, created, id_ = json.loads(base64.urlsafe_b64decode(cursor + pad))
        if not isinstance(scope, str) or not isinstance(id_, str):
            raise TypeError("not a cursor")
        created_at = datetime.fromisoformat(created)
    except (ValueError, TypeError) as e:
        raise BadRequest("invalid cursor: pass the 'next' value of the previous page",
                         field="cursor") from e
    return scope, created_at, id_


@dataclass(frozen=True)
class Page:
    """One page request: its limit and where the previous page of ``scope`` stopped.

    ``scope=None`` defers the scope check to :meth:`check` (a job's runs, when the
    job is known only once the statement has run)."""

    limit: int
    after: tuple[str, datetime, str] | None

    @classmethod
    def of(cls, scope: str | None, limit: int, cursor: str | None) -> Page:
        limit = check_int(limit, "limit", minimum=1, maximum=MAX_LIMIT)
        page = cls(limit, decode_cursor(cursor) if cursor else None)
        if scope is not None:
            page.check(scope)
        return page

    def check(self, scope: str) -> None:
        if self.after is not None and self.after[0] != scope:
            raise BadRequest("this cursor belongs to another list: pass the 'next' value "
                             "of the previous page of this one", field="cursor")

    @property
    def key(self) -> tuple[bool, int]:
        """What a page's statement depends on (for caching built statements): whether it
        starts after a cursor, and its limit. Values go in :meth:`params`."""
        return self.after is not None, self.limit

    def params(self) -> dict[str, Any]:
        """Bound values of :func:`after` for this page."""
        if self.after is None:
            return {}
        return {"after_created": self.after[1], "after_id": self.after[2]}

    def where(self, created: Any, id_: Any) -> ColumnElement[bool]:
        return after(created, id_) if self.after is not None else true()

    def apply(self, q: Select, created: Any, id_: Any) -> Select:
        return keyset(q, created, id_, *self.key)

    def answer(self, scope: str, rows: Sequence[Any],
               view: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        """``{items, next}`` from the ``limit + 1`` rows read; rows have ``created_at``
        and ``id``."""
        more = len(rows) > self.limit
        shown = rows[:self.limit]
        last = shown[-1] if more else None
        return {"items": [view(r) for r in shown],
                "next": encode_cursor(scope, last.created_at, last.id) if last else None}


def after(created: Any, id_: Any) -> ColumnElement[bool]:
    """Rows after the cursor's (created_at, id), bound as ``after_created``/``after_id``:
    a row-value comparison, which both SQLite and PostgreSQL answer from the
    (.., created_at, id) index."""
    return tuple_(created, id_) < tuple_(bindparam("after_created", type_=created.type),
                                         bindparam("after_id", type_=id_.type))


def keyset(q: Select, created: Any, id_: Any, has_cursor: bool, limit: int) -> Select:
    """``q`` narrowed to one page: after the cursor (if any), newest first, limit + 1.
    Build it once per :attr:`Page.key` and run it with :meth:`Page.params`."""
    if has_cursor:
        q = q.where(after(created, id_))
    return q.order_by(created.desc(), id_.desc()).limit(limit + 1)
