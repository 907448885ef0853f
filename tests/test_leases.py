"""Leases on their own: one holder per cluster, enforced by the database; the others wait
in order; holders that ended while the control plane was down lose their leases."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from bodo_jupyter.platform.clusters.leases import Holder, HolderRules, Leases
from bodo_jupyter.platform.errors import Conflict
from bodo_jupyter.platform.models import (
    Cluster,
    ClusterLease,
    ClusterStatus,
    LeaseState,
    Organization,
    User,
)
from bodo_jupyter.platform.store import Store


class Changes:
    """What the task engine gives leases: a "something changed" signal."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.count = 0

    def notify(self) -> None:
        self.count += 1
        self.event.set()
        self.event = asyncio.Event()

    async def wait_for_change(self, timeout: float) -> None:
        ev = self.event
        try:
            async with asyncio.timeout(timeout):
                await ev.wait()
        except TimeoutError:
            pass


def world(tmp_path: Path) -> tuple[Store, str, str]:
    store = Store(default_path=tmp_path / "db.sqlite")
    store.upgrade()
    with store.session() as s:
        org = Organization(name="acme")
        s.add(org)
        s.flush()
        user = User(name="ann", org_id=org.id)
        s.add(user)
        s.flush()
        c = Cluster(org_id=org.id, name="shared", provider="local", instance_type="t",
                    instances=1, cores_per_instance=1, created_by=user.id,
                    status=ClusterStatus.RUNNING)
        s.add(c)
        s.flush()
        return store, org.id, c.id


def run(n: int) -> Holder:
    return Holder("job_run", f"r-{n}", f"job 'etl' (run r-{n})")


def test_one_holder_at_a_time_and_the_409_names_it(tmp_path):
    store, org, cid = world(tmp_path)
    leases = Leases(store, Changes())
    leases.register(HolderRules("job_run", "cancel the run", lambda ids: set(ids)))
    with store.session() as s:
        leases.take(s, org, cid, "shared", run(1))
    with store.session() as s:
        leases.take(s, org, cid, "shared", run(1))  # the holder again: fine
    with pytest.raises(Conflict) as e, store.session() as s:
        leases.take(s, org, cid, "shared", run(2))
    assert e.value.message == ("cluster 'shared' is in use by job 'etl' (run r-1); "
                               "cancel the run first")
    assert e.value.field == "cluster"
    # The database itself refuses a second held lease, whatever the code above does.
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(ClusterLease(org_id=org, cluster_id=cid, holder_kind="notebook",
                           holder_id="n-1", state=LeaseState.HELD))
    with store.session() as s:
        assert leases.held(s, cid).holder_id == "r-1"
        assert leases.held_by_cluster(s, [cid])[cid].holder_label == "job 'etl' (run r-1)"
    assert leases.release(run(1))
    with store.session() as s:
        assert leases.held(s, cid) is None


def test_waiting_holders_are_served_in_order(tmp_path):
    async def main() -> None:
        store, org, cid = world(tmp_path)
        changes = Changes()
        leases = Leases(store, changes)
        with store.session() as s:
            leases.take(s, org, cid, "shared", run(0))
        got: list[str] = []
        waited: list[tuple[str, int]] = []

        async def want(n: int) -> None:
            h = run(n)
            await leases.acquire(org, cid, h, usable=lambda: None,
                                 on_wait=lambda cur, pos: waited.append((cur.holder_id, pos)))
            got.append(h.id)
            leases.release(h, cid)

        tasks = []
        for n in (1, 2, 3):  # they ask in this order, each after the previous one queued
            tasks.append(asyncio.create_task(want(n)))
            while len(waited) < n:
                await changes.wait_for_change(0.05)
        assert [p for _, p in waited] == [1, 2, 3]
        assert {holder for holder, _ in waited} == {"r-0"}
        leases.release(run(0))  # the first holder lets go: the others follow, in order
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        assert got == ["r-1", "r-2", "r-3"]

    asyncio.run(main())


def test_a_waiter_leaves_the_line_when_the_cluster_goes(tmp_path):
    async def main() -> None:
        store, org, cid = world(tmp_path)
        leases = Leases(store, Changes())
        with store.session() as s:
            leases.take(s, org, cid, "shared", run(0))
        gone = asyncio.Event()

        def usable() -> None:
            if gone.is_set():
                raise RuntimeError("cluster 'shared' is STOPPING")

        waiter = asyncio.create_task(leases.acquire(org, cid, run(1), usable=usable,
                                                    on_wait=lambda cur, pos: None))
        while True:
            with store.session() as s:
                if leases.waiting(s, cid) == 1:
                    break
            await leases.changes.wait_for_change(0.05)
        gone.set()
        leases.changes.notify()
        with pytest.raises(RuntimeError, match="STOPPING"):
            await asyncio.wait_for(waiter, 10)
        with store.session() as s:
            assert leases.waiting(s, cid) == 0  # it left the queue

    asyncio.run(main())


def test_leases_of_holders_that_ended_are_released(tmp_path):
    """After a restart: leases whose holder no longer runs go; others stay; kinds nobody
    registered (yet) are left alone."""
    store, org, cid = world(tmp_path)
    leases = Leases(store, Changes())
    with store.session() as s:
        leases.take(s, org, cid, "shared", run(1))
    leases.request(org, cid, run(2))
    leases.request(org, cid, Holder("notebook", "n-1", "notebook 'x'"))
    alive = {"r-2"}
    leases.register(HolderRules("job_run", "cancel the run", lambda ids: alive & set(ids)))
    assert leases.release_ended() == 1
    with store.session() as s:
        assert leases.held(s, cid) is None
        assert leases.waiting(s, cid) == 2
