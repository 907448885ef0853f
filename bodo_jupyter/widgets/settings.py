"""SettingsPanel: the organisation's AWS account, the credentials form, the IAM policy."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import ipywidgets as w

from bodo_jupyter.contract.forms import AWS_CREDENTIALS
from bodo_jupyter.sdk import APIError

from .base import Panel, badge
from .fields import HELP_STYLE, FormView, text

#: The minimal policy, as committed beside the package (a source checkout); without it
#: the panel shows the command that prints it.
POLICY_FILE = Path(__file__).resolve().parents[2] / "config" / "iam" / \
    "bodo-platform-policy.json"
POLICY_NAME = "bodo-platform"


def policy_text() -> str | None:
    try:
        return json.dumps(json.loads(POLICY_FILE.read_text()), indent=2)
    except (OSError, ValueError):
        return None


class SettingsPanel(Panel):
    """The organisation's AWS account (status badge, a ready tick, the launch-permission
    task's progress bar while it runs), the credentials form (access key id, secret in a
    password field that is cleared after each submit, account id, region), and the
    minimal IAM policy with the commands that create it.

    In a notebook::

        from bodo_jupyter.widgets import SettingsPanel
        SettingsPanel()
    """

    title = "Bodo settings: AWS"
    idle_first = 30.0  # an account changes seldom; the grant's task is followed live

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.account: Any = None
        self.status = w.HTML("")
        self.form = FormView(AWS_CREDENTIALS, "Link account")
        self.form.cancel.layout.display = "none"
        self.on(self.form.submit, self.link, "link")
        policy = policy_text()
        commands = (f"aws iam create-policy --policy-name {POLICY_NAME} "
                    "--policy-document file://bodo-platform-policy.json\n"
                    f"bodo-jupyter aws create-policy --name {POLICY_NAME}")
        self.policy = w.Textarea(
            value=policy or "bodo-jupyter aws create-policy --print   # prints it",
            rows=12, disabled=True, layout=w.Layout(width="100%"))
        self.policy_help = w.HTML(
            text("The minimal IAM policy the platform needs: attach it to the IAM user "
                 "whose keys you link. Create it with either command:", HELP_STYLE)
            + f"<pre>{html.escape(commands)}</pre>")
        self.children = [self.header, self.message, self.status, self.tasks_box,
                         self.form.box, self.policy_help, self.policy]
        self.start()

    async def refresh(self) -> object:
        try:
            account = await self.platform.credentials.show()
        except APIError as e:
            if e.status != 404:
                raise
            account = None
        self.show(account)
        if account is not None and account.task_id and str(account.status) == "INPROGRESS" \
                and account.task_id not in self.task_views:
            self.follow_task(await self.platform.tasks.get(account.task_id), "AWS account")
        return account.to_dict() if account is not None else None

    def show(self, account: Any) -> None:
        self.account = account
        if account is None:
            self.status.value = text("No AWS account is linked: clusters run on the "
                                     "platform's own providers only.", HELP_STYLE)
            return
        tick = " <b style='color: #2e7d32'>✓ ready</b>" if account.ready else ""
        message = f" {html.escape(account.status_message)}" if account.status_message else ""
        self.status.value = (f"AWS account <code>{html.escape(account.account_id)}</code> in "
                             f"<code>{html.escape(account.region)}</code>, key "
                             f"<code>{html.escape(account.access_key_id)}</code>: "
                             f"{badge(str(account.status))}{tick}{message}")

    async def link(self) -> Any:
        account = await self.submit(self.form, lambda req: self.platform.credentials.set(
            req.access_key_id, req.secret_access_key, req.account_id, req.region))
        if account is None:
            return None
        self.form.set_values({"access_key_id": "", "account_id": "", "region": ""})
        self.show(account)
        self.say("Linked the AWS account.")
        if account.task_id:
            self.follow_task(await self.platform.tasks.get(account.task_id), "AWS account")
        self.wake()
        return account
