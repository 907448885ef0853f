"""EC2 notebooks: a Jupyter server on an instance of its own in the attached cluster's VPC.

Where the node lives: an AWS notebook must be attached to one of the organisation's
AWS clusters (a 400 on ``cluster`` otherwise, before anything is written). Its node
is launched into that cluster's private subnet with a security group of its own
that admits only the server's port, from the cluster's members and from the control
plane (``AWSNotebooks.control_plane_cidrs``, default the VPC's range); the cluster's
group admits the notebook's group, so kernels reach the cluster's controller and
engines (the rule is revoked before the notebook's group goes).

What is made per notebook, each tagged ``bodo:notebook=<id>``, the organisation and
this control plane (never ``bodo:cluster``: the node is not one of the cluster's
resources), with names from the notebook id: the security group
``bodo-nb-<id>``, the instance role and profile ``bodo-nb-<id>`` (path
``/bodo/notebooks/``) whose only permission is reading the launch parameter, the
SSM SecureString parameter ``/bodo/notebooks/<id>/launch`` (the server's secrets:
never in tags or user-data) and the instance, launched with a ClientToken from the
notebook id so that a resumed create gets the interrupted attempt's instance back.
``stop`` finds all of it by tag and name even when nothing was recorded, and the
orphan sweep removes what belongs to notebooks this control plane no longer has.
Every AWS call goes through the organisation's session (off the event loop).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from traitlets import Dict, Float, Integer, List, Unicode

from ...errors import BadRequest, PlatformError, ProvisionError
from ...notebooks.backend import NotebookBackend, NotebookSpec, ServerLaunch
from ...notebooks.probe import jupyter_version
from ...progress import TaskOps
from ..base import InstanceType
from .clients import AwsSession
from .errors import code_of, explain
from .notebook_bootstrap import (
    IAM_PATH,
    TAG_ATTACHED,
    TAG_NOTEBOOK_AWS,
    NotebookPlan,
    launch_parameter_value,
    server_path,
    user_data,
)
from .plan import TAG_CLUSTER, TAG_PLANE, TAG_RESOURCE
from .policy import NODE_TRUST, notebook_node_policy
from .provider import AWSProvider

DEFAULT_NOTEBOOK_TYPES: dict[str, dict[str, Any]] = {
    "t3.medium": {"cores": 1, "vcpus": 2, "memory_gib": 4},
    "t3.large": {"cores": 1, "vcpus": 2, "memory_gib": 8},
    "t3.xlarge": {"cores": 2, "vcpus": 4, "memory_gib": 16},
    "m5.large": {"cores": 1, "vcpus": 2, "memory_gib": 8},
    "m5.xlarge": {"cores": 2, "vcpus": 4, "memory_gib": 16},
    "m5.2xlarge": {"cores": 4, "vcpus": 8, "memory_gib": 32},
}
ROLE_POLICY = "bodo-notebook"
GONE_CODES = {"InvalidGroup.NotFound", "InvalidInstanceID.NotFound", "NoSuchEntity",
              "ParameterNotFound", "InvalidPermission.NotFound", "InvalidGroupId.Malformed"}
LIVE_STATES = ("pending", "running")


def _gone(e: BaseException) -> bool:
    cause = e if isinstance(e, ClientError) else e.__cause__
    return isinstance(cause, ClientError) and (code_of(cause) in GONE_CODES
                                               or code_of(cause).endswith(".NotFound"))


class AWSNotebooks(NotebookBackend):
    """Jupyter servers on EC2 instances of their own, in their cluster's VPC."""

    provider: AWSProvider

    instance_types_config = Dict(
        DEFAULT_NOTEBOOK_TYPES, config=True,
        help="""Instance types of notebook nodes: {name: {"cores": N, "vcpus": V,
        "memory_gib": M, "description": "..."}} (a notebook runs its kernels, not the
        cluster's ranks: no EFA).""",
    )
    port = Integer(8888, config=True, help="Port of the notebook server on its node.")
    node_user = Unicode(
        "bodo", config=True,
        help="The unprivileged user of the machine image that runs the server.")
    control_plane_cidrs = List(
        Unicode(), config=True,
        help="""Address ranges the control plane (and the hub's proxy) reach notebook
        nodes from; the node's security group admits them and the cluster's members on
        the server's port, nothing else. Default: the cluster VPC's own range (a
        control plane in the VPC or peered with it).""",
    )
    address_tag = Unicode(
        "", config=True,
        help="""For emulators: an instance tag whose value, `host:port`, is where the
        node's server listens instead of its private IP and `port` (the tests' AWS
        emulator sets `bodo-emulator:address` when it cannot give nodes addresses of
        their own). Empty on AWS.""",
    )
    ready_timeout = Float(
        900.0, config=True,
        help="Seconds a notebook node gets to boot and answer its readiness probe (HTTP).")
    probe_interval = Float(2.0, config=True,
                           help="Seconds between readiness probes and AWS checks.")
    health_check_interval = Float(
        30.0, config=True,
        help="""Seconds a running notebook's health (its instance's state, its server's
        answer) is taken as known: the control plane's health loop asks more often, and
        each notebook costs an AWS call and a probe.""",
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._checked: dict[str, tuple[float, str | None]] = {}

    # -- shapes and checks -------------------------------------------------------------

    def instance_types(self) -> list[InstanceType]:
        out = []
        for name, d in self.instance_types_config.items():
            cores = int(d.get("cores", 1))
            vcpus = int(d.get("vcpus", cores))
            mem = float(d.get("memory_gib", 4))
            out.append(InstanceType(
                name=name, cores=cores, vcpus=vcpus, memory_gib=mem, efa=False,
                description=d.get("description",
                                  f"EC2 {name}: {vcpus} vCPUs, {mem:g} GiB")))
        return sorted(out, key=lambda t: (t.name.split(".")[0], t.vcpus, t.name))

    def check_create(self, org_id: str, cluster_id: str | None) -> None:
        if not cluster_id:
            raise BadRequest("an AWS notebook runs in its cluster's VPC: attach it to one "
                             "of your organisation's RUNNING AWS clusters", field="cluster")
        creds = self.provider.creds(org_id, require_ready=True)
        if not self.provider.ami_ids.get(creds.region):
            raise BadRequest(f"the platform has no machine image for {creds.region}; ask "
                             "your admin to set AWSProvider.ami_ids", field="cluster")

    # -- planning ------------------------------------------------------------------------

    def _plan(self, spec: NotebookSpec) -> tuple[AwsSession, NotebookPlan]:
        creds = self.provider.creds(spec.org_id, require_ready=False)
        region = spec.details.get("region") or creds.region
        plan = NotebookPlan(
            notebook_id=spec.id, org_id=spec.org_id, name=spec.name, region=region,
            account_id=spec.details.get("account") or creds.account_id,
            plane_id=self.provider.plane_id, instance_type=spec.instance_type,
            ami_id=self.provider.ami_ids.get(region, ""), cluster_id=spec.cluster_id,
            port=self.port, node_user=self.node_user, python=self.provider.node_python)
        return self.provider.session(spec.org_id, creds), plan

    @staticmethod
    def _filters(key: str, value: str, resource: str | None = None) -> list[dict]:
        out = [{"Name": f"tag:{key}", "Values": [value]}]
        if resource:
            out.append({"Name": f"tag:{TAG_RESOURCE}", "Values": [resource]})
        return out

    async def _cluster_network(self, aws: AwsSession, cluster_id: str) -> dict[str, str]:
        """The cluster's private subnet, VPC range and security group, by their tags."""
        subnets, groups = await asyncio.gather(
            aws.call("ec2", "describe_subnets",
                     Filters=self._filters(TAG_CLUSTER, cluster_id, "private-subnet")),
            aws.call("ec2", "describe_security_groups",
                     Filters=self._filters(TAG_CLUSTER, cluster_id, "security-group")))
        if not subnets.get("Subnets") or not groups.get("SecurityGroups"):
            raise ProvisionError(f"cluster {cluster_id} has no private subnet or security "
                                 "group in AWS (is it being deleted?)")
        sn = subnets["Subnets"][0]
        vpcs = await aws.call("ec2", "describe_vpcs", VpcIds=[sn["VpcId"]])
        return {"subnet": sn["SubnetId"], "vpc": sn["VpcId"],
                "vpc_cidr": vpcs["Vpcs"][0]["CidrBlock"],
                "cluster_group": groups["SecurityGroups"][0]["GroupId"]}

    async def _cluster_group(self, aws: AwsSession, cluster_id: str | None) -> str | None:
        if not cluster_id:
            return None
        out = await aws.call("ec2", "describe_security_groups",
                             Filters=self._filters(TAG_CLUSTER, cluster_id, "security-group"))
        groups = out.get("SecurityGroups") or []
        return groups[0]["GroupId"] if groups else None

    async def _notebook_groups(self, aws: AwsSession, notebook_id: str) -> list[str]:
        out = await aws.call("ec2", "describe_security_groups",
                             Filters=self._filters(TAG_NOTEBOOK_AWS, notebook_id))
        return [g["GroupId"] for g in out.get("SecurityGroups", [])]

    async def _instances(self, aws: AwsSession, notebook_id: str) -> list[dict[str, Any]]:
        out = await aws.call("ec2", "describe_instances",
                             Filters=self._filters(TAG_NOTEBOOK_AWS, notebook_id))
        return [i for r in out.get("Reservations", []) for i in r["Instances"]
                if i["State"]["Name"] != "terminated"]

    # -- prepare: the node's network and identity ----------------------------------------

    async def prepare(self, spec: NotebookSpec) -> None:
        """Security group and instance role for the node (idempotent: a resumed create
        finds what the interrupted attempt made, by tag and name)."""
        if not spec.cluster_id:
            raise ProvisionError("an AWS notebook needs an AWS cluster")
        aws, plan = self._plan(spec)
        net = await self._cluster_network(aws, spec.cluster_id)
        await asyncio.gather(self._security_group(aws, plan, net), self._role(aws, plan))

    async def _security_group(self, aws: AwsSession, plan: NotebookPlan,
                              net: dict[str, str]) -> str:
        found = await self._notebook_groups(aws, plan.notebook_id)
        if found:
            sg = found[0]
        else:
            try:
                sg = (await aws.raw(
                    "ec2", "create_security_group", GroupName=plan.security_group,
                    Description=f"bodo-jupyter notebook {plan.name}", VpcId=net["vpc"],
                    TagSpecifications=plan.tag_spec("security-group", "security-group"),
                ))["GroupId"]
            except ClientError as e:
                if code_of(e) != "InvalidGroup.Duplicate":
                    raise explain(e, "ec2:CreateSecurityGroup") from e
                out = await aws.call("ec2", "describe_security_groups", Filters=[
                    {"Name": "group-name", "Values": [plan.security_group]},
                    {"Name": "vpc-id", "Values": [net["vpc"]]}])
                sg = out["SecurityGroups"][0]["GroupId"]
        cidrs = tuple(self.control_plane_cidrs) or (net["vpc_cidr"],)

        async def authorize(group: str, rules: list[dict[str, Any]]) -> None:
            try:
                await aws.raw("ec2", "authorize_security_group_ingress", GroupId=group,
                              IpPermissions=rules)
            except ClientError as e:
                if code_of(e) != "InvalidPermission.Duplicate":
                    raise explain(e, "ec2:AuthorizeSecurityGroupIngress") from e

        await asyncio.gather(authorize(sg, plan.ingress_rules(net["cluster_group"], cidrs)),
                             authorize(net["cluster_group"], plan.cluster_rule(sg)))
        return sg

    async def _role(self, aws: AwsSession, plan: NotebookPlan) -> None:
        try:
            await aws.raw("iam", "create_role", RoleName=plan.role, Path=IAM_PATH,
                          AssumeRolePolicyDocument=json.dumps(NODE_TRUST),
                          Description=f"bodo-jupyter notebook {plan.name}: reads its "
                          "launch parameter", Tags=plan.tags("node-role"))
        except ClientError as e:
            if code_of(e) != "EntityAlreadyExists":
                raise explain(e, "iam:CreateRole") from e

        async def policy() -> None:
            await aws.call("iam", "put_role_policy", RoleName=plan.role,
                           PolicyName=ROLE_POLICY,
                           PolicyDocument=json.dumps(notebook_node_policy(plan.parameter_arn)))

        async def profile() -> None:
            try:
                await aws.raw("iam", "create_instance_profile",
                              InstanceProfileName=plan.instance_profile, Path=IAM_PATH,
                              Tags=plan.tags("instance-profile"))
            except ClientError as e:
                if code_of(e) != "EntityAlreadyExists":
                    raise explain(e, "iam:CreateInstanceProfile") from e
            try:
                await aws.raw("iam", "add_role_to_instance_profile",
                              InstanceProfileName=plan.instance_profile, RoleName=plan.role)
            except ClientError as e:
                if code_of(e) != "LimitExceeded":  # the role is already in it
                    raise explain(e, "iam:AddRoleToInstanceProfile") from e

        await asyncio.gather(policy(), profile())

    # -- start -------------------------------------------------------------------------

    async def start(self, spec: NotebookSpec, launch: ServerLaunch,
                    record: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        aws, plan = self._plan(spec)
        if not plan.ami_id:
            raise ProvisionError(f"no machine image is configured for {plan.region} "
                                 "(AWSProvider.ami_ids)")
        net = await self._cluster_network(aws, spec.cluster_id or "")
        groups = await self._notebook_groups(aws, plan.notebook_id)
        if not groups:
            raise ProvisionError("the notebook's security group is gone")
        details: dict[str, Any] = {
            "region": plan.region, "account": plan.account_id, "security_group": groups[0],
            "cluster_group": net["cluster_group"], "role": plan.role,
            "instance_profile": plan.instance_profile, "parameter": plan.parameter,
            "port": plan.port, "hub": launch.hub}
        record(details)
        await self._put_parameter(aws, plan, launch)
        inst = await self._run_instance(aws, plan, launch, net["subnet"], groups[0])
        details["instance"] = inst["InstanceId"]
        record(details)  # the moment it exists
        address = f"{inst.get('PrivateIpAddress') or ''}:{plan.port}"
        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
        if self.address_tag and tags.get(self.address_tag):
            address = tags[self.address_tag]
        details.update(address=address,
                       url=f"http://{address}{server_path(launch.server_env)}")
        record(details)
        return details

    async def _put_parameter(self, aws: AwsSession, plan: NotebookPlan,
                             launch: ServerLaunch) -> None:
        value = launch_parameter_value(token=launch.token, server_env=launch.server_env,
                                       api_token=launch.api_token)
        kw: dict[str, Any] = {"Name": plan.parameter, "Value": value, "Type": "SecureString",
                              "Tier": "Standard" if len(value) <= 4096 else "Advanced",
                              "Description": f"bodo-jupyter notebook {plan.name}: its "
                              "server's secrets (read by its node's role only)"}
        try:
            await aws.raw("ssm", "put_parameter", Tags=plan.tags("launch-parameter"), **kw)
        except ClientError as e:
            if code_of(e) != "ParameterAlreadyExists":
                raise explain(e, "ssm:PutParameter") from None  # never the value
            try:  # a resumed start: the same secrets again (Overwrite takes no tags)
                await aws.raw("ssm", "put_parameter", Overwrite=True, **kw)
            except ClientError as e2:
                raise explain(e2, "ssm:PutParameter") from None

    async def _run_instance(self, aws: AwsSession, plan: NotebookPlan, launch: ServerLaunch,
                            subnet: str, group: str) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "ImageId": plan.ami_id, "InstanceType": plan.instance_type,
            "MinCount": 1, "MaxCount": 1,
            "IamInstanceProfile": {"Name": plan.instance_profile},
            "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group],
                                   "DeleteOnTermination": True}],
            "UserData": user_data(plan, hub=launch.hub, api_url=launch.api_url),
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
            "TagSpecifications": [*plan.tag_spec("instance", "instance"),
                                  *plan.tag_spec("volume", "volume")],
        }
        deadline = time.monotonic() + 60
        generation = 1
        while True:
            try:
                out = await aws.raw("ec2", "run_instances",
                                    ClientToken=plan.client_token(generation), **kw)
            except ClientError as e:
                # A new instance profile takes a few seconds to be usable (IAM is
                # eventually consistent); anything else is final.
                if code_of(e) == "InvalidParameterValue" and "iam" in str(e).lower() \
                        and time.monotonic() < deadline:
                    await asyncio.sleep(self.probe_interval)
                    continue
                raise explain(e, "ec2:RunInstances", instance_type=plan.instance_type) from e
            inst = out["Instances"][0]
            if inst["State"]["Name"] in LIVE_STATES:
                return inst  # type: ignore[no-any-return]
            if generation >= 5:
                raise ProvisionError(f"the notebook's instances keep ending at once "
                                     f"({inst['InstanceId']} is {inst['State']['Name']})")
            generation += 1  # that token's instance is gone: a new one

    # -- readiness and health ----------------------------------------------------------

    async def _state(self, aws: AwsSession, instance_id: str) -> tuple[str, str]:
        d = await aws.raw("ec2", "describe_instances", InstanceIds=[instance_id])
        inst = d["Reservations"][0]["Instances"][0]
        return inst["State"]["Name"], inst.get("StateReason", {}).get("Message", "")

    async def wait_ready(self, spec: NotebookSpec, details: dict[str, Any],
                         ops: TaskOps) -> None:
        aws, _ = self._plan(spec)
        iid, url = details["instance"], details["url"] + "api"
        deadline = time.monotonic() + self.ready_timeout
        tries = 0
        state = ""
        while True:
            ops.check_cancelled()
            if tries % 5 == 0 or state != "running":
                try:
                    state, reason = await self._state(aws, iid)
                except ClientError as e:
                    raise explain(e, "ec2:DescribeInstances") from e
                if state not in LIVE_STATES:
                    raise ProvisionError(f"the notebook's node {iid} is {state} before its "
                                         "server answered" + (f": {reason}" if reason else ""))
            if state == "running":
                version = await asyncio.to_thread(jupyter_version, url)
                if version is not None:
                    ops.progress(1.0, f"{url} answered: Jupyter server {version}")
                    return
            tries += 1
            if time.monotonic() > deadline:
                raise ProvisionError(
                    f"the notebook's server did not answer {url} within "
                    f"{self.ready_timeout:g}s (AWSNotebooks.ready_timeout); see "
                    f"/var/log/bodo-notebook.log on {iid} (an SSM session reaches it)")
            if tries % 10 == 1:
                ops.progress(0.0, f"node {iid} is {state}; waiting for {url} to answer")
            await asyncio.sleep(self.probe_interval)

    async def check(self, spec: NotebookSpec, details: dict[str, Any]) -> str | None:
        last = self._checked.get(spec.id)
        if last and time.monotonic() - last[0] < self.health_check_interval:
            return last[1]
        reason = await self._check(spec, details)
        self._checked[spec.id] = (time.monotonic(), reason)
        return reason

    async def _check(self, spec: NotebookSpec, details: dict[str, Any]) -> str | None:
        iid = details.get("instance")
        if not iid:
            return "The notebook's node is not recorded"
        try:
            aws, _ = self._plan(spec)
            state, reason = await self._state(aws, iid)
        except ClientError as e:
            if code_of(e) == "InvalidInstanceID.NotFound":
                return f"The notebook's node {iid} is gone"
            return None  # cannot tell now (AWS unreachable, credentials changed)
        except PlatformError:
            return None
        if state not in LIVE_STATES:
            return f"The notebook's node {iid} is {state}" + (f": {reason}" if reason else "")
        if state == "running" and await asyncio.to_thread(jupyter_version, details["url"] + "api") \
                is None:
            return f"The notebook's server at {details['url']} does not answer"
        return None

    # -- stop and sweep ------------------------------------------------------------------

    async def stop(self, spec: NotebookSpec, details: dict[str, Any]) -> None:
        """Everything of the notebook, found by tag and name (and what was recorded), in
        dependency order: instance, the cluster's rule, security group, parameter, role
        (last: while it exists, the sweep finds the notebook again)."""
        self._checked.pop(spec.id, None)
        aws, plan = self._plan(spec)
        ids = {i["InstanceId"] for i in await self._instances(aws, spec.id)}
        if details.get("instance"):
            ids.add(details["instance"])
        await self._terminate(aws, sorted(ids))
        groups = set(await self._notebook_groups(aws, spec.id))
        if details.get("security_group"):
            groups.add(details["security_group"])
        cluster_group = details.get("cluster_group") or await self._cluster_group(
            aws, spec.cluster_id)
        for sg in sorted(groups):
            if cluster_group:
                await self._ignore_gone(aws.raw(
                    "ec2", "revoke_security_group_ingress", GroupId=cluster_group,
                    IpPermissions=plan.cluster_rule(sg)), "ec2:RevokeSecurityGroupIngress")
            await self._delete_group(aws, sg)
        await self._ignore_gone(aws.raw("ssm", "delete_parameter", Name=plan.parameter),
                                "ssm:DeleteParameter")
        await self._ignore_gone(aws.raw(
            "iam", "remove_role_from_instance_profile",
            InstanceProfileName=plan.instance_profile, RoleName=plan.role),
            "iam:RemoveRoleFromInstanceProfile")
        await self._ignore_gone(aws.raw("iam", "delete_instance_profile",
                                        InstanceProfileName=plan.instance_profile),
                                "iam:DeleteInstanceProfile")
        await self._ignore_gone(aws.raw("iam", "delete_role_policy", RoleName=plan.role,
                                        PolicyName=ROLE_POLICY), "iam:DeleteRolePolicy")
        await self._ignore_gone(aws.raw("iam", "delete_role", RoleName=plan.role),
                                "iam:DeleteRole")

    @staticmethod
    async def _ignore_gone(coro: Any, operation: str) -> None:
        try:
            await coro
        except ClientError as e:
            if not _gone(e):
                raise explain(e, operation) from e

    async def _terminate(self, aws: AwsSession, ids: list[str]) -> None:
        if not ids:
            return
        await self._ignore_gone(aws.raw("ec2", "terminate_instances", InstanceIds=ids),
                                "ec2:TerminateInstances")
        deadline = time.monotonic() + self.provider.wait_timeout
        while True:
            try:
                d = await aws.raw("ec2", "describe_instances", InstanceIds=ids)
            except ClientError as e:
                if code_of(e) == "InvalidInstanceID.NotFound":
                    return
                raise explain(e, "ec2:DescribeInstances") from e
            if all(i["State"]["Name"] == "terminated"
                   for r in d["Reservations"] for i in r["Instances"]):
                return
            if time.monotonic() > deadline:
                raise ProvisionError(f"the notebook's node {ids[0]} did not terminate")
            await asyncio.sleep(self.probe_interval)

    async def _delete_group(self, aws: AwsSession, sg: str) -> None:
        """A terminated instance's interface lingers a while: retry DependencyViolation."""
        deadline = time.monotonic() + self.provider.wait_timeout
        while True:
            try:
                await aws.raw("ec2", "delete_security_group", GroupId=sg)
                return
            except ClientError as e:
                if _gone(e):
                    return
                if code_of(e) == "DependencyViolation" and time.monotonic() < deadline:
                    await asyncio.sleep(self.probe_interval)
                    continue
                raise explain(e, "ec2:DeleteSecurityGroup") from e

    async def sweep_orphans(self, is_live: Callable[[str], bool]) -> list[str]:
        """Remove what this control plane made in AWS for notebooks it no longer has."""
        accounts = self.provider.accounts
        if accounts is None:
            return []
        swept = []
        for org in accounts.ready_orgs():
            try:
                aws = self.provider.session(org)
                found = await find_tagged_notebooks(aws, self.provider.plane_id)
            except Exception:
                self.log.exception("cannot scan AWS for orphan notebooks of organisation %s",
                                   org)
                continue
            for notebook_id, cluster_id in found.items():
                if is_live(notebook_id):
                    continue
                self.log.warning("removing AWS resources of unknown notebook %s", notebook_id)
                spec = NotebookSpec(id=notebook_id, org_id=org, name=notebook_id,
                                    instance_type="", cluster_id=cluster_id)
                try:
                    await self.stop(spec, {})
                except Exception:
                    self.log.exception("cannot remove notebook %s", notebook_id)
                    continue
                swept.append(notebook_id)
        return swept


async def find_tagged_notebooks(aws: AwsSession, plane_id: str) -> dict[str, str | None]:
    """Notebook ids (and their cluster) of what this control plane tagged in the account:
    instances, security groups and roles (the role goes last, so it alone suffices)."""
    flt = [{"Name": f"tag:{TAG_PLANE}", "Values": [plane_id]},
           {"Name": "tag-key", "Values": [TAG_NOTEBOOK_AWS]}]
    found: dict[str, str | None] = {}

    def take(tags: list[dict[str, str]] | None) -> None:
        t = {x["Key"]: x["Value"] for x in tags or []}
        if t.get(TAG_NOTEBOOK_AWS) and t.get(TAG_PLANE) == plane_id:
            found.setdefault(t[TAG_NOTEBOOK_AWS], t.get(TAG_ATTACHED))

    async def roles() -> None:
        out = await aws.call("iam", "list_roles", PathPrefix=IAM_PATH)
        for role in out.get("Roles", []):
            tags = await aws.call("iam", "list_role_tags", RoleName=role["RoleName"])
            take(tags.get("Tags"))

    insts, groups, _ = await asyncio.gather(
        aws.call("ec2", "describe_instances", Filters=flt),
        aws.call("ec2", "describe_security_groups", Filters=flt), roles())
    for r in insts.get("Reservations", []):
        for i in r["Instances"]:
            if i["State"]["Name"] != "terminated":
                take(i.get("Tags"))
    for g in groups.get("SecurityGroups", []):
        take(g.get("Tags"))
    return found
