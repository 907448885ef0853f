"""Create and delete each resource of a cluster in the user's AWS account.

One method pair per graph node (see plan.GRAPH). Creation is idempotent:

* what was made is recorded (``record``) the moment AWS returns its id;
* a recorded resource is reused, never made twice;
* on a resumed task, resources are also looked up by tag (or by their
  deterministic name, or a ClientToken) before anything is created, since
  the process may have died between AWS making a resource and us recording it.

A fresh create does no lookups, so the critical path stays one call per
graph level. Deletion takes an Inventory (records plus a tag scan) and is
idempotent too: "not found" means done.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from botocore.exceptions import ClientError

from ...errors import ProvisionError
from .bootstrap import user_data
from .clients import AwsSession
from .errors import code_of, explain
from .plan import IAM_PATH, TAG_CLUSTER, TAG_RESOURCE, ClusterPlan, Inventory
from .policy import NODE_TRUST, SSM_POLICY_ARN, node_policy

Record = Callable[[str, str, dict[str, Any]], None]
Emit = Callable[[str, str], None]

GONE = {"InvalidVpcID.NotFound", "InvalidSubnetID.NotFound", "InvalidGroup.NotFound",
        "InvalidInternetGatewayID.NotFound", "InvalidRouteTableID.NotFound",
        "NatGatewayNotFound", "InvalidNatGatewayID.NotFound", "InvalidAllocationID.NotFound",
        "InvalidKeyPair.NotFound", "InvalidPlacementGroup.Unknown", "NoSuchEntity",
        "NoSuchBucket", "ResourceNotFoundException", "FileSystemNotFound",
        "MountTargetNotFound", "NotFoundException", "InvalidInstanceID.NotFound",
        "InvalidAssociationID.NotFound", "Gateway.NotAttached", "NotFound", "404",
        "InvalidNetworkInterfaceID.NotFound"}


def key_id(arn: str) -> str:
    """A KMS key id from its ARN (some endpoints take only the id)."""
    return arn.rsplit("/", 1)[-1]


class Builder:
    def __init__(self, aws: AwsSession, plan: ClusterPlan, *, inventory: Inventory,
                 record: Record, emit: Emit, resumed: bool, poll: float = 2.0,
                 wait_timeout: float = 900.0, bootstrap_timeout: float = 1800.0,
                 node_python: str = "/opt/bodo/bin/python", node_mpiexec: str = ""):
        self.aws = aws
        self.plan = plan
        self.inv = inventory
        self._record = record
        self.emit = emit
        self.resumed = resumed
        self.poll = poll
        self.wait_timeout = wait_timeout
        self.bootstrap_timeout = bootstrap_timeout
        self.node_python = node_python
        self.node_mpiexec = node_mpiexec
        self.facts: dict[str, Any] = {}  # ARNs and states learnt on the way

    # -- helpers ------------------------------------------------------------------------

    def record(self, kind: str, ref: str, **data: Any) -> str:
        self.inv.add(kind, ref)
        self._record(kind, ref, data)
        return ref

    async def ec2(self, op: str, **kw: Any) -> Any:
        return await self.aws.call("ec2", op, instance_type=self.plan.instance_type, **kw)

    def tag_filters(self, kind: str) -> list[dict[str, Any]]:
        return [{"Name": f"tag:{TAG_CLUSTER}", "Values": [self.plan.cluster_id]},
                {"Name": f"tag:{TAG_RESOURCE}", "Values": [kind]}]

    async def adopt_ec2(self, kind: str, op: str, key: str, id_key: str,
                        extra: list[dict[str, Any]] | None = None) -> str | None:
        """On resume: an EC2 resource made but not recorded is found by its tags."""
        if kind in self.inv.items:
            return self.inv.first(kind)
        if not self.resumed:
            return None
        out = await self.ec2(op, Filters=[*self.tag_filters(kind), *(extra or [])])
        for item in out.get(key, []):
            if item.get("State") in ("deleted", "deleting", "failed"):
                continue
            return self.record(kind, item[id_key], adopted=True)
        return None

    async def wait_until(self, what: str, check: Callable[[], Awaitable[bool]],
                         timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.wait_timeout)
        while not await check():
            if time.monotonic() > deadline:
                raise ProvisionError(f"timed out waiting for {what}")
            await asyncio.sleep(self.poll)

    @staticmethod
    def gone(e: BaseException) -> bool:
        cause = e.__cause__ if not isinstance(e, ClientError) else e
        return isinstance(cause, ClientError) and (
            code_of(cause) in GONE or code_of(cause).endswith(".NotFound"))

    async def ignore_gone(self, coro: Awaitable[Any]) -> Any:
        try:
            return await coro
        except Exception as e:
            if self.gone(e):
                return None
            raise

    # -- create: level 1 ----------------------------------------------------------------

    async def c_zone(self) -> None:
        out = await self.ec2("describe_instance_type_offerings",
                             LocationType="availability-zone",
                             Filters=[{"Name": "instance-type",
                                       "Values": [self.plan.instance_type]}])
        zones = sorted(o["Location"] for o in out.get("InstanceTypeOfferings", []))
        if not zones:
            raise ProvisionError(f"{self.plan.instance_type} is not offered in any zone of "
                                 f"{self.plan.region}; choose another instance type")
        self.facts["zone"] = zones[0]

    async def c_vpc(self) -> None:
        if await self.adopt_ec2("vpc", "describe_vpcs", "Vpcs", "VpcId"):
            return
        out = await self.ec2("create_vpc", CidrBlock=self.plan.vpc_cidr,
                             TagSpecifications=self.plan.tag_spec("vpc", "vpc"))
        self.record("vpc", out["Vpc"]["VpcId"])

    async def c_vpc_dns(self) -> None:
        await self.ec2("modify_vpc_attribute", VpcId=self.inv.first("vpc"),
                       EnableDnsHostnames={"Value": True})

    async def c_kms_key(self) -> None:
        if "kms-key" in self.inv.items:
            self.facts["key_arn"] = self.inv.items["kms-key"][0]
            return
        if self.resumed:
            # The key may exist without its alias (a crash in between): find it by tag.
            for arn in await tagged_keys(self.aws, self.plan.cluster_id):
                self.facts["key_arn"] = self.record("kms-key", arn, adopted=True)
                return
        meta = (await self.aws.call(
            "kms", "create_key", Description=f"bodo-jupyter cluster {self.plan.name} secrets",
            Tags=self.plan.kms_tags("kms-key")))["KeyMetadata"]
        self.facts["key_arn"] = self.record("kms-key", meta["Arn"])

    async def c_kms_alias(self) -> None:
        """The alias finds the key again by name (resume, teardown, reconciler)."""
        try:
            await self.aws.raw("kms", "create_alias", AliasName=self.plan.kms_alias,
                               TargetKeyId=key_id(self.facts.get("key_arn") or
                                                  self.inv.first("kms-key") or ""))
        except ClientError as e:
            if code_of(e) != "AlreadyExistsException":
                raise explain(e, "kms:CreateAlias") from e

    async def c_node_role(self) -> None:
        try:
            out = await self.aws.raw(
                "iam", "create_role", RoleName=self.plan.role, Path=IAM_PATH,
                AssumeRolePolicyDocument=json.dumps(NODE_TRUST),
                Description=f"bodo-jupyter nodes of cluster {self.plan.name}",
                Tags=self.plan.tags("node-role"))
            self.facts["role_arn"] = out["Role"]["Arn"]
        except ClientError as e:
            if code_of(e) != "EntityAlreadyExists":
                raise explain(e, "iam:CreateRole") from e
        self.record("node-role", self.plan.role)

    async def c_role_ssm(self) -> None:
        await self.aws.call("iam", "attach_role_policy", RoleName=self.plan.role,
                            PolicyArn=SSM_POLICY_ARN)

    async def c_state_bucket(self) -> None:
        kw: dict[str, Any] = {"Bucket": self.plan.bucket}
        if self.plan.region != "us-east-1":
            kw["CreateBucketConfiguration"] = {"LocationConstraint": self.plan.region}
        try:
            await self.aws.raw("s3", "create_bucket", **kw)
        except ClientError as e:
            if code_of(e) != "BucketAlreadyOwnedByYou":
                raise explain(e, "s3:CreateBucket") from e
        self.record("state-bucket", self.plan.bucket)

    async def c_bucket_settings(self) -> None:
        tags = [{"Key": t["Key"], "Value": t["Value"]} for t in self.plan.tags("state-bucket")]
        await asyncio.gather(
            self.aws.call("s3", "put_bucket_tagging", Bucket=self.plan.bucket,
                          Tagging={"TagSet": tags}),
            self.aws.call("s3", "put_public_access_block", Bucket=self.plan.bucket,
                          PublicAccessBlockConfiguration={
                              "BlockPublicAcls": True, "IgnorePublicAcls": True,
                              "BlockPublicPolicy": True, "RestrictPublicBuckets": True}),
        )

    async def c_state_table(self) -> None:
        try:
            out = await self.aws.raw(
                "dynamodb", "create_table", TableName=self.plan.table,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST", Tags=self.plan.tags("state-table"))
            desc = out["TableDescription"]
        except ClientError as e:
            if code_of(e) != "ResourceInUseException":
                raise explain(e, "dynamodb:CreateTable") from e
            desc = (await self.aws.call("dynamodb", "describe_table",
                                        TableName=self.plan.table))["Table"]
        self.facts["table_arn"] = desc["TableArn"]
        self.record("state-table", self.plan.table)
        if desc.get("TableStatus") != "ACTIVE":
            async def active() -> bool:
                t = await self.aws.call("dynamodb", "describe_table", TableName=self.plan.table)
                return t["Table"]["TableStatus"] == "ACTIVE"
            await self.wait_until("the DynamoDB table", active)

    async def c_elastic_ip(self) -> None:
        if await self.adopt_ec2("elastic-ip", "describe_addresses", "Addresses",
                                "AllocationId"):
            return
        out = await self.ec2("allocate_address", Domain="vpc",
                             TagSpecifications=self.plan.tag_spec("elastic-ip", "elastic-ip"))
        self.record("elastic-ip", out["AllocationId"])

    async def c_efs(self) -> None:
        token = self.plan.cluster_id
        try:
            fs = await self.aws.raw("efs", "create_file_system", CreationToken=token,
                                    Encrypted=True, PerformanceMode="generalPurpose",
                                    Tags=self.plan.tags("efs"))
        except ClientError as e:
            if code_of(e) != "FileSystemAlreadyExists":
                raise explain(e, "elasticfilesystem:CreateFileSystem") from e
            fs = (await self.aws.call("efs", "describe_file_systems",
                                      CreationToken=token))["FileSystems"][0]
        fs_id = fs["FileSystemId"]
        self.facts["efs_arn"] = fs.get("FileSystemArn") or \
            f"arn:aws:elasticfilesystem:{self.plan.region}:{self.plan.account_id}:file-system/{fs_id}"
        self.record("efs", fs_id)
        if fs.get("LifeCycleState") != "available":
            async def available() -> bool:
                d = await self.aws.call("efs", "describe_file_systems", FileSystemId=fs_id)
                return d["FileSystems"][0]["LifeCycleState"] == "available"
            await self.wait_until("the EFS file system", available)

    async def c_placement_group(self) -> None:
        try:
            await self.aws.raw("ec2", "create_placement_group",
                               GroupName=self.plan.placement_group, Strategy="cluster",
                               TagSpecifications=self.plan.tag_spec("placement-group",
                                                                    "placement-group"))
        except ClientError as e:
            if code_of(e) != "InvalidPlacementGroup.Duplicate":
                raise explain(e, "ec2:CreatePlacementGroup") from e
        self.record("placement-group", self.plan.placement_group)

    # -- create: network -----------------------------------------------------------------

    async def _subnet(self, kind: str, cidr: str) -> None:
        if await self.adopt_ec2(kind, "describe_subnets", "Subnets", "SubnetId"):
            return
        out = await self.ec2("create_subnet", VpcId=self.inv.first("vpc"), CidrBlock=cidr,
                             AvailabilityZone=self.facts["zone"],
                             TagSpecifications=self.plan.tag_spec("subnet", kind))
        self.record(kind, out["Subnet"]["SubnetId"])

    async def c_public_subnet(self) -> None:
        await self._subnet("public-subnet", self.plan.public_cidr)

    async def c_private_subnet(self) -> None:
        await self._subnet("private-subnet", self.plan.private_cidr)

    async def c_internet_gateway(self) -> None:
        igw = await self.adopt_ec2("internet-gateway", "describe_internet_gateways",
                                   "InternetGateways", "InternetGatewayId")
        if igw is None:
            out = await self.ec2("create_internet_gateway",
                                 TagSpecifications=self.plan.tag_spec("internet-gateway",
                                                                      "internet-gateway"))
            igw = self.record("internet-gateway", out["InternetGateway"]["InternetGatewayId"])
        try:
            await self.aws.raw("ec2", "attach_internet_gateway", InternetGatewayId=igw,
                               VpcId=self.inv.first("vpc"))
        except ClientError as e:
            if code_of(e) != "Resource.AlreadyAssociated":
                raise explain(e, "ec2:AttachInternetGateway") from e

    async def c_security_group(self) -> None:
        if await self.adopt_ec2("security-group", "describe_security_groups",
                                "SecurityGroups", "GroupId"):
            return
        out = await self.ec2("create_security_group", GroupName=self.plan.security_group,
                             Description=f"bodo-jupyter cluster {self.plan.name}",
                             VpcId=self.inv.first("vpc"),
                             TagSpecifications=self.plan.tag_spec("security-group",
                                                                  "security-group"))
        self.record("security-group", out["GroupId"])

    async def c_sg_rules(self) -> None:
        sg = self.inv.first("security-group")
        try:
            await self.aws.raw("ec2", "authorize_security_group_ingress", GroupId=sg,
                               IpPermissions=self.plan.ingress_rules(sg or ""))
        except ClientError as e:
            if code_of(e) != "InvalidPermission.Duplicate":
                raise explain(e, "ec2:AuthorizeSecurityGroupIngress") from e

    async def c_nat_gateway(self) -> None:
        nat = await self.adopt_ec2("nat-gateway", "describe_nat_gateways", "NatGateways",
                                   "NatGatewayId")
        state = None
        if nat is None:
            out = await self.ec2("create_nat_gateway", SubnetId=self.inv.first("public-subnet"),
                                 AllocationId=self.inv.first("elastic-ip"),
                                 ClientToken=f"{self.plan.cluster_id}-nat",
                                 TagSpecifications=self.plan.tag_spec("natgateway",
                                                                      "nat-gateway"))
            nat = self.record("nat-gateway", out["NatGateway"]["NatGatewayId"])
            state = out["NatGateway"].get("State")
        if state != "available":
            async def available() -> bool:
                d = await self.ec2("describe_nat_gateways", NatGatewayIds=[nat])
                st = d["NatGateways"][0]["State"]
                if st == "failed":
                    raise ProvisionError("the NAT gateway failed: "
                                         + d["NatGateways"][0].get("FailureMessage", ""))
                return st == "available"
            await self.wait_until("the NAT gateway", available)

    async def _routes(self, kind: str, subnet: str, target: dict[str, str]) -> None:
        rt = await self.adopt_ec2(kind, "describe_route_tables", "RouteTables", "RouteTableId")
        if rt is None:
            out = await self.ec2("create_route_table", VpcId=self.inv.first("vpc"),
                                 TagSpecifications=self.plan.tag_spec("route-table", kind))
            rt = self.record(kind, out["RouteTable"]["RouteTableId"])

        async def route() -> None:
            try:
                await self.aws.raw("ec2", "create_route", RouteTableId=rt,
                                   DestinationCidrBlock="0.0.0.0/0", **target)
            except ClientError as e:
                if code_of(e) != "RouteAlreadyExists":
                    raise explain(e, "ec2:CreateRoute") from e

        async def associate() -> None:
            try:
                await self.aws.raw("ec2", "associate_route_table", RouteTableId=rt,
                                   SubnetId=self.inv.first(subnet))
            except ClientError as e:
                if code_of(e) != "Resource.AlreadyAssociated":
                    raise explain(e, "ec2:AssociateRouteTable") from e

        await asyncio.gather(route(), associate())

    async def c_public_routes(self) -> None:
        await self._routes("public-routes", "public-subnet",
                           {"GatewayId": self.inv.first("internet-gateway") or ""})

    async def c_private_routes(self) -> None:
        await self._routes("private-routes", "private-subnet",
                           {"NatGatewayId": self.inv.first("nat-gateway") or ""})

    async def c_mount_target(self) -> None:
        fs = self.inv.first("efs")
        mt = self.inv.first("mount-target")
        state = None
        if mt is None:
            try:
                out = await self.aws.raw("efs", "create_mount_target", FileSystemId=fs,
                                         SubnetId=self.inv.first("private-subnet"),
                                         SecurityGroups=[self.inv.first("security-group")])
                mt, state = out["MountTargetId"], out.get("LifeCycleState")
            except ClientError as e:
                if code_of(e) != "MountTargetConflict":
                    raise explain(e, "elasticfilesystem:CreateMountTarget") from e
                mts = (await self.aws.call("efs", "describe_mount_targets",
                                           FileSystemId=fs))["MountTargets"]
                mt, state = mts[0]["MountTargetId"], mts[0].get("LifeCycleState")
            self.record("mount-target", mt)
        if state != "available":
            async def available() -> bool:
                d = await self.aws.call("efs", "describe_mount_targets", MountTargetId=mt)
                return d["MountTargets"][0]["LifeCycleState"] == "available"
            await self.wait_until("the EFS mount target", available)

    # -- create: identity and secrets -----------------------------------------------------

    async def c_instance_profile(self) -> None:
        try:
            await self.aws.raw("iam", "create_instance_profile",
                               InstanceProfileName=self.plan.instance_profile, Path=IAM_PATH,
                               Tags=self.plan.tags("instance-profile"))
        except ClientError as e:
            if code_of(e) != "EntityAlreadyExists":
                raise explain(e, "iam:CreateInstanceProfile") from e
        self.record("instance-profile", self.plan.instance_profile)
        try:
            await self.aws.raw("iam", "add_role_to_instance_profile",
                               InstanceProfileName=self.plan.instance_profile,
                               RoleName=self.plan.role)
        except ClientError as e:
            if code_of(e) != "LimitExceeded":  # the role is already in it
                raise explain(e, "iam:AddRoleToInstanceProfile") from e

    async def c_node_policy(self) -> None:
        key_arn = self.facts.get("key_arn") or self.inv.first("kms-key") or ""
        table_arn = self.facts.get("table_arn") or \
            f"arn:aws:dynamodb:{self.plan.region}:{self.plan.account_id}:table/{self.plan.table}"
        doc = node_policy(bucket=self.plan.bucket, table_arn=table_arn, key_arn=key_arn,
                          efs_arn=self.facts.get("efs_arn", "*"))
        await self.aws.call("iam", "put_role_policy", RoleName=self.plan.role,
                            PolicyName="bodo-node", PolicyDocument=json.dumps(doc))

    async def c_key_pair(self) -> None:
        if "key-pair" in self.inv.items and not self.resumed:
            return
        if self.resumed:
            # The private key only exists encrypted in the bucket: without it the key
            # pair is useless, so make it again.
            try:
                await self.aws.raw("s3", "head_object", Bucket=self.plan.bucket,
                                   Key="secrets/ssh-key.kms")
                self.record("key-pair", self.plan.key_pair, adopted=True)
                return
            except ClientError:
                await self.ignore_gone(self.aws.call("ec2", "delete_key_pair",
                                                     KeyName=self.plan.key_pair))
        out = await self.ec2("create_key_pair", KeyName=self.plan.key_pair, KeyType="rsa",
                             TagSpecifications=self.plan.tag_spec("key-pair", "key-pair"))
        self.record("key-pair", self.plan.key_pair)
        material = out["KeyMaterial"].encode()
        try:
            blob = (await self.aws.call("kms", "encrypt", KeyId=key_id(self.facts["key_arn"]),
                                        Plaintext=material))["CiphertextBlob"]
        finally:
            del material, out
        await self.aws.call("s3", "put_object", Bucket=self.plan.bucket,
                            Key="secrets/ssh-key.kms", Body=base64.b64encode(blob),
                            ServerSideEncryption="aws:kms", SSEKMSKeyId=self.facts["key_arn"])

    # -- create: compute -----------------------------------------------------------------------

    def user_data(self) -> str:
        return user_data(self.plan, efs_id=self.inv.first("efs") or "",
                         kms_key_id=self.facts.get("key_arn") or self.inv.first("kms-key") or "",
                         python=self.node_python, mpiexec=self.node_mpiexec)

    async def c_instances(self) -> None:
        existing = self.inv.get("instance")
        if len(existing) >= self.plan.instances:
            return
        nic: dict[str, Any] = {"DeviceIndex": 0, "SubnetId": self.inv.first("private-subnet"),
                               "Groups": [self.inv.first("security-group")],
                               "DeleteOnTermination": True}
        if self.plan.efa:
            nic["InterfaceType"] = "efa"
        kw: dict[str, Any] = {
            "ImageId": self.plan.ami_id, "InstanceType": self.plan.instance_type,
            "MinCount": self.plan.instances, "MaxCount": self.plan.instances,
            # The same token on a resumed create returns the same instances.
            "ClientToken": f"{self.plan.cluster_id}-nodes",
            "KeyName": self.plan.key_pair,
            "IamInstanceProfile": {"Name": self.plan.instance_profile},
            "NetworkInterfaces": [nic], "UserData": self.user_data(),
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
            "TagSpecifications": [*self.plan.tag_spec("instance", "instance"),
                                  *self.plan.tag_spec("volume", "volume")],
        }
        if self.plan.efa:
            kw["Placement"] = {"GroupName": self.plan.placement_group}
        deadline = time.monotonic() + 60
        while True:
            try:
                out = await self.aws.raw("ec2", "run_instances", **kw)
                break
            except ClientError as e:
                # A new instance profile takes a few seconds to be usable (IAM is
                # eventually consistent); anything else is final.
                msg = str(e).lower()
                if code_of(e) == "InvalidParameterValue" and "iam" in msg \
                        and time.monotonic() < deadline:
                    await asyncio.sleep(self.poll)
                    continue
                raise explain(e, "ec2:RunInstances",
                              instance_type=self.plan.instance_type) from e
        for inst in out["Instances"]:
            self.record("instance", inst["InstanceId"], launch_index=inst.get("AmiLaunchIndex"))

    async def c_bootstrap(self) -> None:
        """Wait for the first node to mark the cluster ready in the state table."""
        ids = self.inv.get("instance")
        n = self.plan.instances
        start = time.monotonic()
        seen = -1
        while True:
            item, nodes, states = await asyncio.gather(
                self.aws.call("dynamodb", "get_item", TableName=self.plan.table,
                              Key={"pk": {"S": "cluster"}}, ConsistentRead=True),
                self.aws.call("dynamodb", "scan", TableName=self.plan.table, Select="COUNT",
                              FilterExpression="begins_with(pk, :n)",
                              ExpressionAttributeValues={":n": {"S": "node#"}}),
                self.ec2("describe_instances", InstanceIds=ids),
            )
            bad = [i for r in states["Reservations"] for i in r["Instances"]
                   if i["State"]["Name"] in ("terminated", "shutting-down", "stopped")]
            if bad:
                reason = bad[0].get("StateReason", {}).get("Message", bad[0]["State"]["Name"])
                raise ProvisionError(f"instance {bad[0]['InstanceId']} stopped while booting: "
                                     f"{reason}")
            if nodes.get("Count", 0) != seen:
                seen = nodes.get("Count", 0)
                self.emit("bootstrap", f"{seen}/{n} nodes booted")
            status = item.get("Item", {}).get("status", {}).get("S")
            if status == "ready":
                return
            if status == "failed":
                msg = item["Item"].get("message", {}).get("S", "")
                raise ProvisionError(f"the cluster's bootstrap failed: {msg}")
            if time.monotonic() - start > self.bootstrap_timeout:
                raise ProvisionError(
                    f"the nodes did not finish booting within {self.bootstrap_timeout:g}s "
                    f"({seen}/{n} registered); see /var/log/bodo-bootstrap.log on the first "
                    "node (an SSM session reaches it)")
            await asyncio.sleep(self.poll)

    # -- delete ----------------------------------------------------------------------------------

    async def d_bootstrap(self) -> None:
        return None

    async def d_zone(self) -> None:
        return None

    async def d_vpc_dns(self) -> None:
        return None

    async def d_sg_rules(self) -> None:
        return None  # they go with the security group

    async def d_instances(self) -> None:
        ids = self.inv.get("instance")
        if not ids:
            return
        await self.ignore_gone(self.ec2("terminate_instances", InstanceIds=ids))

        async def terminated() -> bool:
            try:
                d = await self.aws.raw("ec2", "describe_instances", InstanceIds=ids)
            except ClientError as e:
                if code_of(e) == "InvalidInstanceID.NotFound":
                    return True
                raise explain(e, "ec2:DescribeInstances") from e
            return all(i["State"]["Name"] == "terminated"
                       for r in d["Reservations"] for i in r["Instances"])
        await self.wait_until("the instances to terminate", terminated)

    async def _delete_routes(self, kind: str) -> None:
        for rt in self.inv.get(kind):
            try:
                d = await self.aws.raw("ec2", "describe_route_tables", RouteTableIds=[rt])
            except ClientError as e:
                if self.gone(e) or code_of(e).endswith("NotFound"):
                    continue
                raise explain(e, "ec2:DescribeRouteTables") from e
            for assoc in d["RouteTables"][0].get("Associations", []):
                if not assoc.get("Main"):
                    await self.ignore_gone(self.ec2(
                        "disassociate_route_table",
                        AssociationId=assoc["RouteTableAssociationId"]))
            await self.ignore_gone(self.ec2("delete_route_table", RouteTableId=rt))

    async def d_public_routes(self) -> None:
        await self._delete_routes("public-routes")

    async def d_private_routes(self) -> None:
        await self._delete_routes("private-routes")

    async def d_mount_target(self) -> None:
        for mt in self.inv.get("mount-target"):
            await self.ignore_gone(self.aws.call("efs", "delete_mount_target",
                                                 MountTargetId=mt))

            async def gone(mt: str = mt) -> bool:
                try:
                    d = await self.aws.raw("efs", "describe_mount_targets", MountTargetId=mt)
                except ClientError:
                    return True
                return not d["MountTargets"] or \
                    d["MountTargets"][0]["LifeCycleState"] == "deleted"
            await self.wait_until("the mount target to go", gone)

    async def d_nat_gateway(self) -> None:
        for nat in self.inv.get("nat-gateway"):
            await self.ignore_gone(self.ec2("delete_nat_gateway", NatGatewayId=nat))

            async def deleted(nat: str = nat) -> bool:
                try:
                    d = await self.aws.raw("ec2", "describe_nat_gateways", NatGatewayIds=[nat])
                except ClientError:
                    return True
                return all(g["State"] == "deleted" for g in d["NatGateways"])
            await self.wait_until("the NAT gateway to go", deleted)

    async def d_key_pair(self) -> None:
        if self.inv.get("key-pair"):
            await self.ignore_gone(self.ec2("delete_key_pair", KeyName=self.plan.key_pair))

    async def d_instance_profile(self) -> None:
        if not self.inv.get("instance-profile"):
            return
        await self.ignore_gone(self.aws.call("iam", "remove_role_from_instance_profile",
                                             InstanceProfileName=self.plan.instance_profile,
                                             RoleName=self.plan.role))
        await self.ignore_gone(self.aws.call("iam", "delete_instance_profile",
                                             InstanceProfileName=self.plan.instance_profile))

    async def d_node_policy(self) -> None:
        if self.inv.get("node-role"):
            await self.ignore_gone(self.aws.call("iam", "delete_role_policy",
                                                 RoleName=self.plan.role,
                                                 PolicyName="bodo-node"))

    async def d_node_role(self) -> None:
        if not self.inv.get("node-role"):
            return
        await self.ignore_gone(self.aws.call("iam", "delete_role", RoleName=self.plan.role))

    async def _retry_dependency(self, what: str, coro_fn: Callable[[], Awaitable[Any]]) -> None:
        """ENIs of terminated instances linger for a while: retry DependencyViolation."""
        deadline = time.monotonic() + self.wait_timeout
        while True:
            try:
                await coro_fn()
                return
            except Exception as e:
                if self.gone(e):
                    return
                cause = e.__cause__ if isinstance(e.__cause__, ClientError) else e
                if isinstance(cause, ClientError) and code_of(cause) == "DependencyViolation" \
                        and time.monotonic() < deadline:
                    await asyncio.sleep(self.poll)
                    continue
                raise

    async def d_security_group(self) -> None:
        for sg in self.inv.get("security-group"):
            await self._retry_dependency("security group", lambda sg=sg: self.ec2(
                "delete_security_group", GroupId=sg))

    async def d_internet_gateway(self) -> None:
        for igw in self.inv.get("internet-gateway"):
            vpc = self.inv.first("vpc")
            if vpc:
                await self.ignore_gone(self.ec2("detach_internet_gateway",
                                                InternetGatewayId=igw, VpcId=vpc))
            await self.ignore_gone(self.ec2("delete_internet_gateway", InternetGatewayId=igw))

    async def d_public_subnet(self) -> None:
        for sn in self.inv.get("public-subnet"):
            await self._retry_dependency("subnet", lambda sn=sn: self.ec2(
                "delete_subnet", SubnetId=sn))

    async def d_private_subnet(self) -> None:
        for sn in self.inv.get("private-subnet"):
            await self._retry_dependency("subnet", lambda sn=sn: self.ec2(
                "delete_subnet", SubnetId=sn))

    async def d_placement_group(self) -> None:
        if self.inv.get("placement-group"):
            await self.ignore_gone(self.ec2("delete_placement_group",
                                            GroupName=self.plan.placement_group))

    async def d_efs(self) -> None:
        for fs in self.inv.get("efs"):
            await self._retry_dependency("file system", lambda fs=fs: self.aws.call(
                "efs", "delete_file_system", FileSystemId=fs))

    async def d_elastic_ip(self) -> None:
        for alloc in self.inv.get("elastic-ip"):
            await self._retry_dependency("elastic ip", lambda alloc=alloc: self.ec2(
                "release_address", AllocationId=alloc))

    async def d_state_table(self) -> None:
        if self.inv.get("state-table"):
            await self.ignore_gone(self.aws.call("dynamodb", "delete_table",
                                                 TableName=self.plan.table))

    async def d_state_bucket(self) -> None:
        if not self.inv.get("state-bucket"):
            return
        b = self.plan.bucket
        while True:
            try:
                listing = await self.aws.raw("s3", "list_objects_v2", Bucket=b)
            except ClientError as e:
                if code_of(e) in ("NoSuchBucket", "404"):
                    return
                raise explain(e, "s3:ListObjectsV2") from e
            keys = [{"Key": o["Key"]} for o in listing.get("Contents", [])]
            if not keys:
                break
            await self.aws.call("s3", "delete_objects", Bucket=b,
                                Delete={"Objects": keys, "Quiet": True})
        await self.ignore_gone(self.aws.call("s3", "delete_bucket", Bucket=b))

    async def d_kms_alias(self) -> None:
        if self.inv.get("kms-key"):
            await self.ignore_gone(self.aws.call("kms", "delete_alias",
                                                 AliasName=self.plan.kms_alias))

    async def d_bucket_settings(self) -> None:
        return None  # they go with the bucket

    async def d_role_ssm(self) -> None:
        if self.inv.get("node-role"):
            await self.ignore_gone(self.aws.call("iam", "detach_role_policy",
                                                 RoleName=self.plan.role,
                                                 PolicyArn=SSM_POLICY_ARN))

    async def d_kms_key(self) -> None:
        for arn in self.inv.get("kms-key"):
            try:
                await self.aws.raw("kms", "schedule_key_deletion", KeyId=key_id(arn),
                                   PendingWindowInDays=7)
            except ClientError as e:
                if code_of(e) not in ("KMSInvalidStateException", "NotFoundException"):
                    raise explain(e, "kms:ScheduleKeyDeletion") from e

    async def d_vpc(self) -> None:
        for vpc in self.inv.get("vpc"):
            await self._retry_dependency("VPC", lambda vpc=vpc: self.ec2(
                "delete_vpc", VpcId=vpc))

    # -- dispatch ---------------------------------------------------------------------------------

    def creator(self, node: str) -> Callable[[], Awaitable[None]]:
        return getattr(self, "c_" + node.replace("-", "_"))  # type: ignore[no-any-return]

    def deleter(self, node: str) -> Callable[[], Awaitable[None]]:
        return getattr(self, "d_" + node.replace("-", "_"))  # type: ignore[no-any-return]


async def tagged_keys(aws: AwsSession, cluster_id: str) -> list[str]:
    """The cluster's KMS keys that are not already scheduled for deletion, found by tag
    (KMS cannot filter by tag itself; the tagging API can)."""
    out = await aws.call("resourcegroupstaggingapi", "get_resources",
                         ResourceTypeFilters=["kms"],
                         TagFilters=[{"Key": TAG_CLUSTER, "Values": [cluster_id]}])
    keys = []
    for item in out.get("ResourceTagMappingList", []):
        arn = item["ResourceARN"]
        try:
            meta = (await aws.raw("kms", "describe_key", KeyId=key_id(arn)))["KeyMetadata"]
        except ClientError:
            continue
        if meta["KeyState"] not in ("PendingDeletion", "PendingReplicaDeletion"):
            keys.append(meta["Arn"])
    return keys


async def scan_inventory(aws: AwsSession, plan: ClusterPlan, inv: Inventory) -> Inventory:
    """Add to ``inv`` everything that carries the cluster's tag or deterministic name."""
    cid = plan.cluster_id
    flt = [{"Name": f"tag:{TAG_CLUSTER}", "Values": [cid]}]

    def res_kind(tags: list[dict[str, str]], default: str) -> str:
        for t in tags or []:
            if t["Key"] == TAG_RESOURCE:
                return t["Value"]
        return default

    async def ec2_scan(op: str, key: str, id_key: str, default: str,
                       skip: tuple[str, ...] = ()) -> None:
        out = await aws.call("ec2", op, Filters=flt)
        for item in out.get(key, []):
            state = item.get("State")
            if isinstance(state, dict):
                state = state.get("Name")
            if state in skip:
                continue
            inv.add(res_kind(item.get("Tags", []), default), item[id_key])

    async def instances() -> None:
        out = await aws.call("ec2", "describe_instances", Filters=flt)
        for r in out["Reservations"]:
            for i in r["Instances"]:
                if i["State"]["Name"] != "terminated":
                    inv.add("instance", i["InstanceId"])

    async def by_name(kind: str, check: Callable[[], Awaitable[Any]]) -> None:
        try:
            if await check() is not False:
                inv.add(kind, kind_ref[kind])
        except ClientError:
            return

    kind_ref = {"node-role": plan.role, "instance-profile": plan.instance_profile,
                "state-bucket": plan.bucket, "state-table": plan.table,
                "key-pair": plan.key_pair, "placement-group": plan.placement_group}

    async def kms() -> None:
        for arn in await tagged_keys(aws, cid):
            inv.add("kms-key", arn)

    async def efs() -> None:
        out = await aws.call("efs", "describe_file_systems", CreationToken=cid)
        for fs in out.get("FileSystems", []):
            inv.add("efs", fs["FileSystemId"])
            mts = await aws.call("efs", "describe_mount_targets",
                                 FileSystemId=fs["FileSystemId"])
            for mt in mts.get("MountTargets", []):
                inv.add("mount-target", mt["MountTargetId"])

    async def placement() -> None:
        try:
            out = await aws.raw("ec2", "describe_placement_groups",
                                GroupNames=[plan.placement_group])
        except ClientError:
            return
        if out.get("PlacementGroups"):
            inv.add("placement-group", plan.placement_group)

    async def key_pair() -> None:
        try:
            await aws.raw("ec2", "describe_key_pairs", KeyNames=[plan.key_pair])
            inv.add("key-pair", plan.key_pair)
        except ClientError:
            return

    await asyncio.gather(
        ec2_scan("describe_vpcs", "Vpcs", "VpcId", "vpc"),
        ec2_scan("describe_subnets", "Subnets", "SubnetId", "subnet"),
        ec2_scan("describe_internet_gateways", "InternetGateways", "InternetGatewayId",
                 "internet-gateway"),
        ec2_scan("describe_security_groups", "SecurityGroups", "GroupId", "security-group"),
        ec2_scan("describe_route_tables", "RouteTables", "RouteTableId", "route-table"),
        ec2_scan("describe_nat_gateways", "NatGateways", "NatGatewayId", "nat-gateway",
                 skip=("deleted",)),
        ec2_scan("describe_addresses", "Addresses", "AllocationId", "elastic-ip"),
        instances(), kms(), efs(), placement(), key_pair(),
        by_name("node-role", lambda: aws.raw("iam", "get_role", RoleName=plan.role)),
        by_name("instance-profile", lambda: aws.raw(
            "iam", "get_instance_profile", InstanceProfileName=plan.instance_profile)),
        by_name("state-bucket", lambda: aws.raw("s3", "list_objects_v2", Bucket=plan.bucket,
                                                MaxKeys=1)),
        by_name("state-table", lambda: aws.raw("dynamodb", "describe_table",
                                               TableName=plan.table)),
    )
    return inv
