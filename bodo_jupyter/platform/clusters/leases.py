"""Who holds a cluster: one holder at a time, the rest wait in order.

A job run holds its cluster while it fetches and runs; a notebook holds the
cluster it is attached to. Leases live in the database only (one table, a
unique index on the held lease of each cluster), so a restart, a race or a
second request can never give a cluster two holders, and the order of the
waiting survives a restart too.

The cluster domain knows holders only by kind, id and a label to show.
Each domain that holds clusters registers its kind with :meth:`Leases.register`:
how to tell whether a holder is still alive (so leases of holders that ended
while the control plane was down are released) and what a user must do to
free the cluster. Arrows point one way: jobs and notebooks depend on this
module; it depends on neither.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ..errors import Conflict
from ..models import ClusterLease, LeaseState, utcnow
from ..store import Store


@dataclass(frozen=True)
class Holder:
    """Something that can hold a cluster: ``kind`` is registered, ``id`` its record."""

    kind: str
    id: str
    label: str  # e.g. "job 'etl' (run r-1a2b3c)": shown in lists and in every 409


@dataclass(frozen=True)
class HolderRules:
    name: str
    #: What a user does to free a cluster this kind holds, e.g. "cancel the run".
    release_hint: str
    #: Of these holder ids, the ones still alive (ended holders lose their leases).
    alive: Callable[[list[str]], set[str]]


class Changes(Protocol):
    """How leases wake waiters (the task engine provides it)."""

    def notify(self) -> None: ...

    def wait_for_change(self, timeout: float) -> Awaitable[None]: ...


class Leases:
    def __init__(self, store: Store, changes: Changes):
        self.store = store
        self.changes = changes
        self.kinds: dict[str, HolderRules] = {}

    def register(self, kind: HolderRules) -> None:
        self.kinds[kind.name] = kind

    # -- reading ------------------------------------------------------------------

    def held(self, s: Any, cluster_id: str) -> ClusterLease | None:
        return s.scalars(select(ClusterLease).where(
            ClusterLease.cluster_id == cluster_id,
            ClusterLease.state == LeaseState.HELD)).first()

    def held_by_cluster(self, s: Any, cluster_ids: Iterable[str]) -> dict[str, ClusterLease]:
        """The held lease of each of these clusters that has one (one query, for lists)."""
        ids = list(cluster_ids)
        if not ids:
            return {}
        rows = s.scalars(select(ClusterLease).where(
            ClusterLease.cluster_id.in_(ids), ClusterLease.state == LeaseState.HELD)).all()
        return {r.cluster_id: r for r in rows}

    def waiting(self, s: Any, cluster_id: str) -> int:
        return int(s.scalar(select(func.count()).select_from(ClusterLease).where(
            ClusterLease.cluster_id == cluster_id,
            ClusterLease.state == LeaseState.WAITING)) or 0)

    def in_use(self, cluster_name: str, lease: ClusterLease, what_to_do: str = "") -> str:
        """The sentence every refusal uses: who holds the cluster and how to free it."""
        kind = self.kinds.get(lease.holder_kind)
        hint = what_to_do or (f"{kind.release_hint} first" if kind else "")
        return f"cluster {cluster_name!r} is in use by {lease.holder_label}" + (
            f"; {hint}" if hint else "")

    # -- holding ------------------------------------------------------------------

    def take(self, s: Any, org_id: str, cluster_id: str, cluster_name: str,
             holder: Holder, what_to_do: str = "") -> None:
        """Hold the cluster now, in the caller's transaction, or raise a 409 naming
        its holder (``what_to_do`` replaces the holder's usual hint in the message)."""
        current = self.held(s, cluster_id)
        if current is not None:
            if (current.holder_kind, current.holder_id) == (holder.kind, holder.id):
                return
            raise Conflict(self.in_use(cluster_name, current, what_to_do), field="cluster")
        s.add(ClusterLease(org_id=org_id, cluster_id=cluster_id, holder_kind=holder.kind,
                           holder_id=holder.id, holder_label=holder.label,
                           state=LeaseState.HELD, acquired_at=utcnow()))

    def request(self, org_id: str, cluster_id: str, holder: Holder) -> None:
        """Join the queue for the cluster (no-op when already queued or holding)."""
        with self.store.session() as s:
            mine = self._own(s, cluster_id, holder)
            if mine is None:
                s.add(ClusterLease(org_id=org_id, cluster_id=cluster_id,
                                   holder_kind=holder.kind, holder_id=holder.id,
                                   holder_label=holder.label))

    def try_grant(self, cluster_id: str, holder: Holder) -> bool:
        """Hold the cluster if it is free and ``holder`` is first in line."""
        try:
            with self.store.session() as s:
                mine = self._own(s, cluster_id, holder)
                if mine is None:
                    return False
                if mine.state == LeaseState.HELD:
                    return True
                if self.held(s, cluster_id) is not None:
                    return False
                first = s.scalars(select(ClusterLease).where(
                    ClusterLease.cluster_id == cluster_id,
                    ClusterLease.state == LeaseState.WAITING)
                    .order_by(ClusterLease.requested_at, ClusterLease.id).limit(1)).first()
                if first is None or first.id != mine.id:
                    return False
                mine.state = LeaseState.HELD
                mine.acquired_at = utcnow()
        except IntegrityError:
            return False  # someone else was granted it in between
        self.changes.notify()
        return True

    async def acquire(self, org_id: str, cluster_id: str, holder: Holder, *,
                      usable: Callable[[], None],
                      on_wait: Callable[[ClusterLease | None, int], None]) -> None:
        """Wait in line until ``holder`` holds the cluster.

        ``usable`` raises when the cluster can no longer be used (deleted,
        failed): the caller's error, and this holder leaves the queue.
        ``on_wait(current_holder, position)`` is called once if it has to wait.
        """
        self.request(org_id, cluster_id, holder)
        told = False
        try:
            while True:
                usable()
                if self.try_grant(cluster_id, holder):
                    return
                if not told:
                    with self.store.session() as s:
                        current = self.held(s, cluster_id)
                        position = self.waiting(s, cluster_id)
                    on_wait(current, position)
                    told = True
                await self.changes.wait_for_change(30.0)
        except BaseException:
            self.release(holder, cluster_id)
            raise

    def release(self, holder: Holder | tuple[str, str], cluster_id: str | None = None) -> bool:
        """Let go of (or stop waiting for) the cluster, or every cluster of the holder."""
        kind, hid = (holder.kind, holder.id) if isinstance(holder, Holder) else holder
        with self.store.session() as s:
            q = delete(ClusterLease).where(ClusterLease.holder_kind == kind,
                                           ClusterLease.holder_id == hid)
            if cluster_id is not None:
                q = q.where(ClusterLease.cluster_id == cluster_id)
            gone = s.execute(q).rowcount
        if gone:
            self.changes.notify()
        return bool(gone)

    def release_cluster(self, s: Any, cluster_id: str) -> None:
        """A deleted cluster holds nothing and nobody waits for it (caller's transaction)."""
        s.execute(delete(ClusterLease).where(ClusterLease.cluster_id == cluster_id))

    def release_ended(self) -> int:
        """Drop leases whose holder has ended (e.g. while the control plane was down)."""
        with self.store.session() as s:
            rows = s.execute(select(ClusterLease.id, ClusterLease.holder_kind,
                                    ClusterLease.holder_id)).all()
        by_kind: dict[str, list[tuple[str, str]]] = {}
        for lid, kind, hid in rows:
            by_kind.setdefault(kind, []).append((lid, hid))
        stale: list[str] = []
        for kind, items in by_kind.items():
            k = self.kinds.get(kind)
            if k is None:
                continue  # a kind nobody registered (yet): leave it alone
            alive = k.alive([hid for _, hid in items])
            stale += [lid for lid, hid in items if hid not in alive]
        if stale:
            with self.store.session() as s:
                s.execute(delete(ClusterLease).where(ClusterLease.id.in_(stale)))
            self.changes.notify()
        return len(stale)

    def _own(self, s: Any, cluster_id: str, holder: Holder) -> ClusterLease | None:
        return s.scalars(select(ClusterLease).where(
            ClusterLease.cluster_id == cluster_id, ClusterLease.holder_kind == holder.kind,
            ClusterLease.holder_id == holder.id)).first()
