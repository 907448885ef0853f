// GENERATED from bodo_jupyter/contract/openapi.yaml; do not edit.
// Change openapi.yaml, then run `python -m bodo_jupyter.contract.codegen`.
// One type per schema of the API (see the python models for the checks).

/** The values of ClusterStatus, in the contract's order. */
export const CLUSTER_STATUSES = [
  "NEW",
  "INPROGRESS",
  "RUNNING",
  "FAILED",
  "STOPPING",
  "TERMINATED",
] as const;
/**
 * `NEW`: recorded, waiting to start; `INPROGRESS`: being created; `RUNNING`: ready to attach;
 * `FAILED`: creation failed, the cluster died or a delete failed (see `status_message`; delete it
 * to clean up); `STOPPING`: being deleted; `TERMINATED`: deleted.
 */
export type ClusterStatus = (typeof CLUSTER_STATUSES)[number];

/** The values of TaskStatus, in the contract's order. */
export const TASK_STATUSES = ["NEW", "INPROGRESS", "FINISHED", "FAILED", "CANCELLED"] as const;
/**
 * `NEW`: waiting to run; `INPROGRESS`: running; `FINISHED`: done; `FAILED`: failed and rolled back
 * (see `error`); `CANCELLED`: cancelled and rolled back.
 */
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** The values of TaskKind, in the contract's order. */
export const TASK_KINDS = [
  "cluster.create",
  "cluster.delete",
  "job.run",
  "aws.grant-image",
  "notebook.create",
  "notebook.delete",
] as const;
/**
 * What the task does (`job.run` is one run of a job; `notebook.create` and `notebook.delete` start
 * and stop a notebook; `aws.grant-image` grants your AWS account launch permission on the
 * platform's machine image after `PUT /aws/credentials`).
 */
export type TaskKind = (typeof TASK_KINDS)[number];

/** The values of HolderKind, in the contract's order. */
export const HOLDER_KINDS = ["job_run", "notebook"] as const;
/**
 * What can hold a cluster: one run of a job (`job_run`) or a notebook attached to the cluster
 * (`notebook`).
 */
export type HolderKind = (typeof HOLDER_KINDS)[number];

/** The values of StepState, in the contract's order. */
export const STEP_STATES = ["pending", "started", "done", "failed"] as const;
/** Where a step of a task got to: `pending` (not started yet), `started`, `done` or `failed`. */
export type StepState = (typeof STEP_STATES)[number];

/** The values of EventState, in the contract's order. */
export const EVENT_STATES = [
  "started",
  "progress",
  "done",
  "failed",
  "info",
  "finished",
  "cancelled",
] as const;
/**
 * `started`, `progress`, `done`, `failed` or `info` for steps; the `end` event has the task's final
 * status in lowercase (`finished`, `failed` or `cancelled`).
 */
export type EventState = (typeof EVENT_STATES)[number];

/** The values of StepName, in the contract's order. */
export const STEP_NAMES = [
  "provision",
  "teardown",
  "prepare",
  "launch",
  "register",
  "verify",
  "stop-engines",
  "stop-controller",
  "cleanup",
  "scan",
  "zone",
  "vpc",
  "kms-key",
  "node-role",
  "state-bucket",
  "state-table",
  "elastic-ip",
  "efs",
  "placement-group",
  "kms-alias",
  "role-ssm",
  "bucket-settings",
  "vpc-dns",
  "public-subnet",
  "private-subnet",
  "internet-gateway",
  "security-group",
  "sg-rules",
  "instance-profile",
  "node-policy",
  "key-pair",
  "nat-gateway",
  "public-routes",
  "mount-target",
  "private-routes",
  "instances",
  "bootstrap",
  "wait-cluster",
  "create-cluster",
  "fetch",
  "run",
  "delete-cluster",
  "image",
  "grant",
  "request-node",
  "node-running",
  "readiness-probe",
  "attach-cluster",
  "stop-node",
  "release-cluster",
  "rollback",
  "recover",
  "shutdown",
  "info",
  "end",
] as const;
/**
 * The step names the built-in tasks and providers use (Step `name`, TaskEvent `step`); a provider
 * may add others, so treat an unknown name as a plain step. `provision` and `teardown`: the default
 * steps of a provider's create and delete. Local clusters: `prepare`, `launch`, `register` and
 * `verify` to create, `stop-engines`, `stop-controller` and `cleanup` to delete. AWS clusters: one
 * step per resource of the cluster's resource graph (`zone` ... `bootstrap`), created in dependency
 * order, and deleted in reverse after `scan`. `job.run`: `wait-cluster` or `create-cluster`,
 * `fetch`, `run`, then `delete-cluster` for a cluster made for the run. `aws.grant-image`: `image`,
 * `grant`, `verify`. `notebook.create`: `request-node`, `node-running`, `readiness-probe`, then
 * `attach-cluster` for a notebook with a cluster; `notebook.delete`: `stop-node`,
 * `release-cluster`. Events of the task engine itself: `rollback`, `recover` (resumed after a
 * restart), `shutdown` (the control plane stopped), `info` (a message outside any step) and `end`
 * (the task's last event).
 */
export type StepName = (typeof STEP_NAMES)[number];

/** The values of JobRunStatus, in the contract's order. */
export const JOB_RUN_STATUSES = ["NEW", "INPROGRESS", "FINISHED", "FAILED", "CANCELLED"] as const;
/**
 * `NEW`: waiting to start; `INPROGRESS`: getting its cluster, fetching the source or running (see
 * `phase`); `FINISHED`: the command exited with code 0; `FAILED`: see `reason`; `CANCELLED`:
 * cancelled by a user or because the job was deleted.
 */
export type JobRunStatus = (typeof JOB_RUN_STATUSES)[number];

/** The values of JobRunPhase, in the contract's order. */
export const JOB_RUN_PHASES = [
  "queued-slot",
  "queued",
  "creating-cluster",
  "fetching",
  "running",
  "ran",
  "done",
] as const;
/**
 * Where a run is: `queued-slot` (waiting for another run of the job, see `max_concurrent_runs`),
 * `queued` (waiting for a busy cluster), `creating-cluster`, `fetching`, `running`, `ran` (the
 * command exited; cleaning up) or `done`.
 */
export type JobRunPhase = (typeof JOB_RUN_PHASES)[number];

/** The values of ScheduleType, in the contract's order. */
export const SCHEDULE_TYPES = ["now", "at", "cron"] as const;
/**
 * When a job runs: `now` (once, at once), `at` (once, at a given time) or `cron` (whenever a cron
 * expression fires).
 */
export type ScheduleType = (typeof SCHEDULE_TYPES)[number];

/** The values of SourceType, in the contract's order. */
export const SOURCE_TYPES = ["git", "s3"] as const;
/** Where a job's code comes from: `git` (a Git repository over https) or `s3` (an S3 prefix). */
export type SourceType = (typeof SOURCE_TYPES)[number];

/** The values of JobTrigger, in the contract's order. */
export const JOB_TRIGGERS = ["now", "at", "cron", "manual"] as const;
/**
 * What started the run: creating a job scheduled `now`, its `at` time, its `cron` schedule, or
 * `POST /jobs/{ref}/runs` (`manual`).
 */
export type JobTrigger = (typeof JOB_TRIGGERS)[number];

/** The values of AwsAccountStatus, in the contract's order. */
export const AWS_ACCOUNT_STATUSES = ["INPROGRESS", "READY", "FAILED"] as const;
/**
 * `INPROGRESS`: the keys are stored and the `aws.grant-image` task is granting launch permission on
 * the platform's image; `READY`: AWS clusters can be created; `FAILED`: the grant failed (see
 * `status_message`); set the credentials again.
 */
export type AwsAccountStatus = (typeof AWS_ACCOUNT_STATUSES)[number];

/** The values of NotebookStatus, in the contract's order. */
export const NOTEBOOK_STATUSES = [
  "NEW",
  "INPROGRESS",
  "RUNNING",
  "FAILED",
  "STOPPING",
  "TERMINATED",
] as const;
/**
 * `NEW`: recorded, waiting to start; `INPROGRESS`: its node and server are being started;
 * `RUNNING`: ready to open; `FAILED`: creation failed, its server died or a delete failed (see
 * `status_message`; delete it to clean up); `STOPPING`: being deleted; `TERMINATED`: deleted.
 */
export type NotebookStatus = (typeof NOTEBOOK_STATUSES)[number];

/** The values of ErrorCode, in the contract's order. */
export const ERROR_CODES = [
  "bad_request",
  "unauthorized",
  "forbidden",
  "not_found",
  "conflict",
  "unavailable",
  "method_not_allowed",
  "provision_failed",
  "source_fetch_failed",
  "http_error",
  "internal",
  "aws_denied",
  "aws_credentials",
  "aws_capacity",
  "aws_limit",
  "aws_throttled",
  "aws_error",
  "aws_unreachable",
  "aws_no_credentials",
  "secret_unreadable",
  "single_organization",
  "payload_too_large",
  "too_many_requests",
] as const;
/**
 * Stable machine-readable code of an error. Besides the generic ones, AWS problems have their own:
 * `aws_denied` (the keys lack a permission of the platform policy), `aws_credentials` (AWS rejected
 * the keys), `aws_no_credentials` (no AWS account is linked: `PUT /aws/credentials`),
 * `aws_capacity` (AWS has no capacity for the instance type), `aws_limit` (an account quota was
 * reached), `aws_throttled` (still throttled after retries), `aws_unreachable` (AWS could not be
 * reached), `aws_error` (any other AWS error); `secret_unreadable` means a stored secret cannot be
 * decrypted with the control plane's key; `single_organization` (403) that the local provider
 * serves one organisation only, because the control plane does not run as root and cannot give
 * organisations OS users of their own; `payload_too_large` (413) a request body over
 * `Limits.max_body_bytes`; `too_many_requests` (429, with `Retry-After`) a job at
 * `Limits.max_runs_per_job_per_day`.
 */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The calling user. */
export interface InfoUser {
  id: string;
  name: string;
}

/** The caller's organisation; every cluster and task belongs to one. */
export interface InfoOrganization {
  id: string;
  name: string;
}

/** A place clusters can run (this machine, a cloud account). */
export interface Provider {
  /** Name to pass as `provider`, e.g. `local`. */
  name: string;
  /** Name to show people. */
  display_name: string;
  /** Largest `instances` a cluster of this provider may have. */
  max_instances: number;
}

/** The control plane, and who is calling it. */
export interface Info {
  /** Version of the bodo-jupyter package serving the API. */
  version: string;
  /** The calling user. */
  user: InfoUser;
  /** The caller's organisation; every cluster and task belongs to one. */
  organization: InfoOrganization;
  /** Enabled cluster providers. */
  providers: Provider[];
  /** Provider used when a request names none. */
  default_provider: string;
}

/** A node shape offered by a provider. */
export interface InstanceType {
  /** Name to pass as `instance_type`, e.g. `local.medium`. */
  name: string;
  /** MPI ranks (engines) per instance. */
  cores: number;
  /** Virtual CPUs per instance. */
  vcpus: number;
  /** Memory per instance in GiB (informative for local clusters). */
  memory_gib: number;
  /** Whether the type supports Elastic Fabric Adapter networking. */
  efa: boolean;
  /** One line for people. */
  description: string;
  /** The provider offering this type. */
  provider: string;
}

/** The instance types of one provider. */
export interface InstanceTypeList {
  /** The provider's instance types (local ones are listed fewest cores first). */
  items: InstanceType[];
}

/** A Bodo version a provider's clusters may run. */
export interface BodoVersion {
  /** Version to pass as `bodo_version`, e.g. `2026.10`. */
  version: string;
  /** Whether a cluster created without `bodo_version` runs this one. */
  default: boolean;
  /** The provider offering it. */
  provider: string;
}

/** The Bodo versions of one provider. */
export interface BodoVersionList {
  /** Newest first; empty when the provider's clusters run without Bodo. */
  items: BodoVersion[];
}

/** What cluster to make. Unknown fields are rejected. */
export interface CreateClusterRequest {
  /**
   * Unique among your organisation's clusters that are not deleted: lowercase letters, digits and
   * `-`, starting with a letter and not ending with `-`.
   */
  name: string;
  /** Provider to use (default `default_provider` of `GET /`). */
  provider?: string;
  /** A `name` from `GET /instance-types`. */
  instance_type: string;
  /**
   * Number of instances, at most the provider's `max_instances`.
   * @default 1
   */
  instances?: number;
  /**
   * Use Elastic Fabric Adapter networking (needs an EFA-capable type).
   * @default false
   */
  efa?: boolean;
  /**
   * The Bodo version the cluster runs: a `version` from `GET /bodo-versions` (default: the
   * provider's newest offered one).
   */
  bodo_version?: string;
  /**
   * Any unique string (such as a UUID) that makes retries safe: repeating a request with the same
   * token returns the first result instead of creating a second cluster.
   */
  client_token?: string;
}

/** The cluster's newest task (follow it to see what is happening to the cluster), or null. */
export interface ClusterLastTask {
  id: string;
  kind: TaskKind;
  status: TaskStatus;
}

/**
 * The job run this cluster was made for, or null. Such a cluster is deleted when its run ends and
 * cannot be used by anything else.
 */
export interface ClusterDedicatedTo {
  /** The run's id. */
  run_id: string;
  /** The run's job. */
  job_id: string | null;
  /** That job's name. */
  job_name: string | null;
}

/** What holds a cluster. */
export interface ClusterHolder {
  kind: HolderKind;
  /** Id of the holder (a run id `r-…`, a notebook id). */
  id: string;
  /** The holder for people, e.g. `job 'etl' (run r-1a2b3c4d5e6f)`. */
  label: string;
  /** When it took the cluster. */
  since: string | null;
}

/** An MPI cluster. */
export interface Cluster {
  /** Cluster id, e.g. `c-5f2a9c81d3e0`. */
  id: string;
  /** The cluster's name. */
  name: string;
  /** Provider running the cluster (`local`, `aws`, ...). */
  provider: string;
  /** Instance type of every instance. */
  instance_type: string;
  /** Number of instances. */
  instances: number;
  /** MPI ranks per instance. */
  cores_per_instance: number;
  /** Total MPI ranks (`instances` × `cores_per_instance`). */
  core_count: number;
  /** Whether EFA networking was requested. */
  efa: boolean;
  /**
   * The Bodo version the cluster runs, or null when it runs without Bodo (a local provider without
   * bodo installed).
   */
  bodo_version: string | null;
  status: ClusterStatus;
  /** Why the cluster is in its status (e.g. the reason it failed); may be empty. */
  status_message: string;
  /** Id of the user who created it. */
  created_by: string;
  /** UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`. */
  created_at: string;
  /** UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`. */
  updated_at: string;
  /** When it last became `RUNNING`. */
  ready_at: string | null;
  /** When it was deleted. */
  terminated_at: string | null;
  /** The cluster's newest task (follow it to see what is happening to the cluster), or null. */
  last_task: ClusterLastTask | null;
  /**
   * The job run this cluster was made for, or null. Such a cluster is deleted when its run ends and
   * cannot be used by anything else.
   */
  dedicated_to: ClusterDedicatedTo | null;
  /**
   * Who has the cluster now, or null when it is free. A cluster is held by at most one thing at a
   * time: a job run while it fetches and runs (others wait in line), or a notebook attached to it.
   * A held cluster is not given to a new job and cannot be deleted until its holder lets go.
   */
  holder: ClusterHolder | null;
}

/** One planned step of a task. */
export interface Step {
  /**
   * Step id, e.g. `launch`. The names the built-in tasks and providers use are listed in StepName;
   * a provider may add steps of its own.
   */
  name: string;
  /** What the step does, for people. */
  title: string;
  /** Where the step got to. */
  state: StepState;
  /** The step's latest message; empty while pending. */
  message: string;
}

/** One thing that happened during a task. */
export interface TaskEvent {
  /** Position in the task's events, counting from 1. */
  seq: number;
  /** UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`. */
  time: string;
  /**
   * The step it belongs to: a name from `steps`, or `rollback`, `recover`, `shutdown`, `info` or
   * `end` (the task's last event). Known names are listed in StepName; a provider may add steps of
   * its own.
   */
  step: string;
  /** What happened to the step; for the `end` event, how the task ended. */
  state: EventState;
  /** What happened, for people. */
  message: string;
  /** Fraction done, from 0 to 1. */
  progress: number;
}

/** A task started by another one, in brief; read it whole with its id. */
export interface ChildTask {
  id: string;
  kind: TaskKind;
  status: TaskStatus;
  cluster_id: string | null;
  /** Fraction done, from 0 to 1. */
  progress: number;
  error: string | null;
}

/**
 * A long-running action: creating or deleting a cluster, one run of a job, or readying an AWS
 * account. Lists show the fields without `steps`, `last_seq` and `events`; the task returned by
 * create and delete also has `steps` and `last_seq`; `GET /tasks/{task_id}` has all three (see
 * TaskDetail).
 */
export interface Task {
  /** Task id, e.g. `t-0c1d2e3f4a5b`. */
  id: string;
  kind: TaskKind;
  status: TaskStatus;
  /**
   * Id of the cluster it acts on or runs on; null for `aws.grant-image` and for a job run whose own
   * cluster is not made yet.
   */
  cluster_id: string | null;
  /** Name of that cluster. */
  cluster_name: string | null;
  /** Fraction done, from 0 to 1. */
  progress: number;
  /** Why it failed or was cancelled; null otherwise. */
  error: string | null;
  /** Times it was started (more than 1 after a restart of the control plane). */
  attempts: number;
  /** Id of the user who started it. */
  created_by: string;
  /** UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`. */
  created_at: string;
  /** UTC time in ISO 8601, or null when it has not happened. */
  started_at: string | null;
  /** UTC time in ISO 8601, or null when it has not happened. */
  finished_at: string | null;
  /**
   * The task that started this one (a job run's `cluster.create` and `cluster.delete` of the
   * cluster made for it), or null. Cancelling a task cancels its open children.
   */
  parent_id: string | null;
  /** The task's planned steps, in order, with where each got to. */
  steps?: Step[];
  /**
   * `seq` of the task's newest event (0 when none); pass it as `since` to get only later events.
   */
  last_seq?: number;
  /** Events after `since`, oldest first. */
  events?: TaskEvent[];
  /** Tasks this one started (see `parent_id`), oldest first; only in `GET /tasks/{task_id}`. */
  children?: ChildTask[];
}

/** A cluster and the task that was started for it. */
export interface ClusterAction {
  cluster: Cluster;
  task: Task;
}

/** One page of clusters, newest first. */
export interface ClusterPage {
  items: Cluster[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next: string | null;
}

/** A task with its steps and events. */
export interface TaskDetail extends Task {
  /** The task's planned steps, in order, with where each got to. */
  steps: Step[];
  /**
   * `seq` of the task's newest event (0 when none); pass it as `since` to get only later events.
   */
  last_seq: number;
  /** Events after `since`, oldest first. */
  events: TaskEvent[];
  /** Tasks this one started (see `parent_id`), oldest first; only in `GET /tasks/{task_id}`. */
  children: ChildTask[];
}

/** One page of tasks, newest first. */
export interface TaskPage {
  items: Task[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next: string | null;
}

/** How to attach to a running cluster. */
export interface Connection {
  /** The cluster's name. */
  cluster: string;
  /** The cluster's id. */
  cluster_id: string;
  /** MPI ranks (engines) to expect. */
  core_count: number;
  /**
   * Keyword arguments for `ipyparallel.Client` (the controller's client connection file). Secret:
   * it holds the cluster's key.
   */
  ipyparallel: Record<string, unknown>;
}

/**
 * A cluster made for each run of the job, and deleted when the run ends. Checked like `POST
 * /clusters`. Unknown fields are rejected.
 */
export interface NewCluster {
  /** Provider to use (default `default_provider` of `GET /`). */
  provider?: string | null;
  /** A `name` from `GET /instance-types`. */
  instance_type: string;
  /**
   * Number of instances, at most the provider's `max_instances`.
   * @default 1
   */
  instances?: number;
  /**
   * Use Elastic Fabric Adapter networking (needs an EFA-capable type).
   * @default false
   */
  efa?: boolean;
  /**
   * The Bodo version each run's cluster runs: a `version` from `GET /bodo-versions` (default: the
   * provider's newest offered one when the run starts).
   */
  bodo_version?: string;
}

/**
 * When the job runs. `now`: once, at once; `at`: once, at `at`; `cron`: whenever `cron` fires, in
 * `timezone`. Unknown fields are rejected.
 */
export interface JobScheduleRequest {
  /**
   * The kind of schedule.
   * @default "now"
   */
  type?: ScheduleType;
  /**
   * For `at` (required there): an ISO 8601 date and time in the future, e.g.
   * `2030-01-31T09:00:00+01:00`. Without a UTC offset it is read in `timezone`, which must then be
   * given.
   */
  at?: string;
  /**
   * For `cron` (required there): five fields (minute hour day-of-month month day-of-week),
   * optionally a sixth for seconds.
   */
  cron?: string;
  /**
   * IANA time zone the schedule is read in, e.g. `Europe/Paris`; a cron job keeps its local time
   * across daylight-saving changes. When absent, UTC; an `at` time without a UTC offset then needs
   * it.
   */
  timezone?: string | null;
  /**
   * For `cron`: most runs of the job at once; later ones wait their turn.
   * @default 1
   */
  max_concurrent_runs?: number;
}

/** What to run, where and when. Unknown fields are rejected. */
export interface CreateJobRequest {
  /**
   * Unique among your organisation's jobs: lowercase letters, digits and `-`, starting with a
   * letter and not ending with `-`.
   */
  name: string;
  /**
   * Where to run: the name or id of a `RUNNING` cluster that no other job's run is using, or a
   * NewCluster object for a cluster made for each run.
   */
  cluster: string | NewCluster;
  /** `"now"` (the default) or a schedule object. */
  schedule?: "now" | JobScheduleRequest | null;
  /**
   * What follows `mpiexec -n <CORE_COUNT> python`: the script, relative to the root of `path`, and
   * its arguments, e.g. `etl.py --date today`. Split like a shell would (quotes work) but never run
   * through one; must not start with `python` or `mpiexec`.
   */
  command: string;
  /**
   * Where the code is: a Git repository URL (`https://` only, without credentials; a trailing
   * `.git` is dropped) or an S3 URI `s3://bucket/prefix` in the cluster's region.
   */
  path: string;
  /** Git only: the branch, tag or commit to run (default: the default branch). */
  ref?: string | null;
  /** Git only: user name for a private repository. */
  git_username?: string | null;
  /**
   * Git only: password or access token for `git_username`. Stored encrypted and never returned (the
   * job shows `git_password_set`).
   */
  git_password?: string | null;
  /**
   * Environment variables for the command. Names of letters, digits and `_`, not starting with a
   * digit; names starting with `BODO_JUPYTER_`, `OMPI_`, `PMIX_` or `PRTE_` are reserved. Values
   * may hold any text but NUL (newlines too). At most `Limits.max_env_vars` variables (default 100)
   * and `Limits.max_env_bytes` bytes of names and values together (default 64 KiB).
   */
  env?: Record<string, string> | null;
  /** Stop the command and fail the run after this many seconds (default none). */
  timeout_s?: number | null;
  /**
   * Times a failed run is tried again (the whole run, with a fresh fetch).
   * @default 0
   */
  retries?: number;
  /**
   * Seconds to wait before each retry.
   * @default 0
   */
  retry_delay_s?: number;
}

/** A change to a job. Unknown fields are rejected. */
export interface UpdateJobRequest {
  /** `false` pauses the job's schedule; `true` resumes it. */
  active: boolean;
}

/** A cluster, by id and name. */
export interface ClusterRef {
  id: string;
  name: string;
}

/** The cluster made for each run, or null if it uses an existing one. */
export interface JobNewCluster {
  provider: string;
  instance_type: string;
  instances: number;
  efa: boolean;
  /** The Bodo version asked for, or null for the provider's newest. */
  bodo_version: string | null;
}

/** When the job runs, and when it runs next. */
export interface JobSchedule {
  type: ScheduleType;
  /** For `at`, the time to run (UTC); null otherwise. */
  at: string | null;
  /** For `cron`, the expression; null otherwise. */
  cron: string | null;
  /** IANA time zone the schedule is read in. */
  timezone: string;
  max_concurrent_runs: number;
  /** False when paused (`PATCH /jobs/{ref}`) or deleted. */
  active: boolean;
  /** When the scheduler starts the next run; null when none is due. */
  next_run_at: string | null;
}

/** One run of a job. Runs read on their own (see JobRunDetail) also have `log_size`. */
export interface JobRun {
  /** Run id, e.g. `r-9a8b7c6d5e4f`. */
  id: string;
  job_id: string;
  job_name: string;
  status: JobRunStatus;
  phase: JobRunPhase;
  trigger: JobTrigger;
  /** For scheduled runs, the time it was due; null otherwise. */
  due_at: string | null;
  /**
   * Why it failed or was cancelled (exit code, timeout, fetch failure, missing script...); while
   * retrying, why the last attempt failed.
   */
  reason: string | null;
  /** The command's exit code (negative if killed by a signal); null until it exits. */
  exit_code: number | null;
  /** The exact command line run, with the real core count; null until it runs. */
  command_line: string | null;
  /** The Git commit fetched; null for S3 and before the fetch. */
  source_revision: string | null;
  /** The cluster the run uses, or null before a new one is made for it. */
  cluster: ClusterRef | null;
  /** Attempts started so far (more than 1 after retries). */
  attempts: number;
  /** The run's `job.run` task, with its steps and events. */
  task_id: string;
  /** UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`. */
  created_at: string;
  /** UTC time in ISO 8601, or null when it has not happened. */
  started_at: string | null;
  /** UTC time in ISO 8601, or null when it has not happened. */
  finished_at: string | null;
  /** Bytes in the run's log so far. */
  log_size?: number;
}

/**
 * What to run, where and when. The Git password is never shown, only whether one is set. Lists show
 * jobs without `command_line` and `env` (they may be large); a job read on its own has both (see
 * JobDetail), and the answer to create also has `notices` (see JobCreated).
 */
export interface Job {
  /** Job id, e.g. `j-3b9d0e7a1c2f`. */
  id: string;
  /** The job's name. */
  name: string;
  /** The existing cluster the job runs on, or null if it makes its own. */
  cluster: ClusterRef | null;
  /** The cluster made for each run, or null if it uses an existing one. */
  new_cluster: JobNewCluster | null;
  /** When the job runs, and when it runs next. */
  schedule: JobSchedule;
  /** The command as given. */
  command: string;
  /** What runs, e.g. `mpiexec -n <CORE_COUNT> python etl.py --date today`. */
  command_line?: string;
  /** Where the code comes from. */
  source_type: SourceType;
  /** Repository URL or S3 URI. */
  path: string;
  /** Git branch, tag or commit; null for the default. */
  ref: string | null;
  git_username: string | null;
  /** Whether a Git password is stored (it is never returned). */
  git_password_set: boolean;
  /** Environment variables for the command. */
  env?: Record<string, string>;
  timeout_s: number | null;
  retries: number;
  retry_delay_s: number;
  /** Id of the user who created it; runs act as them. */
  created_by: string;
  /** UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`. */
  created_at: string;
  /** UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`. */
  updated_at: string;
  /** The job's newest run (without `log_size`), or null before the first. */
  last_run: JobRun | null;
  /** Only in the answer to create. Things worth knowing about the input. */
  notices?: string[];
}

/** A job read on its own, with its command line and environment. */
export interface JobDetail extends Job {
  /** What runs, e.g. `mpiexec -n <CORE_COUNT> python etl.py --date today`. */
  command_line: string;
  /** Environment variables for the command. */
  env: Record<string, string>;
}

/**
 * A new job, with `notices`: what the control plane changed in the input (such as dropping `.git`
 * from a repository URL).
 */
export interface JobCreated extends Job {
  /** What runs, e.g. `mpiexec -n <CORE_COUNT> python etl.py --date today`. */
  command_line: string;
  /** Environment variables for the command. */
  env: Record<string, string>;
  /** Only in the answer to create. Things worth knowing about the input. */
  notices: string[];
}

/** One page of jobs, newest first, without `command_line` and `env`. */
export interface JobPage {
  items: Job[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next: string | null;
}

/** A run with the size of its log. */
export interface JobRunDetail extends JobRun {
  /** Bytes in the run's log so far. */
  log_size: number;
}

/** One page of a job's runs, newest first. */
export interface JobRunPage {
  items: JobRunDetail[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next: string | null;
}

/** A piece of a run's log. */
export interface JobLogs {
  /** The run read (useful with `latest`). */
  run_id: string;
  status: JobRunStatus;
  /** Log text from `offset`; empty when there is nothing new. */
  text: string;
  /** Where `text` starts. */
  offset: number;
  /** Where `text` ends; pass it as `offset` to read on. */
  next_offset: number;
  /** True when the run has ended and `text` reaches the end of its log. */
  complete: boolean;
}

/** The runs asked to stop. */
export interface JobCancelled {
  /** The job's name. */
  job: string;
  /** Tasks of the runs being cancelled; follow them with `GET /tasks/{task_id}`. */
  cancelled_tasks: string[];
}

/** A deleted job. */
export interface JobDeleted {
  /** The job's name. */
  job: string;
  deleted: true;
  /** Tasks of the runs cancelled by the delete (it waits up to two minutes for them to end). */
  cancelled_tasks: string[];
}

/**
 * Access keys of an IAM user of your AWS account that has the platform policy (`bodo-jupyter aws
 * create-policy`). Unknown fields are rejected.
 */
export interface AwsCredentialsRequest {
  /** The access key id, `AKIA…` (or `ASIA…`). */
  access_key_id: string;
  /** The secret access key. Checked with AWS, stored encrypted and never returned. */
  secret_access_key: string;
  /** The 12-digit AWS account id the keys belong to. */
  account_id: string;
  /** The AWS region clusters are made in; the platform must have a machine image there. */
  region: string;
}

/**
 * Your organisation's AWS account. The secret access key is never returned and the access key id is
 * masked.
 */
export interface AwsAccount {
  /** The last four characters of the access key id, after `…`. */
  access_key_id: string;
  /** The 12-digit AWS account id. */
  account_id: string;
  /** The AWS region clusters are made in. */
  region: string;
  /**
   * The IAM identity of the keys, as STS reported it, e.g. `arn:aws:iam::123456789012:user/bodo`.
   */
  arn: string;
  status: AwsAccountStatus;
  /** `status` is `READY`: AWS clusters can be created. */
  ready: boolean;
  /** What is happening, or why it failed; empty when `READY`. */
  status_message: string;
  /** The latest `aws.grant-image` task; follow it with `GET /tasks/{task_id}`. */
  task_id: string | null;
  /** UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`. */
  created_at: string;
  /** UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`. */
  updated_at: string;
}

/** The AWS credentials were deleted. */
export interface AwsCredentialsDeleted {
  deleted: true;
}

/** What notebook to make. Unknown fields are rejected. */
export interface CreateNotebookRequest {
  /**
   * Unique among your organisation's notebooks that are not deleted: lowercase letters, digits and
   * `-`, starting with a letter and not ending with `-`.
   */
  name: string;
  /** The node that hosts the notebook: a `name` from `GET /notebook-instance-types`. */
  instance_type: string;
  /**
   * Name or id of a `RUNNING` cluster of yours that nothing else holds, to attach the notebook to
   * (its kernels start attached); the notebook holds it until it is deleted. Null or absent: no
   * cluster.
   */
  cluster?: string | null;
  /**
   * Environment variables for the notebook's server process, set by a JupyterHub spawner
   * (`JUPYTERHUB_*`, `JPY_*`: the hub's API token, URLs, the user). With it the server runs as a
   * JupyterHub single-user server. Stored encrypted, never returned, logged or shown in events. At
   * most `Limits.max_env_vars` variables and `Limits.max_env_bytes` bytes.
   */
  server_env?: Record<string, string> | null;
}

/** The notebook's newest task, or null. */
export interface NotebookLastTask {
  id: string;
  kind: TaskKind;
  status: TaskStatus;
}

/** A Jupyter notebook server on a node of its own, optionally attached to a cluster it holds. */
export interface Notebook {
  /** Notebook id, e.g. `n-5f2a9c81d3e0`. */
  id: string;
  /** The notebook's name. */
  name: string;
  /** Provider running the notebook's node (`local`, ...). */
  provider: string;
  /** Instance type of the notebook's node. */
  instance_type: string;
  /** The cluster the notebook is attached to, or null. */
  cluster: ClusterRef | null;
  status: NotebookStatus;
  /** Why the notebook is in its status (e.g. the reason it failed); may be empty. */
  status_message: string;
  /** Id of the user who created it. */
  created_by: string;
  /** UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`. */
  created_at: string;
  /** UTC time in ISO 8601, e.g. `2024-05-01T12:00:00.123456Z`. */
  updated_at: string;
  /** When it last became `RUNNING`. */
  ready_at: string | null;
  /** When it was deleted. */
  terminated_at: string | null;
  /** The notebook's newest task, or null. */
  last_task: NotebookLastTask | null;
}

/** A notebook and the task that was started for it. */
export interface NotebookAction {
  notebook: Notebook;
  task: Task;
}

/** One page of notebooks, newest first. */
export interface NotebookPage {
  items: Notebook[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next: string | null;
}

/** How to open a running notebook. */
export interface NotebookConnection {
  /** The notebook's name. */
  notebook: string;
  /** The notebook's id. */
  notebook_id: string;
  /** The Jupyter server's base URL, ending in `/` (JupyterLab is at `<url>lab`). */
  url: string;
  /**
   * The server's token without JupyterHub (secret), or null behind JupyterHub, where the hub
   * authenticates.
   */
  token: string | null;
}

/** What went wrong. */
export interface ErrorError {
  code: ErrorCode;
  /** One sentence saying what went wrong and what to do. */
  message: string;
  /** The request field or query parameter at fault, when there is one. */
  field?: string;
}

/** Every error response. */
export interface Error {
  /** What went wrong. */
  error: ErrorError;
}
