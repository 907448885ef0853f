"""The ipywidgets panels (bodo_jupyter.widgets) for real: set a form's widgets, click,
and see the SDK's effect on a real control plane (`bodo-jupyter serve`): clusters made
and deleted, progress bars to their end, the API's errors under the field they name,
jobs from a real Git server, and close() leaving nothing running. The field -> widget
mapping is tested without a kernel or a server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from bodo_jupyter.contract import forms
from bodo_jupyter.contract.runtime import ContractError
from bodo_jupyter.widgets import ClusterPanel, JobPanel, NotebookPanel, SettingsPanel
from bodo_jupyter.widgets.base import Panel, age, descendants
from bodo_jupyter.widgets.fields import FormView, plain

from .git_server import GitServer
from .helpers import Serve

T = TypeVar("T")
PASSWORD = "widgets-git-password"
HELLO = ("import os\nprint('hello from rank', os.environ.get('PMI_RANK', '?'), "
         "os.environ.get('GREETING', ''), flush=True)\n")


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server = GitServer(tmp_path_factory.mktemp("git"), "alice", PASSWORD).start()
    server.create_repo("acme", "widgets", {"main": {"hello.py": HELLO}})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, git: GitServer) -> Iterator[Serve]:
    data = tmp_path_factory.mktemp("widgets-plane")
    (data / "bodo_jupyter_config.py").write_text(git.plane_config())
    s = Serve(data).start()
    try:
        yield s
    finally:
        s.shut_down()


def run(plane: Serve, make: Callable[[Serve], Awaitable[T]]) -> T:
    """Run a scenario in an event loop, as a kernel would, and check that it leaves no
    task running behind it."""

    async def main() -> T:
        out = await make(plane)
        me = asyncio.current_task()
        left = [t for t in asyncio.all_tasks() if t is not me]
        assert left == [], f"tasks still running: {left}"
        return out

    return asyncio.run(main())


async def closed(panel: Panel) -> None:
    """close(): no task of the panel left, and its widgets closed (their comms too)."""
    inside = descendants(panel)
    panel.close()
    await asyncio.wait_for(panel.wait_closed(), 30)
    assert panel.tasks == set()
    assert panel.comm is None and [x for x in inside if x.comm is not None] == []


# -- pure: fields as widgets, no kernel, no server ----------------------------------------


def test_form_fields_as_widgets():
    view = FormView(forms.JOB_CREATE)
    assert [v.field.name for v in view.fields.values()] == [f.name for f in
                                                           forms.JOB_CREATE.fields]
    # Kinds -> widgets; labels and help from the declaration.
    assert type(view["git_password"].input).__name__ == "Password"
    assert type(view["env"].input).__name__ == "Textarea"
    assert view["name"].input.description == "Name"
    assert "Git branch" in view["ref"].help.value
    # Advanced fields behind the toggle; show_if fields when they apply.
    assert not view["ref"].shown and not view["instance_type"].shown
    view.advanced.value = True
    assert view["ref"].shown
    view["schedule"].value = "cron"
    assert view["cron"].shown and view["timezone"].shown and not view["at"].shown
    # Values as Form.build wants them: ints, pairs, nothing for what is empty or hidden.
    view.set_values({"name": "j", "command": "x.py", "path": "https://h/o/r",
                     "cron": "0 9 * * 1", "retries": "2", "env": "A=1\nB = two=2",
                     "timeout_s": "ten"})
    vals = view.values()
    assert vals["retries"] == 2 and vals["timeout_s"] == "ten"
    assert vals["env"] == {"A": "1", "B": " two=2"}
    assert "at" not in vals and "ref" not in vals
    # The contract judges: its error lands under the field it names, in its words.
    with pytest.raises(ContractError) as e:
        forms.JOB_CREATE.build(vals)
    shown = view.show_error(e.value.field, e.value.message)
    assert shown is not None and shown.error_text == e.value.message
    assert "color" in shown.error.value
    # A dotted field finds its form field (cluster.instance_type -> instance_type),
    # which is shown only with cluster NEW; else the message goes above the buttons.
    assert view.show_error("cluster.instance_type", "bad type") is None
    assert view.message_text == "Instance type: bad type"
    view["git_password"].value = "s3cret"
    view.clear_secrets()
    assert view["git_password"].input.value == ""


def test_age_reads_briefly():
    import datetime

    now = datetime.datetime(2030, 1, 1, 12, 0, tzinfo=datetime.UTC)
    assert age("2030-01-01T11:59:55Z", now) == "5 s"
    assert age("2030-01-01T09:00:00+00:00", now) == "3 h"
    assert age(None) == ""


def test_a_panel_needs_a_running_loop():
    with pytest.raises(RuntimeError, match="running"):
        ClusterPanel(url="http://127.0.0.1:9/bodo/api/v1", token="x")


# -- ClusterPanel on a real control plane -------------------------------------------------


@pytest.mark.mpi
def test_cluster_panel_creates_follows_and_deletes(plane: Serve):
    async def scenario(plane: Serve) -> None:
        panel = ClusterPanel(url=plane.url, token=plane.token)
        try:
            await panel.until(lambda: panel.refreshes >= 1)
            assert "No clusters yet" in panel.table.empty.value
            view = panel.open_create()
            await panel.until(lambda: view.loaded)
            types = [v for _, v in view["instance_type"].input.options]
            assert "local.small" in types
            # EFA ticked: only EFA-capable types, and the local provider has none: said
            # in words, not an empty list.
            view["efa"].value = True
            await panel.until(lambda: view["instance_type"].note_text)
            assert "no EFA-capable" in view["instance_type"].note_text
            view["efa"].value = False
            await panel.until(lambda: "local.small" in
                              [v for _, v in view["instance_type"].input.options])
            assert view["instance_type"].note_text == ""

            # A bad name: the API's (the contract's) words under the name field.
            view.set_values({"name": "Bad Name!", "instance_type": "local.small",
                             "instances": "2"})
            view.submit.click()
            await panel.until(lambda: view["name"].error_text)
            status, answer = plane.http("POST", "/clusters", {
                "name": "Bad Name!", "instance_type": "local.small", "instances": 2})
            assert status == 400 and answer["error"]["field"] == "name"
            assert view["name"].error_text == answer["error"]["message"]
            assert plane.http("GET", "/clusters")[1]["items"] == []
            # Typing in the field clears its error.
            view["name"].value = "wdemo"
            assert view["name"].error_text == ""

            # Create: the form's values reach the platform; the bar follows the task.
            view.submit.click()
            await panel.until(lambda: panel.form is None and panel.task_views)
            (task_id, bar), = panel.task_views.items()
            await panel.until(lambda: bar.task is not None and bar.task.done, 120)
            assert bar.task.status == "FINISHED", bar.task.data.error
            assert bar.bar.value == bar.bar.max
            status, c = plane.http("GET", "/clusters/wdemo")
            assert status == 200 and c["status"] == "RUNNING"
            assert (c["instance_type"], c["instances"], c["efa"]) == ("local.small", 2, False)
            assert c["last_task"]["id"] == task_id
            await panel.until(lambda: c["id"] in panel.table.rows and
                              panel.table.cell(c["id"], "Status") == "RUNNING")
            assert panel.table.cell(c["id"], "Name") == "wdemo"
            assert panel.table.cell(c["id"], "Cores") == str(c["core_count"])
            assert panel.table.cell(c["id"], "Instance type") == "local.small"
            # A name already taken: the API's 409 in words under the name.
            again = panel.open_create()
            await panel.until(lambda: again.loaded)
            again.set_values({"name": "wdemo", "instance_type": "local.small"})
            again.submit.click()
            await panel.until(lambda: again["name"].error_text)
            assert "wdemo" in again["name"].error_text
            panel.close_create()

            # Delete asks, then deletes; its bar follows the delete task to the end.
            confirm = panel.deletes[c["id"]]
            confirm.button.click()
            assert confirm.yes in confirm.box.children
            confirm.yes.click()
            await panel.until(lambda: len(panel.task_views) == 2)
            delete = list(panel.task_views.values())[-1]
            await panel.until(lambda: delete.task is not None and delete.task.done, 120)
            assert delete.task.status == "FINISHED", delete.task.data.error
            assert delete.bar.value == delete.bar.max
            await panel.until(lambda: c["id"] not in panel.table.rows)
            assert plane.http("GET", "/clusters")[1]["items"] == []
        finally:
            await closed(panel)

    run(plane, scenario)


# -- JobPanel: a job from a private Git repository, with the advanced fields ---------------


def widget_values(widget: Any) -> Iterator[Any]:
    """Every value of a widget and of the widgets inside it."""
    import ipywidgets

    seen: set[int] = set()
    todo = [widget]
    while todo:
        x = todo.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        for name in ("value", "description", "placeholder", "options", "tooltip"):
            if hasattr(x, name):
                yield getattr(x, name)
        if isinstance(x, ipywidgets.Box):
            todo.extend(x.children)


@pytest.mark.mpi
def test_job_panel_runs_a_job_from_git_with_advanced_fields(plane: Serve, git: GitServer):
    async def scenario(plane: Serve) -> None:
        status, made = plane.http("POST", "/clusters", {
            "name": "wjobs", "instance_type": "local.small", "instances": 2})
        assert status == 202, made
        panel = JobPanel(url=plane.url, token=plane.token)
        try:
            done = await asyncio.to_thread(plane.wait_task, made["task"]["id"])
            assert done["status"] == "FINISHED", done
            await panel.until(lambda: panel.refreshes >= 1)
            view = panel.open_create()
            await panel.until(lambda: view.loaded)
            clusters = [v for _, v in view["cluster"].input.options]
            assert clusters[:1] == [""] and "NEW" in clusters and "wjobs" in clusters
            assert "mpiexec -n <CORE_COUNT> python" in view["command"].note_text
            # NEW shows the new cluster's fields.
            view["cluster"].value = "NEW"
            assert view["instance_type"].shown and view["instances"].shown

            # A bad cron: the API's words under the cron field, nothing made.
            view.set_values({"name": "wjob", "cluster": "wjobs", "schedule": "cron",
                             "cron": "not a cron", "command": "hello.py",
                             "path": f"{git.url}/acme/widgets"})
            view.submit.click()
            await panel.until(lambda: view["cron"].error_text)
            status, answer = plane.http("POST", "/jobs", {
                "name": "wjob", "cluster": "wjobs", "command": "hello.py",
                "path": f"{git.url}/acme/widgets",
                "schedule": {"type": "cron", "cron": "not a cron"}})
            assert status == 400 and view["cron"].error_text == answer["error"]["message"]
            assert plane.http("GET", "/jobs")[1]["items"] == []

            # Now, with the advanced fields: user, password, ref, env, timeout.
            view.advanced.value = True
            view.set_values({"schedule": "now", "git_username": "alice",
                             "git_password": PASSWORD, "ref": "main",
                             "env": "GREETING=hi from widgets", "timeout_s": "120"})
            view.submit.click()
            await panel.until(lambda: panel.form is None and panel.task_views, 30)
            assert PASSWORD not in [str(v) for v in widget_values(view.box)]
            assert view["git_password"].input.value == ""
            status, job = plane.http("GET", "/jobs/wjob")
            assert status == 200, job
            assert (job["cluster"]["name"], job["ref"], job["git_username"]) == \
                ("wjobs", "main", "alice")
            assert job["git_password_set"] is True and job["timeout_s"] == 120
            assert job["env"] == {"GREETING": "hi from widgets"}
            assert PASSWORD not in str(job)
            # The run's bar reaches its end; the live log shows both ranks and the env.
            (_, bar), = panel.task_views.items()
            await panel.until(lambda: bar.task is not None and bar.task.done, 120)
            assert bar.task.status == "FINISHED", bar.task.data.error
            assert bar.bar.value == bar.bar.max
            await panel.until(lambda: panel.log_done, 60)
            assert "hello from rank 0 hi from widgets" in panel.log_view.value
            assert "hello from rank 1" in panel.log_view.value
            await panel.until(lambda: job["id"] in panel.table.rows and
                              panel.table.cell(job["id"], "Status") == "FINISHED")
            assert panel.table.cell(job["id"], "Cluster") == "wjobs"
            assert "hello.py" in panel.detail.value
            assert PASSWORD not in [str(v) for v in widget_values(panel)]

            # Run now from the row: a second run, followed to its end.
            panel.buttons[job["id"]].run_now.click()
            await panel.until(lambda: len(panel.task_views) == 2)
            second = list(panel.task_views.values())[-1]
            await panel.until(lambda: second.task is not None and second.task.done, 120)
            assert second.task.status == "FINISHED", second.task.data.error
            await panel.until(lambda: len(panel.runs.rows) == 2)

            # Delete asks first, then the job is gone.
            row = panel.buttons[job["id"]]
            row.delete.button.click()
            row.delete.yes.click()
            await panel.until(lambda: job["id"] not in panel.table.rows)
            assert plane.http("GET", "/jobs/wjob")[0] == 404
        finally:
            await closed(panel)
            status, out = plane.http("DELETE", "/clusters/wjobs")
            assert status == 202, out
            await asyncio.to_thread(plane.wait_task, out["task"]["id"])

    run(plane, scenario)


# -- NotebookPanel and SettingsPanel --------------------------------------------------------


@pytest.mark.mpi
def test_notebook_panel_creates_opens_and_deletes(plane: Serve):
    async def scenario(plane: Serve) -> None:
        panel = NotebookPanel(url=plane.url, token=plane.token)
        try:
            view = panel.open_create()
            await panel.until(lambda: view.loaded)
            types = [v for _, v in view["instance_type"].input.options if v]
            assert types, view["instance_type"].note_text
            assert view["cluster"].note_text == "No RUNNING cluster is free."
            view.set_values({"name": "wnb", "instance_type": types[0]})
            view.submit.click()
            await panel.until(lambda: panel.form is None and panel.task_views, 30)
            (_, bar), = panel.task_views.items()
            await panel.until(lambda: bar.task is not None and bar.task.done, 120)
            assert bar.task.status == "FINISHED", bar.task.data.error
            assert bar.bar.value == bar.bar.max
            status, nb = plane.http("GET", "/notebooks/wnb")
            assert status == 200 and nb["status"] == "RUNNING"
            assert nb["instance_type"] == types[0] and nb["cluster"] is None
            await panel.until(lambda: nb["id"] in panel.table.rows and
                              panel.table.cell(nb["id"], "Status") == "RUNNING")
            assert panel.table.cell(nb["id"], "Node type") == types[0]
            panel.opens[nb["id"]].click()
            await panel.until(lambda: panel.links[nb["id"]].value)
            conn = plane.http("GET", f"/notebooks/{nb['id']}/connection")[1]
            assert conn["url"].rstrip("/") + "/lab" in panel.links[nb["id"]].value
            confirm = panel.deletes[nb["id"]]
            confirm.button.click()
            confirm.yes.click()
            await panel.until(lambda: len(panel.task_views) == 2)
            delete = list(panel.task_views.values())[-1]
            await panel.until(lambda: delete.task is not None and delete.task.done, 120)
            assert delete.task.status == "FINISHED", delete.task.data.error
            await panel.until(lambda: nb["id"] not in panel.table.rows)
        finally:
            await closed(panel)

    run(plane, scenario)


def test_settings_panel_shows_the_apis_error_and_never_keeps_the_secret(plane: Serve):
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

    async def scenario(plane: Serve) -> None:
        panel = SettingsPanel(url=plane.url, token=plane.token)
        try:
            await panel.until(lambda: panel.refreshes >= 1)
            assert "No AWS account is linked" in plain(panel.status.value)
            assert '"Statement"' in panel.policy.value
            assert "create-policy" in panel.policy_help.value
            body = {"access_key_id": "nope", "secret_access_key": secret,
                    "account_id": "123456789012", "region": "us-east-1"}
            panel.form.set_values(body)
            assert type(panel.form["secret_access_key"].input).__name__ == "Password"
            panel.form.submit.click()
            await panel.until(lambda: panel.form["access_key_id"].error_text)
            status, answer = plane.http("PUT", "/aws/credentials", body)
            assert status == 400 and answer["error"]["field"] == "access_key_id"
            assert panel.form["access_key_id"].error_text == answer["error"]["message"]
            assert secret not in [str(v) for v in widget_values(panel)]
            assert plane.http("GET", "/aws/credentials")[0] == 404
        finally:
            await closed(panel)

    run(plane, scenario)


# -- in a real kernel ---------------------------------------------------------------------


def execute(kc: Any, code: str, timeout: float = 120) -> str:
    """Run a cell in the kernel; its printed output (an error fails the test)."""
    msg_id = kc.execute(code)
    out: list[str] = []
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content["text"])
        elif kind == "error":
            raise AssertionError("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(out)


@pytest.mark.mpi
def test_a_panel_in_a_real_kernel_runs_on_its_loop_without_blocking_it(plane: Serve):
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(env={**plane.client_env(), "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    try:
        execute(kc, "from bodo_jupyter.widgets import ClusterPanel\npanel = ClusterPanel()\n"
                    "await panel.until(lambda: panel.refreshes >= 1)")
        # A click schedules the create; the cell ends (the kernel is free) while the
        # panel still follows the task, and the next cell runs at once.
        out = execute(kc, "view = panel.open_create()\n"
                          "await panel.until(lambda: view.loaded)\n"
                          "view.set_values({'name': 'wkernel', 'instance_type': 'local.small'})\n"
                          "view.submit.click()\n"
                          "await panel.until(lambda: panel.task_views)\n"
                          "bar, = panel.task_views.values()\n"
                          "print('following', bar.task.done)")
        assert out.strip() == "following False"
        assert execute(kc, "print(bar.task.done, 6 * 7)").strip().endswith("42")
        out = execute(kc, "await panel.until(lambda: bar.task.done, 120)\n"
                          "print(bar.task.status, bar.bar.value == bar.bar.max)")
        assert out.strip() == "FINISHED True"
        assert plane.http("GET", "/clusters/wkernel")[1]["status"] == "RUNNING"
        out = execute(kc, "panel.close()\nawait panel.wait_closed()\n"
                          "import asyncio\n"
                          "mine = [t for t in asyncio.all_tasks() if 'bodo_jupyter' in "
                          "repr(t.get_coro())]\nprint(len(panel.tasks), len(mine))")
        assert out.strip() == "0 0"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        status, out = plane.http("DELETE", "/clusters/wkernel")
        if status == 202:
            plane.wait_task(out["task"]["id"])


def test_the_idle_refresh_backs_off_and_a_wake_resets_it(plane: Serve):
    async def scenario(plane: Serve) -> None:
        assert (ClusterPanel.idle_first, ClusterPanel.idle_max) == (10.0, 60.0)
        panel = ClusterPanel(url=plane.url, token=plane.token, idle_first=0.05,
                             idle_max=0.2)
        try:
            delays: list[float] = []
            await panel.until(lambda: delays.append(panel.delay) or panel.refreshes >= 6)
            assert panel.delay == 0.2  # nothing changed: 0.05 -> 0.08 -> ... capped
            assert delays == sorted(delays)  # each quiet refresh waits longer
            n = panel.refreshes
            panel.wake()
            assert panel.delay == 0.05
            await panel.until(lambda: panel.refreshes > n)
        finally:
            await closed(panel)

    run(plane, scenario)


def test_job_panel_cron_job_on_new_clusters_deactivate_and_cancel(plane: Serve, git: GitServer):
    import datetime

    month = (datetime.datetime.now(datetime.UTC).month + 5) % 12 + 1  # months away

    async def scenario(plane: Serve) -> None:
        panel = JobPanel(url=plane.url, token=plane.token)
        try:
            view = panel.open_create()
            await panel.until(lambda: view.loaded)
            view.set_values({"name": "wcron", "cluster": "NEW", "schedule": "cron",
                             "cron": f"0 0 1 {month} *", "command": "hello.py",
                             "path": f"{git.url}/acme/widgets"})
            view.set_values({"instance_type": "local.small", "instances": "2",
                             "timezone": "Europe/Paris"})
            view.submit.click()
            await panel.until(lambda: panel.form is None and panel.detail_job)
            status, job = plane.http("GET", "/jobs/wcron")
            assert status == 200, job
            assert job["cluster"] is None
            assert (job["new_cluster"]["instance_type"], job["new_cluster"]["instances"]) \
                == ("local.small", 2)
            assert (job["schedule"]["type"], job["schedule"]["timezone"]) == \
                ("cron", "Europe/Paris")
            await panel.until(lambda: job["id"] in panel.table.rows)
            assert panel.table.cell(job["id"], "Cluster") == "NEW 2 × local.small"  # noqa: RUF001
            assert panel.table.cell(job["id"], "Next run") != ""
            row = panel.buttons[job["id"]]
            await panel.until(lambda: row.active.description == "Deactivate")
            row.active.click()
            await panel.until(lambda: "(inactive)" in panel.table.cell(job["id"], "Schedule"))
            assert plane.http("GET", "/jobs/wcron")[1]["schedule"]["active"] is False
            await panel.until(lambda: row.active.description == "Activate")
            row.active.click()
            await panel.until(lambda: "(inactive)" not in
                              panel.table.cell(job["id"], "Schedule"))
            assert plane.http("GET", "/jobs/wcron")[1]["schedule"]["active"] is True
            # Cancel with no run: the API's 4xx, in its words, in the panel's message line.
            row.cancel.click()
            await panel.until(lambda: "no active run to cancel" in panel.message_text)
            row.delete.button.click()
            row.delete.yes.click()
            await panel.until(lambda: job["id"] not in panel.table.rows)
        finally:
            await closed(panel)

    run(plane, scenario)
