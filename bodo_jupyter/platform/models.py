"""The control plane's records.

An Organization owns everything; its Users share it. A Cluster is made and
removed by Tasks; each Task keeps its TaskEvents (the steps a user sees under
"details"). A Resource is anything a provider made for a cluster (a process
group here, an EC2 instance or VPC in AWS), recorded the moment it exists so
that teardown and recovery can always find it.
"""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Statuses exist once, in the API contract; records store their values.
from bodo_jupyter.contract.models import ClusterStatus, JobRunStatus, NotebookStatus, TaskStatus

__all__ = ["AwsAccount", "Base", "Cluster", "ClusterLease", "ClusterStatus", "Job", "JobRun",
           "JobRunStatus", "LeaseState", "Notebook", "NotebookStatus", "Organization",
           "Resource", "Task", "TaskEvent", "TaskStatus", "User", "new_id", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """Short, readable, unguessable ids such as ``c-5f2a9c81d3e0``."""
    return f"{prefix}-{secrets.token_hex(6)}"


class UTCDateTime(TypeDecorator):
    """Store UTC without a zone (SQLite has none); always hand back aware datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("o"))
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="organization")


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("u"))
    name: Mapped[str] = mapped_column(String(128), unique=True)
    email: Mapped[str | None] = mapped_column(String(256))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="users")


class Cluster(Base):
    __tablename__ = "clusters"
    __table_args__ = (
        # A name is taken while its cluster lives; a terminated cluster frees it.
        Index(
            "uq_clusters_live_name",
            "org_id",
            "name",
            unique=True,
            sqlite_where=text("status != 'TERMINATED'"),
            postgresql_where=text("status != 'TERMINATED'"),
        ),
        Index("uq_clusters_client_token", "org_id", "client_token", unique=True),
        # Lists: an organisation's clusters newest first, page after page (keyset).
        Index("ix_clusters_org_created", "org_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("c"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    provider: Mapped[str] = mapped_column(String(32))
    instance_type: Mapped[str] = mapped_column(String(64))
    instances: Mapped[int] = mapped_column(Integer)
    cores_per_instance: Mapped[int] = mapped_column(Integer)
    efa: Mapped[bool] = mapped_column(Boolean, default=False)
    # The Bodo the cluster runs (its provider's choice at create); None: without Bodo.
    bodo_version: Mapped[str | None] = mapped_column(String(32), default=None)
    status: Mapped[str] = mapped_column(String(16), default=ClusterStatus.NEW, index=True)
    status_message: Mapped[str] = mapped_column(Text, default="")
    client_token: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(default=None)
    terminated_at: Mapped[datetime | None] = mapped_column(default=None)
    # What the provider needs to find the cluster again (never secrets).
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set for a cluster made for one holder (a job run), which deletes it when it
    # ends: {"kind", "id", "label"} plus what the holder's domain adds to show it
    # (a run's job id and name). The cluster domain only passes it through.
    made_for: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    @property
    def core_count(self) -> int:
        return self.instances * self.cores_per_instance

    def set_status(self, status: ClusterStatus, message: str = "") -> None:
        self.status = status
        self.status_message = message
        now = utcnow()
        if status == ClusterStatus.RUNNING:
            self.ready_at = now
        if status == ClusterStatus.TERMINATED:
            self.terminated_at = now


class Notebook(Base):
    """A Jupyter server on a node of its own, optionally attached to a cluster it holds
    (a lease of kind ``notebook``). Its server's environment from a hub spawner
    (``server_env``, with the hub's API token) and its own token are stored encrypted."""

    __tablename__ = "notebooks"
    __table_args__ = (
        # A name is taken while its notebook lives; a terminated notebook frees it.
        Index(
            "uq_notebooks_live_name",
            "org_id",
            "name",
            unique=True,
            sqlite_where=text("status != 'TERMINATED'"),
            postgresql_where=text("status != 'TERMINATED'"),
        ),
        Index("ix_notebooks_org_created", "org_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("n"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    provider: Mapped[str] = mapped_column(String(32))
    instance_type: Mapped[str] = mapped_column(String(64))
    cluster_id: Mapped[str | None] = mapped_column(ForeignKey("clusters.id"), default=None,
                                                   index=True)
    status: Mapped[str] = mapped_column(String(16), default=NotebookStatus.NEW, index=True)
    status_message: Mapped[str] = mapped_column(Text, default="")
    # Encrypted (SecretBox): the hub spawner's environment for the server, as JSON.
    server_env_enc: Mapped[str | None] = mapped_column(Text, default=None)
    # Encrypted: the server's own token (standalone mode; None behind a hub).
    token_enc: Mapped[str | None] = mapped_column(Text, default=None)
    # What the backend needs to find the server again (process, URL); never secrets.
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_task_id: Mapped[str | None] = mapped_column(String(32), default=None)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(default=None)
    terminated_at: Mapped[datetime | None] = mapped_column(default=None)

    def set_status(self, status: NotebookStatus, message: str = "") -> None:
        self.status = status
        self.status_message = message
        now = utcnow()
        if status == NotebookStatus.RUNNING:
            self.ready_at = now
        if status == NotebookStatus.TERMINATED:
            self.terminated_at = now


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_org_created", "org_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("t"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(64))
    cluster_id: Mapped[str | None] = mapped_column(ForeignKey("clusters.id"), index=True)
    # A child task (a job run's own cluster.create) names the task that started it.
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id"), default=None,
                                                  index=True)
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.NEW, index=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The steps the task will go through, [{"name": ..., "title": ...}], known
    # up front so that a UI can show what is still to come.
    steps: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    # Where each step got to, kept up to date by every event, so that reading a
    # task never has to replay its events: {step: {"state": ..., "message": ...}}.
    step_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)

    events: Mapped[list[TaskEvent]] = relationship(
        back_populates="task", order_by="TaskEvent.seq", cascade="all, delete-orphan"
    )


class TaskEvent(Base):
    __tablename__ = "task_events"
    __table_args__ = (Index("ix_task_events_task_seq", "task_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"))
    seq: Mapped[int] = mapped_column(Integer)
    time: Mapped[datetime] = mapped_column(default=utcnow)
    step: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # started | progress | done | failed | info
    message: Mapped[str] = mapped_column(Text, default="")
    progress: Mapped[float] = mapped_column(Float, default=0.0)

    task: Mapped[Task] = relationship(back_populates="events")


class Resource(Base):
    __tablename__ = "resources"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("r"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("clusters.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64))
    ref: Mapped[str] = mapped_column(String(256))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="active", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class LeaseState(enum.StrEnum):
    WAITING = "waiting"
    HELD = "held"


class ClusterLease(Base):
    """Who holds a cluster (a job run, a notebook), or waits for it, in order.

    At most one lease per cluster is HELD: the database enforces it, so no
    restart, race or second process can give one cluster two holders. Holders
    are named by kind and id only; the cluster domain knows nothing of jobs or
    notebooks beyond the label it shows.
    """

    __tablename__ = "cluster_leases"
    __table_args__ = (
        Index(
            "uq_cluster_leases_held",
            "cluster_id",
            unique=True,
            sqlite_where=text("state = 'held'"),
            postgresql_where=text("state = 'held'"),
        ),
        Index("uq_cluster_leases_holder", "cluster_id", "holder_kind", "holder_id",
              unique=True),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("l"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("clusters.id"), index=True)
    holder_kind: Mapped[str] = mapped_column(String(16))  # job_run | notebook
    holder_id: Mapped[str] = mapped_column(String(32))
    holder_label: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(8), default=LeaseState.WAITING)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    acquired_at: Mapped[datetime | None] = mapped_column(default=None)


class Job(Base):
    """What to run, where and when; each execution is a JobRun."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index(
            "uq_jobs_live_name",
            "org_id",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_jobs_org_created", "org_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("j"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    # Where: an existing cluster, or the spec of a cluster made for each run.
    cluster_id: Mapped[str | None] = mapped_column(ForeignKey("clusters.id"), default=None)
    cluster_spec: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # When.
    schedule_type: Mapped[str] = mapped_column(String(8))  # now | at | cron
    run_at: Mapped[datetime | None] = mapped_column(default=None)
    cron: Mapped[str | None] = mapped_column(String(128), default=None)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    max_concurrent_runs: Mapped[int] = mapped_column(Integer, default=1)
    # What.
    command: Mapped[str] = mapped_column(Text)
    argv: Mapped[list[str]] = mapped_column(JSON, default=list)
    source_type: Mapped[str] = mapped_column(String(8))  # git | s3
    path: Mapped[str] = mapped_column(Text)
    ref: Mapped[str | None] = mapped_column(String(256), default=None)
    git_username: Mapped[str | None] = mapped_column(String(256), default=None)
    git_password_enc: Mapped[str | None] = mapped_column(Text, default=None)  # encrypted
    env: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    timeout_s: Mapped[int | None] = mapped_column(Integer, default=None)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    retry_delay_s: Mapped[int] = mapped_column(Integer, default=0)


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (
        # One run per due time: the scheduler can never start a time twice.
        Index("uq_job_runs_due", "job_id", "due_at", unique=True),
        # A job's runs newest first (its list, and its latest run in the list of jobs).
        Index("ix_job_runs_job_created", "job_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("r"))
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id"), default=None)
    trigger: Mapped[str] = mapped_column(String(16))  # now | at | cron | manual
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default=JobRunStatus.NEW, index=True)
    phase: Mapped[str] = mapped_column(String(32), default="queued")
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    command_line: Mapped[str | None] = mapped_column(Text, default=None)
    source_revision: Mapped[str | None] = mapped_column(String(64), default=None)
    cluster_id: Mapped[str | None] = mapped_column(ForeignKey("clusters.id"), default=None,
                                                   index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class AwsAccount(Base):
    """An organisation's link to its AWS account; the secret is stored encrypted."""

    __tablename__ = "aws_accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: new_id("a"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), unique=True)
    access_key_id: Mapped[str] = mapped_column(String(128))
    secret_enc: Mapped[str] = mapped_column(Text)
    account_id: Mapped[str] = mapped_column(String(12))
    region: Mapped[str] = mapped_column(String(32))
    arn: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[str] = mapped_column(String(16), default="INPROGRESS")  # | READY | FAILED
    status_message: Mapped[str] = mapped_column(Text, default="")
    task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id"), default=None)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
