"""Readying an organisation's AWS account: launch permission on the platform's image.

The grant is made with the *platform's* credentials, which own the image; the
account is READY once the permission is there, and AWS clusters can be made
only then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from botocore.exceptions import ClientError

from bodo_jupyter.contract.models import StepName, TaskKind

from ...errors import ProvisionError
from ...models import AwsAccount, Task, utcnow
from ...store import Store
from ...tasks import Step, TaskContext, TaskEngine, TaskHandler
from .errors import code_of, message_of


class ImageSource(Protocol):
    """Where the platform's machine images are, and the platform's own AWS access."""

    ami_ids: Mapping[str, str]

    def platform_client(self, service: str, region: str) -> Any: ...


class GrantImage(TaskHandler):
    """Grant launch permission on the platform's image to the user's account."""

    kind = TaskKind.AWS_GRANT_IMAGE
    resumable = True

    def __init__(self, *, store: Store, engine: TaskEngine, images: ImageSource):
        self.store = store
        self.engine = engine
        self.images = images

    def steps(self, task: Task) -> list[Step]:
        return [Step(StepName.IMAGE, "Finding the platform's machine image for the region"),
                Step(StepName.GRANT, "Granting launch permission to your account"),
                Step(StepName.VERIFY, "Checking the permission")]

    def _set(self, ctx: TaskContext, status: str, message: str) -> None:
        """Only the newest grant decides: credentials set again meanwhile have a task of
        their own, and this (older) one must not overwrite their status."""
        with self.store.session() as s:
            a = s.get(AwsAccount, ctx.params["account"])
            if a is not None and a.task_id == ctx.task_id:
                a.status, a.status_message, a.updated_at = status, message, utcnow()
        self.engine.notify()

    async def run(self, ctx: TaskContext) -> None:
        with self.store.session() as s:
            a = s.get(AwsAccount, ctx.params["account"])
            if a is None:
                raise ProvisionError("the credentials were deleted")
            region, account = a.region, a.account_id
        async with ctx.step(StepName.IMAGE):
            ami = self.images.ami_ids.get(region)
            if not ami:
                raise ProvisionError(
                    f"no machine image is configured for {region}; the admin sets "
                    "AWSProvider.ami_ids (one AMI per region)")
            ec2 = self.images.platform_client("ec2", region)
            try:
                img = await asyncio.to_thread(ec2.describe_images, ImageIds=[ami])
            except ClientError as e:
                raise ProvisionError(f"the platform cannot read its image {ami} in {region}: "
                                     f"{code_of(e)}: {message_of(e)}") from None
            if not img["Images"]:
                raise ProvisionError(f"image {ami} does not exist in {region}")
            owner = img["Images"][0].get("OwnerId")
            ctx.progress(1.0, f"image {ami} in {region}")
        async with ctx.step(StepName.GRANT):
            if owner == account:
                ctx.progress(1.0, f"{ami} belongs to account {account}: nothing to grant")
            else:
                try:
                    await asyncio.to_thread(
                        ec2.modify_image_attribute, ImageId=ami,
                        LaunchPermission={"Add": [{"UserId": account}]})
                except ClientError as e:
                    raise ProvisionError(f"granting launch permission on {ami} failed: "
                                         f"{code_of(e)}: {message_of(e)}") from None
                ctx.progress(1.0, f"launch permission on {ami} granted to {account}")
        async with ctx.step(StepName.VERIFY):
            if owner != account:
                attr = await asyncio.to_thread(ec2.describe_image_attribute, ImageId=ami,
                                               Attribute="launchPermission")
                users = {p.get("UserId") for p in attr.get("LaunchPermissions", [])}
                if account not in users:
                    raise ProvisionError(f"{account} is not among the accounts allowed to "
                                         f"launch {ami}")
        self._set(ctx, "READY", "")

    async def rollback(self, ctx: TaskContext, status: Any, reason: str) -> None:
        self._set(ctx, "FAILED", reason)
