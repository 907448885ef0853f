"""The user-data script that turns an instance of the platform's image into a
cluster node. Pure: a function from the cluster plan to a bash script.

Every node mounts the EFS file system at the same path, fetches the cluster's
SSH key (KMS-encrypted in the cluster's bucket) and registers itself in the
cluster's DynamoDB table. The first node (launch index 0) waits for all nodes,
writes the MPI hostfile, starts the ipyparallel controller, publishes its
connection file to the bucket (encrypted with the cluster's KMS key) and
starts one engine per core under ``mpiexec`` across all nodes; then it marks
the cluster ready in the table, which is what the control plane waits for.

The nodes' MPI is MPICH (the ``mpich`` wheel, the MPI the ``bodo`` wheel bundles),
spoken to through the same :class:`~..mpi_flavour.MPIFlavour` the local launcher
uses: a hydra hostfile of ``ip:cores`` lines, ``mpiexec -f hostfile -launcher ssh``,
the ranks' environment as ``-genv`` (``sudo`` resets the launcher's own), EFA through
libfabric. Every node has the cluster's Bodo version in the image's Python before it
registers (installed with pip when the image carries another, or none), and engines
run SPMD with spawn mode refused by the platform's site folder (written on every node),
with the cluster's packages folder (``%ppip``) on EFS, as on local clusters.
"""

from __future__ import annotations

import shlex

from ..bodo_guard import site_files
from ..mpi_flavour import MPICH, flavour_of
from .plan import MOUNT_POINT, ClusterPlan

#: The platform's site folder on every node (root's; the engines' user only reads it):
#: its sitecustomize refuses Bodo's spawn mode in every Python the engines' ranks run.
SITE_DIR = "/opt/bodo-jupyter/site"
#: The cluster's packages folder: on EFS, so one pip install serves every node.
PACKAGES_DIR = f"{MOUNT_POINT}/packages"
#: What the platform sets for the engines, passed by mpiexec to every rank on every node.
ENGINE_ENV = {"BODO_SPAWN_MODE": "0", "BODO_JUPYTER_SHARED_DIR": MOUNT_POINT,
              "BODO_JUPYTER_PACKAGES_DIR": PACKAGES_DIR,
              "PYTHONPATH": f"{SITE_DIR}:{PACKAGES_DIR}", "PYTHONUNBUFFERED": "1"}


def site_script() -> str:
    """Bash that writes the site folder's files (root's, readable by all)."""
    out = [f"install -d -m 755 {SITE_DIR}"]
    for name, text in site_files().items():
        out.append(f"cat > {SITE_DIR}/{name} <<'BODO_JUPYTER_SITE_EOF'\n{text}"
                   f"{'' if text.endswith(chr(10)) else chr(10)}BODO_JUPYTER_SITE_EOF")
        out.append(f"chmod 644 {SITE_DIR}/{name}")
    return "\n".join(out) + "\n"

# Values the script reads; the control plane and tests parse them the same way.
VARS = ("CLUSTER_ID", "REGION", "TABLE", "BUCKET", "EFS_ID", "KMS_KEY", "NODES",
        "CORES_PER_NODE", "CORE_COUNT", "EFA", "BODO_VERSION")
HOSTFILE = f"{MOUNT_POINT}/hostfile"
PROFILE = f"{MOUNT_POINT}/.ipython/profile_bodo"
#: EC2's limit on user data (before base64).
USER_DATA_LIMIT = 16384


def script_vars(text: str) -> dict[str, str]:
    """The ``NAME=value`` assignments at the top of a user-data script."""
    out = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name in VARS:
            out[name] = shlex.split(value)[0] if value else ""
    return out


def engines_argv(plan: ClusterPlan, *, python: str, mpiexec: str,
                 flavour: str = MPICH) -> list[str]:
    """One ipyparallel engine per core of every node, under ``mpiexec`` across the
    hostfile, each with Bodo SPMD (spawn mode refused by the site folder's
    sitecustomize), the packages and shared folders and, with EFA, libfabric's efa
    provider in its environment."""
    f = flavour_of(flavour)
    env = {**ENGINE_ENV, "BODO_JUPYTER_CLUSTER": plan.name,
           "BODO_JUPYTER_CORE_COUNT": str(plan.core_count),
           **(f.efa_env() if plan.efa else {})}
    return [
        *f.mpiexec_argv(mpiexec=mpiexec, ranks=plan.core_count, hostfile=HOSTFILE,
                        launcher="ssh", env=env),
        python, "-m", "ipyparallel.engine", "--mpi", f"--profile-dir={PROFILE}",
        f"--cluster-id={plan.cluster_id}",
    ]


def user_data(plan: ClusterPlan, *, efs_id: str, kms_key_id: str,
              python: str = "/opt/bodo/bin/python", mpiexec: str = "",
              flavour: str = MPICH) -> str:
    """The node's bash script; ``mpiexec`` defaults to the one beside ``python`` (the
    mpich wheel's, in the image's environment)."""
    q = shlex.quote
    mpiexec = mpiexec or python.rsplit("/", 1)[0] + "/mpiexec"
    f = flavour_of(flavour)
    values = {
        "CLUSTER_ID": plan.cluster_id, "REGION": plan.region, "TABLE": plan.table,
        "BUCKET": plan.bucket, "EFS_ID": efs_id, "KMS_KEY": kms_key_id,
        "NODES": str(plan.instances), "CORES_PER_NODE": str(plan.cores_per_instance),
        "CORE_COUNT": str(plan.core_count), "EFA": "1" if plan.efa else "0",
        "BODO_VERSION": plan.bodo_version or "",
    }
    header = "\n".join(f"{k}={q(v)}" for k, v in values.items())
    return f"""#!/bin/bash
# bodo-jupyter cluster node bootstrap ({plan.name})
set -euo pipefail
{header}
PY={q(python)}
SHARED={MOUNT_POINT}
export AWS_DEFAULT_REGION="$REGION"
exec > >(tee -a /var/log/bodo-bootstrap.log) 2>&1

imds() {{
  local token
  token=$(curl -sf -X PUT http://169.254.169.254/latest/api/token \\
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
  curl -sf -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}}
INSTANCE_ID=$(imds instance-id)
PRIVATE_IP=$(imds local-ipv4)
LAUNCH_INDEX=$(imds ami-launch-index)

# 1. The shared file system, at the same path on every node.
mkdir -p "$SHARED"
echo "$EFS_ID:/ $SHARED efs _netdev,tls,iam 0 0" >> /etc/fstab
until mount "$SHARED"; do sleep 5; done

# 2. The cluster's SSH key, so that mpiexec can reach every node.
install -d -m 700 -o bodo -g bodo /home/bodo/.ssh
aws s3 cp "s3://$BUCKET/secrets/ssh-key.kms" - \\
  | base64 -d > /tmp/ssh-key.kms
aws kms decrypt --key-id "$KMS_KEY" --ciphertext-blob fileb:///tmp/ssh-key.kms \\
  --query Plaintext --output text | base64 -d > /home/bodo/.ssh/id_rsa
rm -f /tmp/ssh-key.kms
ssh-keygen -y -f /home/bodo/.ssh/id_rsa >> /home/bodo/.ssh/authorized_keys
# Nodes are members of one private subnet, made together: their host keys are new.
printf 'Host *\\n  StrictHostKeyChecking accept-new\\n' > /home/bodo/.ssh/config
chmod 600 /home/bodo/.ssh/id_rsa /home/bodo/.ssh/authorized_keys /home/bodo/.ssh/config
chown bodo:bodo /home/bodo/.ssh/id_rsa /home/bodo/.ssh/authorized_keys /home/bodo/.ssh/config

# 3. The platform's site folder (spawn guard), the same on every node.
{site_script()}
# 4. The cluster's Bodo in the image's Python, before this node counts as booted.
fail() {{  # the control plane's wait ends at once, with the reason
  local item
  item=$("$PY" -c 'import json, sys; s = lambda v: {{"S": v}}
print(json.dumps({{"pk": s("cluster"), "status": s("failed"), "message": s(sys.argv[1])}}))' \\
    "$1")
  aws dynamodb put-item --table-name "$TABLE" --item "$item"
  exit 1
}}
if [ -n "$BODO_VERSION" ]; then
  HAVE=$("$PY" -c 'import importlib.metadata as m; print(m.version("bodo"))' 2>/dev/null \\
    || true)
  if [ "$HAVE" != "$BODO_VERSION" ]; then
    "$PY" -m pip install --no-input --disable-pip-version-check "bodo==$BODO_VERSION" \\
      || fail "node $INSTANCE_ID could not install bodo==$BODO_VERSION (its image has \\
${{HAVE:-no bodo}}); see /var/log/bodo-bootstrap.log"
  fi
fi

# 5. Register this node.
aws dynamodb put-item --table-name "$TABLE" --item \\
  "{{\\"pk\\":{{\\"S\\":\\"node#$INSTANCE_ID\\"}},\\"ip\\":{{\\"S\\":\\"$PRIVATE_IP\\"}},\\"status\\":{{\\"S\\":\\"ready\\"}}}}"

[ "$LAUNCH_INDEX" = 0 ] || exit 0

# 6. The first node: hostfile, controller, engines on every core of every node.
until [ "$(aws dynamodb scan --table-name "$TABLE" --select COUNT \\
      --filter-expression 'begins_with(pk, :n)' \\
      --expression-attribute-values '{{":n":{{"S":"node#"}}}}' --query Count)" = "$NODES" ]; do
  sleep 2
done
aws dynamodb scan --table-name "$TABLE" --filter-expression 'begins_with(pk, :n)' \\
  --expression-attribute-values '{{":n":{{"S":"node#"}}}}' --query 'Items[].ip.S' --output text \\
  | tr '\\t' '\\n' | sed "s/$/{f.hostfile_suffix(plan.cores_per_instance)}/" > {HOSTFILE}
PROFILE={PROFILE}
sudo -u bodo "$PY" -m ipyparallel.controller --profile-dir="$PROFILE" \\
  --cluster-id="$CLUSTER_ID" --ip="$PRIVATE_IP" --usethreads \\
  --HeartMonitor.period=250 --HeartMonitor.max_heartmonitor_misses=120 &
CONN="$PROFILE/security/ipcontroller-$CLUSTER_ID-client.json"
until [ -s "$CONN" ]; do sleep 1; done
aws s3 cp "$CONN" "s3://$BUCKET/ipyparallel/client.json" --sse aws:kms --sse-kms-key-id "$KMS_KEY"
install -d -m 700 -o bodo -g bodo {PACKAGES_DIR}
sudo -u bodo {shlex.join(engines_argv(plan, python=python, mpiexec=mpiexec, flavour=flavour))} &

# 7. Wait until every engine has registered, then tell the control plane.
sudo -u bodo "$PY" - "$CONN" "$CORE_COUNT" <<'PYEOF'
import sys, ipyparallel as ipp
rc = ipp.Client(sys.argv[1])
rc.wait_for_engines(int(sys.argv[2]), timeout=1800)
rc.close()
PYEOF
aws dynamodb put-item --table-name "$TABLE" --item \\
  "{{\\"pk\\":{{\\"S\\":\\"cluster\\"}},\\"status\\":{{\\"S\\":\\"ready\\"}},\\"engines\\":{{\\"N\\":\\"$CORE_COUNT\\"}}}}"
"""
