"""Forms declared once (bodo_jupyter.contract.forms): every field is a part of the
request, every part of the request has a field, flat values build the request, and
errors find their way back to the field (and to the CLI flag a user typed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bodo_jupyter.cli.forms import flag_message
from bodo_jupyter.contract import models
from bodo_jupyter.contract.forms import CLUSTER_CREATE, FORMS, JOB_CREATE, NEW_CLUSTER, Form
from bodo_jupyter.contract.runtime import ContractError, Model

#: Request fields a person never types: the CLI and SDK fill them in.
NOT_TYPED = {"cluster-create": {"client_token"},
             # A hub spawner passes it; people never type it.
             "notebook-create": {"server_env"}}


def request_paths(model: type[Model], prefix: str = "") -> set[str]:
    """Every leaf of a request model as a dotted path (through nested request models)."""
    out = set()
    for f in model.fields_info():
        path = f"{prefix}{f.name}"
        nested = [a.ref for a in (f.one_of or ()) if isinstance(a.ref, type)
                  and issubclass(a.ref, Model)]
        if nested:
            for sub in nested:
                out |= request_paths(sub, path + ".")
        else:
            out.add(path)
    return out


@pytest.mark.parametrize("form", FORMS.values(), ids=list(FORMS))
def test_every_field_is_part_of_the_request_and_the_reverse(form: Form):
    paths = request_paths(form.request)
    for f in form.fields:
        form.info(f)  # resolves in the contract
    covered = {f.api for f in form.fields}
    missing = paths - covered - NOT_TYPED.get(form.name, set())
    assert missing == set(), f"parts of {form.request.__name__} no field offers: {missing}"
    json.dumps(form.describe())  # what the TypeScript UI reads


def test_bounds_and_defaults_come_from_the_contract():
    instances = CLUSTER_CREATE.field("instances")
    assert CLUSTER_CREATE.info(instances).minimum == 1
    assert CLUSTER_CREATE.default_of(instances) == 1
    retries = {f["name"]: f for f in JOB_CREATE.describe()["fields"]}["retries"]
    assert retries["maximum"] == models.CreateJobRequest.field_info("retries").maximum == 10
    assert JOB_CREATE.required(JOB_CREATE.field("command"))
    assert not JOB_CREATE.required(JOB_CREATE.field("cluster"))  # NEW + instance type


def test_flat_values_build_the_request():
    req = JOB_CREATE.build({"name": "etl", "cluster": "shared", "command": "x.py 1",
                            "path": "https://h/o/r", "cron": "0 9 * * 1-5",
                            "timezone": "Europe/Paris", "env": {"A": "1"}, "timeout_s": 60})
    assert isinstance(req, models.CreateJobRequest)
    assert req.cluster == "shared" and req.schedule.type == "cron"
    assert req.schedule.timezone == "Europe/Paris" and req.env == {"A": "1"}
    new = JOB_CREATE.build({"name": "etl", "cluster": NEW_CLUSTER, "instance_type": "t",
                            "instances": 3, "command": "x.py", "path": "https://h/o/r"})
    assert isinstance(new.cluster, models.NewCluster) and new.cluster.instances == 3
    assert new.schedule == "now"
    at = JOB_CREATE.build({"name": "etl", "instance_type": "t", "command": "x.py",
                           "path": "https://h/o/r", "at": "2030-01-31T09:00:00Z"})
    assert at.schedule.type == "at" and isinstance(at.cluster, models.NewCluster)
    c = CLUSTER_CREATE.build({"name": "demo", "instance_type": "local.small"})
    assert (c.instances, c.efa) == (1, False)


@pytest.mark.parametrize(("values", "field", "needle"), [
    ({"cluster": "c", "instance_type": "t"}, "cluster", "not both"),
    ({}, "cluster", "cluster is required"),
    ({"cluster": "c", "at": "2030-01-01T00:00:00Z", "cron": "* * * * *"}, "schedule",
     "not both"),
    ({"cluster": "c", "timeout_s": -5}, "timeout_s", "timeout_s must be at least 1, got -5"),
    ({"cluster": NEW_CLUSTER, "instance_type": "t", "instances": 0}, "cluster.instances",
     "cluster.instances must be at least 1, got 0"),
    ({"cluster": "c", "env": {"9X": "1"}}, "env.9X", "env.9X"),
])
def test_bad_values_name_their_field(values, field, needle):
    base = {"name": "etl", "command": "x.py", "path": "https://h/o/r"}
    with pytest.raises(ContractError) as e:
        JOB_CREATE.build({**base, **values})
    assert e.value.field == field and needle in e.value.message, e.value.message


@pytest.mark.parametrize(("path", "message", "shown"), [
    ("timeout_s", "timeout_s must be at least 1, got -5", "--timeout must be at least 1, got -5"),
    ("schedule.cron", "invalid cron expression '61 * * * *': minute 61 is out of range 0-59",
     "--cron: invalid cron expression '61 * * * *': minute 61 is out of range 0-59"),
    ("env.OMPI_X", "env.OMPI_X: the name OMPI_X is reserved by the platform",
     "--env OMPI_X: the name OMPI_X is reserved by the platform"),
    ("cluster.instance_type", "unknown instance type 'x' for provider local; choose one of: a",
     "--instance-type: unknown instance type 'x' for provider local; choose one of: a"),
    ("cluster.instances", "cluster.instances must be at most 8 for provider local, got 9",
     "--instances must be at most 8 for provider local, got 9"),
    ("name", "name 'Bad' is invalid: use ...", "NAME 'Bad' is invalid: use ..."),
    ("git_username", "git_password needs git_username", "--username: git_password needs "
                                                        "git_username"),
    (None, "a cluster named 'x' already exists", "a cluster named 'x' already exists"),
])
def test_errors_come_back_under_the_flag_the_user_typed(path, message, shown):
    assert flag_message(JOB_CREATE, path, message) == shown


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "BODO_JUPYTER_URL": "http://127.0.0.1:9/bodo/api/v1",
            "BODO_JUPYTER_TOKEN": "t", **(env or {})}
    return subprocess.run([sys.executable, "-m", "bodo_jupyter.cli", *args], env=full,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("args", "code", "line"), [
    # Bad values fail before any request (the URL above answers nothing), under their flag.
    (["job", "create", "x", "--cluster", "c", "--command", "x.py", "--path", "https://h/o/r",
      "--timeout", "-5"], 1, "error: --timeout must be at least 1, got -5"),
    (["job", "create", "x", "--cluster", "c", "-t", "local.small", "--command", "x.py",
      "--path", "https://h/o/r"], 1, "error: --cluster: give either an existing cluster or "
                                     "the instance type of a new one for each run, not both"),
    (["cluster", "create", "Bad_Name", "-t", "local.small"], 1,
     "error: NAME 'Bad_Name' is invalid: use 1-63 characters"),
    (["job", "create", "x", "--cluster", "c", "--command", "x.py", "--path", "https://h/o/r",
      "--password-env", "NO_SUCH_VARIABLE_HERE"], 2,
     "error: --password-env NO_SUCH_VARIABLE_HERE: that environment variable is not set"),
    # A command line click cannot read is one line too, exit 2, with where to look.
    (["job", "create", "x", "--cluster", "c", "--path", "p"], 2,
     "error: Missing option '--command'. (see `bodo-jupyter job create --help`)"),
    (["cluster", "create", "x", "-t", "local.small", "-n", "two"], 2,
     "error: Invalid value for '--instances' / '-n': 'two' is not a valid integer."),
    (["no-such-command"], 2, "error: No such command 'no-such-command'."),
])
def test_cli_errors_are_one_line_naming_the_flag(args, code, line):
    r = cli(*args)
    err = r.stderr.strip()
    assert r.returncode == code, (r.returncode, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(line), err
