"""`bodo-jupyter aws create-policy` creates the shipped policy with the caller's own
AWS credentials (like `aws iam create-policy`), against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bodo_jupyter.platform.providers.aws.policy import platform_policy

from .aws import aws_emulator


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bodo_jupyter.cli", *args],
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60)


def test_create_policy(tmp_path):
    with aws_emulator(tmp_path) as em:
        env = {"AWS_ENDPOINT_URL": em.url, "AWS_ACCESS_KEY_ID": em.admin.access_key_id,
               "AWS_SECRET_ACCESS_KEY": em.admin.secret_access_key,
               "AWS_DEFAULT_REGION": "us-east-1"}
        r = run(["aws", "create-policy", "--name", "bodo-platform"], env)
        assert r.returncode == 0, r.stderr
        arn = r.stdout.split("Created policy ")[1].split()[0]
        assert arn == "arn:aws:iam::123456789012:policy/bodo-platform"
        assert f"aws iam attach-user-policy --user-name USER --policy-arn {arn}" in r.stdout
        iam = em.client("iam")
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        doc = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
        stored = doc["Document"]
        stored = json.loads(stored) if isinstance(stored, str) else stored
        assert stored == platform_policy()
        # Again: IAM says it exists, in one line.
        r = run(["aws", "create-policy", "--name", "bodo-platform"], env)
        assert r.returncode == 1 and r.stderr.startswith("error: IAM refused: EntityAlreadyExists")
        # Keys that may not create policies get IAM's refusal, not a traceback.
        r = run(["aws", "create-policy", "--name", "other"],
                {**env, "AWS_ACCESS_KEY_ID": em.user.access_key_id,
                 "AWS_SECRET_ACCESS_KEY": em.user.secret_access_key})
        assert r.returncode == 1 and "AccessDenied" in r.stderr and "Traceback" not in r.stderr
        r = run(["aws", "create-policy", "--name", "x", "--print"], env)
        assert json.loads(r.stdout) == platform_policy()
