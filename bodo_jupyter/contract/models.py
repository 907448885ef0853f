# GENERATED from bodo_jupyter/contract/openapi.yaml; do not edit.
# Change openapi.yaml (or runtime.py), then run `python -m bodo_jupyter.contract.codegen`.
"""The API's types, one class per schema of openapi.yaml.

Enums are ``StrEnum``s; objects are dataclasses whose fields carry their schema.
``Model.parse`` (strict), ``Model.from_dict`` (lenient), ``model.to_dict()`` and
``Model.field_info(name)`` are explained in runtime.py.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .runtime import Model, Schema, TaskStatusExtras, meta


class ClusterStatus(enum.StrEnum):
    """`NEW`: recorded, waiting to start; `INPROGRESS`: being created; `RUNNING`: ready to attach;
    `FAILED`: creation failed, the cluster died or a delete failed (see `status_message`; delete
    it to clean up); `STOPPING`: being deleted; `TERMINATED`: deleted.
    """

    NEW = "NEW"
    INPROGRESS = "INPROGRESS"
    RUNNING = "RUNNING"
    FAILED = "FAILED"
    STOPPING = "STOPPING"
    TERMINATED = "TERMINATED"


class TaskStatus(TaskStatusExtras, enum.StrEnum):
    """`NEW`: waiting to run; `INPROGRESS`: running; `FINISHED`: done; `FAILED`: failed and rolled
    back (see `error`); `CANCELLED`: cancelled and rolled back.
    """

    NEW = "NEW"
    INPROGRESS = "INPROGRESS"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class TaskKind(enum.StrEnum):
    """What the task does (`job.run` is one run of a job; `notebook.create` and `notebook.delete`
    start and stop a notebook; `aws.grant-image` grants your AWS account launch permission on the
    platform's machine image after `PUT /aws/credentials`).
    """

    CLUSTER_CREATE = "cluster.create"
    CLUSTER_DELETE = "cluster.delete"
    JOB_RUN = "job.run"
    AWS_GRANT_IMAGE = "aws.grant-image"
    NOTEBOOK_CREATE = "notebook.create"
    NOTEBOOK_DELETE = "notebook.delete"


class HolderKind(enum.StrEnum):
    """What can hold a cluster: one run of a job (`job_run`) or a notebook attached to the cluster
    (`notebook`).
    """

    JOB_RUN = "job_run"
    NOTEBOOK = "notebook"


class StepState(enum.StrEnum):
    """Where a step of a task got to: `pending` (not started yet), `started`, `done` or `failed`."""

    PENDING = "pending"
    STARTED = "started"
    DONE = "done"
    FAILED = "failed"


class EventState(enum.StrEnum):
    """`started`, `progress`, `done`, `failed` or `info` for steps; the `end` event has the task's
    final status in lowercase (`finished`, `failed` or `cancelled`).
    """

    STARTED = "started"
    PROGRESS = "progress"
    DONE = "done"
    FAILED = "failed"
    INFO = "info"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class StepName(enum.StrEnum):
    """The step names the built-in tasks and providers use (Step `name`, TaskEvent `step`); a
    provider may add others, so treat an unknown name as a plain step. `provision` and
    `teardown`: the default steps of a provider's create and delete. Local clusters: `prepare`,
    `launch`, `register` and `verify` to create, `stop-engines`, `stop-controller` and `cleanup`
    to delete. AWS clusters: one step per resource of the cluster's resource graph (`zone` ...
    `bootstrap`), created in dependency order, and deleted in reverse after `scan`. `job.run`:
    `wait-cluster` or `create-cluster`, `fetch`, `run`, then `delete-cluster` for a cluster made
    for the run. `aws.grant-image`: `image`, `grant`, `verify`. `notebook.create`:
    `request-node`, `node-running`, `readiness-probe`, then `attach-cluster` for a notebook with
    a cluster; `notebook.delete`: `stop-node`, `release-cluster`. Events of the task engine
    itself: `rollback`, `recover` (resumed after a restart), `shutdown` (the control plane
    stopped), `info` (a message outside any step) and `end` (the task's last event).
    """

    PROVISION = "provision"
    TEARDOWN = "teardown"
    PREPARE = "prepare"
    LAUNCH = "launch"
    REGISTER = "register"
    VERIFY = "verify"
    STOP_ENGINES = "stop-engines"
    STOP_CONTROLLER = "stop-controller"
    CLEANUP = "cleanup"
    SCAN = "scan"
    ZONE = "zone"
    VPC = "vpc"
    KMS_KEY = "kms-key"
    NODE_ROLE = "node-role"
    STATE_BUCKET = "state-bucket"
    STATE_TABLE = "state-table"
    ELASTIC_IP = "elastic-ip"
    EFS = "efs"
    PLACEMENT_GROUP = "placement-group"
    KMS_ALIAS = "kms-alias"
    ROLE_SSM = "role-ssm"
    BUCKET_SETTINGS = "bucket-settings"
    VPC_DNS = "vpc-dns"
    PUBLIC_SUBNET = "public-subnet"
    PRIVATE_SUBNET = "private-subnet"
    INTERNET_GATEWAY = "internet-gateway"
    SECURITY_GROUP = "security-group"
    SG_RULES = "sg-rules"
    INSTANCE_PROFILE = "instance-profile"
    NODE_POLICY = "node-policy"
    KEY_PAIR = "key-pair"
    NAT_GATEWAY = "nat-gateway"
    PUBLIC_ROUTES = "public-routes"
    MOUNT_TARGET = "mount-target"
    PRIVATE_ROUTES = "private-routes"
    INSTANCES = "instances"
    BOOTSTRAP = "bootstrap"
    WAIT_CLUSTER = "wait-cluster"
    CREATE_CLUSTER = "create-cluster"
    FETCH = "fetch"
    RUN = "run"
    DELETE_CLUSTER = "delete-cluster"
    IMAGE = "image"
    GRANT = "grant"
    REQUEST_NODE = "request-node"
    NODE_RUNNING = "node-running"
    READINESS_PROBE = "readiness-probe"
    ATTACH_CLUSTER = "attach-cluster"
    STOP_NODE = "stop-node"
    RELEASE_CLUSTER = "release-cluster"
    ROLLBACK = "rollback"
    RECOVER = "recover"
    SHUTDOWN = "shutdown"
    INFO = "info"
    END = "end"


class JobRunStatus(enum.StrEnum):
    """`NEW`: waiting to start; `INPROGRESS`: getting its cluster, fetching the source or running
    (see `phase`); `FINISHED`: the command exited with code 0; `FAILED`: see `reason`;
    `CANCELLED`: cancelled by a user or because the job was deleted.
    """

    NEW = "NEW"
    INPROGRESS = "INPROGRESS"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class JobRunPhase(enum.StrEnum):
    """Where a run is: `queued-slot` (waiting for another run of the job, see
    `max_concurrent_runs`), `queued` (waiting for a busy cluster), `creating-cluster`,
    `fetching`, `running`, `ran` (the command exited; cleaning up) or `done`.
    """

    QUEUED_SLOT = "queued-slot"
    QUEUED = "queued"
    CREATING_CLUSTER = "creating-cluster"
    FETCHING = "fetching"
    RUNNING = "running"
    RAN = "ran"
    DONE = "done"


class ScheduleType(enum.StrEnum):
    """When a job runs: `now` (once, at once), `at` (once, at a given time) or `cron` (whenever a
    cron expression fires).
    """

    NOW = "now"
    AT = "at"
    CRON = "cron"


class SourceType(enum.StrEnum):
    """Where a job's code comes from: `git` (a Git repository over https) or `s3` (an S3 prefix)."""

    GIT = "git"
    S3 = "s3"


class JobTrigger(enum.StrEnum):
    """What started the run: creating a job scheduled `now`, its `at` time, its `cron` schedule, or
    `POST /jobs/{ref}/runs` (`manual`).
    """

    NOW = "now"
    AT = "at"
    CRON = "cron"
    MANUAL = "manual"


class AwsAccountStatus(enum.StrEnum):
    """`INPROGRESS`: the keys are stored and the `aws.grant-image` task is granting launch
    permission on the platform's image; `READY`: AWS clusters can be created; `FAILED`: the grant
    failed (see `status_message`); set the credentials again.
    """

    INPROGRESS = "INPROGRESS"
    READY = "READY"
    FAILED = "FAILED"


class NotebookStatus(enum.StrEnum):
    """`NEW`: recorded, waiting to start; `INPROGRESS`: its node and server are being started;
    `RUNNING`: ready to open; `FAILED`: creation failed, its server died or a delete failed (see
    `status_message`; delete it to clean up); `STOPPING`: being deleted; `TERMINATED`: deleted.
    """

    NEW = "NEW"
    INPROGRESS = "INPROGRESS"
    RUNNING = "RUNNING"
    FAILED = "FAILED"
    STOPPING = "STOPPING"
    TERMINATED = "TERMINATED"


class ErrorCode(enum.StrEnum):
    """Stable machine-readable code of an error. Besides the generic ones, AWS problems have their
    own: `aws_denied` (the keys lack a permission of the platform policy), `aws_credentials` (AWS
    rejected the keys), `aws_no_credentials` (no AWS account is linked: `PUT /aws/credentials`),
    `aws_capacity` (AWS has no capacity for the instance type), `aws_limit` (an account quota was
    reached), `aws_throttled` (still throttled after retries), `aws_unreachable` (AWS could not
    be reached), `aws_error` (any other AWS error); `secret_unreadable` means a stored secret
    cannot be decrypted with the control plane's key; `single_organization` (403) that the local
    provider serves one organisation only, because the control plane does not run as root and
    cannot give organisations OS users of their own; `payload_too_large` (413) a request body
    over `Limits.max_body_bytes`; `too_many_requests` (429, with `Retry-After`) a job at
    `Limits.max_runs_per_job_per_day`.
    """

    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    UNAVAILABLE = "unavailable"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PROVISION_FAILED = "provision_failed"
    SOURCE_FETCH_FAILED = "source_fetch_failed"
    HTTP_ERROR = "http_error"
    INTERNAL = "internal"
    AWS_DENIED = "aws_denied"
    AWS_CREDENTIALS = "aws_credentials"
    AWS_CAPACITY = "aws_capacity"
    AWS_LIMIT = "aws_limit"
    AWS_THROTTLED = "aws_throttled"
    AWS_ERROR = "aws_error"
    AWS_UNREACHABLE = "aws_unreachable"
    AWS_NO_CREDENTIALS = "aws_no_credentials"
    SECRET_UNREADABLE = "secret_unreadable"
    SINGLE_ORGANIZATION = "single_organization"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    TOO_MANY_REQUESTS = "too_many_requests"


@dataclass(kw_only=True)
class InfoUser(Model, closed=True):
    """The calling user."""

    id: str = field(metadata=meta(required=True, type="string"))
    name: str = field(metadata=meta(required=True, type="string"))


@dataclass(kw_only=True)
class InfoOrganization(Model, closed=True):
    """The caller's organisation; every cluster and task belongs to one."""

    id: str = field(metadata=meta(required=True, type="string"))
    name: str = field(metadata=meta(required=True, type="string"))


@dataclass(kw_only=True)
class Provider(Model, closed=True):
    """A place clusters can run (this machine, a cloud account)."""

    name: str = field(metadata=meta(
        required=True, type="string", description="Name to pass as `provider`, e.g. `local`."))
    display_name: str = field(metadata=meta(
        required=True, type="string", description="Name to show people."))
    max_instances: int = field(metadata=meta(
        required=True, type="integer", minimum=1,
        description="Largest `instances` a cluster of this provider may have."))


@dataclass(kw_only=True)
class Info(Model, closed=True):
    """The control plane, and who is calling it."""

    version: str = field(metadata=meta(
        required=True, type="string",
        description="Version of the bodo-jupyter package serving the API."))
    user: InfoUser = field(metadata=meta(
        required=True, ref=InfoUser, description="The calling user."))
    organization: InfoOrganization = field(metadata=meta(
        required=True, ref=InfoOrganization,
        description="The caller's organisation; every cluster and task belongs to one."))
    providers: list[Provider] = field(metadata=meta(
        required=True, type="array", items=Schema(ref=Provider),
        description="Enabled cluster providers."))
    default_provider: str = field(metadata=meta(
        required=True, type="string", description="Provider used when a request names none."))


@dataclass(kw_only=True)
class InstanceType(Model, closed=True):
    """A node shape offered by a provider."""

    name: str = field(metadata=meta(
        required=True, type="string",
        description="Name to pass as `instance_type`, e.g. `local.medium`."))
    cores: int = field(metadata=meta(
        required=True, type="integer", minimum=1, description="MPI ranks (engines) per instance."))
    vcpus: int = field(metadata=meta(
        required=True, type="integer", minimum=1, description="Virtual CPUs per instance."))
    memory_gib: float = field(metadata=meta(
        required=True, type="number", minimum=0,
        description="Memory per instance in GiB (informative for local clusters)."))
    efa: bool = field(metadata=meta(
        required=True, type="boolean",
        description="Whether the type supports Elastic Fabric Adapter networking."))
    description: str = field(metadata=meta(
        required=True, type="string", description="One line for people."))
    provider: str = field(metadata=meta(
        required=True, type="string", description="The provider offering this type."))


@dataclass(kw_only=True)
class InstanceTypeList(Model, closed=True):
    """The instance types of one provider."""

    items: list[InstanceType] = field(metadata=meta(
        required=True, type="array", items=Schema(ref=InstanceType),
        description="The provider's instance types (local ones are listed fewest cores first)."))


@dataclass(kw_only=True)
class BodoVersion(Model, closed=True):
    """A Bodo version a provider's clusters may run."""

    version: str = field(metadata=meta(
        required=True, type="string",
        description="Version to pass as `bodo_version`, e.g. `2026.10`."))
    default: bool = field(metadata=meta(
        required=True, type="boolean",
        description="Whether a cluster created without `bodo_version` runs this one."))
    provider: str = field(metadata=meta(
        required=True, type="string", description="The provider offering it."))


@dataclass(kw_only=True)
class BodoVersionList(Model, closed=True):
    """The Bodo versions of one provider."""

    items: list[BodoVersion] = field(metadata=meta(
        required=True, type="array", items=Schema(ref=BodoVersion),
        description="Newest first; empty when the provider's clusters run without Bodo."))


@dataclass(kw_only=True)
class CreateClusterRequest(Model, closed=True):
    """What cluster to make. Unknown fields are rejected."""

    name: str = field(metadata=meta(
        required=True, type="string", min_length=1, max_length=63,
        pattern="^[a-z]([-a-z0-9]*[a-z0-9])?$",
        extensions={
            "x-pattern-message": (
                "1-63 characters: lowercase letters, digits and '-', starting with a letter and "
                "not ending with '-'")},
        description=(
            "Unique among your organisation's clusters that are not deleted: lowercase letters, "
            "digits and `-`, starting with a letter and not ending with `-`.")))
    provider: str | None = field(default=None, metadata=meta(
        type="string", pattern="^([^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?)?$",
        extensions={
            "x-pattern-message": (
                "text without control characters (newline, tab, NUL ...) and without spaces at "
                "either end")},
        description="Provider to use (default `default_provider` of `GET /`)."))
    instance_type: str = field(metadata=meta(
        required=True, type="string", max_length=64,
        pattern="^([^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?)?$",
        extensions={
            "x-pattern-message": (
                "text without control characters (newline, tab, NUL ...) and without spaces at "
                "either end")},
        description="A `name` from `GET /instance-types`."))
    instances: int = field(default=1, metadata=meta(
        type="integer", minimum=1, default=1,
        description="Number of instances, at most the provider's `max_instances`."))
    efa: bool = field(default=False, metadata=meta(
        type="boolean", default=False,
        description="Use Elastic Fabric Adapter networking (needs an EFA-capable type)."))
    bodo_version: str | None = field(default=None, metadata=meta(
        type="string", min_length=1, max_length=32, pattern="^[0-9][0-9A-Za-z.+!-]*$",
        extensions={
            "x-pattern-message": "a version such as 2026.10 (digits, letters, '.', '+', '!', '-')"},
        description=(
            "The Bodo version the cluster runs: a `version` from `GET /bodo-versions` (default: "
            "the provider's newest offered one).")))
    client_token: str | None = field(default=None, metadata=meta(
        type="string", max_length=64,
        pattern="^([^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?)?$",
        extensions={
            "x-pattern-message": (
                "text without control characters (newline, tab, NUL ...) and without spaces at "
                "either end")},
        description=(
            "Any unique string (such as a UUID) that makes retries safe: repeating a request "
            "with the same token returns the first result instead of creating a second cluster.")))


@dataclass(kw_only=True)
class ClusterLastTask(Model, closed=True):
    """The cluster's newest task (follow it to see what is happening to the cluster), or null."""

    id: str = field(metadata=meta(required=True, type="string", pattern="^t-[0-9a-f]+$"))
    kind: TaskKind = field(metadata=meta(required=True, ref=TaskKind))
    status: TaskStatus = field(metadata=meta(required=True, ref=TaskStatus))


@dataclass(kw_only=True)
class ClusterDedicatedTo(Model, closed=True):
    """The job run this cluster was made for, or null. Such a cluster is deleted when its run ends
    and cannot be used by anything else.
    """

    run_id: str = field(metadata=meta(
        required=True, type="string", pattern="^r-[0-9a-f]+$", description="The run's id."))
    job_id: str | None = field(metadata=meta(
        required=True, type="string", nullable=True, description="The run's job."))
    job_name: str | None = field(metadata=meta(
        required=True, type="string", nullable=True, description="That job's name."))


@dataclass(kw_only=True)
class ClusterHolder(Model, closed=True):
    """What holds a cluster."""

    kind: HolderKind = field(metadata=meta(required=True, ref=HolderKind))
    id: str = field(metadata=meta(
        required=True, type="string",
        description="Id of the holder (a run id `r-\u2026`, a notebook id)."))
    label: str = field(metadata=meta(
        required=True, type="string",
        description="The holder for people, e.g. `job 'etl' (run r-1a2b3c4d5e6f)`."))
    since: str | None = field(metadata=meta(
        required=True, type="string", nullable=True, format="date-time",
        description="When it took the cluster."))


@dataclass(kw_only=True)
class Cluster(Model, closed=True):
    """An MPI cluster."""

    id: str = field(metadata=meta(
        required=True, type="string", pattern="^c-[0-9a-f]+$",
        description="Cluster id, e.g. `c-5f2a9c81d3e0`."))
    name: str = field(metadata=meta(
        required=True, type="string", description="The cluster's name."))
    provider: str = field(metadata=meta(
        required=True, type="string",
        description="Provider running the cluster (`local`, `aws`, ...)."))
    instance_type: str = field(metadata=meta(
        required=True, type="string", description="Instance type of every instance."))
    instances: int = field(metadata=meta(
        required=True, type="integer", minimum=1, description="Number of instances."))
    cores_per_instance: int = field(metadata=meta(
        required=True, type="integer", minimum=1, description="MPI ranks per instance."))
    core_count: int = field(metadata=meta(
        required=True, type="integer", minimum=1,
        description="Total MPI ranks (`instances` \u00d7 `cores_per_instance`)."))
    efa: bool = field(metadata=meta(
        required=True, type="boolean", description="Whether EFA networking was requested."))
    bodo_version: str | None = field(metadata=meta(
        required=True, type="string", nullable=True,
        description=(
            "The Bodo version the cluster runs, or null when it runs without Bodo (a local "
            "provider without bodo installed).")))
    status: ClusterStatus = field(metadata=meta(required=True, ref=ClusterStatus))
    status_message: str = field(metadata=meta(
        required=True, type="string",
        description="Why the cluster is in its status (e.g. the reason it failed); may be empty."))
    created_by: str = field(metadata=meta(
        required=True, type="string", description="Id of the user who created it."))
    created_at: str = field(metadata=meta(
        required=True, type="string", format="date-time",
        description="UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`."))
    updated_at: str = field(metadata=meta(
        required=True, type="string", format="date-time",
        description="UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`."))
    ready_at: str | None = field(metadata=meta(
        required=True, type="string", nullable=True, format="date-time",
        description="When it last became `RUNNING`."))
    terminated_at: str | None = field(metadata=meta(
        required=True, type="string", nullable=True, format="date-time",
        description="When it was deleted."))
    last_task: ClusterLastTask | None = field(metadata=meta(
        required=True, ref=ClusterLastTask, nullable=True,
        description=(
            "The cluster's newest task (follow it to see what is happening to the cluster), or "
            "null.")))
    dedicated_to: ClusterDedicatedTo | None = field(metadata=meta(
        required=True, ref=ClusterDedicatedTo, nullable=True,
        description=(
            "The job run this cluster was made for, or null. Such a cluster is deleted when its "
            "run ends and cannot be used by anything else.")))
    holder: ClusterHolder | None = field(metadata=meta(
        required=True, ref=ClusterHolder, nullable=True,
        description=(
            "Who has the cluster now, or null when it is free. A cluster is held by at most one "
            "thing at a time: a job run while it fetches and runs (others wait in line), or a "
            "notebook attached to it. A held cluster is not given to a new job and cannot be "
            "deleted until its holder lets go.")))


@dataclass(kw_only=True)
class Step(Model, closed=True):
    """One planned step of a task."""

    name: str = field(metadata=meta(
        required=True, type="string",
        description=(
            "Step id, e.g. `launch`. The names the built-in tasks and providers use are listed "
            "in StepName; a provider may add steps of its own.")))
    title: str = field(metadata=meta(
        required=True, type="string", description="What the step does, for people."))
    state: StepState = field(metadata=meta(
        required=True, ref=StepState, description="Where the step got to."))
    message: str = field(metadata=meta(
        required=True, type="string",
        description="The step's latest message; empty while pending."))


@dataclass(kw_only=True)
class TaskEvent(Model, closed=True):
    """One thing that happened during a task."""

    seq: int = field(metadata=meta(
        required=True, type="integer", minimum=1,
        description="Position in the task's events, counting from 1."))
    time: str = field(metadata=meta(
        required=True, type="string", format="date-time",
        description="UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`."))
    step: str = field(metadata=meta(
        required=True, type="string",
        description=(
            "The step it belongs to: a name from `steps`, or `rollback`, `recover`, `shutdown`, "
            "`info` or `end` (the task's last event). Known names are listed in StepName; a "
            "provider may add steps of its own.")))
    state: EventState = field(metadata=meta(
        required=True, ref=EventState,
        description="What happened to the step; for the `end` event, how the task ended."))
    message: str = field(metadata=meta(
        required=True, type="string", description="What happened, for people."))
    progress: float = field(metadata=meta(
        required=True, type="number", minimum=0, maximum=1,
        description="Fraction done, from 0 to 1."))


@dataclass(kw_only=True)
class ChildTask(Model, closed=True):
    """A task started by another one, in brief; read it whole with its id."""

    id: str = field(metadata=meta(required=True, type="string", pattern="^t-[0-9a-f]+$"))
    kind: TaskKind = field(metadata=meta(required=True, ref=TaskKind))
    status: TaskStatus = field(metadata=meta(required=True, ref=TaskStatus))
    cluster_id: str | None = field(metadata=meta(required=True, type="string", nullable=True))
    progress: float = field(metadata=meta(
        required=True, type="number", minimum=0, maximum=1,
        description="Fraction done, from 0 to 1."))
    error: str | None = field(metadata=meta(required=True, type="string", nullable=True))


@dataclass(kw_only=True)
class Task(Model, closed=True):
    """A long-running action: creating or deleting a cluster, one run of a job, or readying an AWS
    account. Lists show the fields without `steps`, `last_seq` and `events`; the task returned by
    create and delete also has `steps` and `last_seq`; `GET /tasks/{task_id}` has all three (see
    TaskDetail).
    """

    id: str = field(metadata=meta(
        required=True, type="string", pattern="^t-[0-9a-f]+$",
        description="Task id, e.g. `t-0c1d2e3f4a5b`."))
    kind: TaskKind = field(metadata=meta(required=True, ref=TaskKind))
    status: TaskStatus = field(metadata=meta(required=True, ref=TaskStatus))
    cluster_id: str | None = field(metadata=meta(
        required=True, type="string", nullable=True,
        description=(
            "Id of the cluster it acts on or runs on; null for `aws.grant-image` and for a job "
            "run whose own cluster is not made yet.")))
    cluster_name: str | None = field(metadata=meta(
        required=True, type="string", nullable=True, description="Name of that cluster."))
    progress: float = field(metadata=meta(
        required=True, type="number", minimum=0, maximum=1,
        description="Fraction done, from 0 to 1."))
    error: str | None = field(metadata=meta(
        required=True, type="string", nullable=True,
        description="Why it failed or was cancelled; null otherwise."))
    attempts: int = field(metadata=meta(
        required=True, type="integer", minimum=0,
        description="Times it was started (more than 1 after a restart of the control plane)."))
    created_by: str = field(metadata=meta(
        required=True, type="string", description="Id of the user who started it."))
    created_at: str = field(metadata=meta(
        required=True, type="string", format="date-time",
        description="UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`."))
    started_at: str | None = field(metadata=meta(
        required=True, type="string", nullable=True, format="date-time",
        description="UTC time in ISO 8601, or null when it has not happened."))
    finished_at: str | None = field(metadata=meta(
        required=True, type="string", nullable=True, format="date-time",
        description="UTC time in ISO 8601, or null when it has not happened."))
    parent_id: str | None = field(metadata=meta(
        required=True, type="string", nullable=True,
        description=(
            "The task that started this one (a job run's `cluster.create` and `cluster.delete` "
            "of the cluster made for it), or null. Cancelling a task cancels its open children.")))
    steps: list[Step] | None = field(default=None, metadata=meta(
        type="array", items=Schema(ref=Step),
        description="The task's planned steps, in order, with where each got to."))
    last_seq: int | None = field(default=None, metadata=meta(
        type="integer", minimum=0,
        description=(
            "`seq` of the task's newest event (0 when none); pass it as `since` to get only "
            "later events.")))
    events: list[TaskEvent] | None = field(default=None, metadata=meta(
        type="array", items=Schema(ref=TaskEvent),
        description="Events after `since`, oldest first."))
    children: list[ChildTask] | None = field(default=None, metadata=meta(
        type="array", items=Schema(ref=ChildTask),
        description=(
            "Tasks this one started (see `parent_id`), oldest first; only in `GET "
            "/tasks/{task_id}`.")))


@dataclass(kw_only=True)
class ClusterAction(Model, closed=True):
    """A cluster and the task that was started for it."""

    cluster: Cluster = field(metadata=meta(required=True, ref=Cluster))
    task: Task = field(metadata=meta(required=True, ref=Task))


@dataclass(kw_only=True)
class ClusterPage(Model, closed=True):
    """One page of clusters, newest first."""

    items: list[Cluster] = field(metadata=meta(
        required=True, type="array", items=Schema(ref=Cluster)))
    next: str | None = field(metadata=meta(
        required=True, type="string", nullable=True,
        description="Pass as `cursor` for the next page; null on the last page."))


@dataclass(kw_only=True)
class TaskDetail(Task, closed=True):
    """A task with its steps and events."""

    steps: list[Step] = field(metadata=meta(
        required=True, type="array", items=Schema(ref=Step),
        description="The task's planned steps, in order, with where each got to."))
    last_seq: int = field(metadata=meta(
        required=True, type="integer", minimum=0,
        description=(
            "`seq` of the task's newest event (0 when none); pass it as `since` to get only "
            "later events.")))
    events: list[TaskEvent] = field(metadata=meta(
        required=True, type="array", items=Schema(ref=TaskEvent),
        description="Events after `since`, oldest first."))
    children: list[ChildTask] = field(metadata=meta(
        required=True, type="array", items=Schema(ref=ChildTask),
        description=(
            "Tasks this one started (see `parent_id`), oldest first; only in `GET "
            "/tasks/{task_id}`.")))


@dataclass(kw_only=True)
class TaskPage(Model, closed=True):
    """One page of tasks, newest first."""

    items: list[Task] = field(metadata=meta(required=True, type="array", items=Schema(ref=Task)))
    next: str | None = field(metadata=meta(
        required=True, type="string", nullable=True,
        description="Pass as `cursor` for the next page; null on the last page."))


@dataclass(kw_only=True)
class Connection(Model, closed=True):
    """How to attach to a running cluster."""

    cluster: str = field(metadata=meta(
        required=True, type="string", description="The cluster's name."))
    cluster_id: str = field(metadata=meta(
        required=True, type="string", description="The cluster's id."))
    core_count: int = field(metadata=meta(
        required=True, type="integer", minimum=1, description="MPI ranks (engines) to expect."))
    ipyparallel: dict[str, Any] = field(metadata=meta(
        required=True, type="object",
        description=(
            "Keyword arguments for `ipyparallel.Client` (the controller's client connection "
            "file). Secret: it holds the cluster's key.")))


@dataclass(kw_only=True)
class NewCluster(Model, closed=True):
    """A cluster made for each run of the job, and deleted when the run ends. Checked like `POST
    /clusters`. Unknown fields are rejected.
    """

    provider: str | None = field(default=None, metadata=meta(
        type="string", nullable=True,
        pattern="^([^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?)?$",
        extensions={
            "x-pattern-message": (
                "text without control characters (newline, tab, NUL ...) and without spaces at "
                "either end")},
        description="Provider to use (default `default_provider` of `GET /`)."))
    instance_type: str = field(metadata=meta(
        required=True, type="string", max_length=64,
        pattern="^([^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?)?$",
        extensions={
            "x-pattern-message": (
                "text without control characters (newline, tab, NUL ...) and without spaces at "
                "either end")},
        description="A `name` from `GET /instance-types`."))
    instances: int = field(default=1, metadata=meta(
        type="integer", minimum=1, default=1,
        description="Number of instances, at most the provider's `max_instances`."))
    efa: bool = field(default=False, metadata=meta(
        type="boolean", default=False,
        description="Use Elastic Fabric Adapter networking (needs an EFA-capable type)."))
    bodo_version: str | None = field(default=None, metadata=meta(
        type="string", min_length=1, max_length=32, pattern="^[0-9][0-9A-Za-z.+!-]*$",
        extensions={
            "x-pattern-message": "a version such as 2026.10 (digits, letters, '.', '+', '!', '-')"},
        description=(
            "The Bodo version each run's cluster runs: a `version` from `GET /bodo-versions` "
            "(default: the provider's newest offered one when the run starts).")))


@dataclass(kw_only=True)
class JobScheduleRequest(Model, closed=True):
    """When the job runs. `now`: once, at once; `at`: once, at `at`; `cron`: whenever `cron` fires,
    in `timezone`. Unknown fields are rejected.
    """

    type: ScheduleType = field(default=ScheduleType.NOW, metadata=meta(
        ref=ScheduleType, default=ScheduleType.NOW, description="The kind of schedule."))
    at: str | None = field(default=None, metadata=meta(
        type="string", max_length=64,
        pattern="^([^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?)?$",
        extensions={
            "x-pattern-message": (
                "text without control characters (newline, tab, NUL ...) and without spaces at "
                "either end")},
        description=(
            "For `at` (required there): an ISO 8601 date and time in the future, e.g. "
            "`2030-01-31T09:00:00+01:00`. Without a UTC offset it is read in `timezone`, which "
            "must then be given.")))
    cron: str | None = field(default=None, metadata=meta(
        type="string", max_length=128,
        pattern="^([^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?)?$",
        extensions={
            "x-pattern-message": (
                "text without control characters (newline, tab, NUL ...) and without spaces at "
                "either end")},
        description=(
            "For `cron` (required there): five fields (minute hour day-of-month month "
            "day-of-week), optionally a sixth for seconds.")))
    timezone: str | None = field(default=None, metadata=meta(
        type="string", nullable=True, max_length=64,
        pattern="^([^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?)?$",
        extensions={
            "x-pattern-message": (
                "text without control characters (newline, tab, NUL ...) and without spaces at "
                "either end")},
        description=(
            "IANA time zone the schedule is read in, e.g. `Europe/Paris`; a cron job keeps its "
            "local time across daylight-saving changes. When absent, UTC; an `at` time without "
            "a UTC offset then needs it.")))
    max_concurrent_runs: int = field(default=1, metadata=meta(
        type="integer", minimum=1, maximum=16, default=1,
        description="For `cron`: most runs of the job at once; later ones wait their turn."))


@dataclass(kw_only=True)
class CreateJobRequest(Model, closed=True):
    """What to run, where and when. Unknown fields are rejected."""

    name: str = field(metadata=meta(
        required=True, type="string", min_length=1, max_length=63,
        pattern="^[a-z]([-a-z0-9]*[a-z0-9])?$",
        extensions={
            "x-pattern-message": (
                "1-63 characters: lowercase letters, digits and '-', starting with a letter and "
                "not ending with '-'")},
        description=(
            "Unique among your organisation's jobs: lowercase letters, digits and `-`, starting "
            "with a letter and not ending with `-`.")))
    cluster: str | NewCluster = field(metadata=meta(
        required=True,
        one_of=(
            Schema(
                type="string", min_length=1,
                pattern="^([^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?)?$",
                extensions={
                    "x-pattern-message": (
                        "text without control characters (newline, tab, NUL ...) and without "
                        "spaces at either end")},
                description="Name or id of an existing `RUNNING` cluster."),
            Schema(ref=NewCluster)),
        description=(
            "Where to run: the name or id of a `RUNNING` cluster that no other job's run is "
            "using, or a NewCluster object for a cluster made for each run.")))
    schedule: str | JobScheduleRequest | None = field(default=None, metadata=meta(
        nullable=True, one_of=(Schema(type="string", const="now"), Schema(ref=JobScheduleRequest)),
        description="`\"now\"` (the default) or a schedule object."))
    command: str = field(metadata=meta(
        required=True, type="string", min_length=1, max_length=4096,
        pattern="^([^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?)?$",
        extensions={
            "x-pattern-message": (
                "text without control characters (newline, tab, NUL ...) and without spaces at "
                "either end")},
        description=(
            "What follows `mpiexec -n <CORE_COUNT> python`: the script, relative to the root of "
            "`path`, and its arguments, e.g. `etl.py --date today`. Split like a shell would "
            "(quotes work) but never run through one; must not start with `python` or `mpiexec`.")))
    path: str = field(metadata=meta(
        required=True, type="string", min_length=1, max_length=2048,
        pattern="^([^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?)?$",
        extensions={
            "x-pattern-message": (
                "text without control characters (newline, tab, NUL ...) and without spaces at "
                "either end")},
        description=(
            "Where the code is: a Git repository URL (`https://` only, without credentials; a "
            "trailing `.git` is dropped) or an S3 URI `s3://bucket/prefix` in the cluster's "
            "region.")))
    ref: str | None = field(default=None, metadata=meta(
        type="string", nullable=True, max_length=256,
        pattern="^([^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?)?$",
        extensions={
            "x-pattern-message": (
                "text without control characters (newline, tab, NUL ...) and without spaces at "
                "either end")},
        description="Git only: the branch, tag or commit to run (default: the default branch)."))
    git_username: str | None = field(default=None, metadata=meta(
        type="string", nullable=True, max_length=256,
        pattern="^([^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?)?$",
        extensions={
            "x-pattern-message": (
                "text without control characters (newline, tab, NUL ...) and without spaces at "
                "either end")},
        description="Git only: user name for a private repository."))
    git_password: str | None = field(default=None, metadata=meta(
        type="string", nullable=True, max_length=1024, pattern="^[^\\x00-\\x1f\\x7f]*$",
        write_only=True,
        extensions={"x-pattern-message": "no control characters (newline, tab, NUL ...)"},
        description=(
            "Git only: password or access token for `git_username`. Stored encrypted and never "
            "returned (the job shows `git_password_set`).")))
    env: dict[str, str] | None = field(default=None, metadata=meta(
        type="object", nullable=True,
        values=Schema(
            type="string", max_length=32768, pattern="^[^\\x00]*$",
            extensions={"x-pattern-message": "any text without NUL characters"}),
        keys=Schema(
            pattern="^[A-Za-z_][A-Za-z0-9_]*$",
            extensions={"x-pattern-message": "letters, digits and '_', not starting with a digit"}),
        description=(
            "Environment variables for the command. Names of letters, digits and `_`, not "
            "starting with a digit; names starting with `BODO_JUPYTER_`, `OMPI_`, `PMIX_` or "
            "`PRTE_` are reserved. Values may hold any text but NUL (newlines too). At most "
            "`Limits.max_env_vars` variables (default 100) and `Limits.max_env_bytes` bytes of "
            "names and values together (default 64 KiB).")))
    timeout_s: int | None = field(default=None, metadata=meta(
        type="integer", nullable=True, minimum=1, maximum=604800,
        description="Stop the command and fail the run after this many seconds (default none)."))
    retries: int = field(default=0, metadata=meta(
        type="integer", minimum=0, maximum=10, default=0,
        description="Times a failed run is tried again (the whole run, with a fresh fetch)."))
    retry_delay_s: int = field(default=0, metadata=meta(
        type="integer", minimum=0, maximum=86400, default=0,
        description="Seconds to wait before each retry."))


@dataclass(kw_only=True)
class UpdateJobRequest(Model, closed=True):
    """A change to a job. Unknown fields are rejected."""

    active: bool = field(metadata=meta(
        required=True, type="boolean",
        description="`false` pauses the job's schedule; `true` resumes it."))


@dataclass(kw_only=True)
class ClusterRef(Model, closed=True):
    """A cluster, by id and name."""

    id: str = field(metadata=meta(required=True, type="string", pattern="^c-[0-9a-f]+$"))
    name: str = field(metadata=meta(required=True, type="string"))


@dataclass(kw_only=True)
class JobNewCluster(Model, closed=True):
    """The cluster made for each run, or null if it uses an existing one."""

    provider: str = field(metadata=meta(required=True, type="string"))
    instance_type: str = field(metadata=meta(required=True, type="string"))
    instances: int = field(metadata=meta(required=True, type="integer", minimum=1))
    efa: bool = field(metadata=meta(required=True, type="boolean"))
    bodo_version: str | None = field(metadata=meta(
        required=True, type="string", nullable=True,
        description="The Bodo version asked for, or null for the provider's newest."))


@dataclass(kw_only=True)
class JobSchedule(Model, closed=True):
    """When the job runs, and when it runs next."""

    type: ScheduleType = field(metadata=meta(required=True, ref=ScheduleType))
    at: str | None = field(metadata=meta(
        required=True, type="string", nullable=True, format="date-time",
        description="For `at`, the time to run (UTC); null otherwise."))
    cron: str | None = field(metadata=meta(
        required=True, type="string", nullable=True,
        description="For `cron`, the expression; null otherwise."))
    timezone: str = field(metadata=meta(
        required=True, type="string", description="IANA time zone the schedule is read in."))
    max_concurrent_runs: int = field(metadata=meta(required=True, type="integer", minimum=1))
    active: bool = field(metadata=meta(
        required=True, type="boolean",
        description="False when paused (`PATCH /jobs/{ref}`) or deleted."))
    next_run_at: str | None = field(metadata=meta(
        required=True, type="string", nullable=True, format="date-time",
        description="When the scheduler starts the next run; null when none is due."))


@dataclass(kw_only=True)
class JobRun(Model, closed=True):
    """One run of a job. Runs read on their own (see JobRunDetail) also have `log_size`."""

    id: str = field(metadata=meta(
        required=True, type="string", pattern="^r-[0-9a-f]+$",
        description="Run id, e.g. `r-9a8b7c6d5e4f`."))
    job_id: str = field(metadata=meta(required=True, type="string", pattern="^j-[0-9a-f]+$"))
    job_name: str = field(metadata=meta(required=True, type="string"))
    status: JobRunStatus = field(metadata=meta(required=True, ref=JobRunStatus))
    phase: JobRunPhase = field(metadata=meta(required=True, ref=JobRunPhase))
    trigger: JobTrigger = field(metadata=meta(required=True, ref=JobTrigger))
    due_at: str | None = field(metadata=meta(
        required=True, type="string", nullable=True, format="date-time",
        description="For scheduled runs, the time it was due; null otherwise."))
    reason: str | None = field(metadata=meta(
        required=True, type="string", nullable=True,
        description=(
            "Why it failed or was cancelled (exit code, timeout, fetch failure, missing "
            "script...); while retrying, why the last attempt failed.")))
    exit_code: int | None = field(metadata=meta(
        required=True, type="integer", nullable=True,
        description=(
            "The command's exit code (negative if killed by a signal); null until it exits.")))
    command_line: str | None = field(metadata=meta(
        required=True, type="string", nullable=True,
        description="The exact command line run, with the real core count; null until it runs."))
    source_revision: str | None = field(metadata=meta(
        required=True, type="string", nullable=True,
        description="The Git commit fetched; null for S3 and before the fetch."))
    cluster: ClusterRef | None = field(metadata=meta(
        required=True, ref=ClusterRef, nullable=True,
        description="The cluster the run uses, or null before a new one is made for it."))
    attempts: int = field(metadata=meta(
        required=True, type="integer", minimum=0,
        description="Attempts started so far (more than 1 after retries)."))
    task_id: str = field(metadata=meta(
        required=True, type="string", pattern="^t-[0-9a-f]+$",
        description="The run's `job.run` task, with its steps and events."))
    created_at: str = field(metadata=meta(
        required=True, type="string", format="date-time",
        description="UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`."))
    started_at: str | None = field(metadata=meta(
        required=True, type="string", nullable=True, format="date-time",
        description="UTC time in ISO 8601, or null when it has not happened."))
    finished_at: str | None = field(metadata=meta(
        required=True, type="string", nullable=True, format="date-time",
        description="UTC time in ISO 8601, or null when it has not happened."))
    log_size: int | None = field(default=None, metadata=meta(
        type="integer", minimum=0, description="Bytes in the run's log so far."))


@dataclass(kw_only=True)
class Job(Model, closed=True):
    """What to run, where and when. The Git password is never shown, only whether one is set. Lists
    show jobs without `command_line` and `env` (they may be large); a job read on its own has
    both (see JobDetail), and the answer to create also has `notices` (see JobCreated).
    """

    id: str = field(metadata=meta(
        required=True, type="string", pattern="^j-[0-9a-f]+$",
        description="Job id, e.g. `j-3b9d0e7a1c2f`."))
    name: str = field(metadata=meta(required=True, type="string", description="The job's name."))
    cluster: ClusterRef | None = field(metadata=meta(
        required=True, ref=ClusterRef, nullable=True,
        description="The existing cluster the job runs on, or null if it makes its own."))
    new_cluster: JobNewCluster | None = field(metadata=meta(
        required=True, ref=JobNewCluster, nullable=True,
        description="The cluster made for each run, or null if it uses an existing one."))
    schedule: JobSchedule = field(metadata=meta(
        required=True, ref=JobSchedule, description="When the job runs, and when it runs next."))
    command: str = field(metadata=meta(
        required=True, type="string", description="The command as given."))
    command_line: str | None = field(default=None, metadata=meta(
        type="string",
        description="What runs, e.g. `mpiexec -n <CORE_COUNT> python etl.py --date today`."))
    source_type: SourceType = field(metadata=meta(
        required=True, ref=SourceType, description="Where the code comes from."))
    path: str = field(metadata=meta(
        required=True, type="string", description="Repository URL or S3 URI."))
    ref: str | None = field(metadata=meta(
        required=True, type="string", nullable=True,
        description="Git branch, tag or commit; null for the default."))
    git_username: str | None = field(metadata=meta(required=True, type="string", nullable=True))
    git_password_set: bool = field(metadata=meta(
        required=True, type="boolean",
        description="Whether a Git password is stored (it is never returned)."))
    env: dict[str, str] | None = field(default=None, metadata=meta(
        type="object", values=Schema(type="string"),
        description="Environment variables for the command."))
    timeout_s: int | None = field(metadata=meta(
        required=True, type="integer", nullable=True, minimum=1))
    retries: int = field(metadata=meta(required=True, type="integer", minimum=0))
    retry_delay_s: int = field(metadata=meta(required=True, type="integer", minimum=0))
    created_by: str = field(metadata=meta(
        required=True, type="string",
        description="Id of the user who created it; runs act as them."))
    created_at: str = field(metadata=meta(
        required=True, type="string", format="date-time",
        description="UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`."))
    updated_at: str = field(metadata=meta(
        required=True, type="string", format="date-time",
        description="UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`."))
    last_run: JobRun | None = field(metadata=meta(
        required=True, ref=JobRun, nullable=True,
        description="The job's newest run (without `log_size`), or null before the first."))
    notices: list[str] | None = field(default=None, metadata=meta(
        type="array", items=Schema(type="string"),
        description="Only in the answer to create. Things worth knowing about the input."))


@dataclass(kw_only=True)
class JobDetail(Job, closed=True):
    """A job read on its own, with its command line and environment."""

    command_line: str = field(metadata=meta(
        required=True, type="string",
        description="What runs, e.g. `mpiexec -n <CORE_COUNT> python etl.py --date today`."))
    env: dict[str, str] = field(metadata=meta(
        required=True, type="object", values=Schema(type="string"),
        description="Environment variables for the command."))


@dataclass(kw_only=True)
class JobCreated(Job, closed=True):
    """A new job, with `notices`: what the control plane changed in the input (such as dropping
    `.git` from a repository URL).
    """

    command_line: str = field(metadata=meta(
        required=True, type="string",
        description="What runs, e.g. `mpiexec -n <CORE_COUNT> python etl.py --date today`."))
    env: dict[str, str] = field(metadata=meta(
        required=True, type="object", values=Schema(type="string"),
        description="Environment variables for the command."))
    notices: list[str] = field(metadata=meta(
        required=True, type="array", items=Schema(type="string"),
        description="Only in the answer to create. Things worth knowing about the input."))


@dataclass(kw_only=True)
class JobPage(Model, closed=True):
    """One page of jobs, newest first, without `command_line` and `env`."""

    items: list[Job] = field(metadata=meta(required=True, type="array", items=Schema(ref=Job)))
    next: str | None = field(metadata=meta(
        required=True, type="string", nullable=True,
        description="Pass as `cursor` for the next page; null on the last page."))


@dataclass(kw_only=True)
class JobRunDetail(JobRun, closed=True):
    """A run with the size of its log."""

    log_size: int = field(metadata=meta(
        required=True, type="integer", minimum=0, description="Bytes in the run's log so far."))


@dataclass(kw_only=True)
class JobRunPage(Model, closed=True):
    """One page of a job's runs, newest first."""

    items: list[JobRunDetail] = field(metadata=meta(
        required=True, type="array", items=Schema(ref=JobRunDetail)))
    next: str | None = field(metadata=meta(
        required=True, type="string", nullable=True,
        description="Pass as `cursor` for the next page; null on the last page."))


@dataclass(kw_only=True)
class JobLogs(Model, closed=True):
    """A piece of a run's log."""

    run_id: str = field(metadata=meta(
        required=True, type="string", pattern="^r-[0-9a-f]+$",
        description="The run read (useful with `latest`)."))
    status: JobRunStatus = field(metadata=meta(required=True, ref=JobRunStatus))
    text: str = field(metadata=meta(
        required=True, type="string",
        description="Log text from `offset`; empty when there is nothing new."))
    offset: int = field(metadata=meta(
        required=True, type="integer", minimum=0, description="Where `text` starts."))
    next_offset: int = field(metadata=meta(
        required=True, type="integer", minimum=0,
        description="Where `text` ends; pass it as `offset` to read on."))
    complete: bool = field(metadata=meta(
        required=True, type="boolean",
        description="True when the run has ended and `text` reaches the end of its log."))


@dataclass(kw_only=True)
class JobCancelled(Model, closed=True):
    """The runs asked to stop."""

    job: str = field(metadata=meta(required=True, type="string", description="The job's name."))
    cancelled_tasks: list[str] = field(metadata=meta(
        required=True, type="array", items=Schema(type="string", pattern="^t-[0-9a-f]+$"),
        description="Tasks of the runs being cancelled; follow them with `GET /tasks/{task_id}`."))


@dataclass(kw_only=True)
class JobDeleted(Model, closed=True):
    """A deleted job."""

    job: str = field(metadata=meta(required=True, type="string", description="The job's name."))
    deleted: bool = field(metadata=meta(required=True, type="boolean", const=True))
    cancelled_tasks: list[str] = field(metadata=meta(
        required=True, type="array", items=Schema(type="string", pattern="^t-[0-9a-f]+$"),
        description=(
            "Tasks of the runs cancelled by the delete (it waits up to two minutes for them to "
            "end).")))


@dataclass(kw_only=True)
class AwsCredentialsRequest(Model, closed=True):
    """Access keys of an IAM user of your AWS account that has the platform policy (`bodo-jupyter
    aws create-policy`). Unknown fields are rejected.
    """

    access_key_id: str = field(metadata=meta(
        required=True, type="string", max_length=128, pattern="^(AKIA|ASIA)[A-Z0-9]{12,124}$",
        extensions={
            "x-pattern-message": "AKIA (or ASIA) followed by 12 to 124 capital letters and digits"},
        description="The access key id, `AKIA\u2026` (or `ASIA\u2026`)."))
    secret_access_key: str = field(metadata=meta(
        required=True, type="string", min_length=1, max_length=1024,
        pattern="^[^\\x00-\\x1f\\x7f]*$", write_only=True,
        extensions={"x-pattern-message": "no control characters (newline, tab, NUL ...)"},
        description=(
            "The secret access key. Checked with AWS, stored encrypted and never returned.")))
    account_id: str = field(metadata=meta(
        required=True, type="string", pattern="^[0-9]{12}$",
        extensions={"x-pattern-message": "the 12 digits of the AWS account id, e.g. 123456789012"},
        description="The 12-digit AWS account id the keys belong to."))
    region: str = field(metadata=meta(
        required=True, type="string", max_length=32,
        pattern="^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$",
        extensions={"x-pattern-message": "an AWS region name such as us-east-1"},
        description=(
            "The AWS region clusters are made in; the platform must have a machine image there.")))


@dataclass(kw_only=True)
class AwsAccount(Model, closed=True):
    """Your organisation's AWS account. The secret access key is never returned and the access key
    id is masked.
    """

    access_key_id: str = field(metadata=meta(
        required=True, type="string", pattern="^\u2026[A-Z0-9]{4}$",
        description="The last four characters of the access key id, after `\u2026`."))
    account_id: str = field(metadata=meta(
        required=True, type="string", pattern="^[0-9]{12}$",
        description="The 12-digit AWS account id."))
    region: str = field(metadata=meta(
        required=True, type="string", description="The AWS region clusters are made in."))
    arn: str = field(metadata=meta(
        required=True, type="string",
        description=(
            "The IAM identity of the keys, as STS reported it, e.g. "
            "`arn:aws:iam::123456789012:user/bodo`.")))
    status: AwsAccountStatus = field(metadata=meta(required=True, ref=AwsAccountStatus))
    ready: bool = field(metadata=meta(
        required=True, type="boolean",
        description="`status` is `READY`: AWS clusters can be created."))
    status_message: str = field(metadata=meta(
        required=True, type="string",
        description="What is happening, or why it failed; empty when `READY`."))
    task_id: str | None = field(metadata=meta(
        required=True, type="string", nullable=True, pattern="^t-[0-9a-f]+$",
        description="The latest `aws.grant-image` task; follow it with `GET /tasks/{task_id}`."))
    created_at: str = field(metadata=meta(
        required=True, type="string", format="date-time",
        description="UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`."))
    updated_at: str = field(metadata=meta(
        required=True, type="string", format="date-time",
        description="UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`."))


@dataclass(kw_only=True)
class AwsCredentialsDeleted(Model, closed=True):
    """The AWS credentials were deleted."""

    deleted: bool = field(metadata=meta(required=True, type="boolean", const=True))


@dataclass(kw_only=True)
class CreateNotebookRequest(Model, closed=True):
    """What notebook to make. Unknown fields are rejected."""

    name: str = field(metadata=meta(
        required=True, type="string", min_length=1, max_length=63,
        pattern="^[a-z]([-a-z0-9]*[a-z0-9])?$",
        extensions={
            "x-pattern-message": (
                "1-63 characters: lowercase letters, digits and '-', starting with a letter and "
                "not ending with '-'")},
        description=(
            "Unique among your organisation's notebooks that are not deleted: lowercase "
            "letters, digits and `-`, starting with a letter and not ending with `-`.")))
    instance_type: str = field(metadata=meta(
        required=True, type="string", max_length=64,
        pattern="^([^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?)?$",
        extensions={
            "x-pattern-message": (
                "text without control characters (newline, tab, NUL ...) and without spaces at "
                "either end")},
        description=(
            "The node that hosts the notebook: a `name` from `GET /notebook-instance-types`.")))
    cluster: str | None = field(default=None, metadata=meta(
        type="string", nullable=True, max_length=64,
        pattern="^([^\\x00-\\x20\\x7f]([^\\x00-\\x1f\\x7f]*[^\\x00-\\x20\\x7f])?)?$",
        extensions={
            "x-pattern-message": (
                "text without control characters (newline, tab, NUL ...) and without spaces at "
                "either end")},
        description=(
            "Name or id of a `RUNNING` cluster of yours that nothing else holds, to attach the "
            "notebook to (its kernels start attached); the notebook holds it until it is "
            "deleted. Null or absent: no cluster.")))
    server_env: dict[str, str] | None = field(default=None, metadata=meta(
        type="object", nullable=True,
        values=Schema(
            type="string", max_length=4096, pattern="^[^\\x00-\\x1f\\x7f]*$",
            extensions={"x-pattern-message": "no control characters (newline, tab, NUL ...)"}),
        keys=Schema(
            pattern="^(JUPYTERHUB|JPY)_[A-Z0-9_]+$",
            extensions={
                "x-pattern-message": "JUPYTERHUB_ or JPY_ then capital letters, digits and '_'"}),
        write_only=True,
        description=(
            "Environment variables for the notebook's server process, set by a JupyterHub "
            "spawner (`JUPYTERHUB_*`, `JPY_*`: the hub's API token, URLs, the user). With it "
            "the server runs as a JupyterHub single-user server. Stored encrypted, never "
            "returned, logged or shown in events. At most `Limits.max_env_vars` variables and "
            "`Limits.max_env_bytes` bytes.")))


@dataclass(kw_only=True)
class NotebookLastTask(Model, closed=True):
    """The notebook's newest task, or null."""

    id: str = field(metadata=meta(required=True, type="string", pattern="^t-[0-9a-f]+$"))
    kind: TaskKind = field(metadata=meta(required=True, ref=TaskKind))
    status: TaskStatus = field(metadata=meta(required=True, ref=TaskStatus))


@dataclass(kw_only=True)
class Notebook(Model, closed=True):
    """A Jupyter notebook server on a node of its own, optionally attached to a cluster it holds."""

    id: str = field(metadata=meta(
        required=True, type="string", pattern="^n-[0-9a-f]+$",
        description="Notebook id, e.g. `n-5f2a9c81d3e0`."))
    name: str = field(metadata=meta(
        required=True, type="string", description="The notebook's name."))
    provider: str = field(metadata=meta(
        required=True, type="string",
        description="Provider running the notebook's node (`local`, ...)."))
    instance_type: str = field(metadata=meta(
        required=True, type="string", description="Instance type of the notebook's node."))
    cluster: ClusterRef | None = field(metadata=meta(
        required=True, ref=ClusterRef, nullable=True,
        description="The cluster the notebook is attached to, or null."))
    status: NotebookStatus = field(metadata=meta(required=True, ref=NotebookStatus))
    status_message: str = field(metadata=meta(
        required=True, type="string",
        description="Why the notebook is in its status (e.g. the reason it failed); may be empty."))
    created_by: str = field(metadata=meta(
        required=True, type="string", description="Id of the user who created it."))
    created_at: str = field(metadata=meta(
        required=True, type="string", format="date-time",
        description="UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`."))
    updated_at: str = field(metadata=meta(
        required=True, type="string", format="date-time",
        description="UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`."))
    ready_at: str | None = field(metadata=meta(
        required=True, type="string", nullable=True, format="date-time",
        description="When it last became `RUNNING`."))
    terminated_at: str | None = field(metadata=meta(
        required=True, type="string", nullable=True, format="date-time",
        description="When it was deleted."))
    last_task: NotebookLastTask | None = field(metadata=meta(
        required=True, ref=NotebookLastTask, nullable=True,
        description="The notebook's newest task, or null."))


@dataclass(kw_only=True)
class NotebookAction(Model, closed=True):
    """A notebook and the task that was started for it."""

    notebook: Notebook = field(metadata=meta(required=True, ref=Notebook))
    task: Task = field(metadata=meta(required=True, ref=Task))


@dataclass(kw_only=True)
class NotebookPage(Model, closed=True):
    """One page of notebooks, newest first."""

    items: list[Notebook] = field(metadata=meta(
        required=True, type="array", items=Schema(ref=Notebook)))
    next: str | None = field(metadata=meta(
        required=True, type="string", nullable=True,
        description="Pass as `cursor` for the next page; null on the last page."))


@dataclass(kw_only=True)
class NotebookConnection(Model, closed=True):
    """How to open a running notebook."""

    notebook: str = field(metadata=meta(
        required=True, type="string", description="The notebook's name."))
    notebook_id: str = field(metadata=meta(
        required=True, type="string", description="The notebook's id."))
    url: str = field(metadata=meta(
        required=True, type="string",
        description="The Jupyter server's base URL, ending in `/` (JupyterLab is at `<url>lab`)."))
    token: str | None = field(metadata=meta(
        required=True, type="string", nullable=True,
        description=(
            "The server's token without JupyterHub (secret), or null behind JupyterHub, where "
            "the hub authenticates.")))


@dataclass(kw_only=True)
class ErrorError(Model, closed=True):
    """What went wrong."""

    code: ErrorCode = field(metadata=meta(required=True, ref=ErrorCode))
    message: str = field(metadata=meta(
        required=True, type="string",
        description="One sentence saying what went wrong and what to do."))
    field_: str | None = field(default=None, metadata=meta(
        name="field", type="string",
        description="The request field or query parameter at fault, when there is one."))


@dataclass(kw_only=True)
class Error(Model, closed=True):
    """Every error response."""

    error: ErrorError = field(metadata=meta(
        required=True, ref=ErrorError, description="What went wrong."))
