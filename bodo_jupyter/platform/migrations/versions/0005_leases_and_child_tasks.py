"""cluster leases and child tasks

Who holds a cluster moves from a flag on job runs (plus a lock in memory) to
leases in the database; tasks may name a parent task. Runs holding a cluster
at upgrade time get a held lease, so an upgrade mid-run changes nothing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 21:00:00
"""

import json
import secrets

import sqlalchemy as sa
from alembic import op

import bodo_jupyter.platform.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_leases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("cluster_id", sa.String(length=32), nullable=False),
        sa.Column("holder_kind", sa.String(length=16), nullable=False),
        sa.Column("holder_id", sa.String(length=32), nullable=False),
        sa.Column("holder_label", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("requested_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=False),
        sa.Column("acquired_at", bodo_jupyter.platform.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cluster_leases", schema=None) as batch_op:
        batch_op.create_index("ix_cluster_leases_cluster_id", ["cluster_id"], unique=False)
        batch_op.create_index("ix_cluster_leases_org_id", ["org_id"], unique=False)
        batch_op.create_index("uq_cluster_leases_held", ["cluster_id"], unique=True,
                              sqlite_where=sa.text("state = 'held'"),
                              postgresql_where=sa.text("state = 'held'"))
        batch_op.create_index("uq_cluster_leases_holder",
                              ["cluster_id", "holder_kind", "holder_id"], unique=True)

    conn = op.get_bind()
    held = conn.execute(sa.text(
        "SELECT r.id, r.org_id, r.cluster_id, j.name FROM job_runs r "
        "JOIN jobs j ON j.id = r.job_id WHERE r.holding_cluster "
        "AND r.status IN ('NEW', 'INPROGRESS') AND r.cluster_id IS NOT NULL")).fetchall()
    for run_id, org_id, cluster_id, job_name in held:
        conn.execute(sa.text(
            "INSERT INTO cluster_leases (id, org_id, cluster_id, holder_kind, holder_id, "
            "holder_label, state, requested_at, acquired_at) VALUES (:id, :org, :cluster, "
            "'job_run', :run, :label, 'held', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
            {"id": f"l-{secrets.token_hex(6)}", "org": org_id, "cluster": cluster_id,
             "run": run_id, "label": f"job '{job_name}' (run {run_id})"})

    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_column("holding_cluster")

    # A dedicated cluster records what it was made for, without a link into jobs.
    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("made_for", sa.JSON(), nullable=True))
    made = conn.execute(sa.text(
        "SELECT c.id, r.id, j.id, j.name FROM clusters c JOIN job_runs r "
        "ON r.id = c.dedicated_run_id JOIN jobs j ON j.id = r.job_id")).fetchall()
    for cluster_id, run_id, job_id, job_name in made:
        conn.execute(sa.text("UPDATE clusters SET made_for = :m WHERE id = :i"), {
            "i": cluster_id, "m": json.dumps({
                "kind": "job_run", "id": run_id, "label": f"job '{job_name}' (run {run_id})",
                "job_id": job_id, "job_name": job_name})})
    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.drop_column("dedicated_run_id")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_tasks_parent_id", ["parent_id"], unique=False)
        batch_op.create_foreign_key("fk_tasks_parent_id_tasks", "tasks", ["parent_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedicated_run_id", sa.String(length=32), nullable=True))
        batch_op.drop_column("made_for")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint("fk_tasks_parent_id_tasks", type_="foreignkey")
        batch_op.drop_index("ix_tasks_parent_id")
        batch_op.drop_column("parent_id")
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holding_cluster", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.drop_table("cluster_leases")
