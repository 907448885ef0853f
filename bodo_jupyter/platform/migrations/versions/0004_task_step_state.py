"""task step state

Each task keeps where its steps got to and its last event number, so that
reading a task does not replay its events. Existing tasks are filled in from
their events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 16:49:42.480206
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("step_state", sa.JSON(), nullable=False,
                                      server_default="{}"))
        batch_op.add_column(sa.Column("last_seq", sa.Integer(), nullable=False,
                                      server_default="0"))
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT task_id, seq, step, state, message FROM task_events ORDER BY task_id, seq"))
    state: dict[str, dict[str, dict[str, str]]] = {}
    last: dict[str, int] = {}
    for task_id, seq, step, st, message in rows:
        last[task_id] = seq
        steps = state.setdefault(task_id, {})
        if st in ("started", "done", "failed"):
            steps[step] = {"state": st, "message": message}
        elif st == "progress":
            steps[step] = {"state": steps.get(step, {}).get("state", "started"),
                           "message": message}
    for task_id, seq in last.items():
        conn.execute(sa.text("UPDATE tasks SET step_state = :s, last_seq = :n WHERE id = :i"),
                     {"s": json.dumps(state.get(task_id, {})), "n": seq, "i": task_id})


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("last_seq")
        batch_op.drop_column("step_state")
