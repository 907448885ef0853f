"""notebooks

A notebook is a Jupyter server on a node of its own, optionally attached to a
cluster it holds (a lease of kind ``notebook``, in ``cluster_leases``). A table
added, nothing rewritten.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 23:30:00
"""

import sqlalchemy as sa
from alembic import op

import bodo_jupyter.platform.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notebooks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("instance_type", sa.String(length=64), nullable=False),
        sa.Column("cluster_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("server_env_enc", sa.Text(), nullable=True),
        sa.Column("token_enc", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("last_task_id", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=False),
        sa.Column("ready_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=True),
        sa.Column("terminated_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notebooks_org_id", "notebooks", ["org_id"], unique=False)
    op.create_index("ix_notebooks_cluster_id", "notebooks", ["cluster_id"], unique=False)
    op.create_index("ix_notebooks_status", "notebooks", ["status"], unique=False)
    op.create_index("ix_notebooks_org_created", "notebooks", ["org_id", "created_at", "id"],
                    unique=False)
    op.create_index("uq_notebooks_live_name", "notebooks", ["org_id", "name"], unique=True,
                    sqlite_where=sa.text("status != 'TERMINATED'"),
                    postgresql_where=sa.text("status != 'TERMINATED'"))


def downgrade() -> None:
    op.drop_table("notebooks")
