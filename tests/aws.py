"""The AWS emulator for tests: moto's server (plus our plugin) as a real process,
with IAM enforced, the fault proxy in front, and the accounts and users a test
needs; and a scan of every resource type by tag, to prove nothing leaked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from bodo_jupyter.platform.providers.aws.policy import platform_policy, policy_actions

from .aws_emulator.proxy import FaultProxy
from .net import free_port, wait_port

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ADMIN_POLICY = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
OTHER_ACCOUNT = "111111111111"


@dataclass
class Keys:
    access_key_id: str
    secret_access_key: str
    account: str

    def boto(self) -> dict[str, str]:
        return {"aws_access_key_id": self.access_key_id,
                "aws_secret_access_key": self.secret_access_key}


@dataclass
class Emulator:
    url: str
    proxy: FaultProxy
    admin: Keys  # the platform's own account: owns the machine image
    user: Keys  # keys with exactly the shipped bodo-platform policy (same account)
    partial: Keys  # the same policy without ec2:DescribeInstanceTypes
    other: Keys  # the policy, in another account (to be granted launch permission)
    ami: str
    log: Path | None = None  # the emulator's own log (its nodes' console output too)

    def client(self, service: str, keys: Keys | None = None) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=REGION,
                            **(keys or self.admin).boto())

    def control_plane_env(self) -> dict[str, str]:
        """Environment of a control plane using the emulator through the proxy."""
        return {"AWS_ENDPOINT_URL": self.proxy.url, "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": self.admin.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.admin.secret_access_key,
                "AWS_EC2_METADATA_DISABLED": "true"}


def _user(iam: Any, name: str, policy: dict[str, Any], account: str) -> Keys:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return Keys(k["AccessKeyId"], k["SecretAccessKey"], account)


@contextmanager
def aws_emulator(log_dir: Path, boot_delay: float = 0.1,
                 netns: bool = True) -> Iterator[Emulator]:
    """``netns=False``: booted notebook nodes listen on 127.0.0.1 (as without root)."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": REGION, "INITIAL_NO_AUTH_ACTION_COUNT": "40",
           "BODO_EMULATOR_BOOT_DELAY": str(boot_delay), "PYTHONPATH": str(ROOT),
           "BODO_EMULATOR_PORT": str(port), "BODO_EMULATOR_NETNS": "1" if netns else "0",
           # AWS-managed policies (AmazonSSMManagedInstanceCore) exist in real accounts.
           "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    env.pop("AWS_ENDPOINT_URL", None)
    log = open(log_dir / "aws-emulator.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "tests.aws_emulator", "-H", "127.0.0.1",
                             "-p", str(port)], env=env, cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT)
    proxy = None
    try:
        wait_port(port, proc, "the AWS emulator")
        url = f"http://127.0.0.1:{port}"
        boot = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        iam = boto3.client("iam", endpoint_url=url, region_name=REGION, **boot)
        admin = _user(iam, "platform-admin", ADMIN_POLICY, "123456789012")
        iam = boto3.client("iam", endpoint_url=url, region_name=REGION, **admin.boto())
        policy = platform_policy()
        user = _user(iam, "bodo", policy, "123456789012")
        partial_actions = sorted(policy_actions(policy) - {"ec2:DescribeInstanceTypes"})
        partial = _user(iam, "bodo-partial", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": partial_actions, "Resource": "*"}]}, "123456789012")
        sts = boto3.client("sts", endpoint_url=url, region_name=REGION, **admin.boto())
        c = sts.assume_role(RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/setup",
                            RoleSessionName="setup")["Credentials"]
        iam_b = boto3.client("iam", endpoint_url=url, region_name=REGION,
                             aws_access_key_id=c["AccessKeyId"],
                             aws_secret_access_key=c["SecretAccessKey"],
                             aws_session_token=c["SessionToken"])
        other = _user(iam_b, "bodo", policy, OTHER_ACCOUNT)
        ec2 = boto3.client("ec2", endpoint_url=url, region_name=REGION, **admin.boto())
        ami = ec2.register_image(Name="bodo-node", RootDeviceName="/dev/sda1",
                                 Architecture="x86_64")["ImageId"]
        # Use up the emulator's unauthenticated start-up window: from here on IAM is real.
        bogus = boto3.client("sts", endpoint_url=url, region_name=REGION,
                             aws_access_key_id="AKIABOGUSBOGUSBOGUS1",
                             aws_secret_access_key="bogus")
        for _ in range(60):
            try:
                bogus.get_caller_identity()
            except ClientError:
                break
        else:
            raise RuntimeError("the emulator does not enforce IAM")
        proxy = FaultProxy(url).start()
        yield Emulator(url, proxy, admin, user, partial, other, ami,
                       log=log_dir / "aws-emulator.log")
    finally:
        if proxy is not None:
            proxy.stop()
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        # Booted notebook nodes end with the emulator: nothing of them may be left.
        from .aws_emulator.plugin import leftover_nodes

        left = leftover_nodes(str(port))
        if left:
            raise AssertionError(f"the AWS emulator left notebook nodes behind: {left}")


def leftovers(em: Emulator, cluster_id: str | None = None) -> dict[str, list[str]]:
    """Every resource type the platform makes, scanned by tag (or name): what is left."""
    def mine(tags: list[dict[str, str]] | None) -> bool:
        t = {x.get("Key", x.get("TagKey")): x.get("Value", x.get("TagValue")) for x in tags or []}
        return "bodo:cluster" in t and (cluster_id is None or t["bodo:cluster"] == cluster_id)

    ec2 = em.client("ec2")
    out: dict[str, list[str]] = {}
    flt = [{"Name": "tag-key", "Values": ["bodo:cluster"]}]
    out["vpc"] = [v["VpcId"] for v in ec2.describe_vpcs(Filters=flt)["Vpcs"]
                  if mine(v.get("Tags"))]
    out["subnet"] = [s["SubnetId"] for s in ec2.describe_subnets(Filters=flt)["Subnets"]
                     if mine(s.get("Tags"))]
    out["internet-gateway"] = [g["InternetGatewayId"] for g in
                               ec2.describe_internet_gateways(Filters=flt)["InternetGateways"]
                               if mine(g.get("Tags"))]
    out["security-group"] = [g["GroupId"] for g in
                             ec2.describe_security_groups(Filters=flt)["SecurityGroups"]
                             if mine(g.get("Tags"))]
    out["route-table"] = [r["RouteTableId"] for r in
                          ec2.describe_route_tables(Filters=flt)["RouteTables"]
                          if mine(r.get("Tags"))]
    out["nat-gateway"] = [n["NatGatewayId"] for n in
                          ec2.describe_nat_gateways(Filter=flt)["NatGateways"]
                          if n["State"] != "deleted" and mine(n.get("Tags"))]
    out["elastic-ip"] = [a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]
                         if mine(a.get("Tags"))]
    out["instance"] = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"]
                       for i in r["Instances"]
                       if i["State"]["Name"] != "terminated" and mine(i.get("Tags"))]
    out["network-interface"] = [
        n["NetworkInterfaceId"] for n in ec2.describe_network_interfaces()["NetworkInterfaces"]
        if n.get("Attachment", {}).get("InstanceId") in set(out["instance"])]
    out["key-pair"] = [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]
                       if mine(k.get("Tags"))]
    out["placement-group"] = [g["GroupName"] for g in
                              ec2.describe_placement_groups()["PlacementGroups"]
                              if mine(g.get("Tags"))]
    efs = em.client("efs")
    out["efs"] = [f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"]
                  if mine(f.get("Tags"))]
    out["mount-target"] = []
    for f in out["efs"]:
        try:
            mts = efs.describe_mount_targets(FileSystemId=f)["MountTargets"]
        except ClientError as e:  # deleted since it was listed (a teardown under way)
            if e.response["Error"]["Code"] != "FileSystemNotFound":
                raise
            mts = []
        out["mount-target"] += [m["MountTargetId"] for m in mts]
    kms = em.client("kms", em.admin)
    out["kms-key"] = []
    for k in kms.list_keys()["Keys"]:
        meta = kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
        if meta["KeyState"] == "PendingDeletion":
            continue  # KMS keys are removed by scheduling their deletion
        if mine(kms.list_resource_tags(KeyId=k["KeyId"]).get("Tags")):
            out["kms-key"].append(k["KeyId"])
    iam = em.client("iam", em.admin)
    out["iam-role"] = [r["RoleName"] for r in iam.list_roles(PathPrefix="/bodo/")["Roles"]
                       if cluster_id is None or cluster_id in r["RoleName"]]
    out["instance-profile"] = [
        p["InstanceProfileName"]
        for p in iam.list_instance_profiles(PathPrefix="/bodo/")["InstanceProfiles"]
        if cluster_id is None or cluster_id in p["InstanceProfileName"]]
    s3 = em.client("s3", em.admin)
    out["s3-bucket"] = [b["Name"] for b in s3.list_buckets()["Buckets"]
                        if b["Name"].startswith("bodo-c-")
                        and (cluster_id is None or cluster_id in b["Name"])]
    ddb = em.client("dynamodb", em.admin)
    out["dynamodb-table"] = [t for t in ddb.list_tables()["TableNames"]
                             if t.startswith("bodo-c-") and (cluster_id is None
                                                             or cluster_id in t)]
    return {k: v for k, v in out.items() if v}


def notebook_leftovers(em: Emulator, notebook_id: str | None = None) -> dict[str, list[str]]:
    """Everything an EC2 notebook makes, scanned by tag, name and path: what is left
    (instances not terminated, security groups, cluster rules naming them, roles,
    instance profiles, SSM parameters)."""
    def mine(tags: list[dict[str, str]] | None) -> bool:
        t = {x["Key"]: x["Value"] for x in tags or []}
        return "bodo:notebook" in t and notebook_id in (None, t["bodo:notebook"])

    ec2 = em.client("ec2")
    out: dict[str, list[str]] = {}
    flt = [{"Name": "tag-key", "Values": ["bodo:notebook"]}]
    out["instance"] = [i["InstanceId"] for r in ec2.describe_instances(Filters=flt)[
        "Reservations"] for i in r["Instances"]
        if i["State"]["Name"] != "terminated" and mine(i.get("Tags"))]
    groups = ec2.describe_security_groups()["SecurityGroups"]
    out["security-group"] = [g["GroupId"] for g in groups if mine(g.get("Tags"))]
    nb_groups = {g["GroupId"] for g in groups if "bodo:notebook" in
                 {t["Key"] for t in g.get("Tags", [])}} | set(out["security-group"])
    out["security-group-rule"] = [
        f"{g['GroupId']}<-{p['GroupId']}" for g in groups for r in g.get("IpPermissions", [])
        for p in r.get("UserIdGroupPairs", [])
        if p["GroupId"] in nb_groups and p["GroupId"] != g["GroupId"]
        and (notebook_id is None or p["GroupId"] in out["security-group"])]
    iam = em.client("iam", em.admin)
    # The path is checked again: moto's ListInstanceProfiles ignores PathPrefix, and a
    # cluster's own profile (path /bodo/) is not a notebook's.
    out["iam-role"] = [r["RoleName"] for r in iam.list_roles(
        PathPrefix="/bodo/notebooks/")["Roles"]
        if r["Path"].startswith("/bodo/notebooks/")
        and notebook_id in (None, r["RoleName"][8:])]
    out["instance-profile"] = [
        p["InstanceProfileName"] for p in iam.list_instance_profiles(
            PathPrefix="/bodo/notebooks/")["InstanceProfiles"]
        if p["Path"].startswith("/bodo/notebooks/")
        and notebook_id in (None, p["InstanceProfileName"][8:])]
    ssm = em.client("ssm", em.admin)
    params = ssm.describe_parameters(ParameterFilters=[
        {"Key": "Path", "Option": "Recursive", "Values": ["/bodo/notebooks"]}])["Parameters"]
    out["ssm-parameter"] = [p["Name"] for p in params
                            if notebook_id is None or f"/{notebook_id}/" in p["Name"]]
    return {k: v for k, v in out.items() if v}
