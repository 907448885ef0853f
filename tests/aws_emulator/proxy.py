"""An HTTP proxy in front of the emulator that makes AWS misbehave on purpose.

boto3 is pointed at the proxy (``AWS_ENDPOINT_URL``); requests are forwarded
unchanged (the SigV4 signature covers the Host header, which stays as sent).
Before forwarding, the proxy can

* wait ``latency`` seconds (every call a round trip of that length),
* fail a fraction ``fail_rate`` of calls with throttling or a 5xx, in the
  error format of the call's protocol (EC2/IAM/STS XML, DynamoDB/KMS/SSM JSON,
  S3/EFS REST), which boto3's retry logic handles,
* fail calls of one API action with a given error code (``rules``), e.g.
  InsufficientInstanceCapacity on RunInstances.

It counts calls by action, and how many were in flight at once.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
       "trailers", "transfer-encoding", "upgrade", "content-length"}
SERVICE_RE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")


@dataclass
class Rule:
    action: str
    code: str
    message: str
    status: int = 400
    times: int = 1 << 30


@dataclass
class Stats:
    calls: int = 0
    failed: int = 0
    by_action: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    timeline: list[tuple[float, float, str]] = field(default_factory=list)


class FaultProxy:
    def __init__(self, upstream: str, *, latency: float = 0.0, fail_rate: float = 0.0,
                 seed: int = 7):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.latency = latency
        self.fail_rate = fail_rate
        self.rules: list[Rule] = []
        self.random = random.Random(seed)
        self.stats = Stats()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without this, Nagle's
            # algorithm and the client's delayed ACK add ~40 ms to every call.
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.serve(self, body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_one

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        with self.lock:
            self.stats = Stats()
            self.rules.clear()
            self.latency = 0.0
            self.fail_rate = 0.0

    # -- classification ----------------------------------------------------------------

    @staticmethod
    def service_of(headers: Any) -> str:
        m = SERVICE_RE.search(headers.get("Authorization", ""))
        return m.group(1) if m else ""

    @staticmethod
    def action_of(method: str, path: str, headers: Any, body: bytes) -> str:
        target = headers.get("X-Amz-Target")
        if target:
            return target.split(".")[-1]
        if body and b"Action=" in body:
            params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            if "Action" in params:
                return params["Action"][0]
        query = urllib.parse.urlsplit(path).query
        params = urllib.parse.parse_qs(query)
        if "Action" in params:
            return params["Action"][0]
        return f"{method} {urllib.parse.urlsplit(path).path.split('/')[1:2]}"

    def error_response(self, service: str, code: str, message: str, status: int
                       ) -> tuple[int, dict[str, str], bytes]:
        if service in ("dynamodb", "kms", "tagging", "ssm"):
            body = json.dumps({"__type": f"com.amazonaws.emulator#{code}",
                               "message": message}).encode()
            return status, {"Content-Type": "application/x-amz-json-1.0"}, body
        if service == "ec2":
            body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error>"
                    f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                    f"<RequestID>emulated</RequestID></Response>").encode()
            return status, {"Content-Type": "text/xml"}, body
        if service in ("iam", "sts"):
            body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                    f"<Message>{message}</Message></Error><RequestId>emulated</RequestId>"
                    f"</ErrorResponse>").encode()
            return status, {"Content-Type": "text/xml"}, body
        if service == "s3":
            body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>"
                    f"<Message>{message}</Message></Error>").encode()
            return status, {"Content-Type": "application/xml"}, body
        body = json.dumps({"ErrorCode": code, "Message": message}).encode()
        return status, {"Content-Type": "application/json", "x-amzn-ErrorType": code}, body

    def injected(self, service: str, action: str) -> tuple[int, dict[str, str], bytes] | None:
        with self.lock:
            for rule in self.rules:
                if rule.action == action and rule.times > 0:
                    rule.times -= 1
                    return self.error_response(service, rule.code, rule.message, rule.status)
            if self.fail_rate and self.random.random() < self.fail_rate:
                if self.random.random() < 0.5:
                    code = {"ec2": "RequestLimitExceeded", "s3": "SlowDown",
                            "iam": "Throttling", "sts": "Throttling"}.get(
                        service, "ThrottlingException")
                    status = 503 if service in ("ec2", "s3") else 400
                    return self.error_response(service, code, "Rate exceeded (injected)",
                                               status)
                return self.error_response(service, "InternalError",
                                           "We encountered an internal error (injected)", 500)
        return None

    # -- forwarding --------------------------------------------------------------------

    def serve(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        service = self.service_of(handler.headers)
        action = self.action_of(handler.command, handler.path, handler.headers, body)
        started = time.monotonic()
        with self.lock:
            self.stats.calls += 1
            self.stats.by_action[action] = self.stats.by_action.get(action, 0) + 1
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            fault = self.injected(service, action)
            if fault is not None:
                with self.lock:
                    self.stats.failed += 1
                status, headers, payload = fault
            else:
                status, headers, payload = self.forward(handler, body)
            handler.send_response(status)
            for k, v in headers.items():
                handler.send_header(k, v)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(payload)
        finally:
            with self.lock:
                self.stats.in_flight -= 1
                self.stats.timeline.append((started, time.monotonic(), action))

    def forward(self, handler: BaseHTTPRequestHandler, body: bytes
                ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port,
                                          timeout=120)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP}
            headers["Content-Length"] = str(len(body))
            conn.request(handler.command, handler.path, body=body, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            out = {k: v for k, v in resp.getheaders() if k.lower() not in HOP}
            return resp.status, out, payload
        finally:
            conn.close()
