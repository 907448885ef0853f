"""An EC2 notebook node as data: names, tags, its instance role's policy, the secret
parameter's value and the node's user-data script. Pure: nothing here calls AWS.

The node's secrets (the server's token, the hub's API token, the kernels'
``BODO_JUPYTER_TOKEN``) are never in a tag or in the user-data: they go into an SSM
``SecureString`` parameter named from the notebook id
(:func:`launch_parameter_value`), which only the node's own instance role may read
(:func:`..policy.notebook_node_policy`: ``ssm:GetParameter`` on exactly that
parameter). The
user-data only names the parameter; at boot the script fetches it with the
instance role (boto3's credential chain: the instance metadata on EC2), writes it to
a 0600 file of the node's unprivileged user, and that user's launcher moves it into
the server's environment (and the token file) and removes the file before it
execs the server.

The script reads no instance metadata: everything it needs is in its header
(:data:`VARS`). What the machine itself provides may be set by whoever runs it
(the AWS emulator of the tests does; on EC2 none is set):
``BODO_NODE_ROOT`` (a folder every path of the node is under, default ``/``),
``BODO_NODE_LISTEN_IP`` (default ``0.0.0.0``: the node's one interface; its
security group admits only the cluster and the control plane) and
``BODO_NODE_PORT`` (default: the header's ``PORT``).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from ..local_notebook_launch import HUB_MODULE, STANDALONE_MODULE, TAG_NOTEBOOK, kernel_config
from .plan import TAG_ORG, TAG_PLANE, TAG_RESOURCE

TAG_NOTEBOOK_AWS = "bodo:notebook"
#: The cluster a notebook node is attached to (a tag of its own: ``bodo:cluster`` would
#: make the node count as one of the cluster's resources).
TAG_ATTACHED = "bodo:attached-cluster"
IAM_PATH = "/bodo/notebooks/"
PARAMETER_PREFIX = "/bodo/notebooks/"
DEFAULT_PORT = 8888
#: Values the script reads from its header; tests parse them the same way.
VARS = ("NOTEBOOK_ID", "REGION", "PARAMETER", "PORT", "MODE", "NODE_USER", "PY",
        "CLUSTER_ID", "API_URL")
#: Names a notebook server's environment keeps from the node's (the rest is what the
#: platform sets and what the parameter holds).
ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")


@dataclass(frozen=True)
class NotebookPlan:
    """Everything about one notebook node's AWS resources that follows from its spec."""

    notebook_id: str
    org_id: str
    name: str
    region: str
    account_id: str
    plane_id: str
    instance_type: str = ""
    ami_id: str = ""
    cluster_id: str | None = None
    port: int = DEFAULT_PORT
    node_user: str = "bodo"
    python: str = "/opt/bodo/bin/python"

    # -- names -------------------------------------------------------------------------

    @property
    def prefix(self) -> str:
        return f"bodo-nb-{self.notebook_id}"

    @property
    def role(self) -> str:
        return self.prefix

    @property
    def instance_profile(self) -> str:
        return self.prefix

    @property
    def security_group(self) -> str:
        return self.prefix

    @property
    def parameter(self) -> str:
        return f"{PARAMETER_PREFIX}{self.notebook_id}/launch"

    @property
    def parameter_arn(self) -> str:
        return f"arn:aws:ssm:{self.region}:{self.account_id}:parameter{self.parameter}"

    def client_token(self, generation: int = 1) -> str:
        """RunInstances' idempotency token: the same on a resumed start (which then gets
        the interrupted attempt's instance back); the next generation only when that
        instance is already gone (terminated)."""
        return f"{self.notebook_id}-node-{generation}"

    # -- tags ----------------------------------------------------------------------------

    def tags(self, resource: str) -> list[dict[str, str]]:
        out = [{"Key": TAG_NOTEBOOK_AWS, "Value": self.notebook_id},
               {"Key": TAG_ORG, "Value": self.org_id},
               {"Key": TAG_PLANE, "Value": self.plane_id},
               {"Key": TAG_RESOURCE, "Value": resource},
               {"Key": "Name", "Value": f"bodo-notebook-{self.name}-{resource}"}]
        if self.cluster_id:
            out.append({"Key": TAG_ATTACHED, "Value": self.cluster_id})
        return out

    def tag_spec(self, ec2_type: str, resource: str) -> list[dict[str, object]]:
        return [{"ResourceType": ec2_type, "Tags": self.tags(resource)}]

    # -- network -------------------------------------------------------------------------

    def ingress_rules(self, cluster_group: str, cidrs: tuple[str, ...]) -> list[dict]:
        """The server's port, from the cluster's members and the control plane only."""
        rule: dict[str, object] = {"IpProtocol": "tcp", "FromPort": self.port,
                                   "ToPort": self.port,
                                   "UserIdGroupPairs": [{"GroupId": cluster_group}]}
        if cidrs:
            rule["IpRanges"] = [{"CidrIp": c, "Description": "bodo-jupyter control plane"}
                                for c in cidrs]
        return [rule]

    @staticmethod
    def cluster_rule(notebook_group: str) -> list[dict[str, object]]:
        """On the cluster's group: its members admit the notebook's kernels (ipyparallel's
        controller and engines); revoked before the notebook's group is deleted."""
        return [{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": notebook_group}]}]


# -- the secret -----------------------------------------------------------------------------

def launch_parameter_value(*, token: str | None, server_env: Mapping[str, str],
                           api_token: str | None) -> str:
    """What the parameter holds (JSON): the standalone server's token, or the hub's
    environment for the server; and the kernels' API token (behind a hub: the server's
    hub API token, as for local notebooks)."""
    env = dict(server_env)
    api = (server_env.get("JUPYTERHUB_API_TOKEN") if server_env else None) or api_token
    if api:
        env["BODO_JUPYTER_TOKEN"] = api
    return json.dumps({"token": token, "env": env}, sort_keys=True)


# -- the node's script ------------------------------------------------------------------------

FETCH = """import sys, boto3
p = boto3.client("ssm", region_name=sys.argv[2]).get_parameter(
    Name=sys.argv[1], WithDecryption=True)["Parameter"]
sys.stdout.write(p["Value"])
"""

# Run as the node user: the secrets into the server's environment and token file,
# the file removed, then exec the server (never a secret on a command line).
LAUNCH = """import json, os, sys
state, module, ip, port, root, home = sys.argv[1:7]
path = os.path.join(state, "launch.json")
with open(path) as f:
    launch = json.load(f)
os.unlink(path)
keep = {KEEP!r}
env = {{k: v for k, v in os.environ.items() if k in keep or k.startswith("BODO_JUPYTER_")}}
env.update(launch.get("env") or {{}})
env.update(HOME=home, PYTHONUNBUFFERED="1",
           IPYTHONDIR=os.path.join(state, "ipython"),
           JUPYTER_RUNTIME_DIR=os.path.join(state, "runtime"))
if launch.get("token"):
    tf = os.path.join(state, "token")
    fd = os.open(tf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, launch["token"].encode())
    os.close(fd)
    env["JUPYTER_TOKEN_FILE"] = tf
argv = [sys.executable, "-m", module, "--ip=" + ip, "--port=" + port, "--port-retries=0",
        "--no-browser", "--ServerApp.root_dir=" + root]
os.chdir(root)
os.execve(sys.executable, argv, env)
"""


def script_vars(text: str) -> dict[str, str]:
    """The ``NAME=value`` assignments at the top of a notebook node's script."""
    out = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name in VARS:
            out[name] = shlex.split(value)[0] if value else ""
    return out


def user_data(plan: NotebookPlan, *, hub: bool, api_url: str | None) -> str:
    """The node's bash script (no secret in it: it names the parameter that holds them)."""
    q = shlex.quote
    values = {"NOTEBOOK_ID": plan.notebook_id, "REGION": plan.region,
              "PARAMETER": plan.parameter, "PORT": str(plan.port),
              "MODE": "hub" if hub else "standalone", "NODE_USER": plan.node_user,
              "PY": plan.python, "CLUSTER_ID": plan.cluster_id or "",
              "API_URL": api_url or ""}
    header = "\n".join(f"{k}={q(v)}" for k, v in values.items())
    module = HUB_MODULE if hub else STANDALONE_MODULE
    launch = LAUNCH.format(KEEP=ENV_KEEP)
    return f"""#!/bin/bash
# bodo-jupyter notebook node ({plan.name})
set -euo pipefail
{header}
ROOT="${{BODO_NODE_ROOT:-}}"
LISTEN_IP="${{BODO_NODE_LISTEN_IP:-0.0.0.0}}"
LISTEN_PORT="${{BODO_NODE_PORT:-$PORT}}"
HOME_DIR="$ROOT/home/$NODE_USER"
STATE="$HOME_DIR/.bodo-notebook"
NOTEBOOKS="$HOME_DIR/notebooks"
umask 022
mkdir -p "$ROOT/var/log" "$HOME_DIR"
umask 077  # from here on: the log, the node user's folders and the secret file
exec >> "$ROOT/var/log/bodo-notebook.log" 2>&1
echo "notebook $NOTEBOOK_ID: booting"
AS_USER=()  # the server never runs as root
[ "$(id -u)" != 0 ] || AS_USER=(runuser -u "$NODE_USER" --)
mkdir -p "$STATE/runtime" "$STATE/ipython/profile_default" "$NOTEBOOKS"
if [ "$(id -u)" = 0 ]; then chown "$NODE_USER" "$HOME_DIR" "$STATE" "$STATE/runtime" \\
  "$STATE/ipython" "$STATE/ipython/profile_default" "$NOTEBOOKS"; fi

# 1. Kernels load the magics, attached to the notebook's cluster when it has one.
cat > "$STATE/ipython/profile_default/ipython_kernel_config.py" <<'BODO_JUPYTER_EOF'
{kernel_config(plan.cluster_id or None)}BODO_JUPYTER_EOF
chmod 644 "$STATE/ipython/profile_default/ipython_kernel_config.py"

# 2. The secrets: from the SSM parameter, with this node's instance role.
"$PY" - "$PARAMETER" "$REGION" > "$STATE/launch.json" <<'BODO_JUPYTER_EOF'
{FETCH}BODO_JUPYTER_EOF
if [ "$(id -u)" = 0 ]; then chown "$NODE_USER" "$STATE/launch.json"; fi

# 3. The server, as the node's user, its secrets moved from the file to its environment.
export HOME="$HOME_DIR" {TAG_NOTEBOOK}="$NOTEBOOK_ID"
[ -z "$CLUSTER_ID" ] || export BODO_JUPYTER_ATTACH_CLUSTER="$CLUSTER_ID"
[ -z "$API_URL" ] || export BODO_JUPYTER_URL="$API_URL"
echo "notebook $NOTEBOOK_ID: starting {module} on $LISTEN_IP:$LISTEN_PORT"
cd "$NOTEBOOKS"
exec ${{AS_USER[@]+"${{AS_USER[@]}}"}} "$PY" - "$STATE" {module} "$LISTEN_IP" "$LISTEN_PORT" \\
  "$NOTEBOOKS" "$HOME_DIR" \\
  <<'BODO_JUPYTER_EOF'
{launch}BODO_JUPYTER_EOF
"""


def server_path(server_env: Mapping[str, str]) -> str:
    """The server's base path, ``/`` or the hub's service prefix, ending in ``/``."""
    prefix = server_env.get("JUPYTERHUB_SERVICE_PREFIX") or "/"
    if not prefix.startswith("/"):
        prefix = "/" + prefix
    return prefix if prefix.endswith("/") else prefix + "/"
