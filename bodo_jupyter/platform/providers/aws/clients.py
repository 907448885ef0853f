"""boto3 sessions for one organisation's credentials, with retries and an audit.

Clients are cached per (access key, region) and shared between threads (boto3
clients are thread-safe). Every call can be written to an audit log (service,
operation, the IAM actions it needs -- never parameters), which also lets a
test check the shipped IAM policy against what the code really calls.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass
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
            def hook(model: Any, params: Any, **_: Any) -> None:
                audit.record(model.service_model.service_name, model.name,
                             params if isinstance(params, dict) else {}, org)
            self._session.events.register("before-parameter-build.*.*", hook)

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
            return await asyncio.to_thread(fn, **params)
        except Exception as e:
            raise explain(e, f"{service}:{_op_name(client, operation)}",
                          instance_type=instance_type, on_create=on_create) from e

    async def raw(self, service: str, operation: str, **params: Any) -> Any:
        """A call whose ClientError the caller wants to inspect itself."""
        return await asyncio.to_thread(getattr(self.client(service), operation), **params)


def _op_name(client: Any, method: str) -> str:
    return client.meta.method_to_api_mapping.get(method, method)
