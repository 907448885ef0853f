"""The test teardown itself: clean_up leaves nothing running, or fails saying what."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import clean_up


class FakePlane:
    """Just enough of the REST API for clean_up, with a record of the calls made."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.jobs = [{"id": "j-cron", "name": "tick",
                      "schedule": {"type": "cron", "active": True}},
                     {"id": "j-now", "name": "once",
                      "schedule": {"type": "now", "active": True}}]
        # A task's "ends" is the cluster it takes to TERMINATED when it finishes.
        self.tasks = {"t-run": {"kind": "job.run", "status": "INPROGRESS"},
                      "t-del": {"kind": "cluster.delete", "status": "INPROGRESS",
                                "ends": "c-stop"}}
        self.clusters = {
            "c-run": {"name": "busy", "status": "RUNNING", "last_task": None},
            "c-stop": {"name": "going", "status": "STOPPING",
                       "last_task": {"id": "t-del", "kind": "cluster.delete",
                                     "status": "INPROGRESS"}},
        }
        self.refuse_delete = False

    def task_view(self, tid: str) -> dict[str, Any]:
        t = self.tasks[tid]
        return {"id": tid, "cluster_name": None, "last_seq": 1, **t}

    def call(self, method: str, path: str, body: Any = None, timeout: float = 60
             ) -> tuple[int, Any]:
        self.calls.append(f"{method} {path.split('?')[0]}")
        route = path.split("?")[0]
        if method == "GET" and route == "/notebooks":
            return 200, {"items": [], "next": None}
        if method == "GET" and route == "/jobs":
            return 200, {"items": self.jobs, "next": None}
        if method == "PATCH" and route.startswith("/jobs/"):
            return 200, {}
        if method == "GET" and route == "/tasks":
            return 200, {"items": [self.task_view(t) for t, v in self.tasks.items()
                                   if v["status"] in ("NEW", "INPROGRESS")], "next": None}
        if method == "POST" and route.endswith("/cancel"):
            self.tasks[route.split("/")[2]]["status"] = "CANCELLED"
            return 202, {}
        if method == "GET" and route.startswith("/tasks/"):
            tid = route.split("/")[2]
            if "wait=" in path and self.tasks[tid]["status"] == "INPROGRESS":
                self.tasks[tid]["status"] = "FINISHED"  # it ends during the long poll
                if "ends" in self.tasks[tid]:
                    self.clusters[self.tasks[tid]["ends"]]["status"] = "TERMINATED"
            return 200, self.task_view(tid)
        if method == "GET" and route == "/clusters":
            return 200, {"items": [{"id": c, **v, "status_message": ""}
                                   for c, v in self.clusters.items()
                                   if v["status"] != "TERMINATED"], "next": None}
        if method == "GET" and route.startswith("/clusters/"):
            return 200, {"id": route.split("/")[2], **self.clusters[route.split("/")[2]]}
        if method == "DELETE" and route.startswith("/clusters/"):
            cid = route.split("/")[2]
            if self.refuse_delete:
                return 409, {"error": {"message": "cluster 'busy' is in use by job 'x'"}}
            self.tasks["t-new-del"] = {"kind": "cluster.delete", "status": "INPROGRESS",
                                       "ends": cid}
            self.clusters[cid]["status"] = "STOPPING"
            return 202, {"task": {"id": "t-new-del"}}
        raise AssertionError(f"unexpected call {method} {path}")


def test_clean_up_pauses_cancels_deletes_and_follows_tasks():
    plane = FakePlane()
    clean_up(plane.call)
    assert plane.calls.index("PATCH /jobs/j-cron") < plane.calls.index(
        "POST /tasks/t-run/cancel") < plane.calls.index("DELETE /clusters/c-run")
    assert "PATCH /jobs/j-now" not in plane.calls  # nothing to pause
    assert "DELETE /clusters/c-stop" not in plane.calls  # followed, not deleted again
    assert "GET /tasks/t-del" in plane.calls and "GET /tasks/t-new-del" in plane.calls


def test_clean_up_fails_loudly_with_what_is_left():
    plane = FakePlane()
    plane.refuse_delete = True
    with pytest.raises(AssertionError) as e:
        clean_up(plane.call, "the fake plane")
    text = str(e.value)
    assert "clean-up of the fake plane left things behind" in text
    assert "deleting cluster busy (c-run) answered 409" in text
    assert "cluster busy (c-run) RUNNING" in text
