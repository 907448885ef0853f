"""Every read and write is scoped to the caller's organisation.

Single-user installs have one organisation, but the control plane is built for
many (JupyterHub sign-up adds them): a member of one organisation can neither
see nor touch another's clusters and tasks -- it gets the same 404 as for
something that does not exist.
"""

from __future__ import annotations

import asyncio

import pytest
from traitlets.config import Config

from bodo_jupyter.platform.errors import NotFound
from bodo_jupyter.platform.models import Cluster, ClusterStatus, Task, TaskStatus
from bodo_jupyter.platform.service import ControlPlane

from .helpers import track


def test_organisations_do_not_see_each_other(tmp_path, db_url):
    """On SQLite and on PostgreSQL."""

    async def main() -> None:
        config = Config()
        config.Store.db_url = db_url
        plane = track(ControlPlane(data_dir=str(tmp_path), config=config))
        await plane.start()
        try:
            ann = plane.ensure_user("ann", "acme")
            bob = plane.ensure_user("bob", "globex")
            carl = plane.ensure_user("carl", "acme")
            with plane.store.session() as s:
                c = Cluster(org_id=ann.org_id, name="shared-name", provider="local",
                            instance_type="local.small", instances=1, cores_per_instance=1,
                            created_by=ann.user_id, status=ClusterStatus.FAILED)
                s.add(c)
                s.flush()
                t = Task(org_id=ann.org_id, user_id=ann.user_id, kind="cluster.create",
                         cluster_id=c.id, status=TaskStatus.FAILED, steps=[])
                s.add(t)
                s.flush()
                cid, tid = c.id, t.id

            # A colleague in the same organisation shares it.
            assert plane.clusters.get(carl, "shared-name")["id"] == cid
            assert plane.tasks.get(carl, tid)["id"] == tid
            # Another organisation sees nothing, by name or by id.
            assert plane.clusters.list(bob)["items"] == []
            assert plane.tasks.list(bob)["items"] == []
            for ref in ("shared-name", cid):
                with pytest.raises(NotFound):
                    plane.clusters.get(bob, ref)
                with pytest.raises(NotFound):
                    await plane.clusters.delete(bob, ref)
                with pytest.raises(NotFound):
                    await plane.clusters.connection(bob, ref)
            with pytest.raises(NotFound):
                plane.tasks.get(bob, tid)
            with pytest.raises(NotFound):
                await plane.tasks.cancel(bob, tid)
            # Names are per organisation: bob may use the same one.
            assert plane.tasks.list(bob, cluster="shared-name")["items"] == []
        finally:
            await plane.stop()

    asyncio.run(main())
