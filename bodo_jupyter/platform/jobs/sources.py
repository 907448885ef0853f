"""Fetching a job's code: Git over https, or an S3 prefix.

The builders (argv lists, environments, error messages) are pure; the
fetcher runs git as a subprocess of the event loop (killed with everything it
started on cancel or timeout) and boto3 in a small thread pool of its own, so
a Git host that never answers can hold neither the API's threads nor more
than ``max_concurrent_fetches`` fetches. Before any connection the host is
checked against the admin's rules (:mod:`.hosts`; private addresses are
denied by default) and git is pinned to the address that was checked.

Git runs as the organisation's OS user when it has one (see
:mod:`bodo_jupyter.platform.run_as`), with an allow-listed environment; its
credentials travel only in that process's environment, read by an inline
credential helper: never on a command line (where `ps` shows them), in a URL,
a file or a log. S3 sources are read with the organisation's own AWS
credentials, never the platform's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from traitlets import Bool, Float, Integer, List, Unicode
from traitlets.config import LoggingConfigurable

from ..errors import PlatformError
from ..run_as import RunAs, own_dir
from ..user_env import DEFAULT_KEEP, user_env
from .hosts import DEFAULT_DENIED, HostPolicy, IPAddress, parse_address
from .spec import is_sha

if TYPE_CHECKING:
    from ..providers.aws.clients import AwsCredentials

# Reads the credentials from the environment git was given; a config value, not a secret.
CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || exit 0; '
    'echo "username=${BODO_GIT_USERNAME}"; echo "password=${BODO_GIT_PASSWORD}"; }; f'
)

#: What a fetch keeps of the control plane's environment besides DEFAULT_KEEP: the
#: machine's proxies and trust settings (git and boto3 honour them).
FETCH_KEEP = (*DEFAULT_KEEP, "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY",
              "HTTPS_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR")


class SourceFetchFailed(PlatformError):
    status = 400
    code = "source_fetch_failed"


@dataclass(frozen=True)
class Fetched:
    path: Path
    revision: str | None  # the commit SHA for Git, None for S3
    files: int


def git_config_args(*, ca_file: str | None, with_credentials: bool,
                    pin: str | None = None, low_speed_limit: int = 0,
                    low_speed_time: int = 0) -> list[str]:
    """``-c`` options of every git command of a fetch.

    ``pin`` (``host:port:address``) makes git connect to the address the host
    check approved, not to whatever a second lookup says; redirects are not
    followed (a redirect could point anywhere); a transfer slower than
    ``low_speed_limit`` bytes/s for ``low_speed_time`` s is abandoned.
    """
    args = ["-c", "credential.helper=", "-c", "core.askPass=", "-c", "advice.detachedHead=false",
            "-c", "http.followRedirects=false", "-c", "protocol.allow=never",
            "-c", "protocol.https.allow=always"]
    if with_credentials:
        args += ["-c", f"credential.helper={CREDENTIAL_HELPER}"]
    if ca_file:
        args += ["-c", f"http.sslCAInfo={ca_file}"]
    if pin:
        args += ["-c", f"http.curloptResolve={pin}"]
    if low_speed_limit and low_speed_time:
        args += ["-c", f"http.lowSpeedLimit={low_speed_limit}",
                 "-c", f"http.lowSpeedTime={low_speed_time}"]
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
            ca_file: str | None = None, *, keep: tuple[str, ...] = FETCH_KEEP,
            run_as: RunAs | None = None) -> dict[str, str]:
    """git's whole environment: the allow-listed part of ``base``, the OS user's HOME,
    git's own settings, and the credentials (for the helper) -- nothing else."""
    env = user_env(base, keep=(*keep, *KEEP_GIT_ENV),
                   platform=run_as.env() if run_as is not None else None)
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
    git_timeout = Float(600.0, config=True, help="Seconds a Git fetch may take in all.")
    connect_timeout = Float(
        10.0, config=True, help="Seconds to wait for a source host to accept a connection.")
    low_speed_limit = Integer(
        1000, config=True,
        help="A Git transfer below this many bytes per second for low_speed_time seconds "
        "is abandoned (a host that stops answering half-way).",
    )
    low_speed_time = Integer(30, config=True, help="See low_speed_limit (seconds).")
    max_concurrent_fetches = Integer(
        4, config=True,
        help="Fetches (Git or S3) at once; more wait their turn. They have threads and "
        "processes of their own, apart from the API's.",
    )
    s3_max_bytes = Float(
        20e9, config=True, help="Largest total size of an S3 source, in bytes."
    )
    allowed_hosts = List(
        Unicode(), config=True,
        help="""Hosts job sources may come from even when denied_hosts covers them: host
        name patterns (github.com, *.corp.example) or IP networks (10.1.0.0/16). With
        allowed_hosts_only, the only ones. Applies to Git hosts and to the S3 endpoint.""",
    )
    denied_hosts = List(
        Unicode(), list(DEFAULT_DENIED), config=True,
        help="""Hosts job sources may not come from: host name patterns or IP networks.
        Default: loopback, private, link-local (cloud metadata services), shared and
        reserved ranges, and localhost / *.internal / *.local names. A name is refused
        when any address it resolves to is denied.""",
    )
    allowed_hosts_only = Bool(
        False, config=True, help="Refuse every source host that allowed_hosts does not name.")
    s3_endpoint_url = Unicode(
        config=True,
        help="S3 endpoint for S3 sources (default: AWS's, or $AWS_ENDPOINT_URL_S3 / "
        "$AWS_ENDPOINT_URL as boto3 reads them).",
    )

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.policy = HostPolicy.from_config(self.allowed_hosts, self.denied_hosts,
                                             self.allowed_hosts_only)
        self._slots: asyncio.Semaphore | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.running = 0  # fetches holding a slot now (for messages and tests)

    # -- slots and threads of our own ------------------------------------------------

    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.max_concurrent_fetches + 2,
                                            thread_name_prefix="fetch")
        return self._pool

    async def _in_pool(self, fn: Any, /, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool(), fn, *args)

    @contextlib.asynccontextmanager
    async def slot(self, waiting: Any = None) -> Any:
        """One of ``max_concurrent_fetches``; ``waiting(message)`` is told when it waits."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_concurrent_fetches)
        if self._slots.locked() and waiting is not None:
            waiting(f"waiting for a free fetch slot ({self.running} fetches running)")
        async with self._slots:
            self.running += 1
            try:
                yield
            finally:
                self.running -= 1

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    # -- hosts --------------------------------------------------------------------------

    async def check_host(self, host: str, port: int) -> list[IPAddress]:
        """The host's addresses, once the admin's rules allow it; else SourceFetchFailed.
        Names the rules decide alone are never looked up."""
        verdict = self.policy.by_name(host)
        if not verdict.allowed:
            raise SourceFetchFailed(verdict.reason)
        literal = parse_address(host)
        if literal is not None:
            return [literal]
        try:
            async with asyncio.timeout(self.connect_timeout):
                infos = await self._in_pool(socket.getaddrinfo, host, port, 0,
                                            socket.SOCK_STREAM)
        except (OSError, TimeoutError):
            raise SourceFetchFailed(f"cannot reach {host}: the name does not resolve") \
                from None
        addrs = list(dict.fromkeys(a for a in (parse_address(i[4][0]) for i in infos) if a))
        if verdict.needs_addresses:
            final = self.policy.by_addresses(host, addrs)
            if not final.allowed:
                raise SourceFetchFailed(final.reason)
        return addrs

    async def reach(self, host: str, port: int, addrs: list[IPAddress]) -> IPAddress:
        """The first address that accepts a connection within ``connect_timeout``. A
        refusal, a silent drop and an unreachable network read the same."""
        for addr in addrs:
            try:
                async with asyncio.timeout(self.connect_timeout):
                    _, writer = await asyncio.open_connection(str(addr), port)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return addr
            except (OSError, TimeoutError):
                continue
        raise SourceFetchFailed(f"cannot reach {host}:{port}: no connection (refused, "
                                f"filtered or no answer within {self.connect_timeout:g}s)")

    def check_url(self, url: str) -> None:
        """For job creation: the rules allow the URL's host by its name (or address, when
        it is one). No lookup and no connection: the name may resolve only later, or only
        where the job runs; each fetch checks its addresses again."""
        verdict = self.policy.by_name(urlsplit(url).hostname or "")
        if not verdict.allowed:
            raise SourceFetchFailed(verdict.reason)

    # -- git ------------------------------------------------------------------------------

    async def fetch_git(self, url: str, ref: str | None, dest: Path, username: str | None,
                        password: str | None, run_as: RunAs | None = None,
                        waiting: Any = None) -> Fetched:
        """Shallow-fetch ``ref`` of ``url`` into ``dest`` (made by the caller, owned by
        ``run_as``). Cancelling kills git and everything it started."""
        async with self.slot(waiting):
            parts = urlsplit(url)
            host, port = parts.hostname or "", parts.port or 443
            addrs = await self.check_host(host, port)
            env = git_env(os.environ, username, password, None, run_as=run_as)
            proxied = bool(urllib.request.getproxies_environment().get("https")) and \
                not urllib.request.proxy_bypass_environment(host)
            pin = None
            if not proxied:  # through a proxy, the proxy connects (and resolves)
                addr = await self.reach(host, port, addrs)
                shown = f"[{addr}]" if addr.version == 6 else str(addr)
                pin = f"{host}:{port}:{shown}"
            ca = await self._in_pool(self._ca_for, run_as)
            if ca:
                env["GIT_SSL_CAINFO"] = ca
            config = git_config_args(ca_file=ca, with_credentials=username is not None,
                                     pin=pin, low_speed_limit=self.low_speed_limit,
                                     low_speed_time=self.low_speed_time)
            await self._in_pool(_empty, dest, run_as)
            deadline = asyncio.get_running_loop().time() + self.git_timeout
            for argv in git_commands(url, dest, ref, config):
                code, out = await self._git(argv, env, run_as, deadline)
                if code != 0 and ref and is_sha(ref) and "fetch" in argv:
                    # Some servers refuse shallow fetches of a commit: fetch history instead.
                    code, out = await self._git(["git", *config, "-C", str(dest), "fetch",
                                                 "--quiet", "origin"], env, run_as, deadline)
                    if code == 0:
                        code, out = await self._git(["git", *config, "-C", str(dest),
                                                     "checkout", "--quiet", "--detach", ref],
                                                    env, run_as, deadline)
                        if code == 0:
                            break
                if code != 0:
                    raise SourceFetchFailed(explain_git_error(out, url, ref, (password or "",)))
            code, out = await self._git(["git", "-C", str(dest), "rev-parse", "HEAD"], env,
                                        run_as, deadline)
            revision = out.strip() if code == 0 else None
            files = await self._in_pool(_count_files, dest)
            return Fetched(dest, revision, files)

    def _ca_for(self, run_as: RunAs | None) -> str | None:
        """The admin's CA bundle where the fetching user can read it (a copy in its home:
        a certificate is public, the folder it came from may not be)."""
        if not self.git_ca_file:
            return None
        if run_as is None:
            return self.git_ca_file
        target = run_as.home / ".config" / "bodo-jupyter" / "git-ca.pem"
        for folder in (run_as.home / ".config", target.parent):
            folder.mkdir(mode=0o700, exist_ok=True)
            run_as.own(folder)
        # In one rename, readable by its owner from the start: two fetches of one
        # organisation at once must never see the other's half-written (or root's) copy.
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
        shutil.copyfile(self.git_ca_file, tmp)
        os.chmod(tmp, 0o600)
        run_as.own(tmp)
        os.replace(tmp, target)
        return str(target)

    async def _git(self, argv: list[str], env: dict[str, str], run_as: RunAs | None,
                   deadline: float) -> tuple[int, str]:
        """One git command in a session of its own; (exit code, its output)."""
        argv = [self.git, *argv[1:]]
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise SourceFetchFailed(f"git took longer than {self.git_timeout:g}s")
        # A cancel that lands while the process is being set up must still kill its whole
        # group: asyncio would kill git alone, and git may have started its remote helper.
        spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(
            *argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, cwd=str(
                run_as.home if run_as is not None else Path.cwd()),
            **(run_as.popen_kwargs() if run_as is not None else {})))
        try:
            proc = await asyncio.shield(spawn)
        except FileNotFoundError:
            raise SourceFetchFailed("git is not installed on this machine") from None
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await _kill_group(await spawn)
            raise
        try:
            async with asyncio.timeout(left):
                out, _ = await proc.communicate()
        except TimeoutError:
            await _kill_group(proc)
            raise SourceFetchFailed(f"git took longer than {self.git_timeout:g}s") from None
        except BaseException:
            await _kill_group(proc)  # cancelled: git and its helpers go too
            raise
        return proc.returncode or 0, out.decode("utf-8", "replace")

    # -- S3 ---------------------------------------------------------------------------------

    def s3_client(self, creds: AwsCredentials, region: str | None) -> Any:
        """A client with the organisation's keys: never the platform's own identity."""
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(aws_access_key_id=creds.access_key_id,
                                        aws_secret_access_key=creds.secret_access_key,
                                        region_name=region or creds.region)
        return session.client("s3", endpoint_url=self.s3_endpoint_url or None,
                              config=Config(connect_timeout=self.connect_timeout,
                                            read_timeout=60,
                                            retries={"mode": "standard", "max_attempts": 3}))

    async def _check_endpoint(self, client: Any) -> None:
        parts = urlsplit(client.meta.endpoint_url)
        await self.check_host(parts.hostname or "", parts.port or
                              (443 if parts.scheme == "https" else 80))

    async def bucket_region(self, bucket: str, creds: AwsCredentials) -> str:
        client = self.s3_client(creds, None)
        await self._check_endpoint(client)
        return await self._in_pool(_bucket_region, client, bucket)

    async def fetch_s3(self, bucket: str, prefix: str, dest: Path, region: str | None,
                       creds: AwsCredentials, run_as: RunAs | None = None,
                       waiting: Any = None) -> Fetched:
        async with self.slot(waiting):
            client = self.s3_client(creds, region)
            await self._check_endpoint(client)
            stop = threading.Event()
            try:
                got = await asyncio.shield(asyncio.ensure_future(self._in_pool(
                    self._download, client, bucket, prefix, dest, stop)))
            except asyncio.CancelledError:
                stop.set()  # the thread stops before its next object
                raise
            if run_as is not None:
                await self._in_pool(lambda: run_as.own(dest, recursive=True))
            return got

    def _download(self, s3: Any, bucket: str, prefix: str, dest: Path,
                  stop: threading.Event) -> Fetched:
        from botocore.exceptions import BotoCoreError, ClientError

        _empty(dest)
        files, total = 0, 0
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                    Prefix=prefix):
                for obj in page.get("Contents", []):
                    if stop.is_set():
                        raise SourceFetchFailed("the fetch was cancelled")
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
            if code in ("AccessDenied", "403"):
                raise SourceFetchFailed(f"your organisation's AWS credentials may not read "
                                        f"s3://{bucket}/{prefix} (access denied)") from None
            raise SourceFetchFailed(f"cannot read s3://{bucket}/{prefix}: {code}") from None
        except BotoCoreError as e:
            raise SourceFetchFailed(f"cannot reach S3: {e}") from None
        if files == 0:
            raise SourceFetchFailed(f"no files under s3://{bucket}/{prefix}")
        return Fetched(dest, None, files)


def _bucket_region(s3: Any, bucket: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        loc = s3.get_bucket_location(Bucket=bucket)
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchBucket", "404"):
            raise SourceFetchFailed(f"S3 bucket {bucket!r} does not exist") from None
        if code in ("AccessDenied", "403"):
            raise SourceFetchFailed(f"your organisation's AWS credentials have no access to "
                                    f"S3 bucket {bucket!r}") from None
        raise SourceFetchFailed(f"cannot read S3 bucket {bucket!r}: {code}") from None
    except BotoCoreError as e:
        raise SourceFetchFailed(f"cannot reach S3: {e}") from None
    return loc.get("LocationConstraint") or "us-east-1"


def _empty(dest: Path, run_as: RunAs | None = None) -> None:
    """``dest`` exists, is empty, and belongs to ``run_as`` (the fetching user)."""
    own_dir(dest, run_as)
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _count_files(dest: Path) -> int:
    return sum(1 for p in dest.rglob("*") if p.is_file() and ".git" not in p.parts)


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """Kill a process and everything in its session (git's remote helpers)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()


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

