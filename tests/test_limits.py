"""Limits on every input, against real control planes: one with the defaults, one
with every ``c.Limits`` knob moved. Each refusal is a 4xx whose JSON body names
the field, and leaves nothing half-made behind (no job, no cluster, no run)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from bodo_jupyter.platform.api.base import redact_uri
from bodo_jupyter.platform.jobs.spec import cron_min_gap
from bodo_jupyter.platform.limits import Limits, TooManyRequests
from bodo_jupyter.platform.views import iso

from .helpers import Serve, wait_for

GIT = "https://git.example.invalid/acme/x"  # allowed by name; never fetched here
NEW = {"instance_type": "local.small", "instances": 1}
CRON_DAILY = {"type": "cron", "cron": "0 3 * * *", "timezone": "UTC"}


def job(name: str, **over: object) -> dict[str, object]:
    return {"name": name, "cluster": NEW, "command": "x.py", "path": GIT,
            "schedule": CRON_DAILY, **over}


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    s = Serve(tmp_path_factory.mktemp("limits-default")).start()
    try:
        yield s
    finally:
        s.shut_down()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """Every limit moved; runs fail at once (no cluster can be ready in 0.2 s)."""
    data = tmp_path_factory.mktemp("limits-small")
    (data / "bodo_jupyter_config.py").write_text(
        "c.Limits.max_body_bytes = 4096\n"
        "c.Limits.max_json_depth = 2\n"
        "c.Limits.max_env_vars = 2\n"
        "c.Limits.max_env_bytes = 64\n"
        "c.Limits.min_cron_interval_s = 1\n"
        "c.Limits.max_runs_per_job_per_day = 1\n"
        "c.JobScheduler.max_sleep = 0.2\n"
        "c.LocalProvider.ready_timeout = 0.2\n")
    s = Serve(data).start()
    try:
        yield s
    finally:
        s.shut_down()


def refused(answer: tuple[int, object], status: int, field: str, code: str | None = None,
            words: str = "") -> dict[str, object]:
    got, body = answer
    assert got == status, body
    assert isinstance(body, dict), body
    err = body["error"]
    assert err["field"] == field, err
    if code:
        assert err["code"] == code, err
    assert words in err["message"], err
    return err


def job_names(s: Serve) -> set[str]:
    status, page = s.http("GET", "/jobs?limit=500")
    assert status == 200, page
    return {j["name"] for j in page["items"]}


def raw_request(s: Serve, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request written by hand (headers that urllib would not send)."""
    u = urlsplit(s.url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                top, _, rest = data.partition(b"\r\n\r\n")
                headers = dict(line.split(": ", 1) for line in top.decode().split("\r\n")[1:])
                if len(rest) >= int(headers.get("Content-Length", 0)):
                    break
    top, _, rest = data.partition(b"\r\n\r\n")
    lines = top.decode().split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, rest


# -- request bodies ------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_by_its_content_length_before_it_is_read(plane):
    """10 GB announced, not a byte sent: the answer comes at once, 413 naming the body."""
    path = urlsplit(plane.url).path + "/jobs"
    t0 = time.monotonic()
    status, _, body = raw_request(
        plane, f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: token {plane.token}\r\n"
               "Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n")
    assert time.monotonic() - t0 < 5
    assert status == 413, body
    err = json.loads(body)["error"]
    assert err["code"] == "payload_too_large" and err["field"] == "body", err
    assert "1048576" in err["message"]


def test_body_limit_default_and_configured(plane, small):
    big = json.dumps(job("big", command="x.py " + "a" * 4000)).encode()
    assert 4096 < len(big) < 1024 * 1024
    refused(small.http("POST", "/jobs", raw_body=big), 413, "body", "payload_too_large")
    status, out = plane.http("POST", "/jobs", raw_body=big)  # under the default 1 MiB
    assert status == 201, out
    # A little over (up to 8 MiB): read, dropped as it comes, then a clean 413 -- also
    # for clients that send the whole body before they read the answer.
    for size in (1024 * 1024, 5 * 1024 * 1024):
        huge = b'{"name": "huge", "pad": "' + b"x" * size + b'"}'
        refused(plane.http("POST", "/jobs", raw_body=huge), 413, "body", "payload_too_large")
    assert "huge" not in job_names(plane)


def test_chunked_body_over_the_limit_is_refused(small):
    """Without a Content-Length (chunked): counted as it arrives, never kept whole."""
    path = urlsplit(small.url).path + "/jobs"
    payload = json.dumps(job("chunked", command="x.py " + "b" * 5000)).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(payload[i:i + 1000]), payload[i:i + 1000])
                      for i in range(0, len(payload), 1000)) + b"0\r\n\r\n"
    status, _, body = raw_request(
        small, f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: token {small.token}\r\n"
               "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", chunks)
    assert status == 413, body
    assert json.loads(body)["error"]["field"] == "body"
    assert "chunked" not in job_names(small)


def nested(depth: int) -> bytes:
    return b'{"name": "deep", "x": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_deep_json_is_a_400_not_a_500(plane, depth):
    refused(plane.http("POST", "/jobs", raw_body=nested(depth)), 400, "body",
            words="more than 32 levels deep")
    refused(plane.http("POST", "/clusters", raw_body=nested(depth)), 400, "body")


def test_json_depth_default_and_configured(plane, small):
    # 32 levels: the depth limit lets it through; the contract then refuses field x.
    refused(plane.http("POST", "/jobs", raw_body=nested(32)), 400, "x", words="unknown field")
    refused(small.http("POST", "/jobs", raw_body=nested(3)), 400, "body",
            words="more than 2 levels deep")
    # A job with a cluster object is 2 levels deep: accepted by the small plane.
    status, out = small.http("POST", "/jobs", job("two-levels"))
    assert status == 201, out


@pytest.mark.parametrize("body,field", [
    ({"instances": 2**64}, "instances"),
    ({"instances": -(2**70)}, "instances"),
    ({"x": [1, 2, 10**30]}, "x[2]"),
])
def test_integers_beyond_64_bits_name_the_field(plane, body, field):
    refused(plane.http("POST", "/clusters", {"name": "c", "instance_type": "local.small",
                                             **body}), 400, field, words="out of range")


@pytest.mark.parametrize("query,field", [
    ("/jobs?limit=18446744073709551616", "limit"),
    ("/clusters?limit=-99999999999999999999999", "limit"),
    ("/tasks?limit=99999999999999999999", "limit"),
])
def test_query_integers_beyond_64_bits_name_the_parameter(plane, query, field):
    refused(plane.http("GET", query), 400, field)


# -- names and free text ------------------------------------------------------------------


@pytest.mark.parametrize("over,field", [
    ({"name": "rt-main\n"}, "name"),
    ({"name": "rt\x00main"}, "name"),
    ({"command": "x.py\n"}, "command"),
    ({"command": "x.py\trm"}, "command"),
    ({"command": " x.py"}, "command"),
    ({"command": "x.py \x00"}, "command"),
    ({"path": GIT + "\n"}, "path"),
    ({"path": GIT + "\x00"}, "path"),
    ({"ref": "main\n"}, "ref"),
    ({"ref": "ma\x00in"}, "ref"),
    ({"git_username": " alice"}, "git_username"),
    ({"git_username": "al\x00ice"}, "git_username"),
    ({"git_password": "s3cret\nusername=eve"}, "git_password"),
    ({"env": {"GREETING": "hel\x00lo"}}, "env.GREETING"),
    ({"cluster": "rt-main\n"}, "cluster"),
    ({"cluster": {"instance_type": "local.small\n"}}, "cluster.instance_type"),
    ({"cluster": {"instance_type": "local.small", "provider": "local\x00"}},
     "cluster.provider"),
    ({"schedule": {"type": "cron", "cron": "0 3 * * *\n"}}, "schedule.cron"),
    ({"schedule": {"type": "cron", "cron": "0 3 * * *", "timezone": "UTC\t"}},
     "schedule.timezone"),
    ({"schedule": {"type": "at", "at": "2030-01-01T00:00:00Z\x00"}}, "schedule.at"),
])
def test_control_characters_and_edge_spaces_are_refused_naming_the_field(plane, over, field):
    refused(plane.http("POST", "/jobs", {**job("text-check"), **over}), 400, field,
            "bad_request")
    assert "text-check" not in job_names(plane)


@pytest.mark.parametrize("over", [
    {"name": "rt-main\n"}, {"instance_type": "local.small "},
    {"client_token": "abc\n"}, {"provider": "\x00local"},
])
def test_cluster_text_fields_are_checked_too(plane, over):
    field = next(iter(over))
    refused(plane.http("POST", "/clusters", {"name": "rt-main", "instance_type": "local.small",
                                             **over}), 400, field)
    _, page = plane.http("GET", "/clusters?all=true")
    assert page["items"] == []


def test_env_values_may_hold_newlines_and_inner_spaces(plane):
    status, out = plane.http("POST", "/jobs", job("env-text", env={
        "PEM": "-----BEGIN-----\nabc\n-----END-----\n", "SPACED": "  a b  "}))
    assert status == 201, out


# -- env -----------------------------------------------------------------------------------


def test_env_count_and_size_defaults(plane):
    many = {f"V{i}": "x" for i in range(101)}
    refused(plane.http("POST", "/jobs", job("env-many", env=many)), 400, "env",
            words="101 variables; at most 100")
    big = {f"V{i}": "y" * 1000 for i in range(66)}  # 66 KB > 64 KiB
    refused(plane.http("POST", "/jobs", job("env-big", env=big)), 400, "env",
            words="at most 65536")
    status, out = plane.http("POST", "/jobs", job("env-ok", env={
        f"V{i}": "z" * 600 for i in range(100)}))  # 100 variables, ~60 KB
    assert status == 201, out
    assert {"env-many", "env-big"}.isdisjoint(job_names(plane))


def test_env_limits_configured(small):
    refused(small.http("POST", "/jobs", job("e3", env={"A": "1", "B": "2", "C": "3"})),
            400, "env", words="at most 2")
    refused(small.http("POST", "/jobs", job("e-big", env={"A": "x" * 64})), 400, "env",
            words="at most 64")
    status, out = small.http("POST", "/jobs", job("e2", env={"A": "1", "B": "2"}))
    assert status == 201, out


def test_the_pathological_job_of_the_issue_is_refused_fast(plane):
    """1,500 variables of 32 KB (49 MB) was accepted and then made GET /jobs take a
    minute; now the body alone is over the limit, refused before it is read."""
    env = {f"V{i}": "q" * 32768 for i in range(1500)}
    t0 = time.monotonic()
    try:
        answer = plane.http("POST", "/jobs", job("env-monster", env=env), timeout=30)
    except OSError:  # the server may close the connection while the body is sent
        answer = None
    assert time.monotonic() - t0 < 10
    if answer is not None:
        refused(answer, 413, "body", "payload_too_large")
    t0 = time.monotonic()
    status, _ = plane.http("GET", "/jobs?limit=1")
    assert status == 200 and time.monotonic() - t0 < 1
    assert "env-monster" not in job_names(plane)


# -- cron ------------------------------------------------------------------------------------


@pytest.mark.parametrize("expr,gap", [
    ("* * * * * *", 1), ("* * * * * */2", 2), ("* * * * *", 60),
    ("*/5 * * * *", 300), ("0 9 * * 1-5", 86400), ("0 0 1 1 *", 365 * 86400),
    ("0,1 0 * * *", 60), ("0 0 30 2 *", float("inf")),
])
def test_cron_min_gap(expr, gap):
    assert cron_min_gap(expr, "UTC") == gap


def test_cron_min_gap_sees_daylight_saving():
    # 01:30 and 02:30 on the spring-forward night in Paris: 23 h one day a year.
    assert cron_min_gap("30 1 * * *", "Europe/Paris") == 23 * 3600
    assert cron_min_gap("30 1 * * *", "UTC") == 24 * 3600


@pytest.mark.parametrize("expr", ["* * * * * *", "* * * * * */30", "0,30 * * * * *"])
def test_crons_firing_more_often_than_a_minute_are_refused(plane, expr):
    refused(plane.http("POST", "/jobs", job("too-often", schedule={
        "type": "cron", "cron": expr})), 400, "schedule.cron", words="at most once every 60")
    assert "too-often" not in job_names(plane)


def test_min_cron_interval_configured(plane, small):
    status, out = plane.http("POST", "/jobs", job("every-minute", schedule={
        "type": "cron", "cron": "* * * * *"}))
    assert status == 201, out
    status, out = small.http("POST", "/jobs", job("every-2s", schedule={
        "type": "cron", "cron": "* * * * * */2"}))
    assert status == 201, out
    small.http("PATCH", "/jobs/every-2s", {"active": False})


@pytest.mark.parametrize("schedule,field", [
    ({"type": "cron", "cron": "0 0 30 2 *"}, "schedule.cron"),
    ({"type": "cron", "cron": "0 0 31 4 *"}, "schedule.cron"),
    ({"type": "cron", "cron": "0 0 * * *", "timezone": "Mars/Olympus"}, "schedule.timezone"),
    ({"type": "cron", "cron": "0 0 * * *", "timezone": "../../etc/passwd"},
     "schedule.timezone"),
])
def test_crons_that_never_fire_and_bad_zones_are_400s(plane, schedule, field):
    refused(plane.http("POST", "/jobs", job("never", schedule=schedule)), 400, field)


# -- runs per day ------------------------------------------------------------------------------


def test_run_now_beyond_the_daily_limit_is_a_429_with_retry_after(small):
    status, out = small.http("POST", "/jobs", job("daily"))
    assert status == 201, out
    status, run = small.http("POST", "/jobs/daily/runs")
    assert status == 202, run
    assert small.wait_task(run["task_id"])["status"] == "FAILED"  # no cluster in 0.2 s
    path = urlsplit(small.url).path + "/jobs/daily/runs"
    status, headers, body = raw_request(
        small, f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: token {small.token}\r\n"
               "Content-Length: 0\r\nConnection: close\r\n\r\n")
    assert status == 429, body
    err = json.loads(body)["error"]
    assert err["code"] == "too_many_requests" and "1 runs in the last 24 hours" in err["message"]
    assert 1 <= int(headers["retry-after"]) <= 86400 + 1
    _, runs = small.http("GET", "/jobs/daily/runs")
    assert len(runs["items"]) == 1  # nothing half-made


def test_the_scheduler_skips_due_runs_over_the_limit_and_goes_on(small):
    status, out = small.http("POST", "/jobs", job("every-second", schedule={
        "type": "cron", "cron": "* * * * * *"}))
    assert status == 201, out

    def skipped() -> bool:
        return "job every-second: skipped the run due at" in small.log.read_text()

    wait_for(skipped, 30, interval=0.2, what="a skipped run in the log")
    _, runs = small.http("GET", "/jobs/every-second/runs")
    assert len(runs["items"]) == 1, runs
    status, _ = small.http("PATCH", "/jobs/every-second", {"active": False})
    assert status == 200  # the scheduler and the API still answer
    for r in runs["items"]:
        small.wait_task(r["task_id"])


# -- reading beyond the end --------------------------------------------------------------------


def test_log_offset_and_task_since_beyond_the_end_are_empty_answers(small):
    status, out = small.http("POST", "/jobs", job("reader"))
    assert status == 201, out
    status, run = small.http("POST", "/jobs/reader/runs")
    assert status == 202, run
    small.wait_task(run["task_id"])
    for offset in (10**6, 2**62, 2**63 - 1):
        status, logs = small.http("GET", f"/jobs/reader/runs/{run['id']}/logs?offset={offset}")
        assert status == 200, logs
        assert logs["text"] == "" and logs["complete"] is True
    for since in (10**6, 2**63 - 1):
        status, task = small.http("GET", f"/tasks/{run['task_id']}?since={since}")
        assert status == 200 and task["events"] == [], task
    refused(small.http("GET", f"/jobs/reader/runs/{run['id']}/logs?offset={2**63}"), 400,
            "offset")
    refused(small.http("GET", f"/tasks/{run['task_id']}?since={2**64}"), 400, "since")


# -- tokens in the access log -----------------------------------------------------------------


def test_tokens_in_a_query_string_never_reach_the_log(plane):
    secret = "leaky-query-token-4242"
    status, _ = plane.http("GET", f"/clusters?token={secret}", token="")
    assert status == 401
    status, _ = plane.http("GET", f"/clusters?limit=5&access_token={secret}", token="")
    assert status == 401
    time.sleep(0.3)
    log = plane.log.read_text()
    assert "/clusters?" in log  # the request is logged ...
    assert secret not in log  # ... without the token


def test_redact_uri():
    assert redact_uri("/a?token=abc&x=1") == "/a?token=[redacted]&x=1"
    assert redact_uri("/a?x=1&Token=abc") == "/a?x=1&Token=[redacted]"
    assert redact_uri("/a?tokens=abc") == "/a?tokens=abc"


def test_limits_are_configurable_traits():
    lim = Limits()
    assert (lim.max_body_bytes, lim.max_json_depth, lim.max_env_vars, lim.max_env_bytes,
            lim.min_cron_interval_s, lim.max_runs_per_job_per_day) == (
        1024 * 1024, 32, 100, 64 * 1024, 60, 1440)
    from traitlets.config import Config

    cfg = Config()
    cfg.Limits.max_env_vars = 7
    assert Limits(config=cfg).max_env_vars == 7


# -- hostile inputs found by hand and by the fuzzer: 4xx, never a 500 ---------------------


@pytest.mark.parametrize("method,path,body,field", [
    ("POST", "/jobs", job("bad-url", path="https://[::1/x"), "path"),
    ("POST", "/jobs", job("bad-port", path="https://h:99999/x"), "path"),
    ("POST", "/jobs", job("bad-port2", path="https://h:abc/x"), "path"),
    ("GET", "/tasks/x?wait=nan", None, "wait"),
    ("GET", "/tasks/x?since=99999999999999999999", None, "since"),
    ("GET", "/jobs/x/runs/latest/logs?offset=-1", None, None),
    ("GET", "/clusters/%00", None, "path"),
    ("GET", "/jobs/a%00b/runs", None, "path"),
    ("GET", "/tasks?cluster=%00", None, "cluster"),
    ("GET", "/clusters?status=RUNNING%00", None, "status"),
    ("GET", "/jobs?cursor=%00", None, "cursor"),
    ("POST", "/clusters", {"name": "a", "instance_type": "local.small", "instances": 1e308},
     "instances"),
])
def test_hostile_inputs_are_4xx(plane, method, path, body, field):
    status, out = plane.http(method, path, body)
    assert 400 <= status < 500 or status == 200, out
    if field:
        assert status == 400 and out["error"]["field"] == field, out


@pytest.mark.parametrize("raw,field", [
    (b'{"name":"s1","cluster":{"instance_type":"local.small"},"command":"x.py \\ud800",'
     b'"path":"https://h/x"}', "command"),
    (b'{"name":"s2","cluster":{"instance_type":"local.small"},"command":"x.py",'
     b'"path":"https://h/x","env":{"A":"\\udfff"}}', "env.A"),
    (b'{"name":"s3","cluster":"\\ud800","command":"x.py","path":"https://h/x"}', "cluster"),
    (b'{"name":"s4","cluster":"c","command":"x.py","path":"https://h/\\ud800"}', "path"),
    (b'{"name":"s5","cluster":"c","command":"x.py","path":"https://h/x",'
     b'"git_username":"a","git_password":"\\ud800"}', "git_password"),
    (b'{"name":"s6","cluster":"c","command":"x.py","path":"https://h/x",'
     b'"env":{"\\ud800":"x"}}', "env.\ud800"),
])
def test_lone_surrogates_are_refused_naming_the_field(plane, raw, field):
    """JSON's \\ud800 escapes make text no database, file or environment takes: a
    500 (or a job that failed at run time) before."""
    status, out = plane.http("POST", "/jobs", raw_body=raw)
    assert status == 400, out
    assert out["error"]["field"] == field and "surrogate" in out["error"]["message"], out
    assert {"s1", "s2", "s3", "s4", "s5", "s6"}.isdisjoint(job_names(plane))


def test_the_scheduler_counts_the_runs_it_skips_for_the_limit(tmp_path):
    """In process, on a clock moved by hand: a job at its daily limit gets no run for a
    due time (``JobScheduler.skipped_for_limit`` counts it), its schedule moves on,
    and the scheduler keeps going. Runs fail fast on a FAILED stand-in cluster."""
    from traitlets.config import Config

    from bodo_jupyter.platform.models import ClusterStatus
    from bodo_jupyter.platform.service import ControlPlane

    from .helpers import track
    from .manual_clock import ManualClock
    from .test_job_restart import T0, at, ended, runs_of, stand_in, until

    async def main() -> None:
        cfg = Config()
        cfg.Limits.max_runs_per_job_per_day = 2
        clock = ManualClock(T0)
        plane = track(ControlPlane(data_dir=str(tmp_path), clock=clock, config=cfg))
        ident, cluster_id = stand_in(plane)
        from bodo_jupyter.contract.models import CreateJobRequest

        await plane.jobs.create(ident, CreateJobRequest.parse({
            "name": "tick", "cluster": "stand-in", "command": "hello.py",
            "path": "https://git.example.invalid/acme/jobs",
            "schedule": {"type": "cron", "cron": "*/5 * * * *"}}))
        plane.clusters.set_status(cluster_id, ClusterStatus.FAILED, "a stand-in for tests")
        await plane.start()
        try:
            for n, when in enumerate(("12:05", "12:10"), 1):
                clock.advance_to(at(when))
                await until(plane, lambda n=n: len(r := runs_of(plane, ident)) == n and ended(r),
                            f"run {n}")
            assert plane.scheduler.skipped_for_limit == 0
            # 12:15 is due: the pass (called here, before the loop's own can run) skips it.
            clock.advance_to(at("12:15"))
            plane.scheduler.fire_due(at("12:15"))
            assert plane.scheduler.skipped_for_limit == 1
            assert len(runs_of(plane, ident)) == 2
            assert plane.jobs.get(ident, "tick")["schedule"]["next_run_at"] == iso(at("12:20"))
            # A run-now is refused too, with the same limit.
            with pytest.raises(TooManyRequests):
                await plane.jobs.run_now(ident, "tick")
        finally:
            await plane.stop()

    asyncio.run(main())
