"""An organisation's AWS credentials: checked, stored encrypted, made ready.

Saving runs STS GetCallerIdentity with the keys (the account id must match)
and a few read-only calls that each need a permission of the platform policy,
so that bad keys, a wrong account and a missing policy are each a clear 400
before anything is stored. Then a task grants the platform's machine image
launch permission to the account (with the *platform's* credentials, which
own the image); the account is READY when that is done, and AWS clusters can
be created only then. The secret is never returned, logged or shown again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import select

from bodo_jupyter.contract.models import AwsCredentialsRequest, TaskKind

from ...errors import BadRequest, Conflict, NotFound, Unavailable
from ...identity import Identity
from ...models import AwsAccount, Cluster, ClusterStatus
from ...secrets import SecretBox
from ...store import Store
from ...tasks import TaskEngine
from ...views import iso
from .clients import Audit, AwsCredentials
from .errors import BAD_CREDENTIALS, DENIED, code_of, message_of

FIELDS = ("access_key_id", "secret_access_key", "account_id", "region")

# Read-only calls that need a permission of the platform policy: a missing
# policy shows up here, at "save", not half-way through a cluster.
PROBES: tuple[tuple[str, str, dict[str, Any], str], ...] = (
    ("ec2", "describe_instance_types", {"MaxResults": 5}, "ec2:DescribeInstanceTypes"),
    ("ec2", "describe_vpcs", {"MaxResults": 5}, "ec2:DescribeVpcs"),
    ("kms", "list_aliases", {"Limit": 1}, "kms:ListAliases"),
    ("dynamodb", "list_tables", {"Limit": 1}, "dynamodb:ListTables"),
    ("efs", "describe_file_systems", {"MaxItems": 1}, "elasticfilesystem:DescribeFileSystems"),
    ("iam", "list_roles", {"MaxItems": 1, "PathPrefix": "/bodo/"}, "iam:ListRoles"),
)


def mask(key_id: str) -> str:
    return f"…{key_id[-4:]}"


def account_view(a: AwsAccount) -> dict[str, Any]:
    return {
        "access_key_id": mask(a.access_key_id),
        "account_id": a.account_id,
        "region": a.region,
        "arn": a.arn,
        "status": a.status,
        "ready": a.status == "READY",
        "status_message": a.status_message,
        "task_id": a.task_id,
        "created_at": iso(a.created_at),
        "updated_at": iso(a.updated_at),
    }


def check_keys(key: str, secret: str, account: str, region: str,
               audit: Audit | None = None, probes: bool = True) -> str:
    """Blocking: who these keys are, and that they may do what the platform needs."""
    session = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret,
                                    region_name=region)
    if audit is not None:
        audit.attach(session, org="")
    config = Config(retries={"mode": "standard", "max_attempts": 5})

    def _client(service: str, *_: str) -> Any:
        return session.client(service, config=config)

    try:
        ident = _client("sts").get_caller_identity()
    except ClientError as e:
        code = code_of(e)
        if code == "SignatureDoesNotMatch":
            raise BadRequest("the secret access key does not match the access key id",
                             field="secret_access_key") from None
        if code in BAD_CREDENTIALS:
            raise BadRequest(f"AWS does not know the access key id {mask(key)} ({code})",
                             field="access_key_id") from None
        raise BadRequest(f"AWS refused the credentials: {code}: {message_of(e)}",
                         code="aws_error") from None
    except BotoCoreError as e:
        raise Unavailable(f"cannot reach AWS to check the credentials: {e}",
                          code="aws_unreachable") from None
    if ident["Account"] != account:
        raise BadRequest(f"these keys belong to AWS account {ident['Account']}, not {account}",
                         field="account_id")
    missing = []
    for service, op, kw, action in PROBES if probes else ():
        try:
            getattr(_client(service), op)(**kw)
        except ClientError as e:
            if code_of(e) in DENIED or "AccessDenied" in str(e) or \
                    e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 403:
                missing.append(action)
            else:
                raise BadRequest(f"checking {action} failed: {code_of(e)}: {message_of(e)}") \
                    from None
    if missing:
        raise BadRequest(f"the keys of {ident['Arn']} lack permissions the platform needs: "
                         f"{', '.join(missing)}. Attach the bodo-platform policy "
                         "(`bodo-jupyter aws create-policy`) to this user",
                         field="access_key_id", code="aws_denied")
    return str(ident["Arn"])


class AwsAccounts:
    """The organisations' AWS accounts: the API sets and shows them; the AWS provider
    and S3 job sources ask for keys. The control plane has them whichever providers
    are enabled: an organisation's S3 sources are read with its own keys, never the
    platform's. ``on_change(org_id)`` tells the provider to forget cached sessions.

    Only with the AWS provider (``grants_image``) is there an image to grant; without
    it, checked keys are READY at once and the probes of cluster permissions are not
    made (STS proves the keys; S3 access is checked when a job names a bucket)."""

    def __init__(self, *, store: Store, secrets: SecretBox, engine: TaskEngine,
                 audit: Audit | None = None,
                 on_change: Callable[[str], None] = lambda org_id: None):
        self.store = store
        self.secrets = secrets
        self.engine = engine
        self.audit = audit
        self.on_change = on_change
        self.grants_image = False

    def _get(self, s: Any, org_id: str) -> AwsAccount | None:
        return s.scalars(select(AwsAccount).where(AwsAccount.org_id == org_id)).first()

    def show(self, identity: Identity) -> dict[str, Any]:
        with self.store.session() as s:
            a = self._get(s, identity.org_id)
            if a is None:
                raise NotFound("no AWS credentials set for your organisation: "
                               "`bodo-jupyter credentials set`")
            return account_view(a)

    def _live_aws_clusters(self, s: Any, org_id: str) -> list[str]:
        return list(s.scalars(select(Cluster.name).where(
            Cluster.org_id == org_id, Cluster.provider == "aws",
            Cluster.status != ClusterStatus.TERMINATED)).all())

    async def set(self, identity: Identity, req: AwsCredentialsRequest) -> dict[str, Any]:
        """Check the keys with AWS, store them (the secret encrypted), start the grant."""
        # The contract checked the shapes (key id, 12-digit account, region name).
        key, account, region = req.access_key_id, req.account_id, req.region
        secret = req.secret_access_key
        if not secret.strip():
            raise BadRequest("secret_access_key is required", field="secret_access_key")
        arn = await asyncio.to_thread(check_keys, key, secret.strip(), account, region,
                                      self.audit, self.grants_image)
        with self.store.session() as s:
            a = self._get(s, identity.org_id)
            live = self._live_aws_clusters(s, identity.org_id)
            if a is not None and live and (a.account_id != account or a.region != region):
                raise Conflict(f"AWS clusters {', '.join(live)} still run in account "
                               f"{a.account_id} ({a.region}); delete them before moving to "
                               "another account or region", field="account_id")
            if a is None:
                a = AwsAccount(org_id=identity.org_id, created_by=identity.user_id)
                s.add(a)
            a.access_key_id, a.account_id, a.region, a.arn = key, account, region, arn
            a.secret_enc = self.secrets.encrypt(secret.strip())
            task = None
            if self.grants_image:
                a.status, a.status_message = "INPROGRESS", "Granting launch permission"
                s.flush()
                task = self.engine.new_task(kind=TaskKind.AWS_GRANT_IMAGE,
                                            org_id=identity.org_id, user_id=identity.user_id,
                                            cluster_id=None, params={"account": a.id})
                s.add(task)
                s.flush()
                a.task_id = task.id
            else:
                a.status, a.task_id = "READY", None
                a.status_message = "Checked with AWS (used for S3 job sources)"
            s.flush()  # created_at/updated_at are set by the flush; the view shows them
            out = account_view(a)
        self.on_change(identity.org_id)
        if task is not None:
            self.engine.start(task.id)
        return out

    def delete(self, identity: Identity) -> dict[str, Any]:
        with self.store.session() as s:
            a = self._get(s, identity.org_id)
            if a is None:
                raise NotFound("no AWS credentials set for your organisation")
            live = self._live_aws_clusters(s, identity.org_id)
            if live:
                raise Conflict(f"AWS clusters {', '.join(live)} still exist; delete them "
                               "first (deleting needs these credentials)")
            s.delete(a)
        self.on_change(identity.org_id)
        return {"deleted": True}

    def credentials(self, org_id: str, *, require_ready: bool = True) -> AwsCredentials:
        """Decrypted keys for the provider (in memory only)."""
        with self.store.session() as s:
            a = self._get(s, org_id)
            if a is None:
                raise BadRequest("no AWS credentials for your organisation: set them with "
                                 "`bodo-jupyter credentials set` (or the settings page)",
                                 field="provider", code="aws_no_credentials")
            if require_ready and a.status != "READY":
                what = ("is still being made ready (launch permission for the machine image, "
                        f"task {a.task_id})" if a.status == "INPROGRESS"
                        else f"is not ready: {a.status_message}")
                raise Conflict(f"your AWS account {what}", field="provider")
            return AwsCredentials(a.access_key_id, self.secrets.decrypt(a.secret_enc),
                                  a.region, a.account_id)

    def source_credentials(self, org_id: str, field: str | None = "path") -> AwsCredentials:
        """The organisation's keys for reading an S3 job source (in memory only)."""
        with self.store.session() as s:
            a = self._get(s, org_id)
            if a is None:
                raise BadRequest("S3 sources are read with your organisation's own AWS "
                                 "credentials, and none are set: add them in Settings "
                                 "(`bodo-jupyter credentials set`)", field=field,
                                 code="aws_no_credentials")
            return AwsCredentials(a.access_key_id, self.secrets.decrypt(a.secret_enc),
                                  a.region, a.account_id)

    def ready_orgs(self) -> list[str]:
        with self.store.session() as s:
            return list(s.scalars(select(AwsAccount.org_id).where(
                AwsAccount.status == "READY")).all())
