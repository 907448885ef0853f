"""What moto lacks and the platform uses, added to moto's EC2 in-process.

* CreatePlacementGroup / DescribePlacementGroups / DeletePlacementGroup:
  moto has none ("not implemented"). Groups are kept per account and region
  with their strategy and tags.
* RunInstances: moto ignores ``Placement.GroupName`` and a network interface's
  ``InterfaceType`` (EFA), gives the instance profile to the first instance
  only, and does not honour ``ClientToken``. Here the group must exist and is
  kept on the instances, ``InterfaceType`` is kept on their interfaces, every
  instance gets the profile, and a repeated ClientToken returns the first
  reservation, as EC2 does.
* IAM enforcement: moto computes a different SigV4 signature than botocore
  for EFS's REST requests and so refuses every authenticated EFS call. For
  EFS only, the signature is not compared; the access key must still exist
  and the caller's policies must still allow the action. And moto names the
  tagging API's actions after its signing name ("tagging:GetResources"),
  where IAM says "tag:GetResources", and (since moto 5.2) some S3 actions
  after their API operation ("s3:ListObjectsV2", "s3:PutPublicAccessBlock"),
  where IAM says "s3:ListBucket", "s3:PutBucketPublicAccessBlock"; the
  plugin uses IAM's names (the platform's own operation -> action table).
  moto checks every non-S3 call against the resource "*", so a policy that
  names one SSM parameter allows nothing; for SSM calls that name a parameter
  the plugin checks that parameter's ARN, as IAM does (a notebook node's role
  may read exactly its own launch parameter).
* Booting: moto does not run instances. For instances tagged ``bodo:cluster``
  the plugin does, after ``BODO_EMULATOR_BOOT_DELAY`` seconds, what the last
  lines of the platform's user-data script do on a real node: register each
  node and then the cluster as ready in the cluster's DynamoDB table, and
  publish an ipyparallel connection file to the cluster's bucket. It reads the
  table and bucket names from the user-data, as the script itself does.
* Booting notebook nodes: instances tagged ``bodo:notebook`` really boot. After
  the boot delay the plugin runs the instance's real user-data (the bash script
  of ``notebook_bootstrap.user_data``) as root, as cloud-init would, with
  what the machine provides in its environment: the credentials of the
  instance's role (the plugin assumes the role of the instance profile through
  moto's STS, as the instance metadata service hands them to a real node;
  IAM is enforced, so the node reads exactly what its role allows),
  ``AWS_ENDPOINT_URL`` (the emulator) and ``BODO_NODE_ROOT`` (a folder of its
  own, ``/tmp/bodo-node-<emulator port>-<instance>-*``, that every path of the node is under).
  The script fetches its secrets from the emulator's SSM with those
  credentials and starts the server as the node's user.
  As root, every node gets a network namespace of its own
  (``bodo-emu-<emulator port>-<instance>``): a veth pair, the instance's private IP on the
  namespace's end, a link-local address on the host's end with a /32 route
  to the private IP, so the server listens on its own address and the control
  plane's readiness probe reaches it at the instance's private IP. The
  namespace reaches nothing but the host's end of its veth and its own
  loopback, where the plugin relays the host loopback's ports the node is told
  about (the emulator, the API URL of its user-data, the hub's URLs in its
  parameter) to the host's loopback: the node's 127.0.0.1 URLs work as on
  the host, and nothing else is reachable. Without root (or
  with ``BODO_EMULATOR_NETNS=0``) there is no namespace: the server listens on
  127.0.0.1 on a port of its own (``BODO_NODE_LISTEN_IP``/``BODO_NODE_PORT``),
  and the instance carries a tag ``bodo-emulator:address`` = ``127.0.0.1:<port>``
  that ``AWSNotebooks.address_tag`` tells the backend to use instead of the
  private IP. Every process of a node, kernels too, carries
  ``BODO_JUPYTER_EMULATED_NODE=<emulator port>/<instance>`` in its environment.
  Two emulators on one machine keep their nodes apart by port, but nodes with the
  same private IP cannot both have a namespace (one /32 route per address).
  TerminateInstances (and the emulator's exit on SIGTERM) kills every
  process of the namespace, deletes it (and with it the veth pair and the
  route) and the node's folder. ``tests/aws.py`` checks after the emulator's
  exit that no namespace, veth or node folder is left, failing loudly.
"""

from __future__ import annotations

import atexit
import base64
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses import EC2Response
from moto.ec2.responses.instances import InstanceResponse

from bodo_jupyter.platform.providers.aws.bootstrap import script_vars
from bodo_jupyter.platform.providers.aws.policy import ACTION_FOR

GROUPS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
TOKENS: dict[tuple[str, str, str], Any] = {}
LOCK = threading.Lock()


def _groups(resp: Any) -> dict[str, dict[str, Any]]:
    return GROUPS.setdefault((resp.current_account, resp.region), {})


def create_placement_group(self: Any) -> ActionResult:
    name = self._get_param("GroupName")
    strategy = self._get_param("Strategy") or "cluster"
    tags = self._parse_tag_specification().get("placement-group", {})
    self.error_on_dryrun()
    with LOCK:
        groups = _groups(self)
        if name in groups:
            raise EC2ClientError("InvalidPlacementGroup.Duplicate",
                                 f"The Placement Group '{name}' already exists.")
        group = {"GroupName": name, "State": "available", "Strategy": strategy,
                 "GroupId": f"pg-{abs(hash((self.current_account, name))) % 10**17:017x}",
                 "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        groups[name] = group
    return ActionResult({"PlacementGroup": group})


def describe_placement_groups(self: Any) -> ActionResult:
    names = self._get_param("GroupNames", [])
    filters = self._filters_from_querystring()
    with LOCK:
        groups = list(_groups(self).values())
    if names:
        missing = [n for n in names if n not in {g["GroupName"] for g in groups}]
        if missing:
            raise EC2ClientError("InvalidPlacementGroup.Unknown",
                                 f"The Placement Group '{missing[0]}' is unknown.")
        groups = [g for g in groups if g["GroupName"] in names]
    for key, values in (filters or {}).items():
        if key.startswith("tag:"):
            tag = key[4:]
            groups = [g for g in groups
                      if any(t["Key"] == tag and t["Value"] in values for t in g["Tags"])]
    return ActionResult({"PlacementGroups": groups})


def delete_placement_group(self: Any) -> ActionResult:
    name = self._get_param("GroupName")
    self.error_on_dryrun()
    with LOCK:
        groups = _groups(self)
        if name not in groups:
            raise EC2ClientError("InvalidPlacementGroup.Unknown",
                                 f"The Placement Group '{name}' is unknown.")
        used = [i for r in self.ec2_backend.reservations.values() for i in r.instances
                if getattr(i.placement, "group_name", "") == name
                and i.state != "terminated"]
        if used:
            raise EC2ClientError("InvalidPlacementGroup.InUse",
                                 f"The Placement Group '{name}' is in use.")
        del groups[name]
    return ActionResult({})


_original_run = InstanceResponse.run_instances


def run_instances(self: Any) -> Any:
    token = self._get_param("ClientToken")
    key = (self.current_account, self.region, token or "")
    if token:
        with LOCK:
            if key in TOKENS:
                return ActionResult(TOKENS[key])
    group = self._get_param("Placement.GroupName")
    if group:
        with LOCK:
            if group not in _groups(self):
                raise EC2ClientError("InvalidPlacementGroup.Unknown",
                                     f"The Placement Group '{group}' is unknown.")
    nics = self._get_param("NetworkInterfaces", []) or []
    result = _original_run(self)
    reservation = result.result if hasattr(result, "result") else None
    if reservation is None:
        return result
    profile = self._get_param("IamInstanceProfile.Name")
    for n, inst in enumerate(reservation.instances):
        if profile and n > 0:
            self.ec2_backend.associate_iam_instance_profile(
                instance_id=inst.id, iam_instance_profile_name=profile)
        if group:
            inst.placement.group_name = group
        for req, nic in zip(nics, sorted(inst.nics.items()), strict=False):
            kind = req.get("InterfaceType") if isinstance(req, dict) else None
            if kind:
                nic[1].interface_type = kind
    if token:
        with LOCK:
            TOKENS[key] = reservation
    tags = self._parse_tag_specification().get("instance", {})
    if "bodo:notebook" in tags:
        text = _user_data_text(self._get_param("UserData") or "")
        for inst in reservation.instances:
            with LOCK:
                if inst.id in NODES:
                    continue  # a repeated ClientToken: the same instance, booted once
                NODES[inst.id] = node = Node(inst.id)
            if not _namespaces():
                # No address of its own: the server gets a port on loopback, and the
                # instance says where (the backend's AWSNotebooks.address_tag).
                node.port = _free_port()
                self.ec2_backend.create_tags([inst.id], {ADDRESS_TAG: f"127.0.0.1:{node.port}"})
            threading.Thread(target=boot_notebook, daemon=True,
                             args=(self.current_account, self.region, text, inst.id,
                                   inst.private_ip, profile)).start()
    if "bodo:cluster" in tags:
        user_data = self._get_param("UserData") or ""
        try:
            text = base64.b64decode(user_data).decode()
        except ValueError:
            text = user_data
        threading.Thread(target=boot, daemon=True,
                         args=(self.current_account, self.region, text,
                               [i.id for i in reservation.instances],
                               [i.private_ip for i in reservation.instances])).start()
    return result


def boot(account: str, region: str, user_data: str, ids: list[str], ips: list[str]) -> None:
    """What the end of the user-data does on real nodes (see the module docstring)."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.ec2.models import ec2_backends
    from moto.s3.models import s3_backends

    time.sleep(float(os.environ.get("BODO_EMULATOR_BOOT_DELAY", "0.2")))
    v = script_vars(user_data)
    ec2 = ec2_backends[account][region]
    ddb = dynamodb_backends[account][region]
    for iid, ip in zip(ids, ips, strict=True):
        inst = ec2.get_instance(iid)
        if inst.state != "running":
            return  # terminated before it booted
        try:
            ddb.put_item(v["TABLE"], {"pk": {"S": f"node#{iid}"}, "ip": {"S": ip},
                                      "status": {"S": "ready"}})
        except Exception:
            return  # the table is gone: the cluster is being deleted
    conn = {"interface": f"tcp://{ips[0]}", "location": ips[0], "registration": 10101,
            "key": "emulated", "ssh": "", "pack": "json", "unpack": "json",
            "signature_scheme": "hmac-sha256", "task_scheme": "leastload"}
    try:
        s3_backends[account]["aws"].put_object(v["BUCKET"], "ipyparallel/client.json",
                                               json.dumps(conn).encode())
        ddb.put_item(v["TABLE"], {"pk": {"S": "cluster"}, "status": {"S": "ready"},
                                  "engines": {"N": v["CORE_COUNT"]}})
    except Exception:
        return


# -- notebook nodes ---------------------------------------------------------------------

NETNS_PREFIX = "bodo-emu-"
ADDRESS_TAG = "bodo-emulator:address"
NODE_ENV = "BODO_JUPYTER_EMULATED_NODE"  # kept by the node's launcher: kernels too
NODE_DIR_PREFIX = "bodo-node-"


def _scope() -> str:
    """What tells this emulator's nodes from another's on the same machine: its port."""
    return os.environ.get("BODO_EMULATOR_PORT", "0")


def _veth_prefix(scope: str) -> str:
    return f"b{scope}x"  # + a number + h/n: at most 15 characters


@dataclass
class Node:
    instance_id: str
    terminated: bool = False
    proc: subprocess.Popen | None = None
    root: str = ""
    netns: str = ""
    relays: list[Relay] = field(default_factory=list)
    veth: str = ""  # the host's end of the namespace's veth pair
    port: int = 0  # without a namespace: the server's port on 127.0.0.1
    lock: threading.Lock = field(default_factory=threading.Lock)


NODES: dict[str, Node] = {}
_counter = [0]


def _namespaces() -> bool:
    """Nodes get network namespaces as root, unless BODO_EMULATOR_NETNS=0."""
    return os.geteuid() == 0 and os.environ.get("BODO_EMULATOR_NETNS", "1") != "0"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _user_data_text(user_data: str) -> str:
    try:
        return base64.b64decode(user_data).decode()
    except ValueError:
        return user_data


class Relay:
    """TCP from a listening socket (made inside a node's namespace) to the host's."""

    def __init__(self, server: socket.socket, target: tuple[str, int]):
        self.target = target
        self.server = server
        self.conns: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.target, timeout=10)
            except OSError:
                conn.close()
                continue
            self.conns += [conn, up]
            for a, b in ((conn, up), (up, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.closed = True
        self.server.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _log(msg: str) -> None:
    print(f"[aws-emulator] {msg}", file=sys.stderr, flush=True)


def _role_credentials(account: str, region: str, profile: str, session: str) -> Any:
    """What the instance metadata service hands a real node: its role's credentials."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    role = iam_backends[account]["aws"].get_instance_profile(profile).roles[0]
    return sts_backends[account]["aws"].assume_role(
        region_name=region, role_session_name=session, role_arn=role.arn, policy="",
        duration=3600, external_id="")


def boot_notebook(account: str, region: str, user_data: str, instance_id: str,
                  private_ip: str, profile: str) -> None:
    """Run a notebook node's user-data (see the module docstring)."""
    from moto.ec2.models import ec2_backends

    time.sleep(float(os.environ.get("BODO_EMULATOR_BOOT_DELAY", "0.2")))
    node = NODES[instance_id]
    with node.lock:
        if node.terminated or ec2_backends[account][region].get_instance(
                instance_id).state != "running":
            return
        try:
            creds = _role_credentials(account, region, profile, instance_id)
            node.root = tempfile.mkdtemp(
                prefix=f"{NODE_DIR_PREFIX}{_scope()}-{instance_id}-")
            os.chmod(node.root, 0o755)
            script = os.path.join(node.root, "user-data.sh")
            with open(script, "w") as f:
                f.write(user_data)
            os.chmod(script, 0o700)
            port = int(os.environ["BODO_EMULATOR_PORT"])
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                   "AWS_ACCESS_KEY_ID": creds.access_key_id,
                   "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
                   "AWS_SESSION_TOKEN": creds.session_token, "AWS_DEFAULT_REGION": region,
                   "AWS_EC2_METADATA_DISABLED": "true", "BODO_NODE_ROOT": node.root,
                   NODE_ENV: f"{_scope()}/{instance_id}"}
            if node.port:  # no namespace: loopback, a port of its own
                env.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
                           BODO_NODE_LISTEN_IP="127.0.0.1", BODO_NODE_PORT=str(node.port))
                argv, where = ["bash", script], f"127.0.0.1:{node.port}"
            else:
                _namespace(node, private_ip)
                # The node's loopback has what the host's has that it is told about:
                # the emulator, the control plane's API, the hub.
                for p in sorted({port, *_loopback_ports(account, region, user_data)}):
                    node.relays.append(Relay(_listen_in(node.netns, p), ("127.0.0.1", p)))
                env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
                argv = ["ip", "netns", "exec", node.netns, "bash", script]
                where = f"{private_ip} in {node.netns}"
            out = open(os.path.join(node.root, "cloud-init-output.log"), "ab")
            node.proc = subprocess.Popen(argv, env=env, cwd=node.root,
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
            out.close()
            _log(f"notebook node {instance_id} booting at {where}")
        except Exception as e:
            _log(f"notebook node {instance_id} could not boot: {e!r}")
            _stop(node)


def _loopback_ports(account: str, region: str, user_data: str) -> set[int]:
    """Ports of the loopback URLs a node is told about: the API URL of its user-data,
    and the URLs of its launch parameter (behind a hub: the hub's API)."""
    import re

    from moto.ssm.models import ssm_backends

    from bodo_jupyter.platform.providers.aws.notebook_bootstrap import script_vars

    v = script_vars(user_data)
    text = v.get("API_URL", "")
    try:
        text += ssm_backends[account][region].get_parameter(v["PARAMETER"]).value
    except Exception:
        pass
    return {int(m) for m in re.findall(r"https?://(?:127\.0\.0\.1|localhost):(\d+)", text)}


def _listen_in(netns: str, port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:port inside ``netns`` (made by a thread that
    enters the namespace: a socket stays in the namespace it was made in)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    out: dict[str, Any] = {}

    def make() -> None:
        try:
            with open(f"/var/run/netns/{netns}") as f:
                if libc.setns(f.fileno(), 0x40000000) != 0:  # CLONE_NEWNET
                    raise OSError(ctypes.get_errno(), f"setns {netns}")
            out["sock"] = socket.create_server(("127.0.0.1", port))
        except Exception as e:
            out["error"] = e

    t = threading.Thread(target=make)  # this thread ends in the namespace, and dies
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["sock"]  # type: ignore[no-any-return]


def _namespace(node: Node, private_ip: str) -> str:
    """A namespace with the instance's private IP; returns the host end's address."""
    with LOCK:
        _counter[0] += 1
        n = _counter[0]
    scope = _scope()
    node.netns = f"{NETNS_PREFIX}{scope}-{node.instance_id}"
    host_veth, ns_veth = f"{_veth_prefix(scope)}{n}h", f"{_veth_prefix(scope)}{n}n"
    # Apart from other emulators' (by port), unless two share a port modulo 20.
    host_ip = f"169.254.{200 + 2 * (int(scope) % 20) + n // 250}.{n % 250 + 1}"
    _ip("netns", "add", node.netns)
    _ip("link", "add", host_veth, "type", "veth", "peer", "name", ns_veth)
    node.veth = host_veth
    _ip("link", "set", ns_veth, "netns", node.netns)
    _ip("addr", "add", f"{host_ip}/32", "dev", host_veth)
    _ip("link", "set", host_veth, "up")
    _ip("route", "add", f"{private_ip}/32", "dev", host_veth, "src", host_ip)
    _ip("-n", node.netns, "link", "set", "lo", "up")
    _ip("-n", node.netns, "addr", "add", f"{private_ip}/32", "dev", ns_veth)
    _ip("-n", node.netns, "link", "set", ns_veth, "up")
    _ip("-n", node.netns, "route", "add", f"{host_ip}/32", "dev", ns_veth)
    return host_ip


def _namespace_pids(netns: str) -> list[int]:
    r = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()]


def _tagged_pids(instance_id: str | None = None, scope: str | None = None) -> list[int]:
    """Processes of emulated nodes (of one), by the variable every one of them has."""
    needle = f"{NODE_ENV}={scope or _scope()}/{instance_id or ''}".encode()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if any(v.startswith(needle) if instance_id is None else v == needle for v in env):
            out.append(int(entry))
    return out


def _stop(node: Node) -> None:
    """The node's end: every process of its namespace, the namespace, its folder."""
    node.terminated = True
    if node.proc is not None and node.proc.poll() is None:
        try:
            os.killpg(node.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if node.netns:
        deadline = time.monotonic() + 10
        while (pids := _namespace_pids(node.netns)) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        for relay in node.relays:  # its sockets would keep the namespace alive
            relay.close()
        node.relays.clear()
        if node.veth:  # both ends and the route, even while the namespace lingers
            subprocess.run(["ip", "link", "del", node.veth], capture_output=True)
            node.veth = ""
        subprocess.run(["ip", "netns", "del", node.netns], capture_output=True)
        node.netns = ""
    for pid in _tagged_pids(node.instance_id):  # kernels lead sessions of their own
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if node.proc is not None:
        try:
            node.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
    for relay in node.relays:
        relay.close()
    node.relays.clear()
    if node.root:
        _console_output(node)
        shutil.rmtree(node.root, ignore_errors=True)
        node.root = ""


def _console_output(node: Node) -> None:
    """The end of the node's logs into the emulator's (like EC2's console output),
    tokens in URLs redacted."""
    import re

    for name in ("cloud-init-output.log", "var/log/bodo-notebook.log"):
        try:
            with open(os.path.join(node.root, name), errors="replace") as f:
                tail = f.read()[-4000:]
        except OSError:
            continue
        tail = re.sub(r"token=[^&\s]+", "token=<redacted>", tail)
        _log(f"notebook node {node.instance_id}: {name}:\n{tail}")


def stop_node(instance_id: str) -> None:
    node = NODES.get(instance_id)
    if node is None:
        return
    with node.lock:
        _stop(node)


def stop_all_nodes() -> None:
    for iid in list(NODES):
        stop_node(iid)


def leftover_nodes(scope: str) -> list[str]:
    """Namespaces, veths, node folders and processes of the emulator on port ``scope``
    that still exist (for the tests' teardown: after its exit there must be none)."""
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    out = [line.split()[0] for line in r.stdout.splitlines()
           if line.startswith(f"{NETNS_PREFIX}{scope}-")]
    r = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True)
    out += [name for line in r.stdout.splitlines()
            if (name := line.split(":")[1].strip().split("@")[0]).startswith(
                _veth_prefix(scope))]
    out += glob.glob(os.path.join(tempfile.gettempdir(), f"{NODE_DIR_PREFIX}{scope}-*"))
    out += [f"pid {p}" for p in _tagged_pids(scope=scope)]
    return out


_original_terminate = InstanceResponse.terminate_instances


def terminate_instances(self: Any) -> Any:
    ids = self._get_param("InstanceIds", [])
    result = _original_terminate(self)
    for iid in ids:
        stop_node(iid)
    return result


def _ssm_resource(request: Any) -> str:
    """The parameter an SSM call names, as IAM sees it (moto checks "*")."""
    try:
        body = request._body
        name = json.loads(body.decode() if isinstance(body, bytes) else body or "{}").get(
            "Name")
    except (ValueError, AttributeError):
        return "*"
    if not name:
        return "*"
    return (f"arn:aws:ssm:{request._region}:{request.account_id}:parameter"
            f"{name if name.startswith('/') else '/' + name}")


def _efs_signature_fix() -> None:
    from moto.iam.access_control import IAMRequest, IAMRequestBase

    original = IAMRequest.check_signature

    def check_signature(self: Any) -> None:
        if self._service == "elasticfilesystem":
            return
        original(self)

    IAMRequest.check_signature = check_signature  # type: ignore[method-assign]

    original_check = IAMRequestBase.check_action_permitted

    def check_action_permitted(self: Any, resource: str) -> None:
        if self._action.startswith("tagging:"):
            self._action = "tag:" + self._action[len("tagging:"):]
        service, _, operation = self._action.partition(":")
        iam_names = ACTION_FOR.get((service, operation))
        if service == "s3" and iam_names and len(iam_names) == 1:
            self._action = iam_names[0]
        if service == "ssm" and resource == "*":
            resource = _ssm_resource(self)
        original_check(self, resource)

    # On the base class: S3's requests (S3IAMRequest) are checked there too.
    IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]


def apply() -> None:
    _efs_signature_fix()
    EC2Response.create_placement_group = create_placement_group  # type: ignore[attr-defined]
    EC2Response.describe_placement_groups = describe_placement_groups  # type: ignore[attr-defined]
    EC2Response.delete_placement_group = delete_placement_group  # type: ignore[attr-defined]
    InstanceResponse.run_instances = run_instances  # type: ignore[method-assign]
    EC2Response.run_instances = run_instances  # type: ignore[attr-defined]
    InstanceResponse.terminate_instances = terminate_instances  # type: ignore[method-assign]
    EC2Response.terminate_instances = terminate_instances  # type: ignore[attr-defined]
    atexit.register(stop_all_nodes)

    def on_term(signum: int, frame: Any) -> None:
        stop_all_nodes()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
