"""aws accounts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 16:33:28.086687
"""

import sqlalchemy as sa
from alembic import op

import bodo_jupyter.platform.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aws_accounts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("access_key_id", sa.String(length=128), nullable=False),
        sa.Column("secret_enc", sa.Text(), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("arn", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
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
        sa.UniqueConstraint("org_id"),
    )


def downgrade() -> None:
    op.drop_table("aws_accounts")
