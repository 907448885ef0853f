"""Idle traffic of the Bodo sidebar: the requests an open, untouched panel makes to the
platform's API, counted at the server. Goal (issue 11): <= 1 request per 10 s on average
over 5 idle minutes.

A real `jupyter lab` (the prebuilt extension as `pip install` put it) and Debian's
Chromium driven by Playwright: the page opens, the Bodo tab is clicked, then nothing is
touched for ``--seconds``. The server logs every request (``log_level=DEBUG``); the
requests under ``/bodo/api/v1`` after the panel first showed its data are counted, and
listed by path. JupyterLab's own polling (kernels, sessions) is not the panel's and is
not counted.

Run: ``python benchmarks/ui_idle.py [--seconds 300] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.jupyter import JUPYTER_TOKEN, JupyterServer  # noqa: E402
from tests.test_ui import CHROMIUM  # noqa: E402

REQUEST = re.compile(r"\b\d{3} (GET|POST|PUT|PATCH|DELETE) (/bodo/api/v1[^ ?]*)")


def api_requests(log: Path) -> list[tuple[str, str]]:
    return REQUEST.findall(log.read_text(errors="replace"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if CHROMIUM is None:
        sys.exit("no Chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bodo-ui-idle-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "home").mkdir()
        settings = tmp / "lab-settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
        lab = JupyterServer(
            tmp / "root", tmp / "bodo-data",
            env={"HOME": str(tmp / "home"), "JUPYTER_CONFIG_DIR": str(tmp / "config")},
            app="jupyterlab",
            args=("--LabApp.news_url=None", "--ServerApp.log_level=DEBUG",
                  "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                  f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
                  f"--LabApp.user_settings_dir={tmp / 'lab-settings'}"))
        lab.start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(f"{lab.base}lab?token={JUPYTER_TOKEN}")
                page.locator('.jp-SideBar .lm-TabBar-tab[data-id="bodo-jupyter-sidebar"]').click()
                page.locator("#bodo-jupyter-sidebar .jp-bodo-clusters .jp-bodo-empty").filter(
                    has_text="No clusters yet").wait_for(timeout=60_000)
                before = len(api_requests(lab.log))
                start = time.monotonic()
                page.wait_for_timeout(args.seconds * 1000)  # idle is the point: nothing to wait for
                elapsed = time.monotonic() - start
                idle = api_requests(lab.log)[before:]
                browser.close()
        finally:
            lab.shut_down()
    by_path = Counter(f"{m} {p}" for m, p in idle)
    result = {
        "seconds": round(elapsed, 1),
        "requests": len(idle),
        "seconds_per_request": round(elapsed / len(idle), 1) if idle else None,
        "goal_seconds_per_request": 10,
        "ok": len(idle) <= elapsed / 10,
        "by_path": dict(by_path.most_common()),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{len(idle)} API requests in {elapsed:.0f} s of an idle, open Bodo sidebar "
          f"(goal: <= {elapsed / 10:.0f}, one per 10 s): {'OK' if result['ok'] else 'TOO MANY'}")
    for path, n in by_path.most_common():
        print(f"  {n:4d}  {path}")


if __name__ == "__main__":
    main()
