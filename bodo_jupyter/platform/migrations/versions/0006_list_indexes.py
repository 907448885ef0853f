"""indexes for keyset pages of lists

Every list is read newest first on (created_at, id) within an organisation
(or, for runs, within a job); these composite indexes let each page start
where the previous one stopped instead of scanning and sorting the table.
Indexes only: no table is rebuilt and no data changes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 12:30:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_clusters_org_created", "clusters", ["org_id", "created_at", "id"]),
    ("ix_tasks_org_created", "tasks", ["org_id", "created_at", "id"]),
    ("ix_jobs_org_created", "jobs", ["org_id", "created_at", "id"]),
    ("ix_job_runs_job_created", "job_runs", ["job_id", "created_at", "id"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
