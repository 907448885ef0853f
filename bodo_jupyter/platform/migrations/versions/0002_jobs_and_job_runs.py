"""jobs and job runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 15:55:48.674851
"""

import sqlalchemy as sa
from alembic import op

import bodo_jupyter.platform.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=False),
        sa.Column("deleted_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=True),
        sa.Column("cluster_id", sa.String(length=32), nullable=True),
        sa.Column("cluster_spec", sa.JSON(), nullable=True),
        sa.Column("schedule_type", sa.String(length=8), nullable=False),
        sa.Column("run_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=True),
        sa.Column("cron", sa.String(length=128), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=True),
        sa.Column("max_concurrent_runs", sa.Integer(), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("argv", sa.JSON(), nullable=False),
        sa.Column("source_type", sa.String(length=8), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("ref", sa.String(length=256), nullable=True),
        sa.Column("git_username", sa.String(length=256), nullable=True),
        sa.Column("git_password_enc", sa.Text(), nullable=True),
        sa.Column("env", sa.JSON(), nullable=False),
        sa.Column("timeout_s", sa.Integer(), nullable=True),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("retry_delay_s", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_next_run_at"), ["next_run_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            "uq_jobs_live_name",
            ["org_id", "name"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "job_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("due_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("command_line", sa.Text(), nullable=True),
        sa.Column("source_revision", sa.String(length=64), nullable=True),
        sa.Column("cluster_id", sa.String(length=32), nullable=True),
        sa.Column("holding_cluster", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=False),
        sa.Column("started_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=True),
        sa.Column("finished_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_runs_cluster_id"), ["cluster_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_runs_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_runs_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_runs_status"), ["status"], unique=False)
        batch_op.create_index("uq_job_runs_due", ["job_id", "due_at"], unique=True)

    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedicated_run_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.drop_column("dedicated_run_id")

    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index("uq_job_runs_due")
        batch_op.drop_index(batch_op.f("ix_job_runs_status"))
        batch_op.drop_index(batch_op.f("ix_job_runs_org_id"))
        batch_op.drop_index(batch_op.f("ix_job_runs_job_id"))
        batch_op.drop_index(batch_op.f("ix_job_runs_cluster_id"))

    op.drop_table("job_runs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_jobs_live_name",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_jobs_org_id"))
        batch_op.drop_index(batch_op.f("ix_jobs_next_run_at"))

    op.drop_table("jobs")
