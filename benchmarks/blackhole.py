"""Slow Git hosts: the API's latency and a cluster create while six job fetches hang
on a host that accepts connections and never answers, against the same control
plane with no fetch hanging, in the same run. Goals (issue 8): cluster create
< 2x its normal time, log reads < 100 ms.

Run: ``python benchmarks/blackhole.py [--rounds 3] [--requests 50] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HANGING = 6


def p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def measure(serve, requests: int, rounds: int) -> dict[str, list[float]]:
    """Latencies (s) of log reads and connection info, and cluster create-to-FINISHED."""
    out: dict[str, list[float]] = {"logs": [], "connection": [], "create": []}
    for path, key in (("/jobs/hello/runs/latest/logs", "logs"),
                      ("/clusters/base/connection", "connection")):
        for _ in range(requests):
            t = time.perf_counter()
            status, _ = serve.http("GET", path, timeout=60)
            assert status == 200
            out[key].append(time.perf_counter() - t)
    for i in range(rounds):
        t = time.perf_counter()
        status, body = serve.http("POST", "/clusters", {
            "name": f"probe-{i}", "instance_type": "local.small", "instances": 1})
        assert status == 202, body
        assert serve.wait_task(body["task"]["id"], timeout=300)["status"] == "FINISHED"
        out["create"].append(time.perf_counter() - t)
        status, body = serve.http("DELETE", f"/clusters/probe-{i}")
        serve.wait_task(body["task"]["id"], timeout=300)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="cluster creates per phase")
    ap.add_argument("--requests", type=int, default=50, help="GETs per endpoint per phase")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from tests.black_hole import BlackHole
    from tests.git_server import GitServer
    from tests.helpers import Serve, assert_no_cluster_processes

    tmp = Path(tempfile.mkdtemp(prefix="bodo-bench-blackhole-"))
    git = GitServer(tmp / "git", "bench", "bench-token").start()
    url = git.create_repo("bench", "hello", {"main": {"hello.py": "print('hello')\n"}})
    hole = BlackHole().start()
    data = tmp / "plane"
    data.mkdir()
    (data / "bodo_jupyter_config.py").write_text(
        git.plane_config() + "c.SourceFetcher.low_speed_time = 3600\n"
        "c.SourceFetcher.git_timeout = 3600\n")
    serve = Serve(data).start()
    try:
        status, body = serve.http("POST", "/clusters", {"name": "base", "instance_type":
                                                        "local.small", "instances": 1})
        serve.wait_task(body["task"]["id"], timeout=300)
        status, job = serve.http("POST", "/jobs", {
            "name": "hello", "cluster": "base", "command": "hello.py", "path": url,
            "git_username": "bench", "git_password": "bench-token"})
        serve.wait_task(job["last_run"]["task_id"], timeout=300)
        quiet = measure(serve, args.requests, args.rounds)
        for i in range(HANGING):
            status, job = serve.http("POST", "/jobs", {
                "name": f"hang-{i}", "cluster": {"instance_type": "local.small",
                                                 "instances": 1},
                "command": "hello.py", "path": f"{hole.url}/acme/x",
                "git_username": "bench", "git_password": "bench-token"})
            assert status == 201, job
        hole.wait(lambda h: h.accepted >= 8 and len(h.open) >= 4, 300, "4 hanging fetches")
        loaded = measure(serve, args.requests, args.rounds)
        assert len(hole.open) >= 4, "the fetches kept hanging while measured"
        for i in range(HANGING):
            serve.http("POST", f"/jobs/hang-{i}/cancel")
    finally:
        serve.clean_up()
        serve.stop()
        hole.stop()
        git.stop()
    assert_no_cluster_processes(serve.plane_id)
    med = statistics.median
    figures = {}
    for key in ("logs", "connection"):
        for q, name in ((0.5, "p50"), (0.95, "p95")):
            a, b = p(quiet[key], q), p(loaded[key], q)
            figures[f"{key}_{name}_ms"] = [round(a * 1e3, 2), round(b * 1e3, 2)]
            figures[f"{key}_{name}_ratio"] = round(b / a, 2)
    figures["create_s"] = [round(med(quiet["create"]), 2), round(med(loaded["create"]), 2)]
    figures["create_ratio"] = round(med(loaded["create"]) / med(quiet["create"]), 2)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"with {HANGING} fetches hanging vs none (same control plane, same run):")
    for key in ("logs", "connection"):
        print(f"  {key}: p50 {figures[key + '_p50_ms'][0]} -> {figures[key + '_p50_ms'][1]} ms "
              f"({figures[key + '_p50_ratio']}x), p95 {figures[key + '_p95_ms'][0]} -> "
              f"{figures[key + '_p95_ms'][1]} ms ({figures[key + '_p95_ratio']}x)")
    print(f"  cluster create: {figures['create_s'][0]} -> {figures['create_s'][1]} s "
          f"({figures['create_ratio']}x; goal < 2x)")


if __name__ == "__main__":
    main()
