"""The forms users fill in, declared once.

A form is what a person sees -- a flat list of fields with labels, help and
choices -- and a pure function that turns the values into the contract's
request model. The CLI renders a form as options (:mod:`bodo_jupyter.cli`),
the widgets and the JupyterHub options page as inputs, and the TypeScript UI
reads the same declaration (``codegen`` writes it out as JSON). Types,
bounds and defaults are not repeated here: each field names its place in the
request (``api``, a dotted path), and the contract's field info supplies them.

Errors come back (from the contract's ``parse`` on this side, or from the
server) naming that dotted path; :meth:`Form.field_for` finds the form field
it belongs to, so a front end can show the message next to the right input
or flag.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import models
from .runtime import UNSET, FieldInfo, Model

#: The ``cluster`` choice of a job that makes a new cluster for each run. Not a valid
#: cluster name (names are lowercase), so it never shadows a real cluster.
NEW_CLUSTER = "NEW"

KINDS = ("text", "integer", "boolean", "choice", "secret", "datetime", "pairs")


@dataclass(frozen=True)
class Field:
    """One input of a form.

    ``kind``: text, integer, boolean, choice (from ``choices`` or the live list
    named by ``choices_from``), secret (never echoed, never on a command line),
    datetime, or pairs (NAME=value lines). ``show_if`` says when a UI shows it:
    ``{"cluster": "NEW"}`` means "when the field cluster has the value NEW";
    ``{"schedule": ["at", "cron"]}`` one of several values.
    """

    name: str
    label: str
    api: str
    kind: str = "text"
    help: str = ""
    argument: bool = False
    flag: str = ""
    short: str = ""
    choices: tuple[str, ...] = ()
    choices_from: str = ""
    show_if: Mapping[str, Any] = field(default_factory=dict)
    advanced: bool = False
    placeholder: str = ""
    #: Not offered by the CLI (it has other flags for the same thing).
    cli: bool = True
    #: Overrides the contract's "required" where the form offers another way (a job's
    #: cluster may be left out when a new one is described instead).
    required: bool | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"field {self.name}: unknown kind {self.kind!r}")

    @property
    def cli_flag(self) -> str:
        if self.argument:
            return self.name.upper()
        if self.flag:
            return self.flag
        base = "--" + self.name.replace("_", "-")
        return base + "-env" if self.kind == "secret" else base


@dataclass(frozen=True)
class Form:
    name: str
    title: str
    request: type[Model]
    fields: tuple[Field, ...]
    #: values (by field name, absent when not given) -> the request model.
    build: Callable[[Mapping[str, Any]], Model]
    help: str = ""

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"form {self.name} has no field {name!r}")

    def info(self, f: Field) -> FieldInfo:
        """The contract's schema of a field: type, bounds, default, description."""
        return field_info(self.request, f.api)

    def help_of(self, f: Field) -> str:
        return f.help or " ".join(self.info(f).description.split())

    def required(self, f: Field) -> bool:
        return self.info(f).required if f.required is None else f.required

    def default_of(self, f: Field) -> Any:
        d = self.info(f).default
        return None if d is UNSET else d

    def field_for(self, api_path: str | None) -> Field | None:
        """The form field an error about ``api_path`` (e.g. ``schedule.cron``,
        ``env.FOO``, ``cluster.instance_type``) belongs to."""
        if not api_path:
            return None
        best: Field | None = None
        for f in self.fields:
            if api_path == f.api or api_path.startswith(f.api + "."):
                if best is None or len(f.api) > len(best.api):
                    best = f
        return best

    def describe(self) -> dict[str, Any]:
        """The form as JSON, for front ends that are not Python (the TypeScript UI)."""
        out = []
        for f in self.fields:
            info = self.info(f)
            d = {k: v for k, v in dataclasses.asdict(f).items()
                 if k not in ("cli", "flag", "short", "argument") and v not in ("", (), {})}
            d["help"] = self.help_of(f)
            d["required"] = self.required(f)
            for key, value in (("default", info.default), ("minimum", info.minimum),
                               ("maximum", info.maximum), ("max_length", info.max_length),
                               ("pattern", info.pattern), ("pattern_message",
                                                           info.pattern_message)):
                if value is not None and value is not UNSET:
                    d[key] = value
            if f.choices:
                d["choices"] = list(f.choices)
            if f.show_if:
                d["show_if"] = dict(f.show_if)
            out.append(d)
        return {"name": self.name, "title": self.title, "help": self.help, "fields": out}


def field_info(model: type[Model], path: str) -> FieldInfo:
    """A dotted path into a request model (``schedule.cron``) as the contract's field."""
    head, _, rest = path.partition(".")
    info = model.field_info(head)
    if not rest:
        return info
    for alt in (info.one_of or ()):
        if isinstance(alt.ref, type) and issubclass(alt.ref, Model):
            return field_info(alt.ref, rest)
    if isinstance(info.ref, type) and issubclass(info.ref, Model):
        return field_info(info.ref, rest)
    raise KeyError(f"{model.__name__} has no field {path!r}")


# -- create a cluster ---------------------------------------------------------------------


def _build_cluster(v: Mapping[str, Any]) -> models.CreateClusterRequest:
    return models.CreateClusterRequest.parse(
        {k: v[k] for k in ("name", "instance_type", "instances", "efa", "provider",
                           "bodo_version")
         if v.get(k) is not None})


CLUSTER_CREATE = Form(
    name="cluster-create", title="Create cluster", request=models.CreateClusterRequest,
    help="A cluster of INSTANCES x INSTANCE_TYPE: one MPI rank per core.",
    fields=(
        Field("name", "Name", "name", argument=True, placeholder="demo"),
        Field("efa", "EFA", "efa", kind="boolean",
              help="Use Elastic Fabric Adapter networking (only EFA-capable instance "
                   "types are offered)."),
        Field("instance_type", "Instance type", "instance_type", kind="choice",
              choices_from="instance_types", short="-t",
              help="The shape of every instance: its cores (MPI ranks), memory and whether "
                   "it has EFA (`bodo-jupyter instance-types` lists them)."),
        Field("instances", "Number of instances", "instances", kind="integer", short="-n",
              help="Number of instances (nodes); the cluster has instances x cores MPI "
                   "ranks."),
        Field("provider", "Provider", "provider", kind="choice", choices_from="providers",
              advanced=True, help="Where the cluster runs (default: the platform's default)."),
        Field("bodo_version", "Bodo version", "bodo_version", kind="choice",
              choices_from="bodo_versions", advanced=True,
              help="The Bodo the cluster runs (default: the provider's newest; "
                   "`bodo-jupyter bodo-versions` lists them)."),
    ),
    build=_build_cluster,
)


# -- create a job -------------------------------------------------------------------------


def _build_job(v: Mapping[str, Any]) -> models.CreateJobRequest:
    """Flat form values -> CreateJobRequest. ``cluster`` is a cluster's name, or NEW
    (or nothing, with ``instance_type``) for a new cluster made for each run; the
    schedule is now, unless ``schedule`` or an ``at``/``cron`` value says otherwise."""
    from .runtime import ContractError

    cluster = v.get("cluster") or None
    new = cluster in (None, NEW_CLUSTER)
    if cluster and cluster != NEW_CLUSTER and v.get("instance_type"):
        raise ContractError("cluster", "give either an existing cluster or the instance "
                            "type of a new one for each run, not both")
    if new and not v.get("instance_type"):
        raise ContractError("cluster", "cluster is required: the name of a RUNNING "
                            "cluster, or the instance type of a new one for each run")
    target: Any = cluster
    if new:
        target = {k: v[k] for k in ("instance_type", "instances", "efa", "provider",
                                    "bodo_version")
                  if v.get(k) is not None}
    kind = v.get("schedule") or ("at" if v.get("at") else "cron" if v.get("cron") else "now")
    if v.get("at") and v.get("cron"):
        raise ContractError("schedule", "give an 'at' time or a 'cron' schedule, not both")
    schedule: Any = "now"
    if kind != "now" or v.get("timezone"):
        schedule = {"type": kind}
        for k in ("at", "cron", "timezone", "max_concurrent_runs"):
            if v.get(k) is not None:
                schedule[k] = v[k]
    body: dict[str, Any] = {"name": v.get("name"), "cluster": target, "schedule": schedule}
    for k in ("command", "path", "ref", "git_username", "git_password", "env", "timeout_s",
              "retries", "retry_delay_s"):
        if v.get(k) not in (None, "", {}):
            body[k] = v[k]
    return models.CreateJobRequest.parse(body)


_NEW = {"cluster": NEW_CLUSTER}
JOB_CREATE = Form(
    name="job-create", title="Create job", request=models.CreateJobRequest,
    help="Runs `mpiexec -n <CORE_COUNT> python <command>` on a cluster, with code from Git "
         "or S3: now, at a time, or on a cron schedule.",
    fields=(
        Field("name", "Name", "name", argument=True, placeholder="nightly-etl"),
        Field("cluster", "Cluster", "cluster", kind="choice", choices_from="free_clusters",
              required=False,
              help="A RUNNING cluster not held by another job's run or a notebook, or NEW "
                   "for a cluster made for each run (and deleted after it)."),
        Field("instance_type", "Instance type", "cluster.instance_type", kind="choice",
              choices_from="instance_types", short="-t", show_if=_NEW,
              help="For a new cluster made for each run: its instance type."),
        Field("instances", "Number of instances", "cluster.instances", kind="integer",
              short="-n", show_if=_NEW,
              help="For a new cluster made for each run: its number of instances."),
        Field("efa", "EFA", "cluster.efa", kind="boolean", show_if=_NEW,
              help="For a new cluster made for each run: use EFA networking."),
        Field("provider", "Provider", "cluster.provider", kind="choice",
              choices_from="providers", show_if=_NEW, advanced=True,
              help="For a new cluster made for each run: the provider."),
        Field("bodo_version", "Bodo version", "cluster.bodo_version", kind="choice",
              choices_from="bodo_versions", show_if=_NEW, advanced=True,
              help="For a new cluster made for each run: its Bodo version (default: the "
                   "provider's newest)."),
        Field("schedule", "Schedule", "schedule.type", kind="choice",
              choices=("now", "at", "cron"), cli=False),
        Field("at", "At", "schedule.at", kind="datetime", show_if={"schedule": "at"},
              help="Run once at this ISO 8601 time (e.g. 2030-01-31T09:00:00+01:00)."),
        Field("cron", "Cron", "schedule.cron", show_if={"schedule": "cron"},
              placeholder="0 9 * * 1-5",
              help="Run on this cron schedule: minute hour day-of-month month day-of-week "
                   "(a sixth field for seconds is allowed)."),
        Field("timezone", "Time zone", "schedule.timezone", kind="choice",
              choices_from="timezones", show_if={"schedule": ["at", "cron"]},
              help="Time zone of --at and --cron (IANA, e.g. Europe/Paris); UTC when not "
                   "given."),
        Field("max_concurrent_runs", "Runs at once", "schedule.max_concurrent_runs",
              kind="integer", flag="--max-concurrent", show_if={"schedule": "cron"},
              advanced=True, help="With --cron: runs of this job at once."),
        Field("command", "Command", "command", placeholder="etl.py --date today",
              help="What follows `mpiexec -n <CORE_COUNT> python`, e.g. \"ex.py 1\"."),
        Field("path", "Path", "path", placeholder="https://github.com/acme/pipelines",
              help="Git repository URL (https://host/owner/repo) or S3 URI "
                   "(s3://bucket/prefix)."),
        Field("git_username", "Git username", "git_username", flag="--username",
              advanced=True, help="Git username (private repositories)."),
        Field("git_password", "Git password or token", "git_password", kind="secret",
              flag="--password-env", advanced=True,
              help="Git password or token (private repositories): stored encrypted, "
                   "never shown again."),
        Field("ref", "Reference", "ref", advanced=True, help="Git branch, tag or commit."),
        Field("env", "Environment variables", "env", kind="pairs", advanced=True,
              help="Environment variable for the job, NAME=VALUE (repeatable)."),
        Field("timeout_s", "Timeout (s)", "timeout_s", kind="integer", flag="--timeout",
              advanced=True, help="Stop a run after so many seconds."),
        Field("retries", "Retries", "retries", kind="integer", advanced=True,
              help="Run again after a failure, so many times."),
        Field("retry_delay_s", "Retry delay (s)", "retry_delay_s", kind="integer",
              flag="--retry-delay", advanced=True,
              help="Seconds between a failure and the retry."),
    ),
    build=_build_job,
)


# -- create a notebook --------------------------------------------------------------------


def _build_notebook(v: Mapping[str, Any]) -> models.CreateNotebookRequest:
    """Flat form values -> CreateNotebookRequest; an empty cluster means none."""
    return models.CreateNotebookRequest.parse(
        {k: v[k] for k in ("name", "instance_type", "cluster") if v.get(k) not in (None, "")})


NOTEBOOK_CREATE = Form(
    name="notebook-create", title="Create notebook", request=models.CreateNotebookRequest,
    help="A Jupyter notebook on a node of its own, optionally attached to a cluster: its "
         "kernels start attached, so %%px runs on the cluster's ranks in the first cell.",
    fields=(
        Field("name", "Name", "name", argument=True, placeholder="analysis"),
        Field("instance_type", "Instance type", "instance_type", kind="choice",
              choices_from="notebook_instance_types", short="-t",
              help="The node that hosts the notebook (it runs the notebook itself, not "
                   "cluster work; `bodo-jupyter notebook instance-types` lists them)."),
        Field("cluster", "Cluster", "cluster", kind="choice", choices_from="free_clusters",
              short="-c",
              help="A RUNNING cluster that no job or other notebook holds, to attach the "
                   "notebook to (optional); the notebook holds it until it is deleted."),
    ),
    build=_build_notebook,
)

# -- link AWS credentials -----------------------------------------------------------------


def _build_aws_credentials(v: Mapping[str, Any]) -> models.AwsCredentialsRequest:
    return models.AwsCredentialsRequest.parse(
        {k: v[k] for k in ("access_key_id", "secret_access_key", "account_id", "region")
         if v.get(k) not in (None, "")})


AWS_CREDENTIALS = Form(
    name="aws-credentials", title="AWS credentials", request=models.AwsCredentialsRequest,
    help="Access keys of an IAM user of your AWS account with the platform's policy: "
         "clusters are made in that account. The keys are checked with AWS, and the "
         "secret is stored encrypted and never shown again.",
    fields=(
        Field("access_key_id", "Access key id", "access_key_id", placeholder="AKIA…"),
        Field("secret_access_key", "Secret access key", "secret_access_key", kind="secret"),
        Field("account_id", "AWS account id", "account_id", placeholder="123456789012"),
        Field("region", "Region", "region", placeholder="us-east-1"),
    ),
    build=_build_aws_credentials,
)

FORMS = {f.name: f for f in (CLUSTER_CREATE, JOB_CREATE, NOTEBOOK_CREATE, AWS_CREDENTIALS)}
