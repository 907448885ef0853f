"""What a cluster is made of in AWS, as data: names, tags, address ranges and
the dependency graph of its resources. Pure: nothing here calls AWS.

The graph is what makes creation fast and deletion complete: independent
resources are created in parallel (the critical path is the graph's depth),
and deletion walks the same graph backwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

TAG_CLUSTER = "bodo:cluster"
TAG_ORG = "bodo:organization"
TAG_RESOURCE = "bodo:resource"
TAG_PLANE = "bodo:control-plane"  # which control plane made it (reconcile only our own)
IAM_PATH = "/bodo/"
MOUNT_POINT = "/shared"


@dataclass(frozen=True)
class ClusterPlan:
    """Everything about one cluster's AWS resources that follows from its spec."""

    cluster_id: str
    org_id: str
    name: str
    account_id: str
    region: str
    instance_type: str
    instances: int
    cores_per_instance: int
    efa: bool
    ami_id: str
    plane_id: str = ""
    #: The Bodo the nodes run (installed at boot when the image has another); None: none.
    bodo_version: str | None = None
    vpc_cidr: str = "10.42.0.0/16"
    public_cidr: str = "10.42.0.0/24"
    private_cidr: str = "10.42.16.0/20"
    ingress_cidrs: tuple[str, ...] = ()

    # -- names ---------------------------------------------------------------------

    @property
    def prefix(self) -> str:
        return f"bodo-{self.cluster_id}"

    @property
    def bucket(self) -> str:
        # Bucket names are global: the account and region make them unique.
        return f"{self.prefix}-{self.account_id}-{self.region}"[:63]

    @property
    def table(self) -> str:
        return self.prefix

    @property
    def role(self) -> str:
        return f"{self.prefix}-node"

    @property
    def instance_profile(self) -> str:
        return f"{self.prefix}-node"

    @property
    def key_pair(self) -> str:
        return self.prefix

    @property
    def placement_group(self) -> str:
        return self.prefix

    @property
    def security_group(self) -> str:
        return self.prefix

    @property
    def kms_alias(self) -> str:
        return f"alias/{self.prefix}"

    @property
    def core_count(self) -> int:
        return self.instances * self.cores_per_instance

    # -- tags ------------------------------------------------------------------------

    def tags(self, resource: str) -> list[dict[str, str]]:
        """EC2/IAM/EFS/DynamoDB style tags naming cluster, organisation and role."""
        return [
            {"Key": TAG_CLUSTER, "Value": self.cluster_id},
            {"Key": TAG_ORG, "Value": self.org_id},
            {"Key": TAG_PLANE, "Value": self.plane_id},
            {"Key": TAG_RESOURCE, "Value": resource},
            {"Key": "Name", "Value": f"bodo-{self.name}-{resource}"},
        ]

    def tag_spec(self, ec2_type: str, resource: str) -> list[dict[str, object]]:
        return [{"ResourceType": ec2_type, "Tags": self.tags(resource)}]

    def kms_tags(self, resource: str) -> list[dict[str, str]]:
        return [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in self.tags(resource)]

    def ingress_rules(self, group_id: str) -> list[dict[str, object]]:
        """All traffic between members (MPI and EFA need it); nothing else unless configured."""
        rules: list[dict[str, object]] = [
            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group_id}]},
        ]
        if self.ingress_cidrs:
            rules.append({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                          "IpRanges": [{"CidrIp": c} for c in self.ingress_cidrs]})
        return rules

    def egress_rules(self, group_id: str) -> list[dict[str, object]]:
        """EFA also needs an explicit self-referencing egress rule."""
        return [{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group_id}]}]


@dataclass(frozen=True)
class Node:
    """One resource (or one wait) in the graph."""

    name: str
    title: str
    deps: tuple[str, ...] = ()
    efa_only: bool = False


# Creation order is given by deps; deletion runs the same graph backwards.
GRAPH: tuple[Node, ...] = (
    Node("zone", "availability zone that offers the instance type"),
    Node("vpc", "VPC"),
    Node("kms-key", "KMS key for cluster secrets"),
    Node("node-role", "IAM role for the nodes (with SSM access)"),
    Node("state-bucket", "S3 bucket for state and logs"),
    Node("state-table", "DynamoDB table for resource state"),
    Node("elastic-ip", "Elastic IP for the NAT gateway"),
    Node("efs", "EFS shared file system"),
    Node("placement-group", "cluster placement group", efa_only=True),
    Node("kms-alias", "KMS key alias", ("kms-key",)),
    Node("role-ssm", "SSM managed-instance access for the node role", ("node-role",)),
    Node("bucket-settings", "bucket tags and public access block", ("state-bucket",)),
    Node("vpc-dns", "DNS host names in the VPC (for EFS)", ("vpc",)),
    Node("public-subnet", "public subnet", ("vpc", "zone")),
    Node("private-subnet", "private subnet", ("vpc", "zone")),
    Node("internet-gateway", "internet gateway", ("vpc",)),
    Node("security-group", "security group", ("vpc",)),
    Node("sg-rules", "all traffic between members (MPI and EFA need it)",
         ("security-group",)),
    Node("instance-profile", "instance profile", ("node-role",)),
    Node("node-policy", "the nodes' access to their bucket, table, key and file system",
         ("node-role", "kms-key", "state-bucket", "state-table", "efs")),
    Node("key-pair", "SSH key pair (private key encrypted with KMS)",
         ("kms-key", "state-bucket")),
    Node("nat-gateway", "NAT gateway", ("public-subnet", "elastic-ip")),
    Node("public-routes", "public route table", ("public-subnet", "internet-gateway")),
    Node("mount-target", "EFS mount target", ("efs", "private-subnet", "security-group")),
    Node("private-routes", "private route table through the NAT gateway",
         ("private-subnet", "nat-gateway")),
    Node("instances", "EC2 instances",
         ("private-routes", "public-routes", "sg-rules", "instance-profile", "node-policy",
          "role-ssm", "key-pair", "mount-target", "placement-group", "vpc-dns",
          "bucket-settings", "kms-alias")),
    Node("bootstrap", "nodes mount EFS and start MPI engines", ("instances",)),
)


def nodes_for(efa: bool) -> list[Node]:
    """The graph for one cluster (no placement group without EFA)."""
    keep = [n for n in GRAPH if efa or not n.efa_only]
    names = {n.name for n in keep}
    return [Node(n.name, n.title, tuple(d for d in n.deps if d in names), n.efa_only)
            for n in keep]


def depth(nodes: Iterable[Node]) -> int:
    """Length of the longest dependency chain (the least number of sequential steps)."""
    by_name = {n.name: n for n in nodes}
    memo: dict[str, int] = {}

    def d(name: str) -> int:
        if name not in memo:
            memo[name] = 1 + max((d(x) for x in by_name[name].deps), default=0)
        return memo[name]

    return max(d(n) for n in by_name)


def reverse_deps(nodes: Iterable[Node]) -> dict[str, set[str]]:
    """For deletion: what must be gone before each node can go."""
    out: dict[str, set[str]] = {n.name: set() for n in nodes}
    for n in nodes:
        for dep in n.deps:
            out[dep].add(n.name)
    return out


@dataclass
class Inventory:
    """What exists for a cluster: resource kind -> AWS ids (from records and tag scans)."""

    items: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, ref: str) -> None:
        refs = self.items.setdefault(kind, [])
        if ref not in refs:
            refs.append(ref)

    def get(self, kind: str) -> list[str]:
        return list(self.items.get(kind, []))

    def first(self, kind: str) -> str | None:
        refs = self.items.get(kind)
        return refs[0] if refs else None

    def empty(self) -> bool:
        return not any(self.items.values())
