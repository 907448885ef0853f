"""The example notebooks run as a user runs them: every code cell in a real kernel of a
Jupyter server with the extension, on a real 4-rank cluster, with the real bodo."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from .jupyter import JUPYTER_TOKEN, JupyterServer

pytestmark = [pytest.mark.mpi, pytest.mark.bodo, pytest.mark.slow]

if not os.environ.get("BODO_JUPYTER_REQUIRE_BODO"):  # scripts/test installs it: never skip
    pytest.importorskip("bodo", reason="the bodo extra is not installed")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def cli(api: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BODO_JUPYTER_URL": api, "BODO_JUPYTER_TOKEN": JUPYTER_TOKEN}
    return subprocess.run([sys.executable, "-m", "bodo_jupyter.cli", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def expected_revenue() -> dict[str, float]:
    i = np.arange(10_000_000)
    store, amount = i % 500, (i % 97).astype(np.float64)
    region = np.where(store % 3 == 0, "north", np.where(store % 3 == 1, "south", "west"))
    return {r: float(amount[region == r].sum()) for r in ("north", "south", "west")}


def test_bodo_on_a_cluster_notebook(tmp_path: Path) -> None:
    nb = nbformat.read(EXAMPLES / "bodo-on-a-cluster.ipynb", as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    server = JupyterServer(tmp_path / "nb", tmp_path / "data").start()
    try:
        # What the notebook's first cell asks for, typed in a terminal.
        r = cli(server.api, "cluster", "create", "demo", "--instance-type", "local.medium",
                "--instances", "2", "--wait")
        assert r.returncode == 0, r.stderr
        kernel = server.start_kernel()
        outs = server.run(kernel, *cells, timeout=600)
        for source, out in zip(cells, outs, strict=True):
            assert out["error"] is None, (source, out)
        text = "\n".join(o["stdout"] + "".join(o["results"]) for o in outs)

        # The shared directory is one folder, the same on every rank.
        shared = set(re.findall(r"rank \d of 4, shared directory (\S+)", text))
        assert len(shared) == 1, text
        assert len(re.findall(r"rank (\d): 10000000 rows written", text)) == 4, text
        # The result is distributed: each region on exactly one rank.
        held = [r for part in re.findall(r"rank \d holds \[(.*)\]", text)
                for r in re.findall(r"'(\w+)'", part)]
        assert sorted(held) == ["north", "south", "west"], text
        got = {m[0]: float(m[1]) for m in re.findall(r"REVENUE (\w+) (\d+)", text)}
        assert got == expected_revenue(), text
        assert "read back: 3 regions" in text
        # Built outside jit: all of it on every rank.
        assert len(re.findall(r"rank \d: 1000 rows \(all of them, on every rank\)", text)) == 4
        assert (Path(shared.pop()) / "revenue_by_region.pq").is_dir()
        r = cli(server.api, "cluster", "delete", "demo", "--wait")
        assert r.returncode == 0, r.stderr
    finally:
        server.shut_down()
