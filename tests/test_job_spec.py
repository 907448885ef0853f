"""The job form and the builders behind jobs, without any server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bodo_jupyter.contract.models import JobScheduleRequest
from bodo_jupyter.contract.runtime import ContractError
from bodo_jupyter.platform.errors import BadRequest, contract_error
from bodo_jupyter.platform.jobs.scheduler import latest_due
from bodo_jupyter.platform.jobs.sources import (
    explain_git_error,
    git_commands,
    git_config_args,
    git_env,
    s3_target,
    script_problem,
)
from bodo_jupyter.platform.jobs.spec import (
    cron_problem,
    next_cron_time,
    parse_command,
    parse_env,
    parse_job,
    parse_path,
    parse_ref,
    parse_schedule,
)
from bodo_jupyter.platform.jobs.supervise import (
    HYDRA_RANK_PATTERN,
    RankLines,
    format_output,
    printable,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def base(**kw):
    return {"name": "etl", "cluster": "c1", "command": "ex.py 1",
            "path": "https://github.com/acme/etl", **kw}


def schedule(raw, now=NOW):
    """A schedule as the API hands it over: parsed by the contract, then checked."""
    try:
        typed = JobScheduleRequest.parse(raw, "schedule") if isinstance(raw, dict) else raw
    except ContractError as e:
        raise contract_error(e) from None
    return parse_schedule(typed, now)


def test_command_is_an_argv_list_not_a_shell_line():
    assert parse_command("ex.py 1") == ["ex.py", "1"]
    assert parse_command("ex.py 'two words' --flag=x") == ["ex.py", "two words", "--flag=x"]
    # A ';' is an argument, never a second command.
    assert parse_command("ex.py; rm -rf ~") == ["ex.py;", "rm", "-rf", "~"]
    assert parse_command("-m pkg.main") == ["-m", "pkg.main"]


@pytest.mark.parametrize(("command", "needle"), [
    ("", "command is required"),
    ("   ", "command is required"),
    ("python ex.py", "leave out 'python'"),
    ("/usr/bin/python3 ex.py", "leave out"),
    ("mpiexec -n 4 python ex.py", "leave out 'mpiexec'"),
    ("ex.py 'unclosed", "cannot be split"),
])
def test_bad_commands(command, needle):
    with pytest.raises(BadRequest, match=needle) as e:
        parse_command(command)
    assert e.value.field == "command"


def test_git_paths_are_normalised_and_s3_paths_parsed():
    src, notices = parse_path("https://github.com/acme/etl")
    assert (src.type, src.path, notices) == ("git", "https://github.com/acme/etl", [])
    src, notices = parse_path("https://github.com/acme/etl.git/")
    assert src.path == "https://github.com/acme/etl"
    assert notices == ["path ends in '.git': using the repository URL https://github.com/acme/etl"]
    src, _ = parse_path("s3://my-bucket/jobs/etl")
    assert (src.type, src.bucket, src.prefix) == ("s3", "my-bucket", "jobs/etl")


@pytest.mark.parametrize(("path", "needle"), [
    ("http://github.com/acme/etl", "must use https"),
    ("git@github.com:acme/etl.git", "must use https"),
    ("https://bob:pw@github.com/acme/etl", "do not put credentials"),
    ("https://github.com/", "does not name a repository"),
    ("https://github.com/acme/etl?ref=x", "query or fragment"),
    ("s3://Bad_Bucket/x", "invalid S3 bucket"),
    ("s3://bucket/../x", "must not contain '..'"),
    ("/home/me/code", "must be a Git repository URL"),
    ("", "must be a Git repository URL"),
])
def test_bad_paths(path, needle):
    with pytest.raises(BadRequest, match=needle):
        parse_path(path)


def test_refs_and_env():
    assert parse_ref("feature/x-1") == "feature/x-1"
    assert parse_ref("") is None
    for bad in ("-upload-pack=x", "a..b", "a b", "main/"):
        with pytest.raises(BadRequest, match="invalid Git reference"):
            parse_ref(bad)
    assert parse_env({"A_1": "x"}) == {"A_1": "x"}
    with pytest.raises(BadRequest, match="reserved") as e:
        parse_env({"OMPI_MCA_btl": "tcp"})
    assert e.value.field == "env.OMPI_MCA_btl"
    # Names and values are the contract's business; the whole form says which is wrong.
    for env, field, needle in (({"1A": "x"}, "env.1A", "letters, digits"),
                               ({"A-B": "x"}, "env.A-B", "letters, digits"),
                               ({"A": 1}, "env.A", "must be a string"),
                               ([1], "env", "must be an object")):
        with pytest.raises(BadRequest, match=needle) as e:
            parse_job(base(env=env), NOW)
        assert e.value.field == field, e.value.message


def test_schedules():
    assert parse_schedule(None, NOW).type == "now"
    at = schedule({"type": "at", "at": "2026-11-26T09:00:00+01:00"})
    assert at.run_at == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    local = schedule({"type": "at", "at": "2026-11-26T09:00", "timezone": "Europe/Paris"})
    assert local.run_at == at.run_at
    cron = schedule({"type": "cron", "cron": "0  9 * * 1-5", "timezone": "Europe/Paris",
                     "max_concurrent_runs": 2})
    assert (cron.cron, cron.timezone, cron.max_concurrent_runs) == ("0 9 * * 1-5",
                                                                    "Europe/Paris", 2)
    for raw, field, needle in (
        ({"type": "at", "at": "2026-11-24T09:00:00Z"}, "schedule.at", "is in the past"),
        ({"type": "at", "at": "2026-11-26T09:00"}, "schedule.at", "has no UTC offset"),
        ({"type": "at", "at": "tomorrow"}, "schedule.at", "ISO 8601"),
        ({"type": "at"}, "schedule.at", "is required"),
        ({"type": "cron"}, "schedule.cron", "is required"),
        ({"type": "cron", "cron": "61 * * * *"}, "schedule.cron", "invalid cron"),
        ({"type": "cron", "cron": "* * *"}, "schedule.cron", "invalid cron"),
        ({"type": "cron", "cron": "* * * * *", "timezone": "Mars/Base"}, "schedule.timezone",
         "unknown time zone"),
        ({"type": "weekly"}, "schedule.type", "must be one of now, at, cron, got 'weekly'"),
        ({"type": "cron", "cron": "* * * * *", "every": 2}, "schedule.every", "unknown field"),
    ):
        with pytest.raises(BadRequest, match=needle) as e:
            schedule(raw)
        assert e.value.field == field, e.value.message


GOOD_CRON = [
    "* * * * *", "0 9 * * 1-5", "*/15 * * * *", "0 0 1 1 *", "59 23 31 12 7",
    "0-59/5 0-23/2 1-31/3 1-12/4 0-7/2", "5/15 * * * *", "1,2,3-5,10-20/5 * * * *",
    "0 9 * jan-mar mon-fri", "0 9 * JAN MON", "0 9 * * fri-sun", "0 9 * * sun-sat",
    "0 9 * * 0,7", "0 9 L * *", "0 9 1,15,L * *", "0 9 ? * mon", "0 9 * * ?",
    "0 9 * * mon#2", "0 9 * * 7#1", "* * * * * */2", "* * * * * 0-59/10",
    "0 0 29 2 *",  # only in leap years, but it comes
]

BAD_CRON = [
    ("61 * * * *", "minute 61 is out of range 0-59"),
    ("* 24 * * *", "hour 24 is out of range 0-23"),
    ("* * 0 * *", "day-of-month 0 is out of range 1-31"),
    ("* * 32 * *", "day-of-month 32 is out of range 1-31"),
    ("* * * 13 *", "month 13 is out of range 1-12"),
    ("* * * * 8", "day-of-week 8 is out of range 0-7"),
    ("* * * * * 60", "second 60 is out of range 0-59"),
    ("1-61 * * * *", "minute 61 in '1-61' is out of range 0-59"),
    ("* * * * mon-fry", "day-of-week 'mon-fry': 'fry' is not a day (mon-sun or 0-7)"),
    ("* * * * monday", "day-of-week 'monday': 'monday' is not a day (mon-sun or 0-7)"),
    ("* * * foo *", "month 'foo': 'foo' is not a month (jan-dec or 1-12)"),
    ("H * * * *", "minute 'H': 'H' is not a number (0-59)"),
    ("mon * * * *", "minute 'mon': 'mon' is not a number (0-59)"),
    ("-1 * * * *", "minute '-1': a range needs a start and an end, e.g. 1-5"),
    ("1- * * * *", "minute '1-': a range needs a start and an end, e.g. 1-5"),
    ("*/0 * * * *", "minute '*/0': the step must be at least 1"),
    ("* * 1-31/0 * *", "day-of-month '1-31/0': the step must be at least 1"),
    ("*/x * * * *", "minute '*/x': the step 'x' is not a number"),
    ("*/ * * * *", "minute '*/': the step '' is not a number"),
    ("*/2/3 * * * *", "minute '*/2/3': more than one '/'"),
    ("5-1 * * * *", "minute '5-1': the range runs backwards (5 > 1)"),
    ("* * * * sat-mon", "day-of-week 'sat-mon': the range runs backwards (sat > mon)"),
    ("1,,2 * * * *", "minute '1,,2': an empty item in the list"),
    ("1, * * * *", "minute '1,': an empty item in the list"),
    ("* * * * 1#6", "day-of-week '1#6': the week number after '#' must be 1-5"),
    ("* * * * 1#", "day-of-week '1#': the week number after '#' must be 1-5"),
    ("* * * * fry#1", "day-of-week 'fry#1': 'fry' is not a day (mon-sun or 0-7)"),
    ("* * ?,1 * *", "day-of-month '?,1': '?' must stand alone"),
    ("L * * * *", "minute 'L': 'L' is not a number (0-59)"),
    ("* * * * *,", "day-of-week '*,': an empty item in the list"),
    ("* * *", "five fields (minute hour day-of-month month day-of-week), optionally a "
              "sixth for seconds; got 3"),
    ("* * * * * * *", "optionally a sixth for seconds; got 7"),
    ("@daily", "optionally a sixth for seconds; got 1"),
    ("0 0 31 2 *", "no date ever has day-of-month '31' in month '2'"),
    ("0 0 30 feb *", "no date ever has day-of-month '30' in month 'feb'"),
]


@pytest.mark.parametrize("expr", GOOD_CRON)
def test_good_cron_expressions_are_accepted(expr):
    assert cron_problem(expr) is None
    sched = schedule({"type": "cron", "cron": expr})
    assert sched.cron == expr
    assert next_cron_time(expr, "UTC", NOW) > NOW


@pytest.mark.parametrize(("expr", "message"), BAD_CRON)
def test_bad_cron_expressions_name_the_field_and_value(expr, message):
    with pytest.raises(BadRequest) as e:
        schedule({"type": "cron", "cron": expr})
    assert e.value.field == "schedule.cron"
    assert e.value.message.startswith(f"invalid cron expression {expr!r}: "), e.value.message
    assert message in e.value.message, e.value.message
    if "got" not in message:  # the shape is explained only when the count is wrong
        assert "five fields" not in e.value.message


def test_cron_follows_the_time_zone_across_daylight_saving():
    # 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer.
    winter = next_cron_time("0 9 * * *", "Europe/Paris", datetime(2026, 1, 10, tzinfo=UTC))
    summer = next_cron_time("0 9 * * *", "Europe/Paris", datetime(2026, 7, 10, tzinfo=UTC))
    assert (winter.hour, summer.hour) == (8, 7)
    # Seconds as a sixth field (croniter's convention): every 2 seconds.
    t = next_cron_time("* * * * * */2", "UTC", NOW)
    assert t - NOW == timedelta(seconds=2)
    assert latest_due("* * * * * */2", "UTC", NOW, NOW + timedelta(seconds=9)) == \
        NOW + timedelta(seconds=8)


def test_whole_form():
    spec = parse_job(base(ref="dev", git_username="u", git_password="p", env={"X": "1"},
                          retries=2, retry_delay_s=5, timeout_s=60), NOW)
    assert spec.argv == ["ex.py", "1"] and spec.ref == "dev" and spec.retries == 2
    spec = parse_job(base(cluster={"instance_type": "local.small", "instances": 2}), NOW)
    assert spec.cluster_ref is None and spec.cluster_spec.instances == 2
    for body, field in ((base(git_password="p"), "git_username"),
                        (base(path="s3://b-1/x", ref="main"), "ref"),
                        (base(cluster=None), "cluster"), (base(timeout_s=0), "timeout_s"),
                        (base(retries=11), "retries"), (base(name="Bad Name"), "name"),
                        ({**base(), "colour": "red"}, "colour")):
        with pytest.raises(BadRequest) as e:
            parse_job(body, NOW)
        assert e.value.field == field, (body, e.value.message)


def test_git_builders_keep_secrets_off_the_command_line(tmp_path):
    config = git_config_args(ca_file="/ca.pem", with_credentials=True)
    cmds = git_commands("https://h/o/r", tmp_path / "src", "feature", config)
    assert len(cmds) == 1 and cmds[0][-4:] == ["feature", "--", "https://h/o/r",
                                               str(tmp_path / "src")]
    assert "http.sslCAInfo=/ca.pem" in cmds[0]
    sha = "0123456789abcdef0123456789abcdef01234567"
    cmds = git_commands("https://h/o/r", tmp_path / "src", sha, config)
    assert "init" in cmds[0]
    assert any(sha in c for c in cmds) and cmds[-1][-1] == "FETCH_HEAD"
    env = git_env({"PATH": "/bin", "GIT_DIR": "/x", "BODO_JUPYTER_SECRET_KEY": "k",
                   "AWS_SECRET_ACCESS_KEY": "s", "HTTPS_PROXY": "http://proxy:3128"},
                  "alice", "tok3n")
    assert env["BODO_GIT_PASSWORD"] == "tok3n" and "GIT_DIR" not in env
    # The platform's secrets stay behind; the machine's proxy comes along.
    assert "BODO_JUPYTER_SECRET_KEY" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["HTTPS_PROXY"] == "http://proxy:3128" and env["PATH"] == "/bin"
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert not any("tok3n" in part for c in cmds for part in c)


@pytest.mark.parametrize(("stderr", "needle"), [
    ("fatal: Authentication failed for 'https://h/o/r/'", "Git authentication failed"),
    ("fatal: could not read Username for 'https://h': terminal prompts disabled",
     "Git authentication failed"),
    ("warning: Could not find remote branch nope to clone.\nfatal: Remote branch nope not "
     "found in upstream origin", "reference 'nope' not found"),
    ("fatal: repository 'https://h/o/r/' not found", "repository https://h/o/r not found"),
    ("fatal: unable to access 'https://h/': Could not resolve host: h", "cannot reach"),
])
def test_git_errors_are_explained(stderr, needle):
    msg = explain_git_error(stderr + " secret-tok", "https://h/o/r", "nope", ("secret-tok",))
    assert needle in msg and "secret-tok" not in msg


def test_s3_keys_map_inside_the_workspace(tmp_path):
    assert s3_target(tmp_path, "jobs/etl", "jobs/etl/main.py") == tmp_path / "main.py"
    assert s3_target(tmp_path, "jobs/etl/", "jobs/etl/pkg/a.py") == tmp_path / "pkg" / "a.py"
    assert s3_target(tmp_path, "jobs/etl", "jobs/etl/") is None
    assert s3_target(tmp_path, "", "../../etc/passwd") is None


def test_script_checks(tmp_path: Path):
    (tmp_path / "ex.py").write_text("")
    assert script_problem(tmp_path, ["ex.py", "1"]) is None
    assert script_problem(tmp_path, ["-m", "x"]) is None
    assert "not found" in script_problem(tmp_path, ["nope.py"])
    assert "ex.py" in script_problem(tmp_path, ["nope.py"])
    assert "outside" in script_problem(tmp_path, ["../x.py"])


def test_rank_tagged_output_becomes_rank_prefixed_lines():
    assert format_output("stdout", "[1,3]<stdout>: hello\n") == ["[rank 3] hello"]
    assert format_output("stderr", "[1,0]<stderr>: oops\n") == ["[rank 0:stderr] oops"]
    # Partial lines of two ranks glued together are split again.
    assert format_output("stdout", "[1,1]<stdout>: a[1,0]<stdout>: b\n") == [
        "[rank 1] a", "[rank 0] b"]
    assert format_output("stderr", "prterun detected a failure\n") == [
        "[mpiexec:stderr] prterun detected a failure"]
    assert format_output("stdout", "\n") == []


def test_mpich_prepend_pattern_output_becomes_whole_lines_of_one_rank():
    """What hydra's -prepend-pattern (rank between RS and US) really printed for two
    ranks whose Python writes unbuffered (print writes 'out', ' ', '0', newline apart):
    every piece gets the pattern, and pieces of two ranks interleave within one line. A
    rank's own "[1] " is its text, not a tag (it was with -prepend-rank)."""
    def tag(rank: int) -> str:
        return HYDRA_RANK_PATTERN.replace("%r", str(rank))

    out = RankLines("stdout")
    got = []
    for line in [f"{tag(0)}out{tag(1)}out 1\n", f"{tag(1)}line2 [x] 1 [0] not a tag\n",
                 f"{tag(0)} 0\n", f"{tag(0)}line{tag(0)} {tag(0)}0{tag(0)}\n",
                 f"{tag(1)}partial"]:
        got += out.feed(line)
    assert got == ["[rank 1] out 1", "[rank 1] line2 [x] 1 [0] not a tag",
                   "[rank 0] out 0", "[rank 0] line 0"]
    assert out.flush() == ["[rank 1] partial"]
    err = RankLines("stderr")
    assert err.feed(f"{tag(3)}Traceback (most recent call last):\n") == [
        "[rank 3:stderr] Traceback (most recent call last):"]
    # mpiexec's own words (hydra's [mpiexec@host] ...) and Open MPI's tags still parse.
    assert err.feed("[mpiexec@vm] main: error parsing parameters\n") == [
        "[mpiexec:stderr] [mpiexec@vm] main: error parsing parameters"]
    assert err.feed("[1,2]<stderr>: oops\n") == ["[rank 2:stderr] oops"]
    assert err.feed("\n") == [] and err.flush() == []


def test_the_command_line_people_read_shows_control_characters_escaped():
    assert printable(["mpiexec", "-prepend-pattern", HYDRA_RANK_PATTERN, "python", "a b"]) == (
        "mpiexec -prepend-pattern \\x1e%r\\x1f python a b")
