"""The local provider's argv and environment builders, without starting anything."""

from pathlib import Path

from bodo_jupyter.platform.providers.local_launch import (
    ClusterPaths,
    OrgPaths,
    controller_argv,
    engine_argv,
    heartbeat_misses,
    mpi_env,
    mpiexec_argv,
)


def test_mpiexec_oversubscribes_for_local_clusters():
    assert mpiexec_argv(mpiexec="mpiexec", ranks=4, oversubscribe=True) == [
        "mpiexec", "-n", "4", "--map-by", ":OVERSUBSCRIBE"]
    assert mpiexec_argv(mpiexec="mpiexec", ranks=2, oversubscribe=False) == ["mpiexec", "-n", "2"]


def test_engines_run_one_engine_per_rank_with_rank_ids():
    argv = engine_argv(mpiexec="/x/mpiexec", ranks=4, python="/x/python", profile_dir="/p",
                       ipp_cluster_id="c-1", oversubscribe=True, wait_for_controller_s=60,
                       url_file="/p/security/engines-connection.json", nanny=False)
    assert argv[:5] == ["/x/mpiexec", "-n", "4", "--map-by", ":OVERSUBSCRIBE"]
    i = argv.index("/x/python")
    assert argv[i:i + 4] == ["/x/python", "-m", "ipyparallel.engine", "--mpi"]
    assert "--cluster-id=c-1" in argv and "--profile-dir=/p" in argv
    assert "--IPEngine.wait_for_url_file=60" in argv
    assert "--IPEngine.enable_nanny=False" in argv
    # Engines read the copy the control plane publishes whole, not the controller's file.
    assert "--IPEngine.url_file=/p/security/engines-connection.json" in argv


def test_controller_uses_threads_and_a_fast_heartbeat_with_the_same_grace():
    argv = controller_argv(python="py", profile_dir=Path("/p"), ipp_cluster_id="c",
                           ip="127.0.0.1", heartbeat_ms=250, heartbeat_grace_s=30)
    assert argv[:3] == ["py", "-m", "ipyparallel.controller"]
    assert "--usethreads" in argv
    assert "--HeartMonitor.period=250" in argv
    assert "--HeartMonitor.max_heartmonitor_misses=120" in argv
    assert heartbeat_misses(3000, 1) == 3


def test_env_handles_root():
    env = mpi_env(as_root=True, cluster_name="demo", core_count=4, extra={"A": "1"})
    assert env["OMPI_ALLOW_RUN_AS_ROOT"] == "1" and env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] == "1"
    assert env["BODO_JUPYTER_CORE_COUNT"] == "4" and env["A"] == "1"
    env = mpi_env(as_root=False, cluster_name="demo", core_count=4)
    assert "OMPI_ALLOW_RUN_AS_ROOT" not in env


def test_paths():
    p = ClusterPaths(Path("/d/c-1"), Path("/w/org/clusters/c-1/profile"))
    assert p.client_file("c-1") == Path(
        "/w/org/clusters/c-1/profile/security/ipcontroller-c-1-client.json")
    assert p.engines_log == Path("/d/c-1/logs/engines.log")
    org = OrgPaths(Path("/w/org"))
    assert org.profile("c-1") == p.profile_dir and org.job("r-1") == Path("/w/org/jobs/r-1")
    assert org.tmp == Path("/w/org/home/tmp") and org.shared == Path("/w/org/shared")


def test_engines_only_ever_see_a_whole_connection_file(tmp_path):
    from bodo_jupyter.platform.providers.local import publish_when_complete

    source, target = tmp_path / "controller.json", tmp_path / "engines.json"
    assert publish_when_complete(source, target) is False  # not written yet
    source.write_text('{"key": "abc", "registr')  # the controller is half-way
    assert publish_when_complete(source, target) is False and not target.exists()
    source.write_text('{"key": "abc", "registration": 1}')
    assert publish_when_complete(source, target) is True
    assert target.read_text() == source.read_text()
    assert target.stat().st_mode & 0o777 == 0o600
