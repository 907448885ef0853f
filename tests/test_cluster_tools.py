"""The pure parts of %ppip, %psh and the platform's site folder, without servers: pip's
argv, which engines run a command, the expression engines evaluate, PYTHONPATH order,
and the site folder's sitecustomize in a real Python process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bodo_jupyter import engine_ops, shared_dir
from bodo_jupyter.cluster_tools import ClusterCommandError, engine_call, one_per_host, prefixed
from bodo_jupyter.engine_ops import (
    PipUsage,
    constraints_text,
    module_names,
    pip_argv,
    rank_ranges,
    record_files,
    refused_option,
    stale_dist_infos,
)
from bodo_jupyter.platform.providers.bodo_guard import SITE_MODULE, site_files
from bodo_jupyter.platform.providers.local_launch import OrgPaths, python_path

from .helpers import build_wheel


def test_pip_install_goes_to_the_packages_folder_constrained_to_the_environment():
    argv = pip_argv("/venv/bin/python", "install", ["tiny==1.0", "--no-index"],
                    packages="/ws/clusters/c1/packages", constraints="/tmp/c.txt")
    assert argv == ["/venv/bin/python", "-m", "pip", "install", "--no-input",
                    "--disable-pip-version-check", "--target", "/ws/clusters/c1/packages",
                    "--upgrade", "-c", "/tmp/c.txt", "tiny==1.0", "--no-index"]
    # The other commands are pip's own, with the user's arguments as typed.
    assert pip_argv("py", "list", ["--path", "/p"], packages="/p") == [
        "py", "-m", "pip", "list", "--no-input", "--disable-pip-version-check", "--path", "/p"]
    assert pip_argv("py", "freeze", [], packages="/p")[3] == "freeze"


@pytest.mark.parametrize("args", [["--target", "/x", "a"], ["-t", "/x"], ["-t/x"],
                                  ["--target=/x"], ["--prefix", "/x"], ["--user", "a"],
                                  ["--root=/"], ["-e", "."], ["--editable=."]])
def test_options_that_move_the_destination_are_refused(args):
    assert refused_option(args) is not None
    with pytest.raises(PipUsage, match="leave out"):
        pip_argv("py", "install", args, packages="/p")


def test_ordinary_options_pass_and_unknown_commands_are_refused():
    assert refused_option(["--no-index", "--find-links", "/w", "-U", "--pre", "x"]) is None
    with pytest.raises(PipUsage):
        pip_argv("py", "download", ["x"], packages="/p")
    with pytest.raises(PipUsage):  # uninstall is engine_ops.uninstall, not pip's
        pip_argv("py", "uninstall", ["x"], packages="/p")


def test_constraints_pin_every_distribution_of_the_environment_once():
    text = constraints_text([("NumPy", "2.1.0"), ("pandas", "3.0.1"), ("numpy", "2.1.0"),
                             (None, "1"), ("bodo_jupyter", "0.1.0")])
    assert text == "bodo-jupyter==0.1.0\nnumpy==2.1.0\npandas==3.0.1\n"
    # What pip cannot parse is left out instead of breaking every install.
    assert constraints_text([("legacy", "1.0-SNAPSHOT"), ("bad name", "1"),
                             ("torch", "2.1.0+cpu"), ("x", "1.0rc1.post2.dev3")]) == (
        "torch==2.1.0+cpu\nx==1.0rc1.post2.dev3\n")


def test_modules_an_install_changed_from_the_folder_before_and_after():
    before = {"old": 1, "kept.py": 5, "tiny-1.0.dist-info": 3}
    after = {"old": 2, "kept.py": 5, "tiny-2.0.dist-info": 9, "new_mod.py": 9,
             "_speedups.cpython-311-x86_64-linux-gnu.so": 9, "bin": 9, "__pycache__": 9,
             ".lock": 9, "not-a-module": 9}
    assert module_names(before, after) == ["_speedups", "new_mod", "old"]


def test_an_upgrade_leaves_no_old_dist_info_behind():
    before = {"tiny": 1, "tiny-1.0.dist-info": 1, "other-3.0.dist-info": 1}
    after = {"tiny": 2, "tiny-1.0.dist-info": 1, "tiny-2.0.dist-info": 2,
             "other-3.0.dist-info": 1, "Tiny_Extra-1.0.dist-info": 1}
    assert stale_dist_infos(before, after) == ["tiny-1.0.dist-info"]
    # Reinstalling the same version rewrites its own dist-info: nothing is stale.
    assert stale_dist_infos(before, {**before, "tiny-1.0.dist-info": 5}) == []


def test_record_files_and_rank_ranges():
    record = "tiny/__init__.py,sha256=abc,12\n\"odd,name.py\",,\ntiny-1.0.dist-info/RECORD,,\n"
    assert record_files(record) == ["tiny/__init__.py", "odd,name.py",
                                    "tiny-1.0.dist-info/RECORD"]
    assert rank_ranges([3, 0, 1, 2, 5, 7, 8]) == "0-3, 5, 7-8"
    assert rank_ranges([]) == ""


def test_one_engine_per_node_is_the_lowest_rank_of_each_host():
    assert one_per_host({0: "a", 1: "a", 2: "b", 3: "b", 4: "c"}) == [0, 2, 4]
    assert one_per_host({3: "b", 1: "a", 0: "b"}) == [0, 1]
    assert one_per_host({0: "h", 1: "h", 2: "h", 3: "h"}) == [0]
    assert prefixed("[node a]", "x\ny\n") == "[node a] x\n[node a] y\n"


def test_engine_call_runs_engine_ops_in_a_namespace_of_its_own():
    # What an engine evaluates, in a fresh process: the result, and nothing left behind.
    expr = engine_call("sh", command="echo $((6*7)); echo oops >&2; exit 3", timeout=30)
    code = f"r = eval({expr!r}, {{}}); print(repr(r)); print(sorted(k for k in globals() " \
           "if not k.startswith('__')))"
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert eval(first) == {"code": 3, "stdout": "42\n", "stderr": "oops\n"}
    assert second == "['r']"  # not engine_ops' names
    with pytest.raises(ValueError):
        engine_call("no_such_function")


def test_command_errors_show_their_message_alone():
    e = ClusterCommandError("pip install failed on rank 0")
    assert e._render_traceback_() == ["ClusterCommandError: pip install failed on rank 0"]


def test_pythonpath_puts_the_platforms_folders_first():
    assert python_path("/site", "/pkgs") == "/site:/pkgs"
    assert python_path("/site", "/pkgs", then="/mine:/site::/more") == "/site:/pkgs:/mine:/more"
    assert OrgPaths(Path("/ws/o")).packages("c1") == Path("/ws/o/clusters/c1/packages")


def test_shared_dir_names_the_variable_or_says_where_it_works(monkeypatch):
    monkeypatch.setenv("BODO_JUPYTER_SHARED_DIR", "/ws/o/shared")
    assert shared_dir() == Path("/ws/o/shared")
    monkeypatch.delenv("BODO_JUPYTER_SHARED_DIR")
    with pytest.raises(RuntimeError, match="%%px cell or a job"):
        shared_dir()


def test_site_folder_guards_every_python_process_and_keeps_a_hidden_sitecustomize(tmp_path):
    site, other, job = tmp_path / "site", tmp_path / "other", tmp_path / "job"
    for folder in (site, other, job):
        folder.mkdir()
    for name, text in site_files().items():
        (site / name).write_text(text)
    (other / "sitecustomize.py").write_text("import sys; sys.chained = True\n")
    # A job's own files named like the guard's do not replace it.
    (job / f"{SITE_MODULE}.py").write_text("raise SystemExit('the job shadowed the guard')\n")
    (job / "sitecustomize.py").write_text("raise SystemExit('the job shadowed the site')\n")
    # Bodo's spawner, as far as the guard is concerned.
    spawn = other / "bodo" / "spawn"
    spawn.mkdir(parents=True)
    (other / "bodo" / "__init__.py").write_text("")
    (spawn / "__init__.py").write_text("")
    (spawn / "spawner.py").write_text("class Spawner:\n    def __init__(self):\n"
                                      "        self.spawned = True\n")
    # The engines also install the package's own guard (IPEngine.startup_command): two
    # guards in one process skip each other instead of recursing.
    root = str(Path(__file__).resolve().parents[1])
    (job / "main.py").write_text(
        "import sys\nassert sys.chained\n"
        f"assert sys.modules['{SITE_MODULE}'].__file__.startswith({str(site)!r})\n"
        f"sys.path.insert(0, {root!r})\n"
        "from bodo_jupyter.platform.providers import bodo_guard\nbodo_guard.install()\n"
        "from bodo.spawn.spawner import Spawner\nSpawner()\n")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": python_path(site, other)}
    out = subprocess.run([sys.executable, "main.py"], cwd=job, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert "SpawnModeRefused: Bodo's spawn mode is off" in out.stderr, out.stderr
    assert "RecursionError" not in out.stderr
    assert "shadowed" not in out.stderr


def test_site_files_are_written_readable_once_and_in_one_piece(tmp_path):
    from bodo_jupyter.platform.files import write_readable

    target = tmp_path / "sitecustomize.py"
    assert write_readable(target, "a = 1\n") is True
    assert target.stat().st_mode & 0o777 == 0o644
    assert write_readable(target, "a = 1\n") is False  # unchanged: not rewritten
    assert write_readable(target, "a = 2\n") is True and target.read_text() == "a = 2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sitecustomize.py"]


def test_engine_ops_install_upgrade_and_uninstall_a_real_wheel_in_a_folder(tmp_path, capsys):
    """What an engine runs, here: real pip (offline) into a --target folder."""
    wheels, packages = tmp_path / "wheels", tmp_path / "packages"
    wheels.mkdir()
    for version in ("1.0", "2.0"):
        build_wheel(wheels, "bjunit", version)
    find = ["--no-index", "--find-links", str(wheels)]
    one = engine_ops.pip("install", [*find, "bjunit==1.0"], str(packages), 120, 5)
    assert one["code"] == 0 and one["changed"] == ["bjunit"], one
    assert "Successfully installed bjunit-1.0" in capsys.readouterr().out  # streamed
    two = engine_ops.pip("install", [*find, "bjunit==2.0"], str(packages), 120, 5)
    assert two["code"] == 0 and two["changed"] == ["bjunit"], two
    assert sorted(p.name for p in packages.iterdir() if p.name.endswith(".dist-info")) == [
        "bjunit-2.0.dist-info"]
    (packages / "bjunit" / "__pycache__").mkdir(exist_ok=True)
    (packages / "bjunit" / "__pycache__" / "imported.cpython-311.pyc").write_bytes(b"")
    gone = engine_ops.pip("uninstall", ["bjunit"], str(packages), 60, 5)
    assert gone["code"] == 0 and list(packages.iterdir()) == [], gone
    missing = engine_ops.pip("install", [*find, "no-such-thing"], str(packages), 120, 5)
    assert missing["code"] == 1
    assert any("No matching distribution found for no-such-thing" in line
               for line in missing["tail"]), missing


def test_a_command_that_outlives_its_timeout_is_stopped_and_says_so():
    code, tail = engine_ops._run_streaming(
        [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"],
        timeout=1, tail=5)
    assert code < 0 and tail == ["started", "(stopped after 1s)"]
    code, tail = engine_ops._run_streaming(  # killed otherwise: not a timeout
        [sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"], timeout=30, tail=5)
    assert code == -9 and tail == []
    assert engine_ops.sh("sleep 5", timeout=0.5) == {
        "code": None, "stdout": "", "stderr": "(stopped after 0.5s)\n"}
