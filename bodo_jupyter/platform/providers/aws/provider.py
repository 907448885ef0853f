"""The AWS provider: EFA clusters of EC2 instances in the user's own account.

Provisioning walks the resource graph of plan.GRAPH with every independent
node in parallel; each node is idempotent (see resources.py), so a resumed
task converges without duplicating anything. Teardown scans the account by
tag and name, adds what was recorded, and deletes it all in reverse
dependency order. The reconciler (``sweep_orphans``) does the same for
clusters that exist in AWS but no longer in the control plane.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from traitlets import Dict, Float, Integer, List, TraitError, Unicode, default, validate

from bodo_jupyter.contract.models import EventState, StepName

from ...errors import BadRequest, ProvisionError
from ...identity import Identity
from ...progress import Step, TaskOps
from .. import bodo_versions
from ..base import ClusterProvider, ClusterSpec, InstanceType
from .accounts import AwsAccounts
from .clients import CALL_LOG, NODE, Audit, AwsCredentials, AwsSession, CallLog
from .dag import run_graph
from .image_grant import GrantImage
from .plan import TAG_CLUSTER, TAG_PLANE, ClusterPlan, Inventory, Node, depth, nodes_for
from .resources import Builder, scan_inventory

DEFAULT_TYPES = ["c5.*", "c5n.*", "c6i.*", "c6in.*", "c7i.*", "m5.*", "m6i.*", "m7i.*",
                 "r5.*", "r6i.*", "r7i.*", "hpc6a.*", "hpc6id.*", "hpc7a.*"]


class AWSProvider(ClusterProvider):
    """EC2 clusters (EFA, placement group, EFS) in the organisation's AWS account."""

    name = "aws"
    display_name = "Your AWS account (EC2, EFA)"

    max_instances = Integer(64, config=True, help="Largest number of instances per cluster.")
    ami_ids = Dict(
        Unicode(), config=True,
        help="The platform's machine image per region, e.g. {'us-east-1': 'ami-0123...'}. "
        "Users' accounts are granted launch permission on it.",
    )
    allowed_instance_types = List(
        Unicode(), DEFAULT_TYPES, config=True,
        help="Instance types offered (wildcards as in DescribeInstanceTypes filters).",
    )
    instance_types_ttl = Float(3600.0, config=True,
                               help="Seconds the instance-type list of a region is cached.")
    node_python = Unicode("/opt/bodo/bin/python", config=True,
                          help="Python of the machine image (runs controller and engines).")
    node_mpiexec = Unicode(
        "", config=True,
        help="mpiexec of the machine image (MPICH's hydra; default: the one beside "
        "node_python, the mpich wheel's).",
    )
    bodo_versions_offered = List(
        Unicode(), config=True,
        help="""Bodo versions AWS clusters may run (the create form offers them; the
        newest is the default). A node whose image carries another installs the
        cluster's with pip at boot. Default: the version bodo-jupyter's `bodo` extra
        pins.""",
    )

    @default("bodo_versions_offered")
    def _default_bodo_versions(self) -> list[str]:
        v = bodo_versions.pinned()
        return [v] if v else []

    @validate("bodo_versions_offered")
    def _valid_bodo_versions(self, proposal: Any) -> list[str]:
        for v in proposal["value"]:
            try:
                bodo_versions.parse(v)
            except ValueError as e:
                raise TraitError(f"AWSProvider.bodo_versions_offered: {e}") from None
        return list(proposal["value"])

    ssh_ingress_cidrs = List(
        Unicode(), config=True,
        help="Address ranges allowed to reach the nodes on SSH (default: none; use SSM).",
    )
    poll_interval = Float(2.0, config=True, help="Seconds between checks while waiting on AWS.")
    wait_timeout = Float(900.0, config=True,
                         help="Seconds to wait for one resource (NAT gateway, EFS, ...).")
    bootstrap_timeout = Float(1800.0, config=True,
                              help="Seconds for the nodes to boot and start their engines.")
    max_attempts = Integer(10, config=True,
                           help="Attempts per AWS call on throttling and 5xx (with backoff).")
    audit_log = Unicode(
        "", config=True,
        help="File to append one JSON line per AWS call to (service, operation, IAM "
        "actions; never parameters).",
    )
    platform_profile = Unicode(
        "", config=True,
        help="AWS profile of the platform's own account (owner of the image). Default: "
        "the standard credential chain of the control plane's host.",
    )
    health_check_interval = Float(
        60.0, config=True, help="Seconds between checks of a running cluster's instances.")

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.accounts: AwsAccounts | None = None  # set in attach()
        self._sessions: dict[str, AwsSession] = {}
        self._types: dict[str, tuple[float, list[InstanceType]]] = {}
        self._checked: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()
        self.audit = Audit(self.audit_log) if self.audit_log else None

    def attach(self, host: Any) -> None:
        """Use the control plane's credential store (the organisations' keys), and grant
        the platform's image to accounts when keys are saved."""
        self.accounts = host.aws_accounts
        self.accounts.audit = self.audit
        self.accounts.on_change = self.forget_session
        self.accounts.grants_image = True
        host.engine.register(GrantImage(store=host.store, engine=host.engine, images=self))

    # -- sessions ----------------------------------------------------------------------

    def creds(self, org_id: str, *, require_ready: bool = True) -> AwsCredentials:
        if self.accounts is None:
            raise ProvisionError("the AWS provider is not wired to the credential store")
        return self.accounts.credentials(org_id, require_ready=require_ready)

    def session(self, org_id: str, creds: AwsCredentials | None = None) -> AwsSession:
        creds = creds or self.creds(org_id, require_ready=False)
        key = f"{org_id}|{creds.access_key_id}|{creds.region}"
        with self._lock:
            s = self._sessions.get(key)
            if s is None:
                s = AwsSession(creds, max_attempts=self.max_attempts, audit=self.audit,
                               org=org_id)
                self._sessions[key] = s
            return s

    def forget_session(self, org_id: str) -> None:
        with self._lock:
            for k in [k for k in self._sessions if k.startswith(f"{org_id}|")]:
                del self._sessions[k]
            self._types.clear()

    def platform_client(self, service: str, region: str) -> Any:
        session = boto3.session.Session(profile_name=self.platform_profile or None)
        return session.client(service, region_name=region,
                              config=Config(retries={"mode": "standard", "max_attempts": 5}))

    # -- shapes ------------------------------------------------------------------------

    async def instance_types(self, identity: Identity) -> list[InstanceType]:
        creds = self.creds(identity.org_id, require_ready=False)
        cached = self._types.get(creds.region)
        if cached and time.monotonic() - cached[0] < self.instance_types_ttl:
            return cached[1]
        aws = self.session(identity.org_id, creds)
        types: list[InstanceType] = []
        token = None
        while True:
            kw: dict[str, Any] = {"Filters": [{"Name": "instance-type",
                                               "Values": list(self.allowed_instance_types)}],
                                  "MaxResults": 100}
            if token:
                kw["NextToken"] = token
            try:
                page = await aws.call("ec2", "describe_instance_types", on_create=False, **kw)
            except BadRequest as e:
                raise BadRequest(f"cannot list instance types with your AWS credentials: "
                                 f"{e.message}", field="provider", code=e.code) from None
            for t in page.get("InstanceTypes", []):
                v, net = t.get("VCpuInfo", {}), t.get("NetworkInfo", {})
                types.append(InstanceType(
                    name=t["InstanceType"], cores=int(v.get("DefaultCores") or
                                                      v.get("DefaultVCpus", 1)),
                    vcpus=int(v.get("DefaultVCpus", 1)),
                    memory_gib=round(t.get("MemoryInfo", {}).get("SizeInMiB", 0) / 1024, 1),
                    efa=bool(net.get("EfaSupported")),
                    description=f"{net.get('NetworkPerformance', '')}".strip()))
            token = page.get("NextToken")
            if not token:
                break
        types.sort(key=lambda t: (t.name.split(".")[0], t.cores, t.name))
        self._types[creds.region] = (time.monotonic(), types)
        return types

    def bodo_versions(self) -> list[str]:
        return bodo_versions.newest_first(self.bodo_versions_offered)

    async def check_ready(self, identity: Identity) -> None:
        self.creds(identity.org_id, require_ready=True)
        if not self.ami_ids.get(self.creds(identity.org_id).region):
            raise BadRequest(f"the platform has no machine image for "
                             f"{self.creds(identity.org_id).region}; ask your admin to set "
                             "AWSProvider.ami_ids", field="provider")

    # -- planning ----------------------------------------------------------------------

    def plan(self, spec: ClusterSpec, creds: AwsCredentials) -> ClusterPlan:
        region = spec.details.get("region") or creds.region
        ami = self.ami_ids.get(region, "")
        return ClusterPlan(
            cluster_id=spec.id, org_id=spec.org_id, name=spec.name,
            account_id=spec.details.get("account_id") or creds.account_id, region=region,
            instance_type=spec.instance_type.name, instances=spec.instances,
            cores_per_instance=spec.instance_type.cores, efa=spec.efa, ami_id=ami,
            plane_id=self.plane_id, ingress_cidrs=tuple(self.ssh_ingress_cidrs),
            bodo_version=spec.bodo_version)

    def create_steps(self, spec: ClusterSpec) -> list[Step]:
        return [Step(n.name, n.title) for n in nodes_for(spec.efa)]

    def delete_steps(self, spec: ClusterSpec) -> list[Step]:
        return [Step(StepName.SCAN, "Finding every resource tagged with the cluster"),
                *[Step(n.name, f"Removing: {n.title}") for n in reversed(nodes_for(spec.efa))]]

    def region(self, spec: ClusterSpec) -> str | None:
        return spec.details.get("region")

    # -- provision ---------------------------------------------------------------------

    def _inventory(self, ops: TaskOps) -> Inventory:
        inv = Inventory()
        for r in ops.resources():
            inv.add(r.kind, r.ref)
        return inv

    def _builder(self, aws: AwsSession, plan: ClusterPlan, inv: Inventory, ops: TaskOps,
                 resumed: bool) -> Builder:
        def record(kind: str, ref: str, data: dict[str, Any]) -> None:
            if ref not in [r.ref for r in ops.resources(kind)]:
                ops.record_resource(self.name, kind, ref,
                                    {**data, "region": plan.region, "account": plan.account_id})

        def emit(node: str, message: str) -> None:
            ops.event(node, "progress", message, 0.5)

        return Builder(aws, plan, inventory=inv, record=record, emit=emit, resumed=resumed,
                       poll=self.poll_interval, wait_timeout=self.wait_timeout,
                       bootstrap_timeout=self.bootstrap_timeout, node_python=self.node_python,
                       node_mpiexec=self.node_mpiexec)

    async def provision(self, spec: ClusterSpec, ops: TaskOps) -> dict[str, Any]:
        creds = self.creds(spec.org_id)
        plan = self.plan(spec, creds)
        if not plan.ami_id:
            raise ProvisionError(f"no machine image is configured for {plan.region} "
                                 "(AWSProvider.ami_ids)")
        aws = self.session(spec.org_id, creds)
        inv = self._inventory(ops)
        resumed = ops.attempt > 1 or bool(inv.items)
        builder = self._builder(aws, plan, inv, ops, resumed)
        nodes = nodes_for(spec.efa)

        def event(node: str, state: str, message: str) -> None:
            ops.event(node, state, message, 1.0 if state == "done" else 0.0)

        log = CallLog()
        CALL_LOG.set(log)

        async def run(node: Node) -> None:
            ops.check_cancelled()
            NODE.set(node.name)
            await builder.creator(node.name)()

        await run_graph(nodes, run, event=event)
        trips = critical_round_trips(nodes, log)
        ops.info(f"{len(log.calls)} AWS calls; {trips} round trips one after the other on "
                 f"the critical path (the resource graph is {depth(nodes)} deep)")
        return {"region": plan.region, "account_id": plan.account_id,
                "vpc": inv.first("vpc"), "instances": inv.get("instance"),
                "bucket": plan.bucket, "table": plan.table, "efs": inv.first("efs"),
                "aws_calls": len(log.calls), "round_trips": trips}

    # -- teardown ----------------------------------------------------------------------

    async def teardown(self, spec: ClusterSpec, ops: TaskOps, *,
                       keep_logs: bool = False) -> None:
        records = ops.resources()
        region = next((r.data.get("region") for r in records if r.data.get("region")), None)
        account = next((r.data.get("account") for r in records if r.data.get("account")), None)
        creds = self.creds(spec.org_id, require_ready=False)
        if region:
            spec.details = {**spec.details, "region": region, "account_id": account}
        plan = self.plan(spec, creds)
        aws = self.session(spec.org_id, creds)
        inv = self._inventory(ops)
        ops.event(StepName.SCAN, EventState.STARTED,
                  "Finding every resource tagged with the cluster")
        await scan_inventory(aws, plan, inv)
        found = sum(len(v) for v in inv.items.values())
        ops.event(StepName.SCAN, EventState.DONE, f"{found} resources found")
        builder = self._builder(aws, plan, inv, ops, resumed=True)

        def event(node: str, state: str, message: str) -> None:
            ops.event(node, state, message if state != "started" else f"Removing {message}",
                      1.0 if state == "done" else 0.0)

        async def run(node: Node) -> None:
            await builder.deleter(node.name)()
            for r in ops.resources():
                if r.kind == node.name or (node.name == "instances" and r.kind == "instance"):
                    ops.forget_resource(r.id)

        await run_graph(nodes_for(True), run, event=event, reverse=True)
        for r in ops.resources():  # anything recorded under a kind the graph no longer has
            ops.forget_resource(r.id)

    # -- running clusters ----------------------------------------------------------------

    async def connection_info(self, spec: ClusterSpec) -> dict[str, Any]:
        creds = self.creds(spec.org_id, require_ready=False)
        plan = self.plan(spec, creds)
        aws = self.session(spec.org_id, creds)
        obj = await aws.call("s3", "get_object", on_create=False, Bucket=plan.bucket,
                             Key="ipyparallel/client.json")
        body = await asyncio.to_thread(obj["Body"].read)
        return json.loads(body)  # type: ignore[no-any-return]

    async def check(self, spec: ClusterSpec) -> str | None:
        last = self._checked.get(spec.id)
        if last and time.monotonic() - last[0] < self.health_check_interval:
            return last[1]
        ids = [r.ref for r in spec.resources if r.kind == "instance"]
        reason = None
        if ids:
            try:
                aws = self.session(spec.org_id)
                d = await aws.raw("ec2", "describe_instances", InstanceIds=ids)
                down = [i for r in d["Reservations"] for i in r["Instances"]
                        if i["State"]["Name"] not in ("running", "pending")]
                if down:
                    reason = (f"instance {down[0]['InstanceId']} is "
                              f"{down[0]['State']['Name']}")
            except (ClientError, BadRequest):
                reason = None  # cannot tell now (credentials changed, AWS down)
        self._checked[spec.id] = (time.monotonic(), reason)
        return reason

    async def sweep_orphans(self, is_live: Callable[[str], bool]) -> list[str]:
        """Delete what this control plane made in AWS for clusters it no longer has."""
        if self.accounts is None:
            return []
        swept = []
        for org in self.accounts.ready_orgs():
            try:
                creds = self.creds(org)
                aws = self.session(org, creds)
                found = await find_tagged_clusters(aws, self.plane_id)
            except Exception:
                self.log.exception("cannot scan AWS for orphans of organisation %s", org)
                continue
            for cluster_id, efa in found.items():
                if is_live(cluster_id):
                    continue
                self.log.warning("removing AWS resources of unknown cluster %s", cluster_id)
                await self.remove_cluster(aws, creds, org, cluster_id, efa)
                swept.append(cluster_id)
        return swept

    async def remove_cluster(self, aws: AwsSession, creds: AwsCredentials, org_id: str,
                             cluster_id: str, efa: bool = True) -> None:
        """Teardown without records: by tags and names alone."""
        spec = ClusterSpec(cluster_id, org_id, cluster_id,
                           InstanceType("?", 1, 1, 0), 1, efa)
        plan = self.plan(spec, creds)
        inv = await scan_inventory(aws, plan, Inventory())
        builder = Builder(aws, plan, inventory=inv, record=lambda *a: None,
                          emit=lambda *a: None, resumed=True, poll=self.poll_interval,
                          wait_timeout=self.wait_timeout)

        async def run(node: Node) -> None:
            await builder.deleter(node.name)()

        await run_graph(nodes_for(True), run, event=lambda *a: None, reverse=True)


def critical_round_trips(nodes: list[Node], log: CallLog) -> int:
    """Round trips that had to happen one after the other: along the graph, each node
    adds the calls it made in sequence (a resumed create counts only what it did)."""
    by_name = {n.name: n for n in nodes}
    memo: dict[str, int] = {}

    def trips(name: str) -> int:
        if name not in memo:
            memo[name] = log.rounds(name) + max((trips(d) for d in by_name[name].deps),
                                                default=0)
        return memo[name]

    return max((trips(n.name) for n in nodes), default=0)


async def find_tagged_clusters(aws: AwsSession, plane_id: str) -> dict[str, bool]:
    """Cluster ids (and whether EFA) of resources this control plane tagged in the account."""
    flt = [{"Name": f"tag:{TAG_PLANE}", "Values": [plane_id]}]
    found: dict[str, bool] = {}

    def take(tags: list[dict[str, str]]) -> None:
        t = {x["Key"]: x["Value"] for x in tags or []}
        if TAG_CLUSTER in t:
            found.setdefault(t[TAG_CLUSTER], True)

    async def roles() -> None:
        out = await aws.call("iam", "list_roles", PathPrefix="/bodo/")
        for role in out.get("Roles", []):
            tags = await aws.call("iam", "list_role_tags", RoleName=role["RoleName"])
            if {"Key": TAG_PLANE, "Value": plane_id} in tags.get("Tags", []):
                take(tags["Tags"])

    async def tables() -> None:
        out = await aws.call("dynamodb", "list_tables")
        for name in out.get("TableNames", []):
            if name.startswith("bodo-c-"):
                arn = (await aws.call("dynamodb", "describe_table",
                                      TableName=name))["Table"]["TableArn"]
                tags = await aws.call("dynamodb", "list_tags_of_resource", ResourceArn=arn)
                if {"Key": TAG_PLANE, "Value": plane_id} in tags.get("Tags", []):
                    take(tags["Tags"])

    async def file_systems() -> None:
        out = await aws.call("efs", "describe_file_systems")
        for fs in out.get("FileSystems", []):
            if {"Key": TAG_PLANE, "Value": plane_id} in fs.get("Tags", []):
                take(fs["Tags"])

    async def buckets() -> None:
        out = await aws.call("s3", "list_buckets")
        for b in out.get("Buckets", []):
            if not b["Name"].startswith("bodo-c-"):
                continue
            try:
                tags = await aws.raw("s3", "get_bucket_tagging", Bucket=b["Name"])
            except ClientError:
                continue  # no tags: not ours
            if {"Key": TAG_PLANE, "Value": plane_id} in tags.get("TagSet", []):
                take(tags["TagSet"])

    vpcs, insts, addrs, nats, *_ = await asyncio.gather(
        aws.call("ec2", "describe_vpcs", Filters=flt),
        aws.call("ec2", "describe_instances", Filters=flt),
        aws.call("ec2", "describe_addresses", Filters=flt),
        aws.call("ec2", "describe_nat_gateways", Filter=flt),
        roles(), tables(), file_systems(), buckets(),
    )
    for v in vpcs.get("Vpcs", []):
        take(v.get("Tags", []))
    for r in insts.get("Reservations", []):
        for i in r["Instances"]:
            if i["State"]["Name"] != "terminated":
                take(i.get("Tags", []))
    for a in addrs.get("Addresses", []):
        take(a.get("Tags", []))
    for n in nats.get("NatGateways", []):
        if n.get("State") != "deleted":
            take(n.get("Tags", []))
    return found
