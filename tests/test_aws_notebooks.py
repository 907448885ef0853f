"""EC2 notebooks against the AWS emulator (moto's server in its own process, IAM
enforced, the plugin booting notebook nodes' real user-data in network namespaces):
the user-data and IAM documents (pure), a notebook on an AWS cluster from create to
nothing left, its node failing under it, a control-plane crash mid-create, secrets
nowhere but the parameter, and the policy against every call made."""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from bodo_jupyter.platform.errors import BadRequest
from bodo_jupyter.platform.providers.aws.notebook_bootstrap import (
    NotebookPlan,
    launch_parameter_value,
    script_vars,
    user_data,
)
from bodo_jupyter.platform.providers.aws.notebooks import AWSNotebooks
from bodo_jupyter.platform.providers.aws.policy import (
    NOTEBOOK_ACTIONS,
    notebook_node_policy,
    platform_policy,
    policy_actions,
)
from bodo_jupyter.platform.providers.aws.provider import AWSProvider

from .aws import REGION, Emulator, aws_emulator, leftovers, notebook_leftovers
from .helpers import Serve, wait_for

ACCOUNT = "123456789012"
TOKEN = "server-token-SECRET-0123456789abcdef"
HUB_TOKEN = "hub-api-token-SECRET-0123456789abcdef"
API_TOKEN = "api-token-SECRET-0123456789abcdef"

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="notebook nodes boot in network namespaces (root)")


# -- pure: the node's script and its role -------------------------------------------------

def plan(**kw) -> NotebookPlan:
    return NotebookPlan(**{"notebook_id": "n-0123456789ab", "org_id": "o-1", "name": "nb",
                           "region": REGION, "account_id": ACCOUNT, "plane_id": "p-1",
                           "cluster_id": "c-1", **kw})


def test_user_data_names_the_parameter_and_holds_no_secret():
    p = plan()
    text = user_data(p, hub=False, api_url="http://10.0.0.1:8000/bodo/api/v1")
    v = script_vars(text)
    assert v["PARAMETER"] == "/bodo/notebooks/n-0123456789ab/launch"
    assert v["MODE"] == "standalone" and v["PORT"] == "8888" and v["CLUSTER_ID"] == "c-1"
    assert v["API_URL"] == "http://10.0.0.1:8000/bodo/api/v1" and v["NODE_USER"] == "bodo"
    assert "-m jupyterlab" not in text and "jupyterlab" in text  # the module, by name
    assert "get_parameter" in text and "WithDecryption=True" in text
    assert 'runuser -u "$NODE_USER"' in text  # the server never runs as root
    assert "%bodo attach c-1" in text  # kernels start attached
    hub = user_data(p, hub=True, api_url=None)
    assert script_vars(hub)["MODE"] == "hub" and "jupyterhub.singleuser" in hub
    for t in (text, hub):
        assert not [s for s in (TOKEN, HUB_TOKEN, API_TOKEN, "TOKEN=") if s in t]
        assert len(t) < 16384  # EC2's limit
        r = subprocess.run(["bash", "-n"], input=t, text=True, capture_output=True)
        assert r.returncode == 0, r.stderr
    # The secrets are the parameter's: the hub's API token is also the kernels'.
    value = json.loads(launch_parameter_value(
        token=None, server_env={"JUPYTERHUB_API_TOKEN": HUB_TOKEN,
                                "JUPYTERHUB_SERVICE_PREFIX": "/user/a/nb/"},
        api_token=API_TOKEN))
    assert value == {"token": None, "env": {"JUPYTERHUB_API_TOKEN": HUB_TOKEN,
                                            "JUPYTERHUB_SERVICE_PREFIX": "/user/a/nb/",
                                            "BODO_JUPYTER_TOKEN": HUB_TOKEN}}
    value = json.loads(launch_parameter_value(token=TOKEN, server_env={},
                                              api_token=API_TOKEN))
    assert value == {"token": TOKEN, "env": {"BODO_JUPYTER_TOKEN": API_TOKEN}}


def test_names_tags_and_role_policy():
    p = plan()
    assert p.role == p.instance_profile == p.security_group == "bodo-nb-n-0123456789ab"
    assert p.client_token() == "n-0123456789ab-node-1" != p.client_token(2)
    tags = {t["Key"]: t["Value"] for t in p.tags("instance")}
    assert tags["bodo:notebook"] == "n-0123456789ab" and tags["bodo:organization"] == "o-1"
    assert tags["bodo:control-plane"] == "p-1" and tags["bodo:attached-cluster"] == "c-1"
    assert "bodo:cluster" not in tags  # not one of the cluster's resources
    arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/bodo/notebooks/n-0123456789ab/launch"
    assert p.parameter_arn == arn
    assert notebook_node_policy(arn) == {"Version": "2012-10-17", "Statement": [
        {"Sid": "LaunchParameter", "Effect": "Allow", "Action": ["ssm:GetParameter"],
         "Resource": arn}]}
    (rule,) = p.ingress_rules("sg-cluster", ("10.1.0.0/16",))
    assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (8888, 8888, "tcp")
    assert rule["UserIdGroupPairs"] == [{"GroupId": "sg-cluster"}]
    assert [r["CidrIp"] for r in rule["IpRanges"]] == ["10.1.0.0/16"]
    assert NOTEBOOK_ACTIONS <= policy_actions(platform_policy())


def test_an_aws_notebook_needs_an_aws_cluster(tmp_path):
    backend = AWSNotebooks(AWSProvider(data_dir=tmp_path, plane_id="p-1"))
    with pytest.raises(BadRequest) as e:
        backend.check_create("o-1", None)
    assert e.value.field == "cluster"
    assert "attach it to one of your organisation's RUNNING AWS clusters" in e.value.message
    types = {t.name: t for t in backend.instance_types()}
    assert types["m5.xlarge"].vcpus == 4 and not any(t.efa for t in types.values())


# -- against the emulator --------------------------------------------------------------------

@pytest.fixture(scope="module")
def em(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with aws_emulator(tmp_path_factory.mktemp("aws-nb")) as emulator:
        yield emulator


def plane_config(data: Path, em: Emulator, extra: str = "") -> None:
    (data / "bodo_jupyter_config.py").write_text(
        'c.ControlPlane.enabled_providers = ["local", "aws"]\n'
        f'c.AWSProvider.ami_ids = {{"us-east-1": {em.ami!r}}}\n'
        "c.AWSProvider.poll_interval = 0.05\n"
        f"c.AWSProvider.node_python = {sys.executable!r}\n"
        f"c.AWSProvider.audit_log = {str(data / 'aws-audit.jsonl')!r}\n"
        'c.AWSNotebooks.node_user = "nobody"\n'
        "c.AWSNotebooks.probe_interval = 0.2\n"
        "c.AWSNotebooks.ready_timeout = 30\n"
        "c.AWSNotebooks.health_check_interval = 0.5\n"
        "c.ControlPlane.health_check_interval = 1.0\n"
        "c.ControlPlane.orphan_sweep_interval = 3600\n" + extra)


def set_credentials(s: Serve, em: Emulator) -> None:
    status, out = s.http("PUT", "/aws/credentials", {
        "access_key_id": em.user.access_key_id,
        "secret_access_key": em.user.secret_access_key, "account_id": ACCOUNT,
        "region": REGION})
    assert status == 202, out
    assert s.wait_task(out["task_id"])["status"] == "FINISHED"


def make_cluster(plane: Serve) -> dict:
    status, out = plane.http("POST", "/clusters", {"name": "nb-host", "provider": "aws",
                                                   "instance_type": "c5.large",
                                                   "instances": 1})
    assert status == 202, out
    task = plane.wait_task(out["task"]["id"], timeout=180)
    assert task["status"] == "FINISHED", task
    return plane.http("GET", "/clusters/nb-host")[1]


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, em: Emulator) -> Iterator[Serve]:
    data = tmp_path_factory.mktemp("aws-nb-plane")
    plane_config(data, em)
    s = Serve(data, env=em.control_plane_env())
    s.start()
    try:
        set_credentials(s, em)
        yield s
    finally:
        em.proxy.reset()
        try:
            s.clean_up()
        finally:
            s.stop()
    assert notebook_leftovers(em) == {}
    assert leftovers(em) == {}


@pytest.fixture(scope="module")
def cluster(plane: Serve) -> dict:
    return make_cluster(plane)


def get_status(url: str, token: str | None) -> int:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def instances(em: Emulator, notebook_id: str, *, all_states: bool = False) -> list[dict]:
    out = em.client("ec2").describe_instances(
        Filters=[{"Name": "tag:bodo:notebook", "Values": [notebook_id]}])
    return [i for r in out["Reservations"] for i in r["Instances"]
            if all_states or i["State"]["Name"] != "terminated"]


def netns(em: Emulator, instance_id: str) -> str:
    """The emulator's network namespace of an instance (named by its port)."""
    return f"bodo-emu-{em.url.rsplit(':', 1)[1]}-{instance_id}"


def netns_pids(em: Emulator, instance_id: str) -> list[int]:
    r = subprocess.run(["ip", "netns", "pids", netns(em, instance_id)],
                       capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()]


def create(plane: Serve, name: str, cluster: str = "nb-host") -> dict:
    status, out = plane.http("POST", "/notebooks", {"name": name, "instance_type": "t3.medium",
                                                    "cluster": cluster})
    assert status == 202, out
    return out


def delete(plane: Serve, ref: str) -> dict:
    status, out = plane.http("DELETE", f"/notebooks/{ref}")
    assert status == 202, out
    task = plane.wait_task(out["task"]["id"], timeout=120)
    assert task["status"] == "FINISHED", task
    return task


def test_notebook_instance_types_and_refusals(plane, cluster):
    status, out = plane.http("GET", "/notebook-instance-types?provider=aws")
    assert status == 200, out
    assert {"t3.medium", "m5.xlarge"} <= {t["name"] for t in out["items"]}
    status, err = plane.http("POST", "/notebooks", {"name": "bad-type",
                                                    "instance_type": "c5n.18xlarge",
                                                    "cluster": "nb-host"})
    assert status == 400 and err["error"]["field"] == "instance_type", err
    assert plane.http("GET", "/notebooks/bad-type")[0] == 404


@needs_root
def test_notebook_on_an_aws_cluster_boots_answers_and_leaves_nothing(plane, em, cluster):
    out = create(plane, "ec2-nb")
    nb_id, task_id = out["notebook"]["id"], out["task"]["id"]
    task = plane.wait_task(task_id, timeout=180)
    assert task["status"] == "FINISHED", task
    assert [s["name"] for s in task["steps"]] == ["request-node", "node-running",
                                                 "readiness-probe", "attach-cluster"]
    nb = plane.http("GET", f"/notebooks/{nb_id}")[1]
    assert nb["status"] == "RUNNING" and nb["cluster"]["name"] == "nb-host", nb

    # The node: one instance in the cluster's private subnet, its own group and role.
    (inst,) = instances(em, nb_id)
    ip = inst["PrivateIpAddress"]
    ec2 = em.client("ec2")
    subnet = ec2.describe_subnets(Filters=[
        {"Name": "tag:bodo:cluster", "Values": [cluster["id"]]},
        {"Name": "tag:bodo:resource", "Values": ["private-subnet"]}])["Subnets"][0]
    assert inst["SubnetId"] == subnet["SubnetId"] and inst["InstanceType"] == "t3.medium"
    assert inst["IamInstanceProfile"]["Arn"].endswith(f"/bodo/notebooks/bodo-nb-{nb_id}")
    (nic,) = inst["NetworkInterfaces"]  # (moto adds the VPC's default group to the instance)
    (sg,) = ec2.describe_security_groups(GroupIds=[
        g["GroupId"] for g in nic["Groups"]])["SecurityGroups"]
    assert sg["GroupName"] == f"bodo-nb-{nb_id}"
    cluster_sg = ec2.describe_security_groups(Filters=[
        {"Name": "tag:bodo:cluster", "Values": [cluster["id"]]}])["SecurityGroups"][0]
    (rule,) = sg["IpPermissions"]  # the server's port, from the cluster and the plane only
    assert (rule["FromPort"], rule["ToPort"]) == (8888, 8888)
    assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [cluster_sg["GroupId"]]
    assert [r["CidrIp"] for r in rule["IpRanges"]] == ["10.42.0.0/16"]
    assert any(p["GroupId"] == sg["GroupId"] for r in cluster_sg["IpPermissions"]
               for p in r.get("UserIdGroupPairs", []))

    # Its server answers at the instance's private IP, with the token and not without.
    status, conn = plane.http("GET", f"/notebooks/{nb_id}/connection")
    assert status == 200 and conn["url"] == f"http://{ip}:8888/", conn
    token = conn["token"]
    assert get_status(conn["url"] + "api/status", token) == 200
    assert get_status(conn["url"] + "api/status", None) == 403
    # Its Jupyter server reaches the control plane (kernels' BODO_JUPYTER_URL): the
    # extension forwards the API, with the token the parameter gave it.
    req = urllib.request.Request(conn["url"] + "bodo/api/v1/clusters",
                                 headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=20) as r:
        assert [c["name"] for c in json.loads(r.read())["items"]] == ["nb-host"]
    # ... from a namespace of its own, as the node's unprivileged user.
    import psutil

    procs = [psutil.Process(p) for p in netns_pids(em, inst["InstanceId"])]
    servers = [p for p in procs if p.name().startswith("python")
               and "jupyterlab" in " ".join(p.cmdline())]
    assert servers and all(p.uids().real != 0 for p in servers), servers
    assert not [p for p in procs if token in " ".join(p.cmdline())]
    assert servers[0].environ().get("BODO_JUPYTER_NOTEBOOK_ID") == nb_id
    assert "AWS_SECRET_ACCESS_KEY" not in servers[0].environ()  # the role's keys stay

    # Secrets: in the parameter only, readable with the node's role and nothing else.
    text = base64.b64decode(ec2.describe_instance_attribute(
        InstanceId=inst["InstanceId"], Attribute="userData")["UserData"]["Value"]).decode()
    assert token not in text and script_vars(text)["NOTEBOOK_ID"] == nb_id
    assert token not in json.dumps(inst["Tags"]) + json.dumps(sg["Tags"])
    param = f"/bodo/notebooks/{nb_id}/launch"
    ssm = em.client("ssm", em.admin)
    assert ssm.describe_parameters(ParameterFilters=[
        {"Key": "Name", "Values": [param]}])["Parameters"][0]["Type"] == "SecureString"
    assert json.loads(ssm.get_parameter(Name=param, WithDecryption=True)[
        "Parameter"]["Value"])["token"] == token
    ssm.put_parameter(Name="/bodo/other", Value="not yours", Type="SecureString")
    # The role's policy, under the emulator's IAM (moto cannot assume a role whose trust
    # names a service: the same document on a user of its own stands in for it).
    iam = em.client("iam", em.admin)
    doc = iam.get_role_policy(RoleName=f"bodo-nb-{nb_id}", PolicyName="bodo-notebook")[
        "PolicyDocument"]
    iam.create_user(UserName=f"as-{nb_id}")
    try:  # (and /bodo/other, a parameter it may not read)
        iam.put_user_policy(UserName=f"as-{nb_id}", PolicyName="p",
                            PolicyDocument=json.dumps(doc))
        k = iam.create_access_key(UserName=f"as-{nb_id}")["AccessKey"]
        as_node = boto3.client("ssm", endpoint_url=em.url, region_name=REGION,
                               aws_access_key_id=k["AccessKeyId"],
                               aws_secret_access_key=k["SecretAccessKey"])
        assert as_node.get_parameter(Name=param, WithDecryption=True)["Parameter"]["Value"]
        for call in (lambda: as_node.get_parameter(Name="/bodo/other"),
                     lambda: as_node.put_parameter(Name=param, Value="x", Overwrite=True,
                                                   Type="SecureString")):
            with pytest.raises(ClientError) as e:
                call()
            assert "AccessDenied" in str(e.value)
        iam.delete_access_key(UserName=f"as-{nb_id}", AccessKeyId=k["AccessKeyId"])
        iam.delete_user_policy(UserName=f"as-{nb_id}", PolicyName="p")
    finally:
        iam.delete_user(UserName=f"as-{nb_id}")
        ssm.delete_parameter(Name="/bodo/other")

    # The health check keeps seeing it running.
    wait_for(lambda: plane.http("GET", f"/notebooks/{nb_id}")[1]["status"] == "RUNNING",
             5, what="a running notebook")
    import time

    time.sleep(2.5)  # more than two health checks
    assert plane.http("GET", f"/notebooks/{nb_id}")[1]["status"] == "RUNNING"

    del_task = delete(plane, nb_id)
    assert notebook_leftovers(em, nb_id) == {}, notebook_leftovers(em, nb_id)
    assert netns_pids(em, inst["InstanceId"]) == []
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    assert netns(em, inst["InstanceId"]) not in r.stdout
    # Nothing of the secrets in events, answers or logs.
    seen = json.dumps([plane.http("GET", f"/tasks/{t}")[1] for t in (task_id,
                                                                       del_task["id"])])
    seen += json.dumps(plane.http("GET", "/notebooks?all=true")[1])
    seen += plane.log.read_text() + (plane.data_dir / "aws-audit.jsonl").read_text()
    seen += em.log.read_text(errors="replace")  # with the node's console output
    assert "Jupyter Server" in seen and token not in seen


@needs_root
def test_a_node_that_dies_fails_its_notebook(plane, em, cluster):
    out = create(plane, "doomed")
    nb_id = out["notebook"]["id"]
    assert plane.wait_task(out["task"]["id"], timeout=180)["status"] == "FINISHED"
    (inst,) = instances(em, nb_id)
    em.client("ec2").terminate_instances(InstanceIds=[inst["InstanceId"]])
    wait_for(lambda: plane.http("GET", f"/notebooks/{nb_id}")[1]["status"] == "FAILED", 30,
             what="the health check to see the node gone")
    nb = plane.http("GET", f"/notebooks/{nb_id}")[1]
    assert inst["InstanceId"] in nb["status_message"] and "terminated" in nb["status_message"]
    assert plane.http("GET", "/clusters/nb-host")[1].get("holder") is None
    delete(plane, nb_id)
    assert notebook_leftovers(em, nb_id) == {}


@needs_root
def test_killed_mid_create_resumes_with_the_same_node(plane, em, cluster):
    out = create(plane, "survivor")
    nb_id, task_id = out["notebook"]["id"], out["task"]["id"]
    wait_for(lambda: instances(em, nb_id), 60, interval=0.05, what="the notebook's instance")
    plane.stop(signal.SIGKILL)
    plane.start()
    task = plane.wait_task(task_id, timeout=180)
    assert task["status"] in ("FINISHED", "FAILED"), task
    if task["status"] == "FINISHED":
        # The ClientToken gave the interrupted attempt's instance back: one, ever.
        assert len(instances(em, nb_id, all_states=True)) == 1
        conn = plane.http("GET", f"/notebooks/{nb_id}/connection")[1]
        assert get_status(conn["url"] + "api/status", conn["token"]) == 200
        assert any("resume" in e["message"].lower() or "interrupted" in e["message"]
                   for e in task["events"]), task["events"]
    else:
        assert notebook_leftovers(em, nb_id) == {}
    delete(plane, nb_id)
    assert notebook_leftovers(em, nb_id) == {}


@needs_root
def test_hub_secrets_only_in_the_parameter_and_delete_mid_create_rolls_back(plane, em,
                                                                           cluster):
    """Behind a hub: the hub's API token reaches only the parameter (the node reads it
    there); a delete while the create still waits for the server cancels it, and the
    rollback leaves nothing."""
    env = {"JUPYTERHUB_API_TOKEN": HUB_TOKEN, "JPY_API_TOKEN": HUB_TOKEN,
           "JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api", "JUPYTERHUB_USER": "ann",
           "JUPYTERHUB_SERVICE_PREFIX": "/user/ann/hubnb/", "JUPYTERHUB_CLIENT_ID": "x"}
    status, out = plane.http("POST", "/notebooks", {"name": "hubnb", "cluster": "nb-host",
                                                    "instance_type": "t3.medium",
                                                    "server_env": env})
    assert status == 202, out
    nb_id, task_id = out["notebook"]["id"], out["task"]["id"]
    wait_for(lambda: instances(em, nb_id), 60, interval=0.05, what="the notebook's instance")
    (inst,) = instances(em, nb_id)
    ec2 = em.client("ec2")
    text = base64.b64decode(ec2.describe_instance_attribute(
        InstanceId=inst["InstanceId"], Attribute="userData")["UserData"]["Value"]).decode()
    assert script_vars(text)["MODE"] == "hub" and "jupyterhub.singleuser" in text
    assert HUB_TOKEN not in text and HUB_TOKEN not in json.dumps(inst["Tags"])
    value = json.loads(em.client("ssm", em.admin).get_parameter(
        Name=f"/bodo/notebooks/{nb_id}/launch", WithDecryption=True)["Parameter"]["Value"])
    assert value["env"]["JUPYTERHUB_API_TOKEN"] == HUB_TOKEN and value["token"] is None
    assert value["env"]["BODO_JUPYTER_TOKEN"] == HUB_TOKEN  # the kernels' API token
    details = plane.http("GET", f"/notebooks/{nb_id}")[1]
    assert details["status"] in ("NEW", "INPROGRESS"), details

    del_task = delete(plane, nb_id)
    create_task = plane.http("GET", f"/tasks/{task_id}")[1]
    assert create_task["status"] == "CANCELLED", create_task
    assert plane.http("GET", f"/notebooks/{nb_id}")[1]["status"] == "TERMINATED"
    assert notebook_leftovers(em, nb_id) == {}, notebook_leftovers(em, nb_id)
    seen = json.dumps([create_task, plane.http("GET", f"/tasks/{del_task['id']}")[1],
                       plane.http("GET", "/notebooks?all=true")[1]])
    seen += plane.log.read_text() + (plane.data_dir / "aws-audit.jsonl").read_text()
    assert HUB_TOKEN not in seen


@needs_root
def test_throttling_and_5xx_still_converge_and_a_killed_delete_resumes(plane, em, cluster):
    """A fifth of AWS calls fail (throttling, 5xx): create and delete still converge;
    the control plane killed during the delete finishes it when it starts again."""
    em.proxy.reset()
    em.proxy.fail_rate = 0.2
    try:
        out = create(plane, "flaky")
        nb_id = out["notebook"]["id"]
        task = plane.wait_task(out["task"]["id"], timeout=180)
        assert task["status"] == "FINISHED", (task["error"], task["events"][-3:])
        assert len(instances(em, nb_id)) == 1
        assert em.proxy.stats.failed >= 3, em.proxy.stats
    finally:
        em.proxy.reset()
    em.proxy.latency = 0.2  # a delete slow enough to be killed in the middle
    status, out = plane.http("DELETE", f"/notebooks/{nb_id}")
    assert status == 202, out
    try:
        wait_for(lambda: any(e["step"] == "stop-node" for e in plane.http(
            "GET", f"/tasks/{out['task']['id']}")[1]["events"]), 30, interval=0.05,
            what="the delete to start")
        plane.stop(signal.SIGKILL)
    finally:
        em.proxy.reset()
    plane.start()
    task = plane.wait_task(out["task"]["id"], timeout=120)
    assert task["status"] == "FINISHED", task
    assert plane.http("GET", f"/notebooks/{nb_id}")[1]["status"] == "TERMINATED"
    assert notebook_leftovers(em, nb_id) == {}, notebook_leftovers(em, nb_id)


@needs_root
def test_orphan_sweep_removes_a_forgotten_notebooks_node(plane, em, cluster):
    out = create(plane, "forgotten")
    nb_id = out["notebook"]["id"]
    assert plane.wait_task(out["task"]["id"], timeout=180)["status"] == "FINISHED"
    (inst,) = instances(em, nb_id)
    plane.stop(signal.SIGKILL)
    db = sqlite3.connect(plane.data_dir / "bodo-jupyter.sqlite")
    db.execute("UPDATE notebooks SET status='TERMINATED', details='{}' WHERE id=?", (nb_id,))
    db.commit()
    db.close()
    plane.start()  # the orphan sweep runs at start
    try:
        wait_for(lambda: notebook_leftovers(em, nb_id) == {}, 60, interval=0.5,
                 what="the orphan sweep")
    except AssertionError:
        raise AssertionError(f"left: {notebook_leftovers(em, nb_id)}") from None
    assert netns_pids(em, inst["InstanceId"]) == []
    assert plane.http("GET", "/clusters/nb-host")[1].get("holder") is None


def test_without_namespaces_the_node_listens_on_loopback(tmp_path):
    """The emulator without network namespaces (as without root): the node's server on
    127.0.0.1 on a port of its own, which the instance's address tag names."""
    with aws_emulator(tmp_path, netns=False) as em2:
        data = tmp_path / "plane"
        data.mkdir()
        plane_config(data, em2, 'c.AWSNotebooks.address_tag = "bodo-emulator:address"\n')
        s = Serve(data, env=em2.control_plane_env())
        s.start()
        try:
            set_credentials(s, em2)
            make_cluster(s)
            out = create(s, "looped")
            nb_id = out["notebook"]["id"]
            task = s.wait_task(out["task"]["id"], timeout=180)
            assert task["status"] == "FINISHED", task
            (inst,) = instances(em2, nb_id)
            tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
            conn = s.http("GET", f"/notebooks/{nb_id}/connection")[1]
            assert conn["url"] == f"http://{tags['bodo-emulator:address']}/"
            assert conn["url"].startswith("http://127.0.0.1:")
            assert get_status(conn["url"] + "api/status", conn["token"]) == 200
            assert get_status(conn["url"] + "api/status", None) == 403
            delete(s, nb_id)
            assert notebook_leftovers(em2, nb_id) == {}
        finally:
            try:
                s.clean_up()
            finally:
                s.stop()
        assert notebook_leftovers(em2) == {} and leftovers(em2) == {}


def test_policy_allows_what_notebooks_call(plane):
    """Run last: every AWS call made here is in the policy, and the notebook-only
    actions of the policy were all called."""
    audit = Path(plane.data_dir / "aws-audit.jsonl").read_text().splitlines()
    called = {a for line in audit for a in json.loads(line)["actions"]}
    policy = policy_actions(platform_policy())
    assert called - policy == set(), f"missing from the policy: {sorted(called - policy)}"
    if os.geteuid() == 0:  # the notebooks booted
        assert NOTEBOOK_ACTIONS - called == set(), sorted(NOTEBOOK_ACTIONS - called)
