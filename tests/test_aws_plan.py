"""The AWS provider's pure parts: the resource graph, tags, the user-data script,
IAM documents and error messages -- no AWS, no emulator."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

from botocore.exceptions import ClientError

from bodo_jupyter.platform.providers.aws.bootstrap import (
    SITE_DIR,
    USER_DATA_LIMIT,
    script_vars,
    user_data,
)
from bodo_jupyter.platform.providers.aws.errors import explain
from bodo_jupyter.platform.providers.aws.plan import (
    GRAPH,
    ClusterPlan,
    depth,
    nodes_for,
    reverse_deps,
)
from bodo_jupyter.platform.providers.aws.policy import (
    actions_for,
    node_policy,
    platform_policy,
    policy_actions,
)
from bodo_jupyter.platform.providers.aws.resources import Builder


def plan(efa: bool = True) -> ClusterPlan:
    return ClusterPlan(cluster_id="c-0123456789ab", org_id="o-1", name="demo",
                       account_id="123456789012", region="eu-west-1",
                       instance_type="c5n.18xlarge", instances=2, cores_per_instance=36,
                       efa=efa, ami_id="ami-1", plane_id="p1")


def test_graph_is_acyclic_complete_and_six_deep():
    names = {n.name for n in GRAPH}
    assert all(set(n.deps) <= names for n in GRAPH)
    assert depth(nodes_for(True)) == 6 and depth(nodes_for(False)) == 6
    assert "placement-group" not in {n.name for n in nodes_for(False)}
    # Every node can be made and removed.
    for n in GRAPH:
        assert callable(getattr(Builder, "c_" + n.name.replace("-", "_")))
        assert callable(getattr(Builder, "d_" + n.name.replace("-", "_")))
    # Deletion waits for what depends on a node: the VPC goes after its subnets.
    assert "public-subnet" in reverse_deps(nodes_for(True))["vpc"]
    assert {"instances"} <= reverse_deps(nodes_for(True))["private-routes"]


def test_names_and_tags():
    p = plan()
    assert p.core_count == 72
    assert p.bucket == "bodo-c-0123456789ab-123456789012-eu-west-1" and len(p.bucket) <= 63
    tags = {t["Key"]: t["Value"] for t in p.tags("vpc")}
    assert tags == {"bodo:cluster": "c-0123456789ab", "bodo:organization": "o-1",
                    "bodo:control-plane": "p1", "bodo:resource": "vpc",
                    "Name": "bodo-demo-vpc"}
    assert p.tag_spec("subnet", "public-subnet")[0]["ResourceType"] == "subnet"
    # Members reach each other on every port; the world reaches nothing by default.
    rules = p.ingress_rules("sg-1")
    assert rules == [{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-1"}]}]


def test_user_data_mounts_efs_and_starts_engines():
    text = user_data(plan(), efs_id="fs-1", kms_key_id="arn:aws:kms:eu-west-1:1:key/k")
    assert text.startswith("#!/bin/bash")
    v = script_vars(text)
    assert v == {"CLUSTER_ID": "c-0123456789ab", "REGION": "eu-west-1",
                 "TABLE": "bodo-c-0123456789ab",
                 "BUCKET": "bodo-c-0123456789ab-123456789012-eu-west-1", "EFS_ID": "fs-1",
                 "KMS_KEY": "arn:aws:kms:eu-west-1:1:key/k", "NODES": "2",
                 "CORES_PER_NODE": "36", "CORE_COUNT": "72", "EFA": "1", "BODO_VERSION": ""}
    assert 'echo "$EFS_ID:/ $SHARED efs _netdev,tls,iam 0 0" >> /etc/fstab' in text
    assert "aws kms decrypt" in text and "ssh-key.kms" in text
    assert "ipyparallel.engine --mpi" in text
    assert "wait_for_engines" in text  # ready means every engine answers
    no_efa = user_data(plan(efa=False), efs_id="fs-1", kms_key_id="k")
    assert "FI_PROVIDER" not in no_efa and script_vars(no_efa)["EFA"] == "0"
    # Without a Bodo version the nodes install none.
    assert "pip install" in text and 'if [ -n "$BODO_VERSION" ]' in text


def mpiexec_line(text: str) -> list[str]:
    lines = [ln for ln in text.splitlines() if "ipyparallel.engine" in ln]
    assert len(lines) == 1, lines
    return shlex.split(lines[0].removesuffix(" &"))


def test_user_data_speaks_mpich_hydra_only():
    """The nodes' MPI is MPICH: a hydra hostfile (``ip:cores``), ``-f`` and ``-launcher
    ssh``, the ranks' environment as ``-genv``; nothing of Open MPI's anywhere (the AWS
    CLI's own ``--output text`` is not mpiexec's, so that one is checked on mpiexec)."""
    text = user_data(plan(), efs_id="fs-1", kms_key_id="k")
    assert 'sed "s/$/:36/" > /shared/hostfile' in text
    for openmpi in ("--mca", "slots=", "--hostfile", "OMPI_", "--map-by", "-x "):
        assert openmpi not in text, openmpi
    argv = mpiexec_line(text)
    assert argv[:9] == ["sudo", "-u", "bodo", "/opt/bodo/bin/mpiexec", "-f", "/shared/hostfile",
                        "-launcher", "ssh", "-n"]
    assert argv[9] == "72" and "--output" not in argv
    env = {argv[i + 1]: argv[i + 2] for i, a in enumerate(argv) if a == "-genv"}
    # EFA through libfabric, MPICH's ofi netmod told to use it; Bodo runs SPMD.
    assert env == {"BODO_SPAWN_MODE": "0", "BODO_JUPYTER_CLUSTER": "demo",
                   "BODO_JUPYTER_CORE_COUNT": "72", "FI_PROVIDER": "efa",
                   "MPIR_CVAR_CH4_NETMOD": "ofi", "MPIR_CVAR_OFI_USE_PROVIDER": "efa",
                   "BODO_JUPYTER_SHARED_DIR": "/shared",
                   "BODO_JUPYTER_PACKAGES_DIR": "/shared/packages",
                   "PYTHONPATH": "/opt/bodo-jupyter/site:/shared/packages",
                   "PYTHONUNBUFFERED": "1"}
    assert "FI_EFA_USE_DEVICE_RDMA" not in text  # aborts on EFA devices without RDMA read
    engine = argv[argv.index("/opt/bodo/bin/python"):]
    assert engine[:4] == ["/opt/bodo/bin/python", "-m", "ipyparallel.engine", "--mpi"]
    # The guard comes from the site folder's sitecustomize (no bodo-jupyter on the image).
    assert not any(a.startswith("--IPEngine.startup_command=") for a in engine)
    no_efa = mpiexec_line(user_data(plan(efa=False), efs_id="fs-1", kms_key_id="k"))
    assert "FI_PROVIDER" not in no_efa and "BODO_SPAWN_MODE" in no_efa
    own = mpiexec_line(user_data(plan(), efs_id="fs-1", kms_key_id="k",
                                 python="/env/bin/python", mpiexec="/usr/bin/mpiexec.hydra"))
    assert own[3] == "/usr/bin/mpiexec.hydra" and "/env/bin/python" in own


def test_user_data_is_valid_bash_within_ec2s_limit():
    for efa in (True, False):
        text = user_data(ClusterPlan(**{**vars(plan(efa)), "bodo_version": "2026.10"}),
                         efs_id="fs-1", kms_key_id="k")
        assert len(text.encode()) < USER_DATA_LIMIT
        r = subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True)
        assert r.returncode == 0, r.stderr


def test_nodes_install_the_clusters_bodo_before_they_register():
    text = user_data(ClusterPlan(**{**vars(plan()), "bodo_version": "2026.8"}),
                     efs_id="fs-1", kms_key_id="k")
    assert script_vars(text)["BODO_VERSION"] == "2026.8"
    install = text.index('"$PY" -m pip install --no-input --disable-pip-version-check '
                         '"bodo==$BODO_VERSION"')
    assert text.index('HAVE=$("$PY" -c \'import importlib.metadata as m; '
                      'print(m.version("bodo"))\'') < install
    assert install < text.index('"pk\\":{\\"S\\":\\"node#$INSTANCE_ID')  # then registers
    assert '|| fail "node $INSTANCE_ID could not install bodo==$BODO_VERSION' in text


def site_folder(text: str) -> dict[str, str]:
    import re

    return dict(re.findall(rf"cat > {SITE_DIR}/(\S+) <<'BODO_JUPYTER_SITE_EOF'\n"
                           r"(.*?)BODO_JUPYTER_SITE_EOF\n", text, re.S))


def test_nodes_engines_refuse_spawn_mode_from_the_site_folder_every_node_writes(tmp_path):
    """The heredocs hold the platform's site folder; a Python started with the engines'
    PYTHONPATH (their -genv) pointing at a copy of it has Bodo's spawner refused."""
    text = user_data(plan(), efs_id="fs-1", kms_key_id="k")
    for name, body in site_folder(text).items():
        (tmp_path / name).write_text(body)
    argv = mpiexec_line(text)
    env = {argv[i + 1]: argv[i + 2] for i, a in enumerate(argv) if a == "-genv"}
    pythonpath = env["PYTHONPATH"].replace(SITE_DIR, str(tmp_path))
    probe = "import sys\nprint(any(type(f).__name__ == '_Finder' for f in sys.meta_path))"
    r = subprocess.run([sys.executable, "-c", probe], text=True, capture_output=True,
                       cwd=tmp_path, env={"PYTHONPATH": pythonpath, "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr


def test_user_data_gives_engines_the_spawn_guard_packages_and_shared_folders():
    from bodo_jupyter.platform.providers.bodo_guard import site_files

    text = user_data(plan(), efs_id="fs-1", kms_key_id="k")
    assert len(text.encode()) < 16384  # EC2's limit on user data
    # The site folder's files arrive whole, on every node (before the first node's part).
    assert site_folder(text) == site_files()
    assert text.index("/opt/bodo-jupyter/site/sitecustomize.py") < text.index(
        '[ "$LAUNCH_INDEX" = 0 ] || exit 0')
    # The engines get the platform's variables on every node (mpiexec -genv), the guard
    # first.
    argv = mpiexec_line(text)
    env = {argv[i + 1]: argv[i + 2] for i, a in enumerate(argv) if a == "-genv"}
    assert {k: env[k] for k in ("PYTHONPATH", "BODO_JUPYTER_SHARED_DIR",
                                "BODO_JUPYTER_PACKAGES_DIR", "BODO_SPAWN_MODE")} == {
        "PYTHONPATH": "/opt/bodo-jupyter/site:/shared/packages",
        "BODO_JUPYTER_SHARED_DIR": "/shared", "BODO_JUPYTER_PACKAGES_DIR": "/shared/packages",
        "BODO_SPAWN_MODE": "0"}
    assert "install -d -m 700 -o bodo -g bodo /shared/packages" in text


def test_iam_actions_of_calls():
    assert actions_for("ec2", "RunInstances", {"IamInstanceProfile": {"Name": "x"},
                                                "TagSpecifications": [1]}) == [
        "ec2:RunInstances", "ec2:CreateTags", "iam:PassRole"]
    assert actions_for("efs", "CreateFileSystem", {"Tags": [1]}) == [
        "elasticfilesystem:CreateFileSystem", "elasticfilesystem:TagResource"]
    assert actions_for("s3", "ListObjectsV2", {}) == ["s3:ListBucket"]
    assert actions_for("sts", "GetCallerIdentity", {}) == []
    assert actions_for("resourcegroupstaggingapi", "GetResources", {}) == ["tag:GetResources"]
    policy = platform_policy()
    assert policy["Version"] == "2012-10-17" and "ec2:RunInstances" in policy_actions(policy)
    assert not any("*" in a for a in policy_actions(policy))  # no wildcards
    doc = node_policy(bucket="b", table_arn="arn:t", key_arn="arn:k", efs_arn="arn:f")
    resources = json.dumps(doc)
    assert "arn:aws:s3:::b/*" in resources and '"Resource": "*"' not in resources


def err(code: str, message: str = "m") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Op")


def test_aws_errors_say_what_to_do():
    assert "lack a permission" in explain(err("UnauthorizedOperation"), "ec2:RunInstances").message
    cap = explain(err("InsufficientInstanceCapacity"), "ec2:RunInstances",
                  instance_type="c5n.18xlarge")
    assert cap.message.startswith("AWS has no capacity for c5n.18xlarge right now")
    assert "quota" in explain(err("VpcLimitExceeded"), "ec2:CreateVpc").message
    assert "rejected the credentials" in explain(err("AuthFailure"), "x").message
    assert explain(err("InvalidParameter", "bad"), "ec2:X").message == \
        "AWS error in ec2:X: InvalidParameter: bad"


def bodo_section(text: str) -> str:
    return text[text.index("# 4. The cluster's Bodo"):text.index("# 5. Register this node.")]


def run_section(tmp_path, section: str, python: str, version: str,
                env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """The user-data's Bodo step in real bash with a real Python; ``aws`` is a script
    that records its arguments (the only stand-in: there is no AWS here)."""
    calls = tmp_path / "aws-calls.jsonl"
    fake = tmp_path / "bin" / "aws"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    fake.chmod(0o755)
    script = (f"set -euo pipefail\nPY={shlex.quote(python)}\nTABLE=bodo-c-1\n"
              f"INSTANCE_ID=i-0abc\nBODO_VERSION={shlex.quote(version)}\n{section}\n"
              "echo registered\n")
    r = subprocess.run(["bash", "-c", script], text=True, capture_output=True, timeout=120,
                       env={"PATH": f"{fake.parent}:/usr/bin:/bin", "HOME": str(tmp_path),
                            **(env or {})})
    lines = calls.read_text().splitlines() if calls.exists() else []
    return r.returncode, [*lines, *(["registered"] if "registered" in r.stdout else [])]


def test_a_node_whose_image_has_the_version_installs_nothing(tmp_path):
    """pip is made to fail (a constraint file that is not there): had the node run it,
    the step would fail the cluster instead of going on to register."""
    from bodo_jupyter.platform.providers import bodo_versions

    have = bodo_versions.installed()
    text = user_data(ClusterPlan(**{**vars(plan()), "bodo_version": have}),
                     efs_id="fs-1", kms_key_id="k")
    no_pip = {"PIP_CONSTRAINT": str(tmp_path / "missing.txt")}
    code, seen = run_section(tmp_path, bodo_section(text), sys.executable, have, no_pip)
    assert code == 0 and seen == ["registered"]
    (tmp_path / "other").mkdir()
    code, seen = run_section(tmp_path / "other", bodo_section(text), sys.executable,
                             "1999.1", no_pip)
    assert code == 1 and "could not install bodo==1999.1" in seen[0]  # the check can fail


def test_a_node_that_cannot_install_the_version_fails_the_cluster_with_why(tmp_path):
    """A Python without bodo and without pip (a bare venv): the install fails, the node
    writes the cluster's failed status with its reason and never registers."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    text = user_data(ClusterPlan(**{**vars(plan()), "bodo_version": "2026.10"}),
                     efs_id="fs-1", kms_key_id="k")
    code, seen = run_section(tmp_path, bodo_section(text), str(venv / "bin" / "python"),
                             "2026.10")
    assert code == 1 and "registered" not in seen
    (call,) = [json.loads(line) for line in seen]
    assert call[:4] == ["dynamodb", "put-item", "--table-name", "bodo-c-1"]
    item = json.loads(call[call.index("--item") + 1])
    assert item["pk"] == {"S": "cluster"} and item["status"] == {"S": "failed"}
    assert item["message"]["S"].startswith(
        "node i-0abc could not install bodo==2026.10 (its image has no bodo); see ")
