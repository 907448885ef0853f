"""Schemathesis against a live control plane: every operation of the contract,
valid and invalid inputs, with a valid token. No answer may be a server error,
and every answer must be what the contract says (status, content type, schema).

Bounded and repeatable: ``MAX_EXAMPLES`` inputs per operation and mode, drawn
derandomized (the same inputs every run). Operations that would start real
clusters are fuzzed for their validation only: the plane offers one local
instance type, ``fuzz.tiny``, that the generator never finds (nor the
contract's examples, which name ``local.medium``), and one notebook type,
``fuzz.nb`` (the examples name ``local.notebook``), so no cluster, notebook,
job run or AWS call outside the moto emulator ever starts.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, response_schema_conformance
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import status_code_conformance

from bodo_jupyter.contract import SPEC_PATH

from .helpers import Serve
from .moto_server import moto_server

MAX_EXAMPLES = int(os.environ.get("BODO_JUPYTER_FUZZ_EXAMPLES", "25"))
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    data = tmp_path_factory.mktemp("fuzz-plane")
    (data / "bodo_jupyter_config.py").write_text(
        "c.LocalProvider.instance_types_config = "
        "{'fuzz.tiny': {'cores': 1, 'memory_gib': 1}}\n"
        "c.LocalProvider.ready_timeout = 1.0\n"
        # Notebooks likewise: the contract's example names local.notebook.
        "c.LocalNotebooks.instance_types_config = {'fuzz.nb': {'cores': 1}}\n")
    with moto_server() as aws:
        s = Serve(data, env=aws).start()
        try:
            yield s
        finally:
            s.shut_down()


def fuzz(plane: Serve) -> dict[str, Any]:
    """Every operation, positive and negative inputs; returns the figures."""
    schema = schemathesis.openapi.from_path(SPEC_PATH)
    headers = {"Authorization": f"token {plane.token}"}
    figures: dict[str, Any] = {"requests": 0, "server_errors": [], "nonconforming": [],
                               "no_negative": [], "seconds": {},
                               "by_status": {}}

    session = requests.Session()  # one connection, kept alive
    real_job = "fuzz-target"
    status, out = plane.http("POST", "/jobs", {
        "name": real_job, "cluster": {"instance_type": "fuzz.tiny"}, "command": "x.py",
        "path": "https://git.example.invalid/acme/x",
        "schedule": {"type": "cron", "cron": "0 3 1 1 *"}})
    assert status == 201, out

    def runner(op: Any, mode: GenerationMode, path: dict[str, str] | None = None) -> Any:
        @hypothesis.given(case=op.as_strategy(generation_mode=mode, path_parameters=path))
        @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None,
                  database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            response = case.call(base_url=plane.url, session=session, headers=headers,
                                 timeout=30)
            figures["requests"] += 1
            code = response.status_code
            figures["by_status"][code] = figures["by_status"].get(code, 0) + 1
            what = (f"{op.label} ({mode.value}): {response.request.method} "
                    f"{response.request.url} body={_short(case.body)} -> {code} "
                    f"{response.text[:300]}")
            if code >= 500:
                figures["server_errors"].append(what)
                return
            if op.label == "GET /openapi.yaml":
                checks = [status_code_conformance, content_type_conformance]  # YAML text
            else:
                checks = CHECKS
            try:
                case.validate_response(response, checks=checks, headers=headers)
            except FailureGroup as e:  # a check failed: the answer breaks the contract
                figures["nonconforming"].append(f"{what}\n    {str(e)[:500]}")

        return run

    for result in schema.get_all_operations():
        op = result.ok()
        # Invalid inputs only where there is a query or body to make invalid: the
        # generator cannot make a bare string path parameter invalid, and looks for
        # one hundreds of times before it says so.
        modes = [GenerationMode.POSITIVE]
        if list(op.query) or list(op.body):
            modes.append(GenerationMode.NEGATIVE)
        else:
            figures["no_negative"].append(op.label)
        for mode in modes:
            t0 = time.monotonic()
            try:
                runner(op, mode)()
            except hypothesis.errors.Unsatisfiable:
                # No input of the operation can be made invalid (GET / has none).
                figures["no_negative"].append(op.label)
            took = figures["seconds"]
            took[op.label] = took.get(op.label, 0.0) + time.monotonic() - t0
        # Again for a job that exists, so that queries and bodies reach the service
        # (PATCH, runs, logs), not just the 404 of an unknown name. Not DELETE (the
        # job would be gone) nor run-now (a run would start a cluster).
        if (op.path.startswith("/jobs/{ref}") and op.method.upper() in ("GET", "PATCH")) \
                or op.label == "POST /jobs/{ref}/cancel":
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if mode == GenerationMode.NEGATIVE and not (list(op.query) or list(op.body)):
                    continue
                runner(op, mode, {"ref": real_job})()
    session.close()
    return figures


def _short(body: Any) -> str:
    try:
        text = json.dumps(body, default=repr)
    except (TypeError, ValueError):
        text = repr(body)
    return text if len(text) < 300 else text[:297] + "..."


def test_no_server_errors_and_every_answer_conforms(plane):
    figures = fuzz(plane)
    print(f"\nfuzz: {figures['requests']} requests, {len(figures['server_errors'])} server "
          f"errors, {len(figures['nonconforming'])} nonconforming; by status "
          f"{dict(sorted(figures['by_status'].items()))}; no invalid inputs for "
          f"{figures['no_negative']}; slowest: "
          f"{sorted(figures['seconds'].items(), key=lambda kv: -kv[1])[:5]}")
    assert figures["requests"] >= 24 * min(MAX_EXAMPLES, 5)
    assert not figures["server_errors"], "\n".join(figures["server_errors"][:20])
    assert not figures["nonconforming"], "\n".join(figures["nonconforming"][:20])
    # Nothing the fuzzer sent started a cluster or a run.
    _, clusters = plane.http("GET", "/clusters?all=true")
    assert clusters["items"] == [], clusters
    _, notebooks = plane.http("GET", "/notebooks?all=true")
    assert notebooks["items"] == [], notebooks
    _, tasks = plane.http("GET", "/tasks")
    assert [t for t in tasks["items"] if t["kind"] != "aws.grant-image"] == [], tasks
