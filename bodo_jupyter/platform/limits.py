"""Limits on what one request may ask of the control plane.

Each limit is a trait (``c.Limits.max_body_bytes = ...`` in the control plane's
``bodo_jupyter_config.py``) and each refusal is a 4xx whose JSON body names
the field. What the contract can say itself -- characters of names and free
text, lengths -- is in ``openapi.yaml``; these are the numbers an admin may
want to move. Pure checks: no database, no network.
"""

from __future__ import annotations

import math
from typing import Any

from traitlets import Integer
from traitlets.config import Configurable

from .errors import BadRequest, PlatformError

#: Bodies over the limit by at most this much are read (and dropped) before the 413.
DRAIN_BYTES = 8 * 1024 * 1024

#: The largest integer a request may carry (SQLite's and PostgreSQL's BIGINT).
MAX_INT64 = 2**63 - 1


class PayloadTooLarge(PlatformError):
    status = 413
    code = "payload_too_large"


class TooManyRequests(PlatformError):
    """Over a rate limit; ``retry_after`` is the seconds to wait (``Retry-After``)."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None):
        super().__init__(message, field=field)
        self.retry_after = max(1, int(retry_after))


class Limits(Configurable):
    """Limits on request sizes, job environments and how often jobs run."""

    max_body_bytes = Integer(
        1024 * 1024, min=1, config=True,
        help="Largest request body in bytes; larger ones are refused (413, "
        "payload_too_large) and never kept whole: far larger ones (by 8 MiB) from their "
        "Content-Length before they are read, others as they arrive.",
    )
    max_json_depth = Integer(
        32, min=1, config=True,
        help="Deepest nesting of objects and lists in a request body (400).",
    )
    max_env_vars = Integer(
        100, min=0, config=True,
        help="Most environment variables a job may set (400, field env).",
    )
    max_env_bytes = Integer(
        64 * 1024, min=0, config=True,
        help="Largest total size of a job's environment in bytes, names and values "
        "together, UTF-8 (400, field env).",
    )
    min_cron_interval_s = Integer(
        60, min=1, config=True,
        help="Shortest time between two firings of a cron schedule, in seconds "
        "(400, field schedule.cron). Cron expressions have a seconds field: this "
        "keeps '* * * * * *' (86,400 runs a day) out.",
    )
    max_runs_per_job_per_day = Integer(
        1440, min=1, config=True,
        help="Most runs one job may start in 24 hours, whatever starts them: run-now "
        "beyond it is refused (429, Retry-After), a due scheduled run is skipped "
        "and logged.",
    )

    # -- checks ------------------------------------------------------------------------

    def check_content_length(self, value: str | None) -> int | None:
        """A body's declared size, refused before any of it is read when it is over
        the limit by more than :data:`DRAIN_BYTES`. A body over the limit by less is
        read and dropped as it arrives (never kept), and refused once it is in: a
        client that sends the whole body before it reads the answer (most do; only
        ``Expect: 100-continue`` waits) then gets the 413 rather than a connection
        closed under it."""
        if not value:
            return None
        try:
            size = int(value)
        except ValueError:
            raise BadRequest(f"Content-Length {value!r} is not a number",
                             field="Content-Length") from None
        if size > max(self.max_body_bytes, DRAIN_BYTES):
            self.check_body_size(size)
        return size

    def check_body_size(self, size: int) -> None:
        if size > self.max_body_bytes:
            raise PayloadTooLarge(
                f"the request body is {size} bytes; at most {self.max_body_bytes} are accepted",
                field="body")

    def check_json(self, value: Any) -> None:
        """Parsed JSON: nested at most ``max_json_depth`` deep (400, field ``body``), and
        no integer beyond 64 bits (400 naming its dotted path). Iterative: no recursion,
        whatever the depth."""
        todo: list[tuple[Any, int, str]] = [(value, 0, "")]
        while todo:
            v, depth, path = todo.pop()
            if isinstance(v, dict | list):
                depth += 1
                if depth > self.max_json_depth:
                    raise BadRequest(f"the request body is nested more than "
                                     f"{self.max_json_depth} levels deep", field="body")
                items = v.items() if isinstance(v, dict) else enumerate(v)
                for k, c in items:
                    where = (f"{path}[{k}]" if isinstance(k, int)
                             else f"{path}.{k}" if path else str(k))
                    if isinstance(k, str):
                        check_unicode(k, where)
                    todo.append((c, depth, where))
            elif isinstance(v, str):
                check_unicode(v, path or "body")
            else:
                check_int64(v, path or "body")

    def check_env(self, env: dict[str, str] | None, field: str = "env") -> None:
        env = env or {}
        if len(env) > self.max_env_vars:
            raise BadRequest(f"{field} has {len(env)} variables; at most "
                             f"{self.max_env_vars} are accepted", field=field)
        size = sum(len(k.encode("utf-8", "surrogatepass"))
                   + len(v.encode("utf-8", "surrogatepass"))
                   for k, v in env.items())
        if size > self.max_env_bytes:
            raise BadRequest(f"{field} is {size} bytes (names and values); at most "
                             f"{self.max_env_bytes} are accepted", field=field)

    def check_cron_gap(self, gap_s: float, expr: str) -> None:
        if gap_s < self.min_cron_interval_s:
            shown = f"{gap_s:g}" if math.isfinite(gap_s) else str(gap_s)
            raise BadRequest(
                f"cron expression {expr!r} fires every {shown} s at times; schedules may "
                f"fire at most once every {self.min_cron_interval_s} s", field="schedule.cron")


def check_unicode(value: str, field: str) -> None:
    """Text that can be stored and passed on: JSON's ``\\ud800`` escapes can make a lone
    surrogate, which no database, file or environment takes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{field} is not valid Unicode text (it holds a lone surrogate "
                         "such as \\ud800)", field=field) from None


def check_int64(value: Any, field: str) -> None:
    """Integers a database can hold (SQLite raises OverflowError beyond 64 bits)."""
    if isinstance(value, int) and not isinstance(value, bool) \
            and not -MAX_INT64 - 1 <= value <= MAX_INT64:
        raise BadRequest(f"{field} is out of range (at most {MAX_INT64})", field=field)
