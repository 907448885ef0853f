"""The Bodo sidebar in a real browser: Debian's Chromium, driven by Playwright, against a
real `jupyter lab` with the prebuilt extension that `pip install` put in place.

One Lab and one browser for the module; the tests run in order and share them (a
cluster made by one is attached and deleted by the next). Each step saves a screenshot
in the folder printed at the start (``$BODO_JUPYTER_SCREENSHOTS``, or a temporary one);
with ``BODO_JUPYTER_DOCS_IMAGES=1`` the ones in DOCS_IMAGES are also written to docs/images/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .git_server import GitServer
from .helpers import ROOT
from .jupyter import JUPYTER_TOKEN, JupyterServer

CHROMIUMS = ("/usr/bin/chromium-headless-shell", "/usr/lib/chromium/chromium",
             "/usr/bin/chromium")
CHROMIUM = next((p for p in CHROMIUMS if os.access(p, os.X_OK)), None)

if CHROMIUM is None:
    if os.environ.get("BODO_JUPYTER_REQUIRE_BROWSER"):  # scripts/test installs it: never skip
        raise RuntimeError(f"Chromium is not installed (looked for {', '.join(CHROMIUMS)})")
    pytest.skip(f"no Chromium to drive (apt-get install chromium; looked for "
                f"{', '.join(CHROMIUMS)})", allow_module_level=True)

if os.environ.get("BODO_JUPYTER_REQUIRE_BROWSER"):
    import playwright.sync_api as playwright_api  # the test extra has it: fail, never skip
else:
    playwright_api = pytest.importorskip("playwright.sync_api",
                                         reason="pip install playwright")
expect = playwright_api.expect

pytestmark = [pytest.mark.mpi, pytest.mark.slow, pytest.mark.timeout(240)]

SIDEBAR = "#bodo-jupyter-sidebar"
#: Screenshots that BODO_JUPYTER_DOCS_IMAGES=1 also writes to docs/images/.
DOCS_IMAGES = {"sidebar-clusters": "ui-clusters.png", "sidebar-jobs": "ui-jobs.png",
               "sidebar-settings": "ui-settings.png", "notebook-px": "ui-lab-px.png",
               "dark-theme": "ui-dark.png"}
CLUSTER = "demo"
GIT_TOKEN = "ghp_UiT3stT0kenNeverShown"  # the Git password typed into the job form
HELLO = """import os
from mpi4py import MPI
w = MPI.COMM_WORLD
print("hello from rank", w.rank, "of", w.size, "greeting", os.environ.get("GREETING"))
"""


class UI:
    """The Lab, the browser page, the screenshots folder."""

    git: GitServer

    def __init__(self, lab: JupyterServer, page: Any, shots: Path):
        self.lab, self.page, self.shots = lab, page, shots
        self.n = 0

    def shot(self, name: str, locator: Any = None) -> Path:
        self.n += 1
        path = self.shots / f"{self.n:02d}-{name}.png"
        (locator or self.page).screenshot(path=str(path))
        if name in DOCS_IMAGES and os.environ.get("BODO_JUPYTER_DOCS_IMAGES"):
            shutil.copy(path, ROOT / "docs" / "images" / DOCS_IMAGES[name])
        return path

    def sidebar(self) -> Any:
        return self.page.locator(SIDEBAR)

    def row(self, name: str) -> Any:
        return self.sidebar().locator(f'tr[data-cluster="{name}"]')


@contextmanager
def lab_in_chromium(tmp: Path, name: str, config: str = "",
                    env: dict[str, str] | None = None) -> Iterator[UI]:
    """A real `jupyter lab` (isolated folders, a token, ``config`` as its
    jupyter_server_config.py) and a Chromium page on it, the Bodo tab not yet open."""
    shots = Path(os.environ.get("BODO_JUPYTER_SCREENSHOTS") or tmp / "screenshots") / name
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of {name}: {shots}")
    (tmp / "home").mkdir()
    # No "notified about official Jupyter news?" toast over the page (news_url=None stops
    # the fetching, this setting the question).
    settings = tmp / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    (tmp / "jupyter-config").mkdir()
    (tmp / "jupyter-config" / "jupyter_server_config.py").write_text(config)
    lab = JupyterServer(
        tmp / "root", tmp / "bodo-data", app="jupyterlab",
        env={"HOME": str(tmp / "home"), "JUPYTER_CONFIG_DIR": str(tmp / "jupyter-config"),
             **(env or {})},
        args=("--LabApp.news_url=None",
              "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
              f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
              f"--LabApp.user_settings_dir={tmp / 'lab-settings'}"))
    lab.start()
    try:
        with playwright_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 950})
                page.set_default_timeout(60_000)
                page.goto(f"{lab.base}lab?token={JUPYTER_TOKEN}")
                page.locator(".jp-LabShell").wait_for()
                yield UI(lab, page, shots)
            finally:
                browser.close()
    finally:
        lab.shut_down()


def open_sidebar(ui: UI) -> Any:
    ui.page.locator('.jp-SideBar .lm-TabBar-tab[data-id="bodo-jupyter-sidebar"]').click()
    sidebar = ui.sidebar()
    expect(sidebar).to_be_visible()
    widen_left_area(ui.page, 640)
    return sidebar


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    tmp = tmp_path_factory.mktemp("ui")
    # A private Git host for the job (HTTPS, basic auth) that the control plane may use.
    git = GitServer(tmp / "git", "alice", GIT_TOKEN).start()
    git.create_repo("acme", "proj", {"main": {"hello.py": "print('main branch')\n"},
                                     "feature": {"hello.py": HELLO}})
    try:
        with lab_in_chromium(tmp, "test_ui", git.plane_config()) as ui:
            ui.git = git
            yield ui
    finally:
        git.stop()


def test_pip_installed_the_extension_and_lab_lists_it_enabled() -> None:
    out = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"],
                         capture_output=True, text=True, check=True)
    text = out.stdout + out.stderr
    line = next((ln for ln in text.splitlines() if "bodo-jupyter" in ln), "")
    assert "enabled" in line and "OK" in line and "python, bodo-jupyter" in line, text
    shipped = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "bodo-jupyter"
    assert (shipped / "package.json").is_file() and (shipped / "install.json").is_file()


def widen_left_area(page: Any, width: int) -> None:
    """Drag the handle between the left area and the main area, as a person would."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle:visible").first
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + (width - x), y, steps=5)
    page.mouse.up()


def test_the_sidebar_opens_with_the_onboarding_list(ui: UI) -> None:
    sidebar = open_sidebar(ui)
    steps = sidebar.locator(".jp-bodo-onboarding-step")
    expect(steps).to_have_count(3)
    # The local provider needs no AWS credentials: ticked, and says why.
    creds = sidebar.locator('[data-step="credentials"]')
    expect(creds).to_have_attribute("data-done", "true")
    expect(creds).to_contain_text("Not needed")
    expect(sidebar.locator('[data-step="cluster"]')).to_have_attribute("data-done", "false")
    expect(sidebar.locator('[data-step="notebook"]')).to_have_attribute("data-done", "false")
    expect(sidebar.locator(".jp-bodo-clusters .jp-bodo-empty")).to_contain_text("No clusters yet")
    ui.shot("sidebar-onboarding")


def test_the_create_form_is_the_declared_one_with_live_instance_types(ui: UI) -> None:
    sidebar = ui.sidebar()
    sidebar.get_by_role("button", name="Create cluster").click()
    form = sidebar.locator('form[data-form="cluster-create"]')
    expect(form).to_be_visible()
    # The labels and help of CLUSTER_CREATE (bodo_jupyter/contract/forms.py).
    for label in ("Name", "EFA", "Instance type", "Number of instances"):
        expect(form.get_by_label(label, exact=True)).to_be_visible()
    expect(form).to_contain_text("one MPI rank per core")
    # Advanced fields (provider, Bodo version) stay hidden until asked for.
    expect(form.get_by_label("Provider", exact=True)).to_be_hidden()
    form.get_by_role("button", name="Show advanced").click()
    expect(form.get_by_label("Provider", exact=True)).to_be_visible()
    form.get_by_role("button", name="Hide advanced").click()
    # Instance types come from GET /instance-types; with EFA ticked, only EFA-capable
    # ones, and the local provider has none: the form says so instead of an empty list.
    types = form.get_by_label("Instance type", exact=True)
    expect(types.locator('option[value="local.small"]')).to_have_count(1)
    form.get_by_label("EFA", exact=True).check()
    expect(form.locator('[data-field="instance_type"] .jp-bodo-field-note')).to_contain_text(
        "no EFA-capable instance type")
    expect(types.locator('option[value="local.small"]')).to_have_count(0)
    ui.shot("create-form-efa-none", form)
    form.get_by_label("EFA", exact=True).uncheck()
    expect(types.locator('option[value="local.small"]')).to_have_count(1)


def test_a_bad_cluster_name_shows_the_apis_error_under_the_name(ui: UI) -> None:
    form = ui.sidebar().locator('form[data-form="cluster-create"]')
    name = form.get_by_label("Name", exact=True)
    name.fill("Bad_Name")
    form.get_by_label("Instance type", exact=True).select_option("local.small")
    form.get_by_role("button", name="Create", exact=True).click()
    error = form.locator('[data-field="name"] .jp-bodo-field-error')
    expect(error).to_contain_text("lowercase letters")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_be_focused()
    ui.shot("bad-name-error", form)
    status, page = ui.lab.call("GET", "/clusters")
    assert status == 200 and page["items"] == [], page


def test_create_a_local_cluster_and_watch_its_steps_finish(ui: UI) -> None:
    sidebar = ui.sidebar()
    form = sidebar.locator('form[data-form="cluster-create"]')
    form.get_by_label("Name", exact=True).fill(CLUSTER)
    form.get_by_label("Instance type", exact=True).select_option("local.small")
    form.get_by_label("Number of instances", exact=True).fill("2")
    form.get_by_role("button", name="Create", exact=True).click()
    expect(form).to_have_count(0)
    row = ui.row(CLUSTER)
    expect(row).to_be_visible()
    for cell in ("local", "local.small", "2"):
        expect(row).to_contain_text(cell)
    # Details open by themselves on a new cluster and follow its create task live.
    details = sidebar.locator(f'tr[data-details-of="{CLUSTER}"]')
    task = details.locator(".jp-bodo-task")
    expect(task).to_be_visible()
    ui.shot("cluster-creating")
    expect(task).to_have_attribute("data-status", "FINISHED", timeout=120_000)
    steps = task.locator(".jp-bodo-task-steps li")
    assert steps.count() >= 3
    expect(task.locator('.jp-bodo-task-steps li:not([data-state="done"])')).to_have_count(0)
    expect(row).to_have_attribute("data-status", "RUNNING")
    expect(row.locator(".jp-bodo-badge")).to_have_text("RUNNING")
    expect(row.locator("td").nth(4)).to_have_text("2")  # cores: 2 x 1
    expect(sidebar.locator('[data-step="cluster"]')).to_have_attribute("data-done", "true")
    # The name opens and closes the details (a button: keyboard too).
    toggle = row.get_by_role("button", name=f"Details of {CLUSTER}")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    toggle.click()
    expect(details).to_have_count(0)
    toggle.focus()
    ui.page.keyboard.press("Enter")
    expect(task).to_have_attribute("data-status", "FINISHED")
    ui.shot("cluster-running")
    ui.shot("sidebar-clusters", sidebar)


def run_command(page: Any, label: str) -> None:
    """Run a command from JupyterLab's command palette, found by its label."""
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".lm-CommandPalette:visible")
    palette.locator("input").fill(label)
    palette.locator(".lm-CommandPalette-item", has_text=label).first.click()


def test_the_dark_theme_and_the_keyboard(ui: UI) -> None:
    page, sidebar = ui.page, ui.sidebar()
    run_command(page, "JupyterLab Dark")
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")

    def luminance(css_color: str) -> float:
        r, g, b = (float(x) for x in re.findall(r"[\d.]+", css_color)[:3])
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    def background() -> str:
        return sidebar.evaluate("e => getComputedStyle(e).backgroundColor")

    page.wait_for_function("() => getComputedStyle(document.querySelector("
                           f"'{SIDEBAR}')).backgroundColor !== 'rgb(255, 255, 255)'")
    assert luminance(background()) < 80, background()
    ui.shot("dark-theme", sidebar)
    # Tabs move with the arrow keys; Enter on a focused button acts.
    sidebar.get_by_role("tab", name="Clusters").focus()
    page.keyboard.press("ArrowRight")
    expect(sidebar.get_by_role("tab", name="Jobs")).to_have_attribute("aria-selected", "true")
    expect(sidebar.get_by_role("tab", name="Jobs")).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(sidebar.get_by_role("tab", name="Clusters")).to_have_attribute("aria-selected", "true")
    run_command(page, "JupyterLab Light")
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "true")


def test_the_commands_are_in_the_palette(ui: UI) -> None:
    page = ui.page
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".lm-CommandPalette:visible")
    palette.locator("input").fill("Bodo")
    for label in ("Open the Bodo sidebar", "Create a Bodo cluster…",
                  "Refresh the Bodo sidebar", "Attach the current notebook to a Bodo cluster…"):
        expect(palette.locator(".lm-CommandPalette-item", has_text=label)).to_have_count(1)
    palette.locator(".lm-CommandPalette-item", has_text="Create a Bodo cluster…").click()
    form = ui.sidebar().locator('form[data-form="cluster-create"]')
    expect(form).to_be_visible()
    expect(form.get_by_label("Name", exact=True)).to_be_focused()
    page.keyboard.press("Escape")  # closes the form
    expect(form).to_have_count(0)


def test_attach_a_notebook_and_run_px_on_every_rank(ui: UI) -> None:
    page = ui.page
    page.locator('.jp-LauncherCard[data-category="Notebook"]').first.click()
    notebook = page.locator(".jp-NotebookPanel:visible")
    expect(notebook).to_be_visible()
    expect(notebook.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
        "data-status", "idle", timeout=60_000)
    ui.row(CLUSTER).get_by_role("button", name=f"Attach the current notebook to {CLUSTER}").click()
    expect(page.locator(".Toastify")).to_contain_text(f"Attached to cluster {CLUSTER}",
                                                      timeout=60_000)
    expect(ui.sidebar().locator('[data-step="notebook"]')).to_have_attribute("data-done", "true")
    cell = notebook.locator(".jp-Cell").first
    cell.locator(".cm-content").click()
    page.keyboard.insert_text("%%px\nfrom mpi4py import MPI\n"
                              "print('rank', MPI.COMM_WORLD.rank, 'of', MPI.COMM_WORLD.size)")
    page.keyboard.press("Shift+Enter")
    output = cell.locator(".jp-OutputArea")
    expect(output).to_contain_text("rank 0 of 2", timeout=60_000)
    expect(output).to_contain_text("rank 1 of 2")
    ui.shot("notebook-px")


def test_a_job_from_a_private_git_repository_with_its_live_logs(ui: UI) -> None:
    page, sidebar = ui.page, ui.sidebar()
    sidebar.get_by_role("tab", name="Jobs").click()
    sidebar.get_by_role("button", name="Create job").click()
    form = sidebar.locator('form[data-form="job-create"]')
    expect(form).to_be_visible()
    form.get_by_label("Name", exact=True).fill("hello")
    cluster = form.get_by_label("Cluster", exact=True)
    expect(cluster.locator(f'option[value="{CLUSTER}"]')).to_have_count(1)
    # NEW shows the new cluster's fields (show_if), a cluster of one's own hides them.
    cluster.select_option("NEW")
    expect(form.get_by_label("Instance type", exact=True)).to_be_visible()
    form.get_by_label("Schedule", exact=True).select_option("now")
    form.get_by_label("Command", exact=True).fill("hello.py")
    form.get_by_label("Path", exact=True).fill(f"{ui.git.url}/acme/proj")
    cluster.select_option(CLUSTER)
    expect(form.get_by_label("Instance type", exact=True)).to_be_hidden()
    expect(form.locator('[data-field="command"]')).to_contain_text(
        "mpiexec -n <CORE_COUNT> python")
    form.get_by_role("button", name="Show advanced").click()
    form.get_by_label("Git username", exact=True).fill("alice")
    form.get_by_label("Git password or token", exact=True).fill(GIT_TOKEN)
    form.get_by_label("Reference", exact=True).fill("feature")
    # The API's error about env.1BAD belongs to the field whose api path (env) prefixes it.
    form.get_by_label("Environment variables", exact=True).fill("1BAD=x")
    form.get_by_role("button", name="Create", exact=True).click()
    env_error = form.locator('[data-field="env"] .jp-bodo-field-error')
    expect(env_error).to_contain_text("not starting with a digit")
    form.get_by_label("Environment variables", exact=True).fill("GREETING=bonjour")
    ui.shot("job-form", form)
    form.get_by_role("button", name="Create", exact=True).click()
    expect(form).to_have_count(0)
    row = sidebar.locator('tr[data-job="hello"]')
    expect(row).to_be_visible()
    row.get_by_role("button", name="Logs of hello").click()
    log = sidebar.get_by_label("Log of hello")
    expect(log).to_have_attribute("data-complete", "true", timeout=120_000)
    for rank in range(2):
        expect(log).to_contain_text(f"[rank {rank}] hello from rank {rank} of 2 greeting bonjour")
    expect(log).to_contain_text("[platform] exit code 0")
    expect(row).to_have_attribute("data-status", "FINISHED", timeout=60_000)
    expect(row.locator(".jp-bodo-badge")).to_have_text("FINISHED")
    ui.shot("job-logs")
    ui.shot("sidebar-jobs", sidebar)
    assert GIT_TOKEN not in page.content()
    # Delete the job (it holds nothing now), so that the cluster can go.
    row.get_by_role("button", name="Delete job hello").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0, timeout=60_000)
    sidebar.get_by_role("tab", name="Clusters").click()


def test_a_platform_notebook_created_opened_in_a_new_tab_and_deleted(ui: UI) -> None:
    page, sidebar = ui.page, ui.sidebar()
    sidebar.get_by_role("tab", name="Notebooks").click()
    sidebar.get_by_role("button", name="Create notebook").click()
    form = sidebar.locator('form[data-form="notebook-create"]')
    form.get_by_label("Name", exact=True).fill("analysis")
    types = form.get_by_label("Instance type", exact=True)
    expect(types.locator("option[value^='local']").first).to_be_attached()
    types.select_option(index=0)
    form.get_by_role("button", name="Create", exact=True).click()
    row = sidebar.locator('tr[data-notebook="analysis"]')
    expect(row).to_have_attribute("data-status", "RUNNING", timeout=120_000)
    ui.shot("notebook-running")
    with page.expect_popup() as popup_info:
        row.get_by_role("button", name="Open analysis in a new tab").click()
    popup = popup_info.value
    popup.wait_for_load_state()
    expect(popup.locator(".jp-LabShell")).to_be_visible(timeout=60_000)
    status, nb = ui.lab.call("GET", "/notebooks/analysis/connection")
    assert status == 200 and popup.url.startswith(nb["url"]), (popup.url, nb)
    popup.close()
    row.get_by_role("button", name="Delete notebook analysis").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0, timeout=120_000)
    sidebar.get_by_role("tab", name="Clusters").click()


def test_settings_show_the_iam_policy_and_the_credentials_forms_field_errors(ui: UI) -> None:
    page, sidebar = ui.page, ui.sidebar()
    # Onboarding's first step leads to Settings.
    sidebar.locator('[data-step="credentials"]').get_by_role("button").click()
    settings = sidebar.locator(".jp-bodo-settings")
    expect(settings).to_be_visible()
    expect(sidebar.get_by_role("tab", name="Settings")).to_have_attribute("aria-selected", "true")
    expect(settings).to_contain_text("does not offer the AWS provider")
    expect(settings.locator('[data-account="none"]')).to_be_visible()
    policy = json.loads((ROOT / "config" / "iam" / "bodo-platform-policy.json").read_text())
    shown = settings.get_by_label("IAM policy", exact=True)
    assert json.loads(shown.inner_text()) == policy
    expect(settings).to_contain_text("aws iam create-policy --policy-name bodo-platform")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    settings.get_by_role("button", name="Copy the IAM policy").click()
    expect(page.locator(".Toastify")).to_contain_text("IAM policy is on the clipboard")
    assert json.loads(page.evaluate("navigator.clipboard.readText()")) == policy
    # The declared AWS_CREDENTIALS form; the contract's 400 lands under its field.
    form = settings.locator('form[data-form="aws-credentials"]')
    form.get_by_label("Access key id", exact=True).fill("not-a-key")
    form.get_by_label("Secret access key", exact=True).fill("s3cret")
    form.get_by_label("AWS account id", exact=True).fill("123456789012")
    form.get_by_label("Region", exact=True).fill("us-east-1")
    form.get_by_role("button", name="Save", exact=True).click()
    expect(form.locator('[data-field="access_key_id"] .jp-bodo-field-error')).to_contain_text(
        "AKIA")
    ui.shot("settings")
    ui.shot("sidebar-settings", sidebar)
    sidebar.get_by_role("tab", name="Clusters").click()


def test_delete_the_cluster(ui: UI) -> None:
    row = ui.row(CLUSTER)
    row.get_by_role("button", name=f"Delete {CLUSTER}").click()
    dialog = ui.page.locator(".jp-Dialog")
    expect(dialog).to_contain_text(f"Delete cluster {CLUSTER}?")
    ui.shot("delete-dialog")
    dialog.get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0, timeout=120_000)
    empty = ui.sidebar().locator(".jp-bodo-clusters .jp-bodo-empty")
    expect(empty).to_contain_text("No clusters yet")
    ui.shot("deleted")
    status, page = ui.lab.call("GET", "/clusters")
    assert status == 200 and page["items"] == [], page
