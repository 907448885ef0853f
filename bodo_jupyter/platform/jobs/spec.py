"""The job form, checked and normalised. Pure: no database, no network.

The contract (``CreateJobRequest.parse``) has already checked types, lengths,
ranges and unknown fields; this module checks what a schema cannot say (a
command that splits, a Git URL without credentials, a cron expression that
fires, a time in the future). Each check raises :class:`BadRequest` naming
the field by its path in the request (``schedule.cron``) and the bad value,
so the API, the CLI and the UI can put the message next to the field.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from bodo_jupyter.contract.models import (
    CreateJobRequest,
    JobScheduleRequest,
    NewCluster,
    ScheduleType,
)

from ..errors import BadRequest, contract_error

PREFIX = "mpiexec -n <CORE_COUNT> python"
RESERVED_ENV = ("BODO_JUPYTER_", "OMPI_", "PMIX_", "PRTE_")
REF_RE = re.compile(r"^[A-Za-z0-9._/+-]+$")
SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass
class Schedule:
    type: str  # now | at | cron
    run_at: datetime | None = None
    cron: str | None = None
    timezone: str = "UTC"
    max_concurrent_runs: int = 1


@dataclass
class Source:
    type: str  # git | s3
    path: str
    bucket: str | None = None
    prefix: str = ""


@dataclass
class JobSpec:
    name: str
    cluster_ref: str | None
    cluster_spec: NewCluster | None
    schedule: Schedule
    command: str
    argv: list[str]
    source: Source
    ref: str | None = None
    git_username: str | None = None
    git_password: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: int | None = None
    retries: int = 0
    retry_delay_s: int = 0
    notices: list[str] = field(default_factory=list)


def parse_command(command: str) -> list[str]:
    """What the user types after the prefix, as an argv list (never a shell line)."""
    command = command.strip()
    if not command:
        raise BadRequest(f"command is required: what follows `{PREFIX}`, e.g. 'ex.py 1'",
                         field="command")
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise BadRequest(f"command {command!r} cannot be split into arguments: {e}",
                         field="command") from None
    if not argv:
        raise BadRequest(f"command is required: what follows `{PREFIX}`", field="command")
    first = argv[0].rsplit("/", 1)[-1]
    if first in ("python", "python3", "mpiexec", "mpirun", "srun"):
        raise BadRequest(
            f"the command runs as `{PREFIX} <command>`: leave out {argv[0]!r} and start with "
            "your script, e.g. 'ex.py 1'", field="command")
    return argv


def parse_path(path: str) -> tuple[Source, list[str]]:
    """A Git repository URL (https) or an S3 URI; returns the source and notices."""
    path = path.strip()
    notices: list[str] = []
    if path.startswith("s3://"):
        rest = path[len("s3://"):]
        bucket, _, prefix = rest.partition("/")
        if not BUCKET_RE.match(bucket or ""):
            raise BadRequest(f"invalid S3 bucket name {bucket!r} in path", field="path")
        if ".." in prefix.split("/"):
            raise BadRequest("S3 prefix must not contain '..'", field="path")
        return Source("s3", f"s3://{bucket}/{prefix}", bucket, prefix), notices
    try:
        parts = urlsplit(path)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range or not a number
    except ValueError as e:
        raise BadRequest(f"path {path!r} is not a valid URL: {e}", field="path") from None
    if parts.scheme in ("http", "https", "git", "ssh", "file") or "@" in path.split("/")[0]:
        if parts.scheme != "https":
            raise BadRequest(f"Git URLs must use https:// (got {path!r})", field="path")
        if parts.username or parts.password:
            raise BadRequest("do not put credentials in the Git URL: give them as "
                             "git_username and git_password (stored encrypted)", field="path")
        if not parts.hostname or not parts.path.strip("/"):
            raise BadRequest(f"{path!r} does not name a repository", field="path")
        if parts.query or parts.fragment:
            raise BadRequest("Git URL must not have a query or fragment; give a branch, tag or "
                             "commit as ref", field="path")
        clean = parts.path.rstrip("/")
        if clean.endswith(".git"):
            clean = clean[: -len(".git")]
            normal = urlunsplit(("https", parts.netloc, clean, "", ""))
            notices.append(f"path ends in '.git': using the repository URL {normal}")
        normal = urlunsplit(("https", parts.netloc, clean, "", ""))
        return Source("git", normal), notices
    raise BadRequest("path must be a Git repository URL (https://host/owner/repo) or an S3 "
                     f"URI (s3://bucket/prefix), got {path!r}", field="path")


def parse_ref(ref: str | None) -> str | None:
    ref = (ref or "").strip()
    if not ref:
        return None
    if ref.startswith("-") or not REF_RE.match(ref) or ".." in ref or ref.endswith((".", "/")):
        raise BadRequest(f"invalid Git reference {ref!r}: give a branch, tag or commit SHA",
                         field="ref")
    return ref


def is_sha(ref: str) -> bool:
    return bool(SHA_RE.match(ref))


def parse_env(env: dict[str, str] | None) -> dict[str, str]:
    """Names and sizes were checked by the contract; some names belong to the platform."""
    for k in env or {}:
        if k.startswith(RESERVED_ENV):
            raise BadRequest(f"env.{k}: the name {k} is reserved by the platform (names "
                             f"starting with {', '.join(RESERVED_ENV)})", field=f"env.{k}")
    return dict(env or {})


def parse_zone(tz: str | None, field: str = "schedule.timezone") -> ZoneInfo:
    tz = tz or "UTC"
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(f"unknown time zone {tz!r}; use an IANA name such as "
                         "'Europe/Paris' or 'UTC'", field=field) from None


def parse_schedule(raw: str | JobScheduleRequest | None, now: datetime,
                   min_interval_s: float = 0) -> Schedule:
    if raw is None or raw == "now":
        return Schedule("now")
    assert isinstance(raw, JobScheduleRequest)  # the contract allows nothing else
    kind = raw.type
    zone = parse_zone(raw.timezone)
    if kind == ScheduleType.NOW:
        return Schedule("now", timezone=zone.key)
    if kind == ScheduleType.AT:
        if not raw.at:
            raise BadRequest("schedule.at is required for an 'at' schedule: an ISO 8601 date "
                             "and time, e.g. 2030-01-31T09:00:00+01:00", field="schedule.at")
        try:
            when = datetime.fromisoformat(raw.at.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"schedule.at must be an ISO 8601 date and time, got {raw.at!r}",
                             field="schedule.at") from None
        if when.tzinfo is None:
            if raw.timezone is None:
                raise BadRequest(f"schedule.at {raw.at!r} has no UTC offset: add one (e.g. "
                                 "+01:00) or give a timezone", field="schedule.at")
            when = when.replace(tzinfo=zone)
        if when <= now:
            raise BadRequest(f"schedule.at {when.isoformat()} is in the past (it is now "
                             f"{now.astimezone(when.tzinfo).isoformat(timespec='seconds')})",
                             field="schedule.at")
        return Schedule("at", run_at=when.astimezone(UTC), timezone=zone.key)
    if not raw.cron:
        raise BadRequest("schedule.cron is required for a 'cron' schedule, e.g. "
                         "'0 9 * * 1-5'", field="schedule.cron")
    expr = " ".join(raw.cron.split())
    problem = cron_problem(expr)
    if problem is None and not croniter.is_valid(expr):
        problem = "not understood"  # our checker let it through; croniter did not
    if problem is None:
        try:
            next_cron_time(expr, zone.key, now)
        except CroniterBadDateError:
            f = expr.split()
            problem = f"no date ever has day-of-month {f[2]!r} in month {f[3]!r}"
        except (ValueError, KeyError, IndexError, OverflowError) as e:
            problem = f"not understood ({e})"
    if problem:
        raise BadRequest(f"invalid cron expression {expr!r}: {problem}", field="schedule.cron")
    if min_interval_s > 0:
        gap = cron_min_gap(expr, zone.key, now)
        if gap < min_interval_s:
            raise BadRequest(
                f"cron expression {expr!r} fires {gap:g} s apart at times; a schedule may fire "
                f"at most once every {min_interval_s:g} s", field="schedule.cron")
    return Schedule("cron", cron=expr, timezone=zone.key,
                    max_concurrent_runs=raw.max_concurrent_runs)


# -- cron expressions ---------------------------------------------------------------------

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class CronField:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] is the value low + i
    noun: str = "number"  # what a value is called in messages
    named: str = ""  # the names, as messages show them

    def value(self, text: str, part: str) -> tuple[int | None, str | None]:
        """A number or a name of this field as a number, or the problem with it."""
        if text.isdigit():
            n = int(text)
            if not self.low <= n <= self.high:
                where = "" if text == part else f" in {part!r}"
                return None, f"{self.name} {n}{where} is out of range {self.low}-{self.high}"
            return n, None
        if text.lower() in self.names:
            return self.low + self.names.index(text.lower()), None
        if not text:
            return None, f"{self.name} {part!r}: a value is missing"
        if self.names:
            return None, (f"{self.name} {part!r}: {text!r} is not a {self.noun} "
                          f"({self.named} or {self.low}-{self.high})")
        return None, (f"{self.name} {part!r}: {text!r} is not a number "
                      f"({self.low}-{self.high})")


CRON_FIELDS = (
    CronField("minute", 0, 59),
    CronField("hour", 0, 23),
    CronField("day-of-month", 1, 31),
    CronField("month", 1, 12, MONTHS, "month", "jan-dec"),
    # 0 and 7 are both Sunday; names: sun=0 ... sat=6.
    CronField("day-of-week", 0, 7, DAYS, "day", "mon-sun"),
    CronField("second", 0, 59),  # croniter's optional sixth field
)
CRON_SHAPE = ("five fields (minute hour day-of-month month day-of-week), optionally a "
              "sixth for seconds")


def cron_problem(expr: str) -> str | None:
    """What is wrong with a cron expression, naming the field and the value; None if
    nothing is. Pure: no croniter.

    Each field is a comma-separated list of ``*``, a value, a range ``a-b`` (not
    backwards), each optionally with a step ``/n`` (n >= 1), or ``a/n``. Months and
    days of the week also take names (``jan``, ``mon-fri``; a range may end on ``sun``).
    Day-of-month takes ``L`` (the last day) and ``?``; day-of-week takes ``?`` and
    ``day#n`` (the n-th such day of the month, n 1-5).
    """
    fields = expr.split()
    if len(fields) not in (5, 6):
        return f"{CRON_SHAPE}; got {len(fields)}"
    for spec, text in zip(CRON_FIELDS, fields, strict=False):
        for part in text.split(","):
            problem = _cron_part_problem(spec, part, text)
            if problem:
                return problem
    return None


def _cron_part_problem(spec: CronField, part: str, text: str) -> str | None:
    if not part:
        return f"{spec.name} {text!r}: an empty item in the list"
    if part == "?" and spec.name in ("day-of-month", "day-of-week"):
        return None if part == text else f"{spec.name} {text!r}: '?' must stand alone"
    if part.upper() == "L" and spec.name == "day-of-month":
        return None
    if "#" in part and spec.name == "day-of-week":
        day, _, nth = part.partition("#")
        _, problem = spec.value(day, part)
        if problem:
            return problem
        if not (nth.isdigit() and 1 <= int(nth) <= 5):
            return f"{spec.name} {part!r}: the week number after '#' must be 1-5"
        return None
    base, slash, step = part.partition("/")
    if slash:
        if "/" in step:
            return f"{spec.name} {part!r}: more than one '/'"
        if not step.isdigit():
            return f"{spec.name} {part!r}: the step {step!r} is not a number"
        if int(step) < 1:
            return f"{spec.name} {part!r}: the step must be at least 1"
    if base == "*":
        return None
    start, dash, end = base.partition("-")
    if dash and (not start or not end):
        return f"{spec.name} {part!r}: a range needs a start and an end, e.g. 1-5"
    first, problem = spec.value(start, part)
    if problem:
        return problem
    if dash:
        last, problem = spec.value(end, part)
        if problem:
            return problem
        if spec.name == "day-of-week" and last == 0 and end.lower() == "sun":
            last = 7  # mon-sun, fri-sun: Sunday at the end of the week
        if first is not None and last is not None and first > last:
            return f"{spec.name} {part!r}: the range runs backwards ({start} > {end})"
    return None


def next_cron_time(expr: str, zone: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that ``expr`` fires, in UTC.

    Evaluated in the job's time zone, so '0 9 * * *' stays 9:00 local across
    daylight-saving changes.
    """
    local = after.astimezone(ZoneInfo(zone))
    nxt = croniter(expr, local).get_next(datetime)
    return nxt.astimezone(UTC)


#: How far and how many firings :func:`cron_min_gap` looks at.
GAP_WINDOW = timedelta(days=4 * 365 + 1)
GAP_FIRINGS = 1000


def cron_min_gap(expr: str, tz: str = "UTC", start: datetime | None = None) -> float:
    """The smallest time in seconds between two consecutive firings of ``expr`` in
    time zone ``tz``, over a representative window: the firings after ``start``
    (default: 2026-01-01), up to four years (a leap day, and each daylight-saving
    change four times) or :data:`GAP_FIRINGS` of them. ``inf`` when it fires fewer
    than twice in the window. Pure (croniter only).

    A cron schedule repeats every four years at most, so the window sees every
    pattern it has; for frequent ones the firings run out first, after many
    repetitions of the pattern. The search stops at a gap of 1 s (no gap is
    smaller).
    """
    zone = ZoneInfo(tz)
    start = (start or datetime(2026, 1, 1, tzinfo=UTC)).astimezone(zone)
    end = (start + GAP_WINDOW).timestamp()
    it = croniter(expr, start)
    try:
        last = it.get_next(float)
    except CroniterBadDateError:
        return math.inf
    gap = math.inf
    for _ in range(GAP_FIRINGS):
        try:
            t = it.get_next(float)
        except CroniterBadDateError:
            break
        if t > end:
            break
        gap = min(gap, t - last)
        if gap <= 1:
            break
        last = t
    return gap


def parse_job(body: CreateJobRequest | Any, now: datetime, *,
              min_cron_interval_s: float = 0) -> JobSpec:
    """Check a job request (a parsed ``CreateJobRequest``, or a raw body to parse).
    ``min_cron_interval_s``: the shortest gap a cron schedule may have (0: any)."""
    if not isinstance(body, CreateJobRequest):
        try:
            body = CreateJobRequest.parse(body)
        except ValueError as e:
            raise contract_error(e) from None
    req = body
    cluster_ref, cluster_spec = (req.cluster.strip(), None) if isinstance(req.cluster, str) \
        else (None, req.cluster)
    if cluster_ref == "":
        raise BadRequest("cluster is required: the name of a RUNNING cluster, or "
                         "{instance_type, instances} for a new cluster made for this job",
                         field="cluster")
    schedule = parse_schedule(req.schedule, now, min_interval_s=min_cron_interval_s)
    argv = parse_command(req.command)
    source, notices = parse_path(req.path)
    ref = parse_ref(req.ref)
    user = req.git_username or None
    password = req.git_password or None
    if source.type == "s3":
        for f, v in (("ref", ref), ("git_username", user), ("git_password", password)):
            if v:
                raise BadRequest(f"{f} only applies to Git sources, not S3", field=f)
    if password and not user:
        raise BadRequest("git_password needs git_username (for tokens, any non-empty "
                         "username works with most hosts)", field="git_username")
    return JobSpec(
        name=req.name, cluster_ref=cluster_ref, cluster_spec=cluster_spec, schedule=schedule,
        command=req.command.strip(), argv=argv, source=source, ref=ref, git_username=user,
        git_password=password, env=parse_env(req.env), timeout_s=req.timeout_s,
        retries=req.retries, retry_delay_s=req.retry_delay_s, notices=notices,
    )
