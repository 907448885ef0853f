"""The AWS provider against a real AWS emulator (moto's server in its own process,
IAM enforced, a fault proxy in front): credentials, an EFA cluster made and
removed in full, faults, a crash mid-create, the reconciler, and the IAM
policy checked against every call the code made."""

from __future__ import annotations

import base64
import json
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bodo_jupyter.platform.providers import bodo_versions
from bodo_jupyter.platform.providers.aws.bootstrap import script_vars
from bodo_jupyter.platform.providers.aws.policy import (
    NOTEBOOK_ACTIONS,
    platform_policy,
    policy_actions,
)

from .aws import OTHER_ACCOUNT, Emulator, aws_emulator, leftovers
from .aws_emulator.proxy import Rule
from .helpers import Serve, wait_for
from .test_openapi import bad, call

ACCOUNT = "123456789012"
PINNED_BODO = bodo_versions.pinned()  # the bodo extra's: the default
OLDER_BODO = "2025.12.2"
EVERY_TYPE = {"vpc", "subnet", "internet-gateway", "security-group", "route-table",
              "nat-gateway", "elastic-ip", "instance", "network-interface", "key-pair",
              "placement-group", "efs", "mount-target", "kms-key", "iam-role",
              "instance-profile", "s3-bucket", "dynamodb-table"}


@pytest.fixture(scope="module")
def em(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with aws_emulator(tmp_path_factory.mktemp("aws")) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, em: Emulator) -> Iterator[Serve]:
    data = tmp_path_factory.mktemp("aws-plane")
    (data / "bodo_jupyter_config.py").write_text(
        'c.ControlPlane.enabled_providers = ["local", "aws"]\n'
        f'c.AWSProvider.ami_ids = {{"us-east-1": {em.ami!r}}}\n'
        f"c.AWSProvider.bodo_versions_offered = {[OLDER_BODO, PINNED_BODO]!r}\n"
        "c.AWSProvider.poll_interval = 0.05\n"
        f"c.AWSProvider.audit_log = {str(data / 'aws-audit.jsonl')!r}\n"
        "c.ControlPlane.orphan_sweep_interval = 3600\n")
    s = Serve(data, env=em.control_plane_env())
    s.start()
    try:
        yield s
    finally:
        em.proxy.reset()
        try:
            s.clean_up()
        finally:
            s.stop()
    assert leftovers(em) == {}


def creds_body(keys, account: str = ACCOUNT, region: str = "us-east-1") -> dict:
    return {"access_key_id": keys.access_key_id, "secret_access_key": keys.secret_access_key,
            "account_id": account, "region": region}


def set_credentials(plane: Serve, keys, account: str = ACCOUNT) -> dict:
    status, out = plane.http("PUT", "/aws/credentials", creds_body(keys, account))
    assert status == 202, out
    task = plane.wait_task(out["task_id"])
    assert task["status"] == "FINISHED", task
    return plane.http("GET", "/aws/credentials")[1]


def test_no_credentials_is_a_clear_error(plane):
    status, err = plane.http("GET", "/instance-types?provider=aws")
    assert status == 400 and "no AWS credentials" in err["error"]["message"]
    status, err = plane.http("POST", "/clusters", {"name": "x", "provider": "aws",
                                                   "instance_type": "c5n.18xlarge"})
    assert status == 400 and "credentials set" in err["error"]["message"]
    assert plane.http("GET", "/aws/credentials")[0] == 404


@pytest.mark.parametrize(("change", "field", "needle"), [
    ({"access_key_id": "AKIAUNKNOWNKEY123456"}, "access_key_id", "does not know the access key"),
    ({"secret_access_key": "wrong-secret"}, "secret_access_key", "does not match"),
    ({"account_id": "999999999999"}, "account_id",
     f"belong to AWS account {ACCOUNT}, not 999999999999"),
    ({"access_key_id": "not-a-key"}, "access_key_id", "'not-a-key' is invalid: use AKIA"),
    ({"account_id": "12345"}, "account_id", "12 digits"),
    ({"region": "mars-1"}, "region", "'mars-1' is invalid: use an AWS region name"),
])
def test_bad_credentials(plane, em, change, field, needle):
    status, err = plane.http("PUT", "/aws/credentials", {**creds_body(em.user), **change})
    assert status == 400, err
    assert err["error"]["field"] == field and needle in err["error"]["message"]
    assert plane.http("GET", "/aws/credentials")[0] == 404


def test_missing_permission_is_named(plane, em):
    status, err = plane.http("PUT", "/aws/credentials", creds_body(em.partial))
    assert status == 400 and err["error"]["code"] == "aws_denied"
    assert "ec2:DescribeInstanceTypes" in err["error"]["message"]
    assert "bodo-platform policy" in err["error"]["message"]


def test_another_account_is_granted_launch_permission(plane, em):
    """The platform (the image's owner) shares its image with the user's account."""
    ec2 = em.client("ec2")
    before = ec2.describe_image_attribute(ImageId=em.ami, Attribute="launchPermission")
    assert {"UserId": OTHER_ACCOUNT} not in before["LaunchPermissions"]
    shown = set_credentials(plane, em.other, OTHER_ACCOUNT)
    assert shown["ready"] is True and shown["account_id"] == OTHER_ACCOUNT
    after = ec2.describe_image_attribute(ImageId=em.ami, Attribute="launchPermission")
    assert {"UserId": OTHER_ACCOUNT} in after["LaunchPermissions"]
    task = plane.http("GET", f"/tasks/{shown['task_id']}")[1]
    assert any(f"granted to {OTHER_ACCOUNT}" in e["message"] for e in task["events"])


def test_credentials_via_cli_with_secret_on_stdin(plane, em):
    env = {**plane.client_env(), "AWS_SECRET_ACCESS_KEY": ""}
    env.pop("AWS_SECRET_ACCESS_KEY")
    r = subprocess.run([sys.executable, "-m", "bodo_jupyter.cli", "credentials", "set",
                        "--access-key-id", em.user.access_key_id, "--account-id", ACCOUNT,
                        "--region", "us-east-1", "--wait", "--json"],
                       input=em.user.secret_access_key + "\n", env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["ready"] is True and shown["access_key_id"] == "…" + em.user.access_key_id[-4:]
    assert em.user.secret_access_key not in r.stdout + r.stderr
    r = plane.cli("credentials", "show")
    assert "ready" in r.stdout and em.user.access_key_id not in r.stdout


def test_instance_types_come_from_the_account(plane):
    status, out = plane.http("GET", "/instance-types?provider=aws&efa=true")
    assert status == 200
    types = {t["name"]: t for t in out["items"]}
    assert all(t["efa"] for t in types.values())
    assert types["c5n.18xlarge"]["cores"] == 36 and types["c5n.18xlarge"]["vcpus"] == 72
    all_types = plane.http("GET", "/instance-types?provider=aws")[1]["items"]
    assert len(all_types) > len(types) and any(not t["efa"] for t in all_types)
    status, err = plane.http("POST", "/clusters", {
        "name": "noefa", "provider": "aws", "instance_type": "c5.large", "efa": True})
    assert status == 400 and "does not support EFA" in err["error"]["message"]


def test_bodo_versions_offered_and_a_version_not_offered_makes_nothing(plane, em):
    """AWS offers its configured list, newest first; a version not in it is a 400 on
    bodo_version before anything is recorded or made in the account."""
    assert call(plane, "GET", "/bodo-versions?provider=aws", 200)["items"] == [
        {"version": PINNED_BODO, "default": True, "provider": "aws"},
        {"version": OLDER_BODO, "default": False, "provider": "aws"}]
    before = leftovers(em)
    err = bad(plane, "POST", "/clusters", 400, {
        "name": "old-bodo", "provider": "aws", "instance_type": "c5.large",
        "bodo_version": "2024.1"}, field="bodo_version")
    assert f"choose one of: {PINNED_BODO}, {OLDER_BODO}" in err["error"]["message"]
    assert plane.http("GET", "/clusters/old-bodo")[0] == 404
    assert leftovers(em) == before


def describe(em: Emulator, cluster_id: str) -> list[dict]:
    out = em.client("ec2").describe_instances(
        Filters=[{"Name": "tag:bodo:cluster", "Values": [cluster_id]}])
    return [i for r in out["Reservations"] for i in r["Instances"]
            if i["State"]["Name"] != "terminated"]


def test_efa_cluster_from_the_cli_and_nothing_left_after_delete(plane, em):
    r = plane.cli("cluster", "create", "efa-demo", "--provider", "aws", "--instance-type",
                  "c5n.18xlarge", "--instances", "2", "--efa", "--bodo-version", OLDER_BODO,
                  "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    cluster = json.loads(plane.cli("cluster", "show", "efa-demo", "--json").stdout)
    assert cluster["status"] == "RUNNING" and cluster["core_count"] == 72
    assert cluster["bodo_version"] == OLDER_BODO
    cid = cluster["id"]

    made = leftovers(em, cid)
    assert set(made) == EVERY_TYPE, set(made) ^ EVERY_TYPE
    assert len(made["vpc"]) == 1 and len(made["instance"]) == 2 and len(made["subnet"]) == 2
    ec2 = em.client("ec2")
    tags = {t["Key"]: t["Value"] for t in ec2.describe_vpcs(VpcIds=made["vpc"])["Vpcs"][0]["Tags"]}
    assert tags["bodo:cluster"] == cid and tags["bodo:organization"] and tags["Name"]
    for inst in describe(em, cid):
        assert inst["Placement"]["GroupName"] == f"bodo-{cid}"
        assert [n["InterfaceType"] for n in inst["NetworkInterfaces"]] == ["efa"]
        assert inst["IamInstanceProfile"]["Arn"].endswith(f"/bodo-{cid}-node")
        assert inst["KeyName"] == f"bodo-{cid}"
        text = base64.b64decode(ec2.describe_instance_attribute(
            InstanceId=inst["InstanceId"], Attribute="userData")["UserData"]["Value"]).decode()
        v = script_vars(text)
        assert v["EFS_ID"] == made["efs"][0] and v["CORE_COUNT"] == "72" and v["EFA"] == "1"
        assert v["BODO_VERSION"] == OLDER_BODO  # what every node installs if its image lacks
        assert '"$PY" -m pip install' in text and '"bodo==$BODO_VERSION"' in text
        assert 'mount "$SHARED"' in text and "efs _netdev" in text
        # MPICH's hydra, nothing of Open MPI's.
        assert 'sed "s/$/:36/" > /shared/hostfile' in text
        assert "mpiexec -f /shared/hostfile -launcher ssh -n 72 " in text
        assert "-genv BODO_SPAWN_MODE 0" in text and "-genv FI_PROVIDER efa" in text
        assert "ipyparallel.engine --mpi" in text
        assert not [o for o in ("--mca", "slots=", "--hostfile", "OMPI_") if o in text]
    sg = ec2.describe_security_groups(GroupIds=made["security-group"])["SecurityGroups"][0]
    assert sg["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == sg["GroupId"]
    assert not any(r.get("IpRanges") for r in sg["IpPermissions"])  # nothing open to the world
    # The SSH key exists only encrypted with the cluster's KMS key.
    s3 = em.client("s3")
    blob = s3.get_object(Bucket=made["s3-bucket"][0], Key="secrets/ssh-key.kms")["Body"].read()
    assert b"PRIVATE KEY" not in base64.b64decode(blob)
    key = em.client("kms").decrypt(CiphertextBlob=base64.b64decode(blob))
    assert b"PRIVATE KEY" in key["Plaintext"]

    status, conn = plane.http("GET", "/clusters/efa-demo/connection")
    assert status == 200 and conn["core_count"] == 72 and "interface" in conn["ipyparallel"]

    r = plane.cli("cluster", "delete", "efa-demo", "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    assert leftovers(em, cid) == {}
    assert plane.http("GET", "/clusters/efa-demo")[1]["status"] == "TERMINATED"


def test_throttling_and_5xx_on_a_fifth_of_calls_still_converge(plane, em):
    em.proxy.reset()
    em.proxy.fail_rate = 0.2
    try:
        status, out = plane.http("POST", "/clusters", {"name": "flaky", "provider": "aws",
                                                       "instance_type": "c5n.18xlarge",
                                                       "instances": 2, "efa": True})
        assert status == 202, out
        task = plane.wait_task(out["task"]["id"], timeout=300)
        assert task["status"] == "FINISHED", task
        cid = out["cluster"]["id"]
        assert len(leftovers(em, cid)["vpc"]) == 1
        _, out = plane.http("DELETE", "/clusters/flaky")
        assert plane.wait_task(out["task"]["id"], timeout=300)["status"] == "FINISHED"
        assert em.proxy.stats.failed >= 10, em.proxy.stats
    finally:
        em.proxy.reset()
    assert leftovers(em, cid) == {}


def test_no_capacity_fails_clearly_and_rolls_back(plane, em):
    em.proxy.rules.append(Rule("RunInstances", "InsufficientInstanceCapacity",
                               "We currently do not have sufficient c5n.18xlarge capacity "
                               "in the Availability Zone you requested (us-east-1a).", 500))
    try:
        _, out = plane.http("POST", "/clusters", {"name": "no-room", "provider": "aws",
                                                       "instance_type": "c5n.18xlarge",
                                                       "instances": 2, "efa": True})
        task = plane.wait_task(out["task"]["id"])
    finally:
        em.proxy.reset()
    assert task["status"] == "FAILED"
    assert "AWS has no capacity for c5n.18xlarge right now" in task["error"]
    cluster = plane.http("GET", "/clusters/no-room")[1]
    assert cluster["status"] == "FAILED" and "no capacity" in cluster["status_message"]
    assert leftovers(em, out["cluster"]["id"]) == {}
    _, out = plane.http("DELETE", "/clusters/no-room")
    assert plane.wait_task(out["task"]["id"])["status"] == "FINISHED"


def test_killed_mid_create_resumes_without_duplicates(plane, em):
    em.proxy.reset()
    em.proxy.latency = 0.1
    _, out = plane.http("POST", "/clusters", {"name": "survivor", "provider": "aws",
                                                   "instance_type": "c5n.18xlarge",
                                                   "instances": 2, "efa": True})
    cid, task_id = out["cluster"]["id"], out["task"]["id"]

    def some_made() -> bool:
        events = plane.http("GET", f"/tasks/{task_id}")[1]["events"]
        return sum(e["state"] == "done" for e in events) >= 6

    wait_for(some_made, 60, what="part of the cluster to exist")
    plane.stop(signal.SIGKILL)
    em.proxy.latency = 0.0
    plane.start()
    task = plane.wait_task(task_id, timeout=120)
    assert task["status"] in ("FINISHED", "FAILED"), task
    made = leftovers(em, cid)
    if task["status"] == "FINISHED":
        assert len(made["vpc"]) == 1 and len(made["nat-gateway"]) == 1
        assert len(made["instance"]) == 2 and len(made["elastic-ip"]) == 1
    else:
        assert made == {}
    _, out = plane.http("DELETE", "/clusters/survivor")
    assert plane.wait_task(out["task"]["id"])["status"] == "FINISHED"
    assert leftovers(em, cid) == {}


def test_reconciler_removes_resources_of_forgotten_clusters(plane, em):
    _, out = plane.http("POST", "/clusters", {"name": "ghost", "provider": "aws",
                                                   "instance_type": "c5.large", "instances": 1})
    assert plane.wait_task(out["task"]["id"])["status"] == "FINISHED"
    cid = out["cluster"]["id"]
    assert out["cluster"]["bodo_version"] == PINNED_BODO  # the newest offered
    (inst,) = describe(em, cid)
    text = base64.b64decode(em.client("ec2").describe_instance_attribute(
        InstanceId=inst["InstanceId"], Attribute="userData")["UserData"]["Value"]).decode()
    assert script_vars(text)["BODO_VERSION"] == PINNED_BODO
    assert "vpc" in leftovers(em, cid)
    plane.stop(signal.SIGKILL)
    db = sqlite3.connect(plane.data_dir / "bodo-jupyter.sqlite")
    db.execute("UPDATE clusters SET status='TERMINATED' WHERE id=?", (cid,))
    db.execute("DELETE FROM resources WHERE cluster_id=?", (cid,))
    db.commit()
    db.close()
    plane.start()  # the orphan sweep runs at start
    try:
        wait_for(lambda: leftovers(em, cid) == {}, 60, interval=0.5, what="the reconciler")
    except AssertionError:
        raise AssertionError(f"left: {leftovers(em, cid)}") from None


def test_secret_never_leaves_encrypted_storage(plane, em):
    secret = em.user.secret_access_key.encode()
    files = [p for p in plane.data_dir.rglob("*") if p.is_file()]
    assert not [str(p) for p in files if secret in p.read_bytes()]
    for path in ("/aws/credentials", "/tasks?limit=500", "/clusters?all=true"):
        assert em.user.secret_access_key not in json.dumps(plane.http("GET", path)[1])


def test_credentials_answers_match_the_openapi_document(plane, em):
    """GET /aws/credentials and refused PUTs, validated against openapi.yaml; a refused
    PUT changes nothing."""
    shown = call(plane, "GET", "/aws/credentials", 200)
    assert shown["status"] == "READY" and shown["ready"] is True
    assert shown["access_key_id"] == "…" + em.user.access_key_id[-4:]
    assert em.user.secret_access_key not in json.dumps(shown)
    bad(plane, "PUT", "/aws/credentials", 400, {**creds_body(em.user), "region": "mars-1"},
        field="region")
    err = bad(plane, "PUT", "/aws/credentials", 400, creds_body(em.partial),
              field="access_key_id")
    assert err["error"]["code"] == "aws_denied"
    assert call(plane, "GET", "/aws/credentials", 200) == shown


def test_jobs_say_plainly_that_they_do_not_run_on_aws_yet(plane):
    status, err = plane.http("POST", "/jobs", {
        "name": "on-aws", "cluster": {"provider": "aws", "instance_type": "c5.large"},
        "command": "x.py", "path": "https://example.com/acme/x"})
    assert status == 400 and err["error"]["field"] == "cluster.provider"
    assert "jobs cannot run on aws clusters yet" in err["error"]["message"]


def test_policy_allows_exactly_what_the_code_calls(plane):
    """Run last: every AWS call the tests above made, as IAM actions, is the policy
    (but for what only notebooks call: tests/test_aws_notebooks.py checks those)."""
    audit = Path(plane.data_dir / "aws-audit.jsonl").read_text().splitlines()
    called = {a for line in audit for a in json.loads(line)["actions"]}
    policy = policy_actions(platform_policy()) - NOTEBOOK_ACTIONS
    assert called - policy == set(), f"missing from the policy: {sorted(called - policy)}"
    assert policy - called == set(), f"in the policy but never called: {sorted(policy - called)}"
