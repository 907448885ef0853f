"""boto3 sessions for one organisation's credentials, with retries and an audit.

Clients are cached per (access key, region) and shared between threads (boto3
clients are thread-safe). Every call can be written to an audit log (service,
operation, the IAM actions it needs -- never parameters), which also lets a
test check the shipped IAM policy against what the code really calls.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from .errors import explain
from .policy import actions_for


@dataclass(frozen=True)
class AwsCredentials:
    access_key_id: str
    secret_access_key: str
    region: str
    account_id: str = ""

    def __repr__(self) -> str:  # never print the secret
        return f"AwsCredentials({self.access_key_id[:4]}…, {self.region})"


class Audit:
    """Appends one JSON line per AWS call; thread-safe."""

    def __init__(self, path: str):
        self.path = path
        self.lock = threading.Lock()

    def record(self, service: str, operation: str, params: dict[str, Any], org: str) -> None:
        line = json.dumps({"time": round(time.time(), 3), "org": org, "service": service,
                           "operation": operation,
                           "actions": actions_for(service, operation, params)})
        with self.lock, open(self.path, "a") as f:
            f.write(line + "\n")

    def attach(self, session: Any, org: str) -> None:
        """Record every call made through a boto3 session."""
        def hook(model: Any, params: Any, **_: Any) -> None:
            self.record(model.service_model.service_name, model.name,
                        params if isinstance(params, dict) else {}, org)
        session.events.register("before-parameter-build.*.*", hook)


# AWS calls mostly wait on the network: many at once, apart from the default
# executor (which has min(32, CPUs + 4) threads: 6 on a 2-core machine, too few
# to run a cluster's independent resources in parallel).
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=48, thread_name_prefix="aws")
        return _executor


async def in_thread(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor(), lambda: fn(*args, **kwargs))


@dataclass
class CallLog:
    """AWS calls of one piece of work, each with the graph node it was made for."""

    calls: list[tuple[str, float, float]] = field(default_factory=list)

    def rounds(self, node: str) -> int:
        """Calls of a node that had to wait for each other (overlapping ones count once)."""
        spans = sorted((a, b) for n, a, b in self.calls if n == node)
        longest: list[int] = []
        for i, (start, _end) in enumerate(spans):
            longest.append(1 + max((longest[j] for j in range(i) if spans[j][1] <= start),
                                   default=0))
        return max(longest, default=0)


CALL_LOG: contextvars.ContextVar[CallLog | None] = contextvars.ContextVar("aws_calls",
                                                                         default=None)
NODE: contextvars.ContextVar[str] = contextvars.ContextVar("aws_node", default="")


class AwsSession:
    def __init__(self, creds: AwsCredentials, *, max_attempts: int = 10,
                 audit: Audit | None = None, org: str = ""):
        self.creds = creds
        self._session = boto3.session.Session(
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            region_name=creds.region,
        )
        self._config = Config(retries={"mode": "standard", "max_attempts": max_attempts},
                              connect_timeout=10, read_timeout=60,
                              max_pool_connections=32)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.calls = 0
        if audit is not None:
            audit.attach(self._session, org)

        def count(**_: Any) -> None:
            self.calls += 1
        self._session.events.register("before-send.*.*", count)

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(service, config=self._config)
            return self._clients[service]

    async def call(self, service: str, operation: str, *, on_create: bool = True,
                   instance_type: str = "", **params: Any) -> Any:
        """One API call off the event loop; errors become messages for people."""
        client = self.client(service)
        fn = getattr(client, operation)
        try:
            return await self._timed(fn, params)
        except Exception as e:
            raise explain(e, f"{service}:{_op_name(client, operation)}",
                          instance_type=instance_type, on_create=on_create) from e

    async def raw(self, service: str, operation: str, **params: Any) -> Any:
        """A call whose ClientError the caller wants to inspect itself."""
        return await self._timed(getattr(self.client(service), operation), params)

    @staticmethod
    async def _timed(fn: Any, params: dict[str, Any]) -> Any:
        log = CALL_LOG.get()
        start = time.monotonic()
        try:
            return await in_thread(fn, **params)
        finally:
            if log is not None:
                log.calls.append((NODE.get(), start, time.monotonic()))


def _op_name(client: Any, method: str) -> str:
    return client.meta.method_to_api_mapping.get(method, method)
