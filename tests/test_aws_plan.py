"""The AWS provider's pure parts: the resource graph, tags, the user-data script,
IAM documents and error messages -- no AWS, no emulator."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from bodo_jupyter.platform.providers.aws.bootstrap import script_vars, user_data
from bodo_jupyter.platform.providers.aws.errors import explain
from bodo_jupyter.platform.providers.aws.plan import (
    GRAPH,
    ClusterPlan,
    depth,
    nodes_for,
    reverse_deps,
)
from bodo_jupyter.platform.providers.aws.policy import (
    actions_for,
    node_policy,
    platform_policy,
    policy_actions,
)
from bodo_jupyter.platform.providers.aws.resources import Builder


def plan(efa: bool = True) -> ClusterPlan:
    return ClusterPlan(cluster_id="c-0123456789ab", org_id="o-1", name="demo",
                       account_id="123456789012", region="eu-west-1",
                       instance_type="c5n.18xlarge", instances=2, cores_per_instance=36,
                       efa=efa, ami_id="ami-1", plane_id="p1")


def test_graph_is_acyclic_complete_and_six_deep():
    names = {n.name for n in GRAPH}
    assert all(set(n.deps) <= names for n in GRAPH)
    assert depth(nodes_for(True)) == 6 and depth(nodes_for(False)) == 6
    assert "placement-group" not in {n.name for n in nodes_for(False)}
    # Every node can be made and removed.
    for n in GRAPH:
        assert callable(getattr(Builder, "c_" + n.name.replace("-", "_")))
        assert callable(getattr(Builder, "d_" + n.name.replace("-", "_")))
    # Deletion waits for what depends on a node: the VPC goes after its subnets.
    assert "public-subnet" in reverse_deps(nodes_for(True))["vpc"]
    assert {"instances"} <= reverse_deps(nodes_for(True))["private-routes"]


def test_names_and_tags():
    p = plan()
    assert p.core_count == 72
    assert p.bucket == "bodo-c-0123456789ab-123456789012-eu-west-1" and len(p.bucket) <= 63
    tags = {t["Key"]: t["Value"] for t in p.tags("vpc")}
    assert tags == {"bodo:cluster": "c-0123456789ab", "bodo:organization": "o-1",
                    "bodo:control-plane": "p1", "bodo:resource": "vpc",
                    "Name": "bodo-demo-vpc"}
    assert p.tag_spec("subnet", "public-subnet")[0]["ResourceType"] == "subnet"
    # Members reach each other on every port; the world reaches nothing by default.
    rules = p.ingress_rules("sg-1")
    assert rules == [{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-1"}]}]


def test_user_data_mounts_efs_and_starts_engines():
    text = user_data(plan(), efs_id="fs-1", kms_key_id="arn:aws:kms:eu-west-1:1:key/k")
    assert text.startswith("#!/bin/bash")
    v = script_vars(text)
    assert v == {"CLUSTER_ID": "c-0123456789ab", "REGION": "eu-west-1",
                 "TABLE": "bodo-c-0123456789ab",
                 "BUCKET": "bodo-c-0123456789ab-123456789012-eu-west-1", "EFS_ID": "fs-1",
                 "KMS_KEY": "arn:aws:kms:eu-west-1:1:key/k", "NODES": "2",
                 "CORES_PER_NODE": "36", "CORE_COUNT": "72", "EFA": "1"}
    assert 'echo "$EFS_ID:/ $SHARED efs _netdev,tls,iam 0 0" >> /etc/fstab' in text
    assert "aws kms decrypt" in text and "ssh-key.kms" in text
    assert '--hostfile "$SHARED/hostfile"' in text and "ipyparallel.engine --mpi" in text
    assert "FI_PROVIDER=efa" in text and "--mca mtl ofi" in text
    assert "wait_for_engines" in text  # ready means every engine answers
    no_efa = user_data(plan(efa=False), efs_id="fs-1", kms_key_id="k")
    assert "FI_PROVIDER" not in no_efa and script_vars(no_efa)["EFA"] == "0"


def test_user_data_gives_engines_the_spawn_guard_packages_and_shared_folders():
    import re

    from bodo_jupyter.platform.providers.bodo_guard import site_files

    text = user_data(plan(), efs_id="fs-1", kms_key_id="k")
    assert len(text.encode()) < 16384  # EC2's limit on user data
    # The site folder's files arrive whole, on every node (before the first node's part).
    written = dict(re.findall(r"cat > /opt/bodo-jupyter/site/(\S+) <<'BODO_JUPYTER_SITE_EOF'\n"
                              r"(.*?)BODO_JUPYTER_SITE_EOF\n", text, re.S))
    assert written == site_files()
    assert text.index("/opt/bodo-jupyter/site/sitecustomize.py") < text.index(
        '[ "$LAUNCH_INDEX" = 0 ] || exit 0')
    # The engines get the platform's variables on every node (mpiexec -x), the guard first.
    assert ("PYTHONPATH=/opt/bodo-jupyter/site:/shared/packages" in text
            and "BODO_JUPYTER_PACKAGES_DIR=/shared/packages" in text
            and "BODO_JUPYTER_SHARED_DIR=/shared" in text and "BODO_SPAWN_MODE=0" in text)
    for name in ("PYTHONPATH", "BODO_JUPYTER_SHARED_DIR", "BODO_JUPYTER_PACKAGES_DIR",
                 "BODO_SPAWN_MODE"):
        assert f"-x {name} " in text
    assert "install -d -m 700 -o bodo -g bodo /shared/packages" in text


def test_iam_actions_of_calls():
    assert actions_for("ec2", "RunInstances", {"IamInstanceProfile": {"Name": "x"},
                                                "TagSpecifications": [1]}) == [
        "ec2:RunInstances", "ec2:CreateTags", "iam:PassRole"]
    assert actions_for("efs", "CreateFileSystem", {"Tags": [1]}) == [
        "elasticfilesystem:CreateFileSystem", "elasticfilesystem:TagResource"]
    assert actions_for("s3", "ListObjectsV2", {}) == ["s3:ListBucket"]
    assert actions_for("sts", "GetCallerIdentity", {}) == []
    assert actions_for("resourcegroupstaggingapi", "GetResources", {}) == ["tag:GetResources"]
    policy = platform_policy()
    assert policy["Version"] == "2012-10-17" and "ec2:RunInstances" in policy_actions(policy)
    assert not any("*" in a for a in policy_actions(policy))  # no wildcards
    doc = node_policy(bucket="b", table_arn="arn:t", key_arn="arn:k", efs_arn="arn:f")
    resources = json.dumps(doc)
    assert "arn:aws:s3:::b/*" in resources and '"Resource": "*"' not in resources


def err(code: str, message: str = "m") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Op")


def test_aws_errors_say_what_to_do():
    assert "lack a permission" in explain(err("UnauthorizedOperation"), "ec2:RunInstances").message
    cap = explain(err("InsufficientInstanceCapacity"), "ec2:RunInstances",
                  instance_type="c5n.18xlarge")
    assert cap.message.startswith("AWS has no capacity for c5n.18xlarge right now")
    assert "quota" in explain(err("VpcLimitExceeded"), "ec2:CreateVpc").message
    assert "rejected the credentials" in explain(err("AuthFailure"), "x").message
    assert explain(err("InvalidParameter", "bad"), "ec2:X").message == \
        "AWS error in ec2:X: InvalidParameter: bad"
