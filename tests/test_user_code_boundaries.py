"""The pure rules at the boundary between the platform and user code: which
variables pass into user work, which hosts a source may come from, the OS user
an organisation gets and how its supervisor is started. No processes here."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from bodo_jupyter.platform.jobs.hosts import HostPolicy
from bodo_jupyter.platform.providers.local_jobs import supervisor_argv
from bodo_jupyter.platform.providers.os_users import user_name, useradd_argv
from bodo_jupyter.platform.run_as import RunAs
from bodo_jupyter.platform.user_env import DEFAULT_KEEP, is_secret_name, secrets_in, user_env

CONTROL_PLANE_ENV = {
    "PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": "/root",
    "BODO_JUPYTER_SECRET_KEY": "k3y", "BODO_JUPYTER_TOKEN": "t0k", "BODO_JUPYTER_DB_URL":
    "postgresql://u:pw@db/x", "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s3c",
    "AWS_SESSION_TOKEN": "sess", "JUPYTERHUB_API_TOKEN": "hub", "JPY_API_TOKEN": "jpy",
    "GITHUB_TOKEN": "gh", "MY_PASSWORD": "pw", "LD_PRELOAD": "/evil.so",
    "PYTHONPATH": "/plane/src", "DATABASE_URL": "postgresql://x", "OTHER": "1",
}


def test_only_the_allow_list_passes_and_secrets_never_do() -> None:
    env = user_env(CONTROL_PLANE_ENV)
    assert env == {"PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
                   "HOME": "/root"}
    # An admin widening the list to everything still lets no secret through.
    wide = user_env(CONTROL_PLANE_ENV, keep=["*"])
    assert set(wide) == {"PATH", "LANG", "LC_ALL", "HOME", "OTHER"}, wide
    assert secrets_in(wide, ["k3y", "t0k", "pw", "AKIA", "s3c", "sess", "hub", "gh"]) == []


def test_platform_then_job_variables_come_last() -> None:
    env = user_env(CONTROL_PLANE_ENV, platform={"HOME": "/orgs/o1/home", "OMP_NUM_THREADS":
                                                "1"}, job={"OMP_NUM_THREADS": "4", "X": "y"})
    assert env["HOME"] == "/orgs/o1/home" and env["OMP_NUM_THREADS"] == "4"
    assert env["X"] == "y"


@pytest.mark.parametrize("name", ["AWS_ACCESS_KEY_ID", "aws_secret_access_key", "MY_TOKEN",
                                  "BODO_JUPYTER_ANYTHING", "JUPYTERHUB_API_URL", "LD_AUDIT",
                                  "SOME_API_KEY", "PGPASSWORD", "X_DB_URL"])
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["PATH", "LANG", "OMP_NUM_THREADS", "HOME", "TZ"])
def test_ordinary_names(name: str) -> None:
    assert not is_secret_name(name) and (name in DEFAULT_KEEP or name == "OMP_NUM_THREADS")


# -- hosts ----------------------------------------------------------------------------

DEFAULT = HostPolicy()


@pytest.mark.parametrize("host", [
    "127.0.0.1", "10.1.2.3", "169.254.169.254", "192.168.1.1", "172.16.0.5", "[::1]",
    "::ffff:10.0.0.1", "0.0.0.0", "localhost", "db.localhost", "metadata.google.internal",
    "printer.local", "LOCALHOST."])
def test_private_and_internal_hosts_are_denied_by_name_before_any_lookup(host: str) -> None:
    verdict = DEFAULT.by_name(host)
    assert not verdict.allowed and not verdict.needs_addresses, verdict
    assert "SourceFetcher.allowed_hosts" in verdict.reason


def test_public_names_need_their_addresses_and_are_judged_by_every_one() -> None:
    verdict = DEFAULT.by_name("github.com")
    assert verdict.allowed and verdict.needs_addresses
    public = ipaddress.ip_address("140.82.112.3")
    assert DEFAULT.by_addresses("github.com", [public]).allowed
    # A name that resolves to a private address too (DNS rebinding) is refused.
    rebind = DEFAULT.by_addresses("evil.example", [public, ipaddress.ip_address("10.0.0.8")])
    assert not rebind.allowed and "resolves to a private or internal address" in rebind.reason


def test_admins_allow_their_own_hosts_and_can_allow_only_those() -> None:
    policy = HostPolicy.from_config(["git.corp.example", "10.1.0.0/16"], [], False)
    assert policy.by_name("git.corp.example").allowed
    assert policy.by_name("10.1.2.3").allowed
    strict = HostPolicy.from_config(["*.corp.example"], [], True)
    assert strict.by_name("git.corp.example").allowed
    assert not strict.by_name("github.com").allowed
    denied = HostPolicy.from_config([], ["*.example.org"], False)
    assert not denied.by_name("git.example.org").allowed
    assert denied.by_name("127.0.0.1").allowed  # the admin replaced the default list


def test_bad_rules_are_refused_when_configured() -> None:
    with pytest.raises(ValueError, match="neither a host name pattern nor an IP network"):
        HostPolicy.from_config(["https://github.com/"], [], False)


# -- OS users and the supervisor --------------------------------------------------------

def test_org_user_names_come_from_the_id_never_the_name() -> None:
    assert user_name("bodo-", "o-5f2a9c81d3e0") == "bodo-5f2a9c81d3e0"
    for bad in ["o-", "o-../../etc", "o-a b", "o-x;rm"]:
        with pytest.raises(ValueError):
            user_name("bodo-", bad)
    assert len(user_name("bodo-", "o-" + "a" * 64)) == 32


def test_useradd_makes_a_system_user_without_login_or_home() -> None:
    argv = useradd_argv("useradd", "bodo-abc", 61200, Path("/srv/orgs/o-abc/home"))
    assert argv[0] == "useradd" and argv[-1] == "bodo-abc"
    assert {"--system", "--no-create-home", "--user-group"} <= set(argv)
    assert argv[argv.index("--shell") + 1] == "/usr/sbin/nologin"
    assert argv[argv.index("--uid") + 1] == "61200"


def test_the_supervisor_runs_isolated_from_the_job_it_supervises() -> None:
    who = RunAs("bodo-abc", 61200, 61200, Path("/srv/orgs/o-abc/home"))
    argv = supervisor_argv(python="/venv/bin/python", log=Path("/d/run.log"),
                           exit_file=Path("/d/exit"), cwd=Path("/srv/orgs/o-abc/jobs/r1/src"),
                           env_file=Path("/d/env"), run_as=who,
                           command=["mpiexec", "-n", "2", "python", "main.py"])
    # -I: neither the job's folder nor PYTHONPATH is on the supervisor's sys.path.
    assert argv[:4] == ["/venv/bin/python", "-I", "-m", "bodo_jupyter.platform.jobs.supervise"]
    assert argv[argv.index("--uid") + 1] == "61200" and argv[argv.index("--gid") + 1] == "61200"
    assert argv[argv.index("--") + 1:] == ["mpiexec", "-n", "2", "python", "main.py"]
    no_user = supervisor_argv(python="p", log=Path("l"), exit_file=Path("e"), cwd=Path("c"),
                              env_file=Path("f"), run_as=None, command=["x"])
    assert "--uid" not in no_user
