"""Fetching a job's code: Git over https, or an S3 prefix.

The builders (argv lists, environments, error messages) are pure; the
fetchers run git and boto3 and are blocking -- callers run them off the
event loop. Git credentials travel only in the git process's environment,
read by an inline credential helper: never on a command line (where `ps`
shows them), in a URL, a file or a log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from traitlets import Float, Unicode
from traitlets.config import LoggingConfigurable

from ..errors import PlatformError
from .spec import is_sha

# Reads the credentials from the environment git was given; a config value, not a secret.
CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || exit 0; '
    'echo "username=${BODO_GIT_USERNAME}"; echo "password=${BODO_GIT_PASSWORD}"; }; f'
)


class SourceFetchFailed(PlatformError):
    status = 400
    code = "source_fetch_failed"


@dataclass(frozen=True)
class Fetched:
    path: Path
    revision: str | None  # the commit SHA for Git, None for S3
    files: int


def git_config_args(*, ca_file: str | None, with_credentials: bool) -> list[str]:
    args = ["-c", "credential.helper=", "-c", "core.askPass=", "-c", "advice.detachedHead=false"]
    if with_credentials:
        args += ["-c", f"credential.helper={CREDENTIAL_HELPER}"]
    if ca_file:
        args += ["-c", f"http.sslCAInfo={ca_file}"]
    return args


def git_commands(url: str, dest: Path, ref: str | None, config: list[str]) -> list[list[str]]:
    """The git invocations that put ``ref`` of ``url`` into ``dest`` (shallow)."""
    d = str(dest)
    if ref and is_sha(ref):
        # A commit: fetch just that object (hosts allow fetching reachable SHAs).
        return [
            ["git", *config, "init", "--quiet", d],
            ["git", *config, "-C", d, "remote", "add", "origin", url],
            ["git", *config, "-C", d, "fetch", "--quiet", "--depth", "1", "origin", ref],
            ["git", *config, "-C", d, "checkout", "--quiet", "--detach", "FETCH_HEAD"],
        ]
    argv = ["git", *config, "clone", "--quiet", "--depth", "1", "--no-tags"]
    if ref:
        argv += ["--branch", ref]
    return [[*argv, "--", url, d]]


# GIT_* variables that describe the machine (trust, proxies), not a repository.
KEEP_GIT_ENV = ("GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "GIT_HTTP_LOW_SPEED_LIMIT",
                "GIT_HTTP_LOW_SPEED_TIME")


def git_env(base: Mapping[str, str], username: str | None, password: str | None,
            ca_file: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in base.items()
           if not k.startswith(("GIT_", "BODO_GIT_")) or k in KEEP_GIT_ENV}
    if ca_file:
        env["GIT_SSL_CAINFO"] = ca_file  # the environment beats git config: set both
    env["GIT_TERMINAL_PROMPT"] = "0"  # never hang on a prompt
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_CONFIG_GLOBAL"] = os.devnull  # a user's ~/.gitconfig must not change the fetch
    env["LC_ALL"] = "C"  # error messages we can recognise
    if username is not None:
        env["BODO_GIT_USERNAME"] = username
        env["BODO_GIT_PASSWORD"] = password or ""
    return env


def explain_git_error(stderr: str, url: str, ref: str | None, secrets: tuple[str, ...]) -> str:
    """One sentence a person can act on, from git's own words (secrets removed)."""
    for s in secrets:
        if s:
            stderr = stderr.replace(s, "***")
    low = stderr.lower()
    if ("authentication failed" in low or "could not read username" in low
            or "401" in low or "403" in low or "terminal prompts disabled" in low):
        return (f"Git authentication failed for {url}: check git_username and git_password "
                "(a password or an access token)")
    if ref and (("remote branch" in low and "not found" in low)
                or "couldn't find remote ref" in low or "not our ref" in low
                or "unadvertised object" in low or "reference is not a tree" in low
                or "unable to read tree" in low):
        return f"reference {ref!r} not found in {url}: check the branch, tag or commit"
    if ("repository" in low and "not found" in low) or "404" in low:
        return f"repository {url} not found (or no access with these credentials)"
    if "could not resolve host" in low or "failed to connect" in low \
            or "connection refused" in low:
        return f"cannot reach {url}: {last_line(stderr)}"
    if "certificate" in low or "ssl" in low:
        return f"TLS error reaching {url}: {last_line(stderr)}"
    return f"git could not fetch {url}: {last_line(stderr)}"


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "no output")[:300]


def s3_target(dest: Path, prefix: str, key: str) -> Path | None:
    """Where an object lands under ``dest`` (None for folder markers / unsafe keys)."""
    rel = key[len(prefix):] if prefix and key.startswith(prefix) else key
    rel = rel.lstrip("/")
    if not rel or rel.endswith("/"):
        return None
    parts = PurePosixPath(rel).parts
    if any(p in ("..", ".") for p in parts):
        return None
    return dest.joinpath(*parts)


class SourceFetcher(LoggingConfigurable):
    """Fetches job sources into a run's workspace."""

    git = Unicode("git", config=True, help="The git executable.")
    git_ca_file = Unicode(
        "", config=True,
        help="CA bundle for https Git hosts with a private certificate authority.",
    )
    git_timeout = Float(600.0, config=True, help="Seconds a Git fetch may take.")
    s3_max_bytes = Float(
        20e9, config=True, help="Largest total size of an S3 source, in bytes."
    )

    def fetch_git(self, url: str, ref: str | None, dest: Path, username: str | None,
                  password: str | None) -> Fetched:
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        config = git_config_args(ca_file=self.git_ca_file or None,
                                 with_credentials=username is not None)
        env = git_env(os.environ, username, password, self.git_ca_file or None)
        for argv in git_commands(url, dest, ref, config):
            proc = self._git(argv, env)
            if proc.returncode != 0 and ref and is_sha(ref) and "fetch" in argv:
                # Some servers refuse shallow fetches of a commit: fetch history instead.
                proc = self._git(["git", *config, "-C", str(dest), "fetch", "--quiet",
                                  "origin"], env)
                if proc.returncode == 0:
                    proc = self._git(["git", *config, "-C", str(dest), "checkout", "--quiet",
                                      "--detach", ref], env)
                    if proc.returncode == 0:
                        break
            if proc.returncode != 0:
                raise SourceFetchFailed(explain_git_error(
                    proc.stderr + proc.stdout, url, ref, (password or "",)))
        head = subprocess.run([self.git, "-C", str(dest), "rev-parse", "HEAD"], env=env,
                              capture_output=True, text=True)
        revision = head.stdout.strip() or None
        files = sum(1 for p in dest.rglob("*") if p.is_file() and ".git" not in p.parts)
        return Fetched(dest, revision, files)

    def _git(self, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        argv = [self.git, *argv[1:]]
        try:
            return subprocess.run(argv, env=env, capture_output=True, text=True,
                                  timeout=self.git_timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise SourceFetchFailed(f"git took longer than {self.git_timeout:g}s") from None
        except FileNotFoundError:
            raise SourceFetchFailed("git is not installed on this machine") from None

    def s3_client(self, region: str | None) -> Any:
        import boto3

        return boto3.client("s3", region_name=region)

    def bucket_region(self, bucket: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            loc = self.s3_client(None).get_bucket_location(Bucket=bucket)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchBucket", "404"):
                raise SourceFetchFailed(f"S3 bucket {bucket!r} does not exist") from None
            if code in ("AccessDenied", "403"):
                raise SourceFetchFailed(f"no access to S3 bucket {bucket!r}") from None
            raise SourceFetchFailed(f"cannot read S3 bucket {bucket!r}: {code}") from None
        except BotoCoreError as e:
            raise SourceFetchFailed(f"cannot reach S3: {e}") from None
        return loc.get("LocationConstraint") or "us-east-1"

    def fetch_s3(self, bucket: str, prefix: str, dest: Path, region: str | None) -> Fetched:
        from botocore.exceptions import BotoCoreError, ClientError

        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        s3 = self.s3_client(region)
        files, total = 0, 0
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                    Prefix=prefix):
                for obj in page.get("Contents", []):
                    target = s3_target(dest, prefix, obj["Key"])
                    if target is None:
                        continue
                    total += obj.get("Size", 0)
                    if total > self.s3_max_bytes:
                        raise SourceFetchFailed(
                            f"s3://{bucket}/{prefix} is larger than {self.s3_max_bytes:g} bytes")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    s3.download_file(bucket, obj["Key"], str(target))
                    files += 1
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            raise SourceFetchFailed(f"cannot read s3://{bucket}/{prefix}: {code}") from None
        except BotoCoreError as e:
            raise SourceFetchFailed(f"cannot reach S3: {e}") from None
        if files == 0:
            raise SourceFetchFailed(f"no files under s3://{bucket}/{prefix}")
        return Fetched(dest, None, files)


def script_problem(workdir: Path, argv: list[str]) -> str | None:
    """Why ``python argv...`` cannot start in ``workdir``, when we can tell before running."""
    first = argv[0]
    if first.startswith("-"):
        return None  # -m module, -c code: python decides
    target = (workdir / first).resolve()
    if not str(target).startswith(str(workdir.resolve())):
        return f"script {first!r} is outside the fetched source"
    if not target.is_file():
        near = sorted(p.name for p in workdir.glob("*.py"))[:8]
        hint = f"; Python files at the top: {', '.join(near)}" if near else ""
        return f"script {first!r} not found in the fetched source{hint}"
    return None

