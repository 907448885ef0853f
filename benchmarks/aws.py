"""AWS benchmark: round trips on the critical path of a cluster create, against
the dependency depth of its resource graph. Goal: <= 1.2x the depth.

Run: ``python benchmarks/aws.py [--latency 0.05]``. Every AWS call goes through
the test suite's fault proxy with a fixed latency in front of the emulator, so
a create that made its calls one after the other would take (calls x latency);
one that runs independent resources in parallel takes about (depth x latency).
The control plane reports, in the create task's events, how many calls it
made and how many of them had to wait for each other along the graph's
critical path (each node's calls that did not overlap, added up along the
deepest chain of dependencies). The proxy's own count of calls and how many
were in flight at once are shown beside it, and ``--timeline`` prints when
every call started and ended. Node boot time is set to zero: it is not an API
round trip.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--timeline", action="store_true", help="print every call's start/end")
    args = ap.parse_args()

    from bodo_jupyter.platform.providers.aws.plan import depth, nodes_for
    from bodo_jupyter.sdk import Platform
    from tests.aws import aws_emulator, leftovers
    from tests.helpers import Serve

    tmp = Path(tempfile.mkdtemp(prefix="bodo-bench-aws-"))
    results = []
    with aws_emulator(tmp, boot_delay=0.0) as em:
        data = tmp / "plane"
        data.mkdir()
        (data / "bodo_jupyter_config.py").write_text(
            'c.ControlPlane.enabled_providers = ["local", "aws"]\n'
            f'c.AWSProvider.ami_ids = {{"us-east-1": {em.ami!r}}}\n'
            "c.AWSProvider.poll_interval = 0.01\n")
        serve = Serve(data, env=em.control_plane_env()).start()
        try:
            p = Platform(serve.url, serve.token)
            p.credentials.set(em.user.access_key_id, em.user.secret_access_key,
                              "123456789012", "us-east-1")
            for _ in range(100):
                if p.credentials.show()["ready"]:
                    break
                time.sleep(0.05)
            p.instance_types("aws")  # warm the instance-type cache (not part of a create)
            for i in range(args.rounds):
                em.proxy.reset()
                em.proxy.latency = args.latency
                t0 = time.perf_counter()
                c = p.clusters.create(f"bench-{i}", "c5n.18xlarge", 2, provider="aws",
                                      efa=True, wait=True)
                elapsed = time.perf_counter() - t0
                stats = em.proxy.stats
                task = p.tasks.get(c.task.id)
                note = next(e.message for e in task.data.events
                            if "round trips one after the other" in e.message)
                results.append({"seconds": round(elapsed, 3), "calls": stats.calls,
                                "max_in_flight": stats.max_in_flight,
                                "timeline": sorted(stats.timeline),
                                "trips": int(note.split(";")[1].split()[0])})
                em.proxy.reset()
                c.delete(wait=True)
            assert leftovers(em) == {}
        finally:
            serve.clean_up()
            serve.stop()
    d = depth(nodes_for(True))
    best = min(results, key=lambda r: r["seconds"])
    trips = best["trips"]
    figures = {"latency_s": args.latency, "graph_depth": d,
               "sequential_round_trips": trips,
               "ratio_to_depth": round(trips / d, 2), "calls_per_create": best["calls"],
               "max_calls_in_flight": best["max_in_flight"],
               "create_seconds": best["seconds"],
               "create_seconds_in_round_trips": round(best["seconds"] / args.latency, 1),
               "all_create_seconds": [r["seconds"] for r in results]}
    if args.timeline:
        t0 = best["timeline"][0][0]
        for a, b, action in best["timeline"]:
            print(f"{(a - t0) * 1000:7.0f} {(b - t0) * 1000:7.0f}  {action}")
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"EFA cluster create with {args.latency * 1000:.0f} ms per AWS call: "
          f"{trips} sequential round trips on the critical path for a graph of depth {d} -> "
          f"{trips / d:.2f}x (goal <= 1.2x); {best['calls']} calls, "
          f"up to {best['max_in_flight']} at once; {best['seconds']:.2f}s in all "
          f"(= {best['seconds'] / args.latency:.1f} x latency, with our own processing)")


if __name__ == "__main__":
    main()
