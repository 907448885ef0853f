"""S3 job sources are read with the organisation's AWS identity, never the platform's.

The confused deputy, as issue 8 found it: the control plane holds the
platform's own keys (here: an admin of the account, which can read a
"platform-only" bucket); an organisation linked keys that may read its own
bucket only. In the AWS emulator with IAM enforced, the organisation's job
reads its bucket; a job naming the platform's bucket fails with AccessDenied at
run time and reads nothing; after the organisation deletes its keys, even its
own bucket is refused -- the platform's identity never stands in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .aws import Emulator, _user, aws_emulator
from .helpers import Serve

pytestmark = pytest.mark.mpi

HELLO = "print('hello from the organisation bucket')\n"
SECRET_DATA = "PLATFORM-ONLY-DATA-7f3a"
PLATFORM_SCRIPT = f"print({SECRET_DATA!r})\n"


def org_policy(bucket: str) -> dict:
    """What the organisation's keys may do: find any bucket's region, read its own."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sts:GetCallerIdentity", "s3:GetBucketLocation"],
         "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
        {"Effect": "Allow", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"},
    ]}


@pytest.fixture(scope="module")
def em(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with aws_emulator(tmp_path_factory.mktemp("aws")) as em:
        yield em


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, em: Emulator) -> Iterator[Serve]:
    data = tmp_path_factory.mktemp("s3-plane")
    # The S3 endpoint is the emulator, on loopback (which sources may not use by default).
    (data / "bodo_jupyter_config.py").write_text(
        "c.SourceFetcher.allowed_hosts = ['127.0.0.1']\n")
    s = Serve(data, env=em.control_plane_env()).start()
    try:
        yield s
    finally:
        s.shut_down()


def finished_run(plane: Serve, run: dict) -> dict:
    plane.wait_task(run["task_id"])
    status, run = plane.http("GET", f"/jobs/{run['job_id']}/runs/{run['id']}")
    assert status == 200, run
    return run


def log_of(plane: Serve, run: dict) -> str:
    status, out = plane.http("GET", f"/jobs/{run['job_id']}/runs/{run['id']}/logs")
    assert status == 200, out
    return out["text"]


def test_s3_sources_use_the_organisations_keys_never_the_platforms(plane: Serve,
                                                                    em: Emulator,
                                                                    tmp_path: Path) -> None:
    s3 = em.client("s3")  # the platform's own identity
    for bucket, body in (("platform-only", PLATFORM_SCRIPT), ("acme-code", HELLO)):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="etl/hello.py", Body=body.encode())
    # The deputy has the power: the platform's keys can read the platform's bucket.
    got = s3.get_object(Bucket="platform-only", Key="etl/hello.py")["Body"].read()
    assert SECRET_DATA.encode() in got
    iam = em.client("iam")
    org = _user(iam, "acme-reader", org_policy("acme-code"), em.admin.account)

    status, out = plane.http("POST", "/clusters", {"name": "s3", "instance_type":
                                                   "local.small", "instances": 1})
    assert status == 202 and plane.wait_task(out["task"]["id"])["status"] == "FINISHED"
    stolen = {"name": "steal", "cluster": "s3", "command": "hello.py",
              "path": "s3://platform-only/etl"}

    # No keys of its own: refused at creation, nothing recorded.
    status, err = plane.http("POST", "/jobs", stolen)
    assert status == 400 and err["error"]["field"] == "path", err
    assert "organisation's own AWS credentials" in err["error"]["message"]
    assert plane.http("GET", "/jobs")[1]["items"] == []

    status, account = plane.http("PUT", "/aws/credentials", {
        "access_key_id": org.access_key_id, "secret_access_key": org.secret_access_key,
        "account_id": org.account, "region": "us-east-1"})
    assert status == 202 and account["ready"], account

    # Its own bucket: read with its keys.
    status, job = plane.http("POST", "/jobs", {"name": "own", "cluster": "s3",
                                               "command": "hello.py",
                                               "path": "s3://acme-code/etl"})
    assert status == 201, job
    run = finished_run(plane, job["last_run"])
    assert run["status"] == "FINISHED", run
    assert "hello from the organisation bucket" in log_of(plane, run)

    # The platform's bucket: its keys may find the region, not list or read it.
    status, job = plane.http("POST", "/jobs", stolen)
    assert status == 201, job
    run = finished_run(plane, job["last_run"])
    assert run["status"] == "FAILED", run
    assert "AccessDenied" in run["reason"] or "access denied" in run["reason"].lower(), run
    assert SECRET_DATA not in log_of(plane, run)

    # The organisation deletes its keys: even its own bucket is no longer read.
    status, out = plane.http("DELETE", "/aws/credentials")
    assert status == 200, out
    status, run = plane.http("POST", "/jobs/own/runs")
    assert status == 202, run
    run = finished_run(plane, run)
    assert run["status"] == "FAILED", run
    assert "credentials" in run["reason"] and "none are set" in run["reason"], run
    assert "hello from the organisation bucket" not in log_of(plane, run)

    # No answer carried the organisation's secret key.
    for path in ("/jobs", "/jobs/own", "/jobs/steal", "/tasks", "/aws/credentials"):
        status, body = plane.http("GET", path)
        assert org.secret_access_key not in json.dumps(body), path
    status, out = plane.http("DELETE", "/clusters/s3")
    assert status == 202 and plane.wait_task(out["task"]["id"])["status"] == "FINISHED"
