"""IAM documents (pure), and how AWS API operations map to IAM actions.

The mapping lets a test derive, from the calls the provider really makes,
the exact list of actions `config/iam/bodo-platform-policy.json` must allow:
every action the code calls, nothing more.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

POLICY_FILE = Path(__file__).resolve().parents[4] / "config" / "iam" / "bodo-platform-policy.json"

# botocore service name -> IAM action prefix, where they differ.
PREFIX = {"efs": "elasticfilesystem", "resourcegroupstaggingapi": "tag"}

# Operations whose IAM action is not "<prefix>:<OperationName>".
ACTION_FOR = {
    ("s3", "ListObjectsV2"): ["s3:ListBucket"],
    ("s3", "ListBuckets"): ["s3:ListAllMyBuckets"],
    ("s3", "HeadBucket"): ["s3:ListBucket"],
    ("s3", "HeadObject"): ["s3:GetObject"],
    ("s3", "DeleteObjects"): ["s3:DeleteObject"],
    ("s3", "PutBucketTagging"): ["s3:PutBucketTagging"],
    ("s3", "PutPublicAccessBlock"): ["s3:PutBucketPublicAccessBlock"],
    ("s3", "PutBucketEncryption"): ["s3:PutEncryptionConfiguration"],
    ("s3", "ListObjectVersions"): ["s3:ListBucketVersions"],
    ("sts", "GetCallerIdentity"): [],  # needs no permission
}

# Permissions a call needs beyond its own action, depending on its parameters.
def implied_actions(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    out = []
    if params.get("TagSpecifications") and service == "ec2":
        out.append("ec2:CreateTags")
    if service == "ec2" and operation == "RunInstances" and params.get("IamInstanceProfile"):
        out.append("iam:PassRole")
    if service == "kms" and operation == "CreateKey" and params.get("Tags"):
        out.append("kms:TagResource")
    if service == "efs" and operation == "CreateFileSystem" and params.get("Tags"):
        out.append("elasticfilesystem:TagResource")
    if service == "dynamodb" and operation == "CreateTable" and params.get("Tags"):
        out.append("dynamodb:TagResource")
    if service == "iam" and operation in ("CreateRole", "CreateInstanceProfile") \
            and params.get("Tags"):
        out.append("iam:TagRole" if operation == "CreateRole" else "iam:TagInstanceProfile")
    # Objects the platform writes are encrypted with the cluster's KMS key.
    if service == "s3" and operation == "PutObject" and params.get("SSEKMSKeyId"):
        out.append("kms:GenerateDataKey")
    if service == "s3" and operation == "GetObject":
        out.append("kms:Decrypt")
    if service == "ssm" and operation == "PutParameter" and params.get("Tags"):
        out.append("ssm:AddTagsToResource")
    return out


#: Actions only EC2 notebooks need (clusters never call them): a test of clusters alone
#: leaves these out of its exact comparison, the notebooks' test checks them.
NOTEBOOK_ACTIONS = frozenset({
    "ssm:PutParameter", "ssm:AddTagsToResource", "ssm:DeleteParameter",
    "ec2:RevokeSecurityGroupIngress"})


def actions_for(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    base = ACTION_FOR.get((service, operation))
    if base is None:
        base = [f"{PREFIX.get(service, service)}:{operation}"]
    return [*base, *implied_actions(service, operation, params)]


def platform_policy() -> dict[str, Any]:
    """The committed minimal policy users attach to the keys they give the platform."""
    return json.loads(POLICY_FILE.read_text())


def policy_actions(policy: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for st in policy["Statement"]:
        acts = st["Action"]
        out.update([acts] if isinstance(acts, str) else acts)
    return out


def render_policy(actions: set[str]) -> dict[str, Any]:
    """The policy document for a set of actions, grouped by service."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "BodoJupyterPlatform",
            "Effect": "Allow",
            "Action": sorted(actions),
            "Resource": "*",
        }],
    }


# -- the nodes' own role -------------------------------------------------------------------

NODE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}
SSM_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


def node_policy(*, bucket: str, table_arn: str, key_arn: str, efs_arn: str) -> dict[str, Any]:
    """What cluster nodes may touch: their own bucket, table, key and file system only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "StateBucket", "Effect": "Allow",
             "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
             "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
            {"Sid": "StateTable", "Effect": "Allow",
             "Action": ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Scan",
                        "dynamodb:Query"],
             "Resource": table_arn},
            {"Sid": "ClusterKey", "Effect": "Allow",
             "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key_arn},
            {"Sid": "SharedFiles", "Effect": "Allow",
             "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
             "Resource": efs_arn},
        ],
    }


def notebook_node_policy(parameter_arn: str) -> dict[str, Any]:
    """All a notebook node's instance role may do: read its own launch parameter (the
    server's secrets). A SecureString under the account's ``aws/ssm`` key needs no KMS
    grant of its own: that key's policy lets the account's principals decrypt through
    SSM."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "LaunchParameter", "Effect": "Allow",
                       "Action": ["ssm:GetParameter"], "Resource": parameter_arn}],
    }
