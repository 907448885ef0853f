"""Hub spawn benchmark: a local notebook's spawn-to-ready with BodoSpawner against
JupyterHub's own SimpleLocalProcessSpawner, in the same run. Goal (issue 10): <= 1.2x.

Two real hubs (each with configurable-http-proxy) run side by side: one with the
platform as its service and BodoSpawner (the server is a platform notebook: a task, the
organisation's OS user when root, readiness probes), one with SimpleLocalProcessSpawner
(``jupyterhub-singleuser`` as a child of the hub). Both start the same single-user
server. Rounds alternate between the two, so drift of the machine hits both alike.

Spawn-to-ready: from the hub API's ``POST /users/<u>/servers/<name>`` to the server
answering ``GET /user/<u>/<name>/api/status`` through the proxy with the user's token.
After each spawn the server is stopped and the next round waits until it is gone.

Run: ``python benchmarks/hub_spawn.py [--rounds 5] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bodo_jupyter.contract.hub_groups import org_groups  # noqa: E402
from tests.hub import Hub, service_config, user_token, wait_for_service  # noqa: E402
from tests.net import free_port  # noqa: E402

COMMON = """
c.JupyterHub.authenticator_class = "null"
c.JupyterHub.allow_named_servers = True
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}
"""
BODO = COMMON + """
c.JupyterHub.spawner_class = "bodo"
c.BodoSpawner.default_instance_type = "local.notebook"
"""
RAW = COMMON + f"""
from jupyterhub.spawner import SimpleLocalProcessSpawner
c.JupyterHub.spawner_class = SimpleLocalProcessSpawner
c.SimpleLocalProcessSpawner.home_dir_template = "@HOME@"
c.Spawner.cmd = [{str(Path(sys.executable).parent / "jupyterhub-singleuser")!r}]
# The baseline is JupyterHub's own: bodo-jupyter's server extension (installed in this
# environment) would start a control plane inside the server and slow the baseline.
c.Spawner.args = ["--allow-root", "--ServerApp.jpserver_extensions=bodo_jupyter=False"]
"""


def spawn_to_ready(hub: Hub, user: str, server: str, token: str) -> float:
    base = f"{hub.url}/user/{user}/{server}/"
    with hub.api() as api:
        t0 = time.perf_counter()
        r = api.post(f"/users/{user}/servers/{server}", json={})
        if r.status_code not in (201, 202):
            raise RuntimeError(f"spawn refused: {r.status_code} {r.text}")
        while True:
            try:
                ok = httpx.get(base + "api/status", timeout=10,
                               headers={"Authorization": f"token {token}"}).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                elapsed = time.perf_counter() - t0
                break
            model = api.get(f"/users/{user}").json()["servers"].get(server)
            if model is None and time.perf_counter() - t0 > 5:
                raise RuntimeError(f"spawn failed:\n{hub.log_tail()}")
            time.sleep(0.02)
        api.delete(f"/users/{user}/servers/{server}")
        while api.get(f"/users/{user}").json()["servers"].get(server):
            time.sleep(0.1)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
        root = Path(tmp)
        home = root / "home"
        home.mkdir()
        bodo = Hub(root / "bodo", BODO + service_config(port=free_port(), data=root / "plane"))
        raw = Hub(root / "raw", RAW.replace("@HOME@", str(home)))
        hubs = {"bodo": bodo, "raw": raw}
        times: dict[str, list[float]] = {"bodo": [], "raw": []}
        try:
            for h in hubs.values():
                h.start()
            wait_for_service(bodo)
            tokens = {}
            for name, h in hubs.items():
                with h.api() as api:
                    api.post("/users/ann").raise_for_status()
                    if name == "bodo":
                        group = quote(org_groups("bench", admin=False)[0], safe="")
                        api.post(f"/groups/{group}", json={"users": ["ann"]}).raise_for_status()
                tokens[name] = user_token(h, "ann", ["access:servers!user"])
            # One warm-up each: first imports, the organisation's OS user, page caches.
            for name, h in hubs.items():
                spawn_to_ready(h, "ann", "warm", tokens[name])
            for i in range(args.rounds):
                for name in (("bodo", "raw") if i % 2 == 0 else ("raw", "bodo")):
                    times[name].append(spawn_to_ready(hubs[name], "ann", f"r{i}", tokens[name]))
            # The hub's own view: how long each start took, as its log says.
            hub_view = {name: [float(x) for x in re.findall(
                r"User \S+ took ([0-9.]+) seconds to start", h.log_path.read_text())]
                for name, h in hubs.items()}
        finally:
            for h in hubs.values():
                h.stop()

    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "rounds": args.rounds,
        "bodo_s": [round(x, 3) for x in times["bodo"]],
        "raw_s": [round(x, 3) for x in times["raw"]],
        "bodo_median_s": round(med["bodo"], 3),
        "raw_median_s": round(med["raw"], 3),
        "ratio": round(med["bodo"] / med["raw"], 2),
        "hub_reported_start_s": hub_view,
        "goal": "<= 1.2x",
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"spawn-to-ready, median of {args.rounds} (after one warm-up each):")
    print(f"  SimpleLocalProcessSpawner  {med['raw']:.2f} s   {result['raw_s']}")
    print(f"  BodoSpawner (platform)     {med['bodo']:.2f} s   {result['bodo_s']}")
    print(f"  ratio {result['ratio']}x (goal <= 1.2x)")
    print(f"  the hubs' logs, 'took N seconds to start': {hub_view}")


if __name__ == "__main__":
    main()
