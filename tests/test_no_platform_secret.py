"""No platform secret reaches user code.

The control plane runs with every secret an install has in its environment: the
master key of stored secrets, the platform's own AWS keys, a hub's API token, a
database URL with its password, its own API token, and an admin's variable with
a name no deny rule knows (only the allow-list keeps that one out). A job with
a private Git source (a password of its own) then looks, as an attacker would,
at everything user code can see: its environment on every rank and every
``/proc/<pid>/environ`` and ``cmdline`` it can read. Meanwhile the test reads,
as root can, the environment and argv of every process the platform started
(controller, engines, mpiexec, the supervisor, the ranks), and a client
attached to the cluster reads each engine's ``os.environ``. No secret shows up
anywhere, nor in the job's log or any API answer; and the probe provably ran
(its own variable is in what it printed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from cryptography.fernet import Fernet

from bodo_jupyter.platform.providers.local import TAG_PLANE
from bodo_jupyter.platform.user_env import secrets_in
from bodo_jupyter.sdk import Platform

from .git_server import GitServer
from .helpers import Serve, wait_for

pytestmark = pytest.mark.mpi

GIT_PASSWORD = "ghp_ProbeRepoPassw0rd-0001"
API_TOKEN = "platform-api-token-0123456789abcdef"
PLATFORM_SECRETS = {
    "BODO_JUPYTER_SECRET_KEY": Fernet.generate_key().decode(),
    "AWS_ACCESS_KEY_ID": "AKIAPLATFORMKEY00001",
    "AWS_SECRET_ACCESS_KEY": "platform/Secret+Access+Key/0123456789abcd",
    "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEPlatformSessionToken0123456789",
    "JUPYTERHUB_API_TOKEN": "hub-api-token-fedcba9876543210",
    "BODO_JUPYTER_DB_URL_PASSWORD_PROBE": "postgres-pw-0123456789",
    # No deny pattern matches this name: only the allow-list keeps it out.
    "ACME_LICENSE": "acme-license-key-5f4dcc3b5aa765d61d8327deb882cf99",
}
SECRETS = [*PLATFORM_SECRETS.values(), API_TOKEN, GIT_PASSWORD]

# Every rank prints its environment and every environ / cmdline of /proc it can read,
# then waits for the gate, so that the test sees the processes while they run.
PROBE = """import json, os, sys, time
from mpi4py import MPI
seen = {"env": dict(os.environ), "proc": {}}
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    for what in ("environ", "cmdline"):
        try:
            with open(f"/proc/{pid}/{what}", "rb") as f:
                seen["proc"][f"{pid}/{what}"] = f.read().decode("utf-8", "replace")
        except OSError:
            pass
print("SEEN", json.dumps(seen), flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
print("DONE", MPI.COMM_WORLD.rank, flush=True)
"""


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server = GitServer(tmp_path_factory.mktemp("git"), "probe", GIT_PASSWORD).start()
    server.create_repo("acme", "probe", {"main": {"probe.py": PROBE}})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, git: GitServer) -> Iterator[Serve]:
    data = tmp_path_factory.mktemp("secret-plane")
    (data / "bodo_jupyter_config.py").write_text(git.plane_config())
    s = Serve(data, token=API_TOKEN, env=PLATFORM_SECRETS).start()
    try:
        yield s
    finally:
        s.shut_down()


def platform_processes(plane: Serve) -> dict[int, tuple[str, dict[str, str]]]:
    """Every process the control plane started for user work: pid -> (argv, environ)."""
    found = {}
    for p in psutil.process_iter():
        try:
            env = p.environ()
            if env.get(TAG_PLANE) != plane.plane_id or p.pid == plane.proc.pid:
                continue
            found[p.pid] = (" ".join(p.cmdline()), env)
        except (psutil.Error, OSError):
            continue
    return found


def leaks(text: str) -> list[str]:
    return [name for name, value in {**PLATFORM_SECRETS, "API token": API_TOKEN,
                                      "git password": GIT_PASSWORD}.items() if value in text]


def test_no_platform_secret_reaches_engines_jobs_or_the_supervisor(plane: Serve,
                                                                    git: GitServer,
                                                                    gate_dir: Path) -> None:
    status, out = plane.http("POST", "/clusters", {"name": "probe", "instance_type":
                                                   "local.small", "instances": 2})
    assert status == 202, out
    assert plane.wait_task(out["task"]["id"])["status"] == "FINISHED"
    gate = gate_dir / "open"
    status, job = plane.http("POST", "/jobs", {
        "name": "probe", "cluster": "probe", "command": f"probe.py {gate}",
        "path": f"{git.url}/acme/probe", "git_username": "probe",
        "git_password": GIT_PASSWORD, "env": {"PROBE_OWN": "visible-to-the-job"}})
    assert status == 201, job
    run = job["last_run"]

    def log() -> str:
        """All of the log so far: each SEEN line holds /proc, and one read is at most
        JobLogs.max_read_bytes."""
        text, offset = "", 0
        while True:
            status, out = plane.http("GET", f"/jobs/probe/runs/{run['id']}/logs?offset={offset}")
            assert status == 200, out
            text += out["text"]
            if out["next_offset"] == offset:
                return text
            offset = out["next_offset"]

    def probed() -> str | bool:
        text = log()
        _, now = plane.http("GET", f"/jobs/probe/runs/{run['id']}")
        assert now["status"] in ("NEW", "INPROGRESS"), (now, text[-3000:])
        return text.count("SEEN ") == 2 and text

    # Both ranks have looked around and wait at the gate: their processes are up.
    try:
        text = wait_for(probed, 120, what="both ranks' probes")
    except AssertionError as e:
        raise AssertionError(f"{e}; the log ends: {log()[-3000:]!r}") from None
    procs = platform_processes(plane)
    kinds = " ".join(argv for argv, _ in procs.values())
    for part in ("ipyparallel.controller", "ipyparallel.engine", "supervise", "probe.py"):
        assert part in kinds, f"no {part} process among {kinds}"
    for pid, (argv, env) in procs.items():
        assert not secrets_in(env, SECRETS), (pid, argv, secrets_in(env, SECRETS))
        assert not leaks(argv), (pid, argv)

    # An attached client asks every engine for its environment.
    with Platform(plane.url, plane.token) as p:
        rc = p.clusters.get("probe").attach(timeout=60)
        try:
            envs = rc[:].apply_sync(lambda: dict(__import__("os").environ))
        finally:
            rc.close()
    assert len(envs) == 2
    for env in envs:
        assert env["HOME"] and not secrets_in(env, SECRETS), secrets_in(env, SECRETS)

    gate.touch()
    assert plane.wait_task(run["task_id"])["status"] == "FINISHED"
    text = log()
    seen = [json.loads(line.split("SEEN ", 1)[1]) for line in text.splitlines()
            if "SEEN " in line]
    assert len(seen) == 2 and all(s["env"]["PROBE_OWN"] == "visible-to-the-job" for s in seen)
    assert all(s["proc"] for s in seen), "the probe read its own /proc entries"
    assert not leaks(text), leaks(text)
    # Nor does any API answer carry one.
    for path in ("/jobs/probe", f"/jobs/probe/runs/{run['id']}", f"/tasks/{run['task_id']}",
                 "/clusters/probe", "/clusters/probe/connection", "/jobs", "/tasks"):
        status, body = plane.http("GET", path)
        assert status == 200, (path, body)
        assert not leaks(json.dumps(body)), (path, leaks(json.dumps(body)))
    status, out = plane.http("DELETE", "/clusters/probe")
    assert status == 202 and plane.wait_task(out["task"]["id"])["status"] == "FINISHED"



@pytest.mark.parametrize("protect", [True, False])
def test_the_control_plane_keeps_its_environment_from_its_own_users_processes(
        protect: bool) -> None:
    """On an install without root, jobs run as the control plane's OS user; such a
    process may read /proc/<pid>/environ of any process of that user -- but not of the
    control plane, which marks itself not dumpable (ServeApp.protect_process). With the
    protection off, the same probe reads the platform's keys: the test can fail."""
    uid = 65534 if os.geteuid() == 0 else os.geteuid()  # an unprivileged user, either way
    # A folder that user can reach (pytest's own are private to root).
    data = Path(tempfile.mkdtemp(prefix="undumpable-", dir=os.environ["BODO_JUPYTER_WORKSPACES"]))
    if os.geteuid() == 0:
        os.chown(data, uid, uid)
    (data / "bodo_jupyter_config.py").write_text(
        f"c.ServeApp.protect_process = {protect}\n")
    if os.geteuid() == 0:
        os.chown(data / "bodo_jupyter_config.py", uid, uid)
    s = Serve(data, token=API_TOKEN, env={**PLATFORM_SECRETS, "HOME": str(data)},
              user=uid).start()
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import sys\ntry:\n"
             f"    print(open('/proc/{s.proc.pid}/environ', 'rb').read().decode())\n"
             "except PermissionError:\n    print('denied')"],
            capture_output=True, text=True, timeout=60, cwd="/",
            **({"user": uid, "group": uid, "extra_groups": []} if os.geteuid() == 0 else {}))
        assert probe.returncode == 0, probe.stderr
        if protect:
            assert probe.stdout.strip() == "denied", leaks(probe.stdout)
        else:
            assert PLATFORM_SECRETS["BODO_JUPYTER_SECRET_KEY"] in probe.stdout
    finally:
        s.stop()
        shutil.rmtree(data)
