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
* Booting: moto does not run instances. For instances tagged ``bodo:cluster``
  the plugin does, after ``BODO_EMULATOR_BOOT_DELAY`` seconds, what the last
  lines of the platform's user-data script do on a real node: register each
  node and then the cluster as ready in the cluster's DynamoDB table, and
  publish an ipyparallel connection file to the cluster's bucket. It reads the
  table and bucket names from the user-data, as the script itself does.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
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
