"""``bodo-jupyter credentials ...`` and ``aws ...``: your organisation's AWS account."""

from __future__ import annotations

import json
import sys

import click

from bodo_jupyter.contract import models
from bodo_jupyter.sdk import APIError

from .app import json_option, main, platform
from .output import emit_json, follow, out, styled


@main.group()
def credentials() -> None:
    """Link your organisation's AWS account (for --provider aws)."""


def read_secret() -> str:
    """From $AWS_SECRET_ACCESS_KEY, else stdin when piped, else a hidden prompt -- never a
    flag, where `ps` and shell history would show it."""
    import os

    secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if secret:
        return secret.strip()
    if not sys.stdin.isatty():
        secret = sys.stdin.readline().strip()
        if not secret:
            raise APIError("no secret access key on stdin")
        return secret
    return str(click.prompt("AWS secret access key", hide_input=True)).strip()


def show_account(a: models.AwsAccount) -> None:
    status = str(a.status)
    label = "ready" if a.ready else status.lower()
    out.print(f"account       {a.account_id} ({a.region})", highlight=False)
    out.print(f"access key    {a.access_key_id}", highlight=False)
    if a.arn:
        out.print(f"identity      {a.arn}", highlight=False)
    out.print(f"status        {styled('RUNNING' if a.ready else status)} {label}"
              + (f" — {a.status_message}" if a.status_message else ""),
              highlight=False)


@credentials.command("set")
@click.option("--access-key-id", required=True, help="Access key id (AKIA...).")
@click.option("--account-id", required=True, help="The 12-digit AWS account id.")
@click.option("--region", required=True, help="Region for clusters, e.g. us-east-1.")
@click.option("--wait", is_flag=True, help="Follow the launch-permission task to the end.")
@json_option
@click.pass_context
def credentials_set(ctx: click.Context, access_key_id: str, account_id: str, region: str,
                    wait: bool, as_json: bool) -> None:
    """Check and store AWS credentials; the secret is read from $AWS_SECRET_ACCESS_KEY,
    stdin, or a hidden prompt."""
    p = platform(ctx)
    secret = read_secret()
    a = p.credentials.set(access_key_id, secret, account_id, region)
    del secret
    if wait and a.task_id:
        task = p.tasks.get(a.task_id)
        if as_json:
            task.wait(raise_on_error=False)
        else:
            follow(task)
        a = p.credentials.show()
    if as_json:
        emit_json(a.to_dict())
        return
    show_account(a)


@credentials.command("show")
@json_option
@click.pass_context
def credentials_show(ctx: click.Context, as_json: bool) -> None:
    """The linked AWS account (the secret is never shown)."""
    a = platform(ctx).credentials.show()
    if as_json:
        emit_json(a.to_dict())
        return
    show_account(a)


@credentials.command("delete")
@click.pass_context
def credentials_delete(ctx: click.Context) -> None:
    """Forget the AWS credentials (refused while AWS clusters exist)."""
    platform(ctx).credentials.delete()
    out.print("AWS credentials deleted.")


@main.group()
def aws() -> None:
    """Set-up helpers for your AWS account."""


@aws.command("create-policy")
@click.option("--name", required=True, help="Name of the IAM policy to create.")
@click.option("--print", "print_only", is_flag=True,
              help="Print the policy document instead of creating it.")
def aws_create_policy(name: str, print_only: bool) -> None:
    """Create the minimal IAM policy the platform needs, with YOUR AWS credentials
    (like `aws iam create-policy`); then attach it to the user whose keys you give us."""
    from bodo_jupyter.platform.providers.aws.policy import platform_policy

    doc = platform_policy()
    if print_only:
        emit_json(doc)
        return
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        arn = boto3.client("iam").create_policy(
            PolicyName=name, PolicyDocument=json.dumps(doc),
            Description="bodo-jupyter: what the platform needs in this account",
        )["Policy"]["Arn"]
    except NoCredentialsError:
        raise APIError("no AWS credentials found for this command: configure the AWS "
                            "CLI (aws configure) or set AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY") from None
    except ClientError as e:
        err = e.response.get("Error", {})
        raise APIError(f"IAM refused: {err.get('Code')}: {err.get('Message')}") from None
    except BotoCoreError as e:
        raise APIError(f"cannot reach AWS: {e}") from None
    out.print(f"Created policy {arn}", highlight=False)
    out.print(f"Attach it: aws iam attach-user-policy --user-name USER --policy-arn {arn}",
              highlight=False)
