"""Jobs for real: a private Git repository behind HTTPS + basic auth, S3 in moto's
server, local MPI clusters, the CLI, and no secret or process left anywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from bodo_jupyter.sdk import Platform

from .git_server import GitServer
from .helpers import Serve, wait_for
from .moto_server import moto_server

pytestmark = pytest.mark.mpi

TOKEN = "ghp_S3cretT0kenForTests"  # the Git password; must never show up anywhere

HELLO = """import os
from mpi4py import MPI
w = MPI.COMM_WORLD
print("hello from rank", w.rank, "of", w.size, "greeting", os.environ.get("GREETING"))
"""
FILES_FEATURE = {
    "hello.py": HELLO,
    "fail.py": "import sys\nprint('about to fail')\nsys.exit(3)\n",
    # Waits for an event, not for time: until the file named by its argument exists.
    "gate.py": "import os, sys, time\nprint('waiting', flush=True)\n"
               "while not os.path.exists(sys.argv[1]):\n    time.sleep(0.05)\n"
               "print('through')\n",
}

# A repository whose modules shadow what the supervisor imports: were the fetched folder
# on the supervisor's sys.path, it would run them (and the run would not finish).
SHADOWING = {
    "hello.py": "print('the job ran')\n",
    **{f"{m}.py": f"print('HIJACKED by {m}.py', flush=True)\nraise SystemExit(7)\n"
       for m in ("argparse", "json", "re", "signal", "subprocess", "threading", "sitecustomize",
                 "usercustomize")},
}


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server = GitServer(tmp_path_factory.mktemp("git"), "alice", TOKEN).start()
    server.create_repo("acme", "proj", {"main": {"hello.py": "print('main branch')\n"},
                                        "feature": FILES_FEATURE})
    server.create_repo("acme", "shadow", {"main": SHADOWING})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, str]]:
    with moto_server() as env:
        yield env


class Recorder(Serve):
    """A control plane whose every API answer is kept, to search them for secrets."""

    answers: list[str]

    def http(self, *args, **kwargs):  # type: ignore[override]
        status, body = super().http(*args, **kwargs)
        self.answers.append(json.dumps(body))
        return status, body


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, git: GitServer,
          aws: dict[str, str]) -> Iterator[Recorder]:
    data = tmp_path_factory.mktemp("jobs-plane")
    (data / "bodo_jupyter_config.py").write_text(
        git.plane_config() +
        "c.JobScheduler.max_sleep = 0.2\n"
        "c.Limits.min_cron_interval_s = 1\n")  # the cron test fires every two seconds
    s = Recorder(data, env=aws)
    s.answers = []
    s.start()
    _, out = s.http("POST", "/clusters", {"name": "shared", "instance_type": "local.medium",
                                               "instances": 2})
    assert s.wait_task(out["task"]["id"])["status"] == "FINISHED"
    try:
        yield s
    finally:
        s.shut_down()


def repo(git: GitServer) -> str:
    return f"{git.url}/acme/proj"


def run_of(plane: Serve, job: dict) -> dict:
    """Wait for a job's latest run to end; return it."""
    run = job["last_run"]
    plane.wait_task(run["task_id"])
    status, run = plane.http("GET", f"/jobs/{job['id']}/runs/{run['id']}")
    assert status == 200
    return run


def logs_of(plane: Serve, job: str, run: str = "latest") -> str:
    status, out = plane.http("GET", f"/jobs/{job}/runs/{run}/logs")
    assert status == 200, out
    return out["text"]


def test_private_git_branch_with_credentials_and_env_via_cli(plane, git):
    r = plane.cli("job", "create", "hello", "--cluster", "shared", "--command", "hello.py",
                  "--path", repo(git) + ".git", "--ref", "feature", "--username", "alice",
                  "--password-env", "GIT_TOKEN", "--env", "GREETING=bonjour", "--wait",
                  env={"GIT_TOKEN": TOKEN})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "path ends in '.git'" in r.stdout
    assert "mpiexec -n <CORE_COUNT> python hello.py" in r.stdout
    shown = json.loads(plane.cli("job", "show", "hello", "--json").stdout)
    run = shown["last_run"]
    assert run["status"] == "FINISHED" and run["exit_code"] == 0, run
    assert run["source_revision"] == git.head_of("acme", "proj", "feature")
    assert run["command_line"].split()[1:3] == ["-n", "4"]
    assert shown["git_password_set"] is True and "git_password" not in shown
    logs = plane.cli("job", "logs", "hello").stdout
    for rank in range(4):
        assert f"[rank {rank}] hello from rank {rank} of 4 greeting bonjour" in logs, logs
    assert "[platform] exit code 0" in logs
    runs = json.loads(plane.cli("job", "runs", "hello", "--json").stdout)
    assert [x["status"] for x in runs] == ["FINISHED"]


def test_s3_source_and_region_check(plane, aws, tmp_path):
    s3 = boto3.client("s3", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket="code-us")
    s3.put_object(Bucket="code-us", Key="etl/hello.py", Body=HELLO.encode())
    s3.put_object(Bucket="code-us", Key="etl/pkg/util.py", Body=b"X = 1\n")
    s3.create_bucket(Bucket="code-eu",
                     CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="code-eu", Key="etl/hello.py", Body=HELLO.encode())

    # S3 sources are read with the organisation's keys: none set, none read -- the
    # platform's own (in the control plane's environment) are never used for it.
    body = {"name": "from-s3", "cluster": "shared", "command": "hello.py",
            "path": "s3://code-us/etl", "env": {"GREETING": "s3"}}
    status, err = plane.http("POST", "/jobs", body)
    assert status == 400 and err["error"]["field"] == "path", err
    assert "organisation's own AWS credentials" in err["error"]["message"]
    status, account = plane.http("PUT", "/aws/credentials", {
        "access_key_id": "AKIAORGKEY0000000001", "secret_access_key": "org-secret-key",
        "account_id": "123456789012", "region": "us-east-1"})
    assert status == 202 and account["ready"], account  # no AWS provider: no image to grant
    status, job = plane.http("POST", "/jobs", body)
    assert status == 201, job
    run = run_of(plane, job)
    assert run["status"] == "FINISHED", run
    text = logs_of(plane, "from-s3")
    assert "fetched 2 files from s3://code-us/etl" in text
    assert sum("greeting s3" in ln for ln in text.splitlines()) == 4

    status, err = plane.http("POST", "/jobs", {
        "name": "from-eu", "cluster": "shared", "command": "hello.py",
        "path": "s3://code-eu/etl"})
    assert status == 400 and err["error"]["field"] == "path"
    assert "eu-west-1" in err["error"]["message"] and "us-east-1" in err["error"]["message"]
    status, err = plane.http("POST", "/jobs", {
        "name": "from-none", "cluster": "shared", "command": "hello.py",
        "path": "s3://no-such-bucket/etl"})
    assert status == 400 and "does not exist" in err["error"]["message"]
    status, page = plane.http("GET", "/jobs")
    assert "from-eu" not in [j["name"] for j in page["items"]]


def cluster_names(plane: Serve) -> dict[str, dict]:
    return {c["name"]: c for c in plane.http("GET", "/clusters")[1]["items"]}


def test_dedicated_cluster_lives_as_long_as_the_run(plane, git, gate_dir):
    gate = gate_dir / "open"
    status, job = plane.http("POST", "/jobs", {
        "name": "own-cluster", "cluster": {"instance_type": "local.small", "instances": 2},
        "command": f"gate.py {gate}", "path": repo(git), "ref": "feature",
        "git_username": "alice", "git_password": TOKEN})
    assert status == 201, job
    run_id = job["last_run"]["id"]

    def dedicated() -> dict | None:
        for c in cluster_names(plane).values():
            if (c.get("dedicated_to") or {}).get("run_id") == run_id:
                return c
        return None

    c = wait_for(dedicated, 30, what="the run's cluster to be listed")
    assert c["dedicated_to"]["job_name"] == "own-cluster"
    # It is held by its run from its first moment: nobody else may take or delete it.
    assert c["holder"]["kind"] == "job_run" and c["holder"]["id"] == run_id
    assert c["holder"]["label"] == f"job 'own-cluster' (run {run_id})"
    status, err = plane.http("DELETE", f"/clusters/{c['id']}")
    assert status == 409 and "cancel the run" in err["error"]["message"]
    # The cluster's create task is a child of the run's task.
    run_task = job["last_run"]["task_id"]
    create = plane.http("GET", f"/tasks/{c['last_task']['id']}")[1]
    assert create["kind"] == "cluster.create" and create["parent_id"] == run_task
    children = plane.http("GET", f"/tasks/{run_task}")[1]["children"]
    assert [ch["id"] for ch in children] == [create["id"]]
    gate.touch()  # the run may end now
    run = run_of(plane, job)
    assert run["status"] == "FINISHED", run
    # Its delete is a child too, and the run's task lists both.
    kinds = [ch["kind"] for ch in plane.http("GET", f"/tasks/{run_task}")[1]["children"]]
    assert kinds == ["cluster.create", "cluster.delete"]
    assert plane.http("GET", f"/clusters/{c['id']}")[1]["status"] == "TERMINATED"
    assert c["name"] not in cluster_names(plane)
    text = logs_of(plane, "own-cluster")
    assert text.count("through") == 2  # two ranks


@pytest.mark.parametrize(("name", "body", "reason"), [
    ("bad-password", {"git_password": "wrong"}, "Git authentication failed"),
    ("bad-ref", {"ref": "no-such-branch"}, "reference 'no-such-branch' not found"),
    ("bad-script", {"command": "nope.py"}, "script 'nope.py' not found"),
    ("bad-exit", {"command": "fail.py"}, "the command failed with exit code 3"),
    # gate.py waits for a file nobody makes: only the timeout ends it.
    ("too-slow", {"command": "gate.py /nonexistent/never", "timeout_s": 2},
     "timed out after 2s"),
])
def test_failures_have_reasons(plane, git, name, body, reason):
    req = {"name": name, "cluster": "shared", "command": "hello.py", "path": repo(git),
           "ref": "feature", "git_username": "alice", "git_password": TOKEN, **body}
    status, job = plane.http("POST", "/jobs", req)
    assert status == 201, job
    run = run_of(plane, job)
    assert run["status"] == "FAILED" and reason in run["reason"], run
    if name == "too-slow":
        text = logs_of(plane, name)
        assert "timed out after 2s: job stopped" in text and "through" not in text
    if name == "bad-exit":
        assert run["exit_code"] == 3 and "about to fail" in logs_of(plane, name)
    # The cluster is free again for the next job.
    assert plane.http("GET", "/clusters/shared")[1]["status"] == "RUNNING"


def test_a_shell_line_is_split_but_never_run_by_a_shell(plane, git, tmp_path):
    """`ex.py; rm -rf ~` is split like a shell would split it, into `ex.py;`, `rm`,
    `-rf`, `~`, and never given to a shell: the script is `ex.py;`, which does not
    exist, so the run fails before anything starts. (HOME points at a folder of the
    test's, with a file in it: were `rm -rf ~` ever run, that is what it would meet.)"""
    home = tmp_path / "home"
    home.mkdir()
    (home / "canary").write_text("still here")
    status, job = plane.http("POST", "/jobs", {
        "name": "shell-line", "cluster": "shared", "command": "ex.py; rm -rf ~",
        "path": repo(git), "ref": "feature", "git_username": "alice",
        "git_password": TOKEN, "env": {"HOME": str(home)}})
    assert status == 201, job
    assert job["command_line"] == "mpiexec -n <CORE_COUNT> python 'ex.py;' rm -rf '~'"
    run = run_of(plane, job)
    assert run["status"] == "FAILED", run
    assert run["reason"].startswith("script 'ex.py;' not found in the fetched source"), run
    assert run["exit_code"] is None and run["command_line"] is None  # nothing was started
    assert "[platform] $ " not in logs_of(plane, "shell-line")
    assert (home / "canary").read_text() == "still here"


def test_the_jobs_files_never_run_inside_the_supervisor(plane, git):
    status, job = plane.http("POST", "/jobs", {
        "name": "shadow", "cluster": "shared", "command": "hello.py",
        "path": f"{git.url}/acme/shadow", "git_username": "alice", "git_password": TOKEN})
    assert status == 201, job
    run = run_of(plane, job)
    text = logs_of(plane, "shadow")
    assert run["status"] == "FINISHED" and run["exit_code"] == 0, (run, text)
    assert text.count("the job ran") == 4 and "HIJACKED" not in text, text
    assert "[platform] exit code 0" in text


def test_failure_and_cancel_clean_up_dedicated_clusters(plane, git):
    common = {"cluster": {"instance_type": "local.small", "instances": 1}, "path": repo(git),
              "ref": "feature", "git_username": "alice", "git_password": TOKEN}
    _, failing = plane.http("POST", "/jobs", {"name": "own-fail", "command": "fail.py",
                                                   **common})
    _, slow = plane.http("POST", "/jobs", {"name": "own-cancel",
                                           "command": "gate.py /nonexistent/never", **common})
    run = run_of(plane, failing)
    assert run["status"] == "FAILED" and "exit code 3" in run["reason"]

    def running() -> bool:
        r = plane.http("GET", f"/jobs/own-cancel/runs/{slow['last_run']['id']}")[1]
        return r["phase"] == "running"

    wait_for(running, 60, what="the slow run to start")
    r = plane.cli("job", "cancel", "own-cancel")
    assert r.returncode == 0, r.stderr
    run = run_of(plane, slow)
    assert run["status"] == "CANCELLED" and run["reason"] == "cancelled by user"
    # The run's own cluster went with it, deleted by a child task of the run.
    children = plane.http("GET", f"/tasks/{run['task_id']}")[1]["children"]
    assert [(c["kind"], c["status"]) for c in children] == [
        ("cluster.create", "FINISHED"), ("cluster.delete", "FINISHED")]
    for r in (plane.http("GET", f"/jobs/{j}/runs/latest")[1] for j in ("own-fail", "own-cancel")):
        assert plane.http("GET", f"/clusters/{r['cluster']['id']}")[1]["status"] == "TERMINATED"
    assert "waiting" in logs_of(plane, "own-cancel")


def test_busy_cluster_conflicts_and_queues(plane, git, gate_dir):
    gate = gate_dir / "open"
    common = {"path": repo(git), "ref": "feature", "git_username": "alice",
              "git_password": TOKEN}
    status, holder = plane.http("POST", "/jobs", {"name": "holder", "cluster": "shared",
                                                  "command": f"gate.py {gate}", **common})
    assert status == 201

    def holding() -> bool:
        return plane.http("GET", "/jobs/holder/runs/latest")[1]["phase"] == "running"

    wait_for(holding, 30, what="the first job to hold the cluster")
    run_id = holder["last_run"]["id"]
    shared = plane.http("GET", "/clusters/shared")[1]
    assert shared["holder"]["kind"] == "job_run" and shared["holder"]["id"] == run_id
    listed = {c["name"]: c for c in plane.http("GET", "/clusters")[1]["items"]}
    assert listed["shared"]["holder"] == shared["holder"]
    status, err = plane.http("POST", "/jobs", {"name": "second", "cluster": "shared",
                                               "command": "hello.py", **common})
    assert status == 409 and "in use by job 'holder'" in err["error"]["message"]
    assert err["error"]["field"] == "cluster"
    # Deleting the cluster under its run is refused, naming the run and what to do.
    status, err = plane.http("DELETE", "/clusters/shared")
    assert status == 409, err
    assert f"in use by job 'holder' (run {run_id}); cancel the run first" in \
        err["error"]["message"]
    # Another run of the same job is queued, not refused, and runs after the first.
    status, queued = plane.http("POST", "/jobs/holder/runs")
    assert status == 202

    def waiting() -> bool:
        run = plane.http("GET", f"/jobs/holder/runs/{queued['id']}")[1]
        return run["phase"] in ("queued", "queued-slot")

    wait_for(waiting, 30, what="the second run to queue")
    gate.touch()  # the first run ends; the second one passes the gate at once
    first = run_of(plane, holder)
    plane.wait_task(queued["task_id"])
    second = plane.http("GET", f"/jobs/holder/runs/{queued['id']}")[1]
    assert first["status"] == second["status"] == "FINISHED"
    assert second["started_at"] >= first["started_at"]
    task = plane.http("GET", f"/tasks/{queued['task_id']}")[1]
    assert any("queued" in e["message"] for e in task["events"]), task["events"]
    assert first["finished_at"] <= plane.http("GET", f"/tasks/{queued['task_id']}")[1][
        "events"][-1]["time"]
    # Both runs ended: nothing holds the cluster any more.
    assert plane.http("GET", "/clusters/shared")[1]["holder"] is None


def test_cron_job_fires_repeatedly_and_can_be_paused(plane, git):
    cron = {"type": "cron", "cron": "* * * * * */2", "timezone": "Europe/Paris"}
    body = {"cluster": "shared", "command": "hello.py", "path": repo(git), "ref": "feature",
            "git_username": "alice", "git_password": TOKEN, "schedule": cron}
    status, job = plane.http("POST", "/jobs", {"name": "every-2s", **body})
    assert status == 201, job
    assert job["schedule"]["next_run_at"] and job["last_run"] is None

    def runs_of(name: str) -> list[dict]:
        return plane.http("GET", f"/jobs/{name}/runs?limit=500")[1]["items"]

    def finished_runs() -> list[dict]:
        done = [r for r in runs_of("every-2s") if r["status"] == "FINISHED"]
        return done if len(done) >= 2 else []

    runs = wait_for(finished_runs, 60, interval=0.3, what="two cron runs")
    assert all(r["trigger"] == "cron" for r in runs)

    # Paused: no next time, and the runs made before the pause are all there is.
    status, job = plane.http("PATCH", "/jobs/every-2s", {"active": False})
    assert status == 200 and job["schedule"]["active"] is False
    assert job["schedule"]["next_run_at"] is None
    before = runs_of("every-2s")
    for r in before:
        if r["status"] in ("NEW", "INPROGRESS"):
            plane.wait_task(r["task_id"])
    # A witness with the same schedule, made after the pause: its first run shows that a
    # scheduler pass ran after the pause, at a time when every-2s would have been due.
    status, _ = plane.http("POST", "/jobs", {"name": "witness", **body})
    assert status == 201
    wait_for(lambda: runs_of("witness"), 30, what="a scheduler pass after the pause")
    after = runs_of("every-2s")
    assert [r["id"] for r in after] == [r["id"] for r in before]
    assert len({r["due_at"] for r in after}) == len(after)  # never twice for one time
    status, job = plane.http("PATCH", "/jobs/every-2s", {"active": True})
    assert job["schedule"]["active"] is True and job["schedule"]["next_run_at"]

    # Paused again and left to end its runs before it goes: a delete cancels a run
    # that is still fetching, and cancelling is not what this test is about.
    for name in ("witness", "every-2s"):
        plane.http("PATCH", f"/jobs/{name}", {"active": False})
        for run in runs_of(name):
            if run["status"] in ("NEW", "INPROGRESS"):
                plane.wait_task(run["task_id"])
        r = plane.cli("job", "delete", name)
        assert r.returncode == 0, r.stderr
        assert plane.http("GET", f"/jobs/{name}")[0] == 404


@pytest.mark.parametrize(("body", "status", "field", "needle"), [
    ({"command": "python hello.py"}, 400, "command", "leave out 'python'"),
    ({"path": "http://example.com/a/b"}, 400, "path", "https"),
    ({"path": "https://u:p@example.com/a/b"}, 400, "path", "credentials"),
    ({"env": {"9X": "1"}}, 400, "env.9X", "letters, digits and '_'"),
    ({"ref": "--upload-pack=x"}, 400, "ref", "invalid Git reference"),
    ({"schedule": {"type": "at", "at": "2020-01-01T00:00:00Z"}}, 400, "schedule.at",
     "in the past"),
    ({"schedule": {"type": "cron", "cron": "every day"}}, 400, "schedule.cron",
     "invalid cron"),
    ({"cluster": "no-such-cluster"}, 400, "cluster", "not found"),
    ({"cluster": {"instance_type": "local.huge"}}, 400, "cluster.instance_type",
     "unknown instance"),
    ({"cluster": {"instance_type": "local.small", "instances": 99}}, 400,
     "cluster.instances", "at most"),
    ({"name": "taken"}, 409, "name", "already exists"),
])
def test_bad_job_requests(plane, git, body, status, field, needle):
    if status == 409:  # a job of that name, made here (never run: due in 2099)
        got, out = plane.http("POST", "/jobs", {
            "name": "taken", "cluster": "shared", "command": "hello.py", "path": repo(git),
            "schedule": {"type": "at", "at": "2099-01-01T00:00:00Z"}})
        assert got == 201, out
    req = {"name": "bad-one", "cluster": "shared", "command": "hello.py", "path": repo(git),
           **body}
    try:
        got, err = plane.http("POST", "/jobs", req)
        assert got == status, err
        assert err["error"]["field"] == field and needle in err["error"]["message"], err
        names = [j["name"] for j in plane.http("GET", "/jobs?limit=500")[1]["items"]]
        assert "bad-one" not in names
    finally:
        if status == 409:
            assert plane.http("DELETE", "/jobs/taken")[0] == 200


def test_secret_never_leaves_encrypted_storage(plane):
    """The Git token is nowhere: not in the database, logs, responses or task events."""
    files = [*plane.data_dir.rglob("*")]
    leaks = [str(p) for p in files if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert leaks == []
    assert not [a for a in plane.answers if TOKEN in a]
    for path in ("/tasks?limit=500", "/jobs", "/clusters?all=true"):
        assert TOKEN not in json.dumps(plane.http("GET", path)[1])
    assert (plane.data_dir / "secret.key").stat().st_mode & 0o777 == 0o600


def test_python_client(plane, git):
    p = Platform(plane.url, plane.token)
    job = p.jobs.create("client-job", command="hello.py", path=repo(git), cluster="shared",
                        ref="feature", git_username="alice", git_password=TOKEN,
                        env={"GREETING": "py"})
    run = job.last_run.wait(timeout=60)
    assert run.status == "FINISHED" and run.exit_code == 0
    assert run.log_text().count("greeting py") == 4
    again = job.run_now().wait(timeout=60)
    assert again.id != run.id and len(job.runs()) == 2
    job.delete()


def test_logs_stream_while_running(plane, git, gate_dir):
    """The log arrives while the run runs: the run cannot end before the test has read
    its first line, because it waits for a file the test makes only then."""
    gate = gate_dir / "open"
    p = Platform(plane.url, plane.token)
    job = p.jobs.create("streamer", command=f"gate.py {gate}", path=repo(git),
                        cluster="shared", ref="feature", git_username="alice",
                        git_password=TOKEN)
    chunks = []
    for chunk in job.last_run.logs(follow=True):
        chunks.append(chunk)
        if "waiting" in chunk and not gate.exists():
            assert job.last_run.refresh().status == "INPROGRESS"
            gate.touch()
    text = "".join(chunks)
    assert gate.exists() and text.count("through") == 4
    assert text.index("waiting") < text.index("through")


def test_no_files_left_behind(plane: Serve):
    """Ended runs leave only their log; deleting a job removes its logs too."""
    assert list((plane.data_dir / "local" / "jobs").glob("*")) == []
    p = Platform(plane.url, plane.token)
    for j in p.jobs.list():
        j.delete()
    assert p.jobs.list() == []
    assert not list(Path(plane.data_dir / "job-logs").rglob("*.log"))


def test_retry_after_the_runs_cluster_failed_makes_a_new_cluster(tmp_path):
    """Each attempt gets a fresh cluster of its own; failed ones are removed."""
    (tmp_path / "bodo_jupyter_config.py").write_text(
        "c.LocalProvider.ready_timeout = 0.2\n")  # no cluster can be ready this fast
    s = Serve(tmp_path).start()
    try:
        status, job = s.http("POST", "/jobs", {
            "name": "unlucky", "cluster": {"instance_type": "local.small", "instances": 1},
            "command": "x.py", "path": "https://git.example.invalid/acme/x", "retries": 1})
        assert status == 201, job
        run = run_of(s, job)
        assert run["status"] == "FAILED" and run["attempts"] == 2
        assert "the run's cluster could not be created" in run["reason"]
        _, page = s.http("GET", "/clusters?all=true")
        mine = [c for c in page["items"] if (c["dedicated_to"] or {}).get("run_id") == run["id"]]
        assert len(mine) == 2 and all(c["status"] == "TERMINATED" for c in mine)
    finally:
        s.shut_down()
