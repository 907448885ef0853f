"""The Bodo sidebar in a hub notebook's JupyterLab: a real JupyterHub with the platform
as its service and BodoSpawner; a person logs in through the hub's login page in
Chromium and opens their platform notebook's JupyterLab. The sidebar's API calls go to
that server, which forwards them to the service as the user (hub cookies, XSRF): it
shows the organisation's clusters with the notebook as holder, and a cluster made and
deleted through its form is the organisation's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from bodo_jupyter.contract.hub_groups import org_groups

from .hub import Hub, service_config, wait_for_service
from .net import free_port
from .test_hub_notebooks import platform, progress_events, wait_task
from .test_ui import CHROMIUM, SIDEBAR, expect, open_sidebar, playwright_api

pytestmark = [pytest.mark.slow, pytest.mark.mpi, pytest.mark.timeout(300)]

CONFIG = """
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "pw"
c.Authenticator.allowed_users = {"ada"}
c.JupyterHub.spawner_class = "bodo"
c.JupyterHub.allow_named_servers = True
c.BodoSpawner.default_instance_type = "local.notebook"
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}
"""


class Page:
    def __init__(self, page, shots: Path) -> None:
        self.page, self.shots, self.n = page, shots, 0

    def sidebar(self):
        return self.page.locator(SIDEBAR)

    def shot(self, name: str, locator=None) -> None:
        self.n += 1
        (locator or self.page).screenshot(path=str(self.shots / f"{self.n:02d}-{name}.png"))


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    root = tmp_path_factory.mktemp("ui-hub")
    h = Hub(root / "hub", CONFIG + service_config(port=free_port(), data=root / "plane"))
    h.start()
    try:
        wait_for_service(h)
        with h.api() as api:
            group = quote(org_groups("acme", admin=False)[0], safe="")
            api.post(f"/groups/{group}", json={"users": ["ada"]}).raise_for_status()
        yield h
    finally:
        h.stop()


def test_the_sidebar_in_a_hub_notebook_acts_as_its_user(hub: Hub, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"\nscreenshots of test_ui_hub: {shots}")
    with platform(hub, "ada") as api:
        r = api.post("/clusters", json={"name": "px", "instance_type": "local.small",
                                        "instances": 2})
        assert r.status_code == 202, r.text
        assert wait_task(api, r.json()["task"]["id"])["status"] == "FINISHED"
        try:
            with hub.api() as admin:
                r = admin.post("/users/ada/servers/work", json={
                    "instance_type": "local.notebook", "cluster": "px"})
                assert r.status_code in (201, 202), r.text
            assert progress_events(hub, "ada", "work")[-1].get("ready")
            with playwright_api.sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
                try:
                    run_in_browser(Page(browser.new_page(
                        viewport={"width": 1500, "height": 950}), shots), hub)
                finally:
                    browser.close()
            assert "second" not in [c["name"] for c in api.get("/clusters").json()["items"]]
        finally:
            with hub.api() as admin:
                admin.delete("/users/ada/servers/work", params={"remove": "true"})
            notebook = api.get("/notebooks/ada-work")
            if notebook.status_code == 200 and notebook.json()["status"] != "TERMINATED":
                r = api.delete("/notebooks/ada-work")
                if r.status_code == 202:
                    wait_task(api, r.json()["task"]["id"])
            r = api.delete("/clusters/px")
            if r.status_code == 202:
                wait_task(api, r.json()["task"]["id"])


def run_in_browser(ui: Page, hub: Hub) -> None:
    page = ui.page
    page.set_default_timeout(60_000)
    page.goto(f"{hub.url}/hub/login")
    page.locator("#username_input").fill("ada")
    page.locator("#password_input").fill("pw")
    page.locator("#login_submit").click()
    page.wait_for_url("**/services/bodo/**")
    page.goto(f"{hub.url}/user/ada/work/lab")
    page.locator(".jp-LabShell").wait_for()
    sidebar = open_sidebar(ui)  # type: ignore[arg-type]
    expect(sidebar.locator(".jp-bodo-who")).to_contain_text("acme")
    row = sidebar.locator('tr[data-cluster="px"]')
    expect(row).to_have_attribute("data-status", "RUNNING")
    expect(row.locator(".jp-bodo-holder")).to_contain_text("ada-work")
    for step in ("credentials", "cluster", "notebook"):
        expect(sidebar.locator(f'[data-step="{step}"]')).to_have_attribute("data-done", "true")
    ui.shot("hub-sidebar")
    # Writes pass too (POST and DELETE through the notebook server, the hub's cookie
    # and XSRF): a cluster made through the form, followed to FINISHED, deleted.
    sidebar.get_by_role("button", name="Create cluster").click()
    form = sidebar.locator('form[data-form="cluster-create"]')
    form.get_by_label("Name", exact=True).fill("second")
    form.get_by_label("Instance type", exact=True).select_option("local.small")
    form.get_by_role("button", name="Create", exact=True).click()
    task = sidebar.locator('tr[data-details-of="second"] .jp-bodo-task')
    expect(task).to_have_attribute("data-status", "FINISHED", timeout=120_000)
    ui.shot("hub-created")
    second = sidebar.locator('tr[data-cluster="second"]')
    second.get_by_role("button", name="Delete second").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    expect(second).to_have_count(0, timeout=120_000)
    sidebar.get_by_role("tab", name="Notebooks").click()
    expect(sidebar.locator('tr[data-notebook="ada-work"]')).to_have_attribute(
        "data-status", "RUNNING")
    ui.shot("hub-notebooks")
