"""The contract package: generated code in step with openapi.yaml, and what models do.

Fast and without servers: ``test_openapi.py`` checks the same models against live
answers of a real control plane.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import enum
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from bodo_jupyter.contract import SPEC_PATH, codegen, models
from bodo_jupyter.contract.models import (
    AwsCredentialsRequest,
    Cluster,
    ClusterAction,
    ClusterStatus,
    CreateClusterRequest,
    CreateJobRequest,
    ErrorCode,
    ErrorError,
    Job,
    JobRunPhase,
    JobScheduleRequest,
    NewCluster,
    ScheduleType,
    StepName,
    TaskDetail,
    TaskKind,
    TaskStatus,
    UpdateJobRequest,
)
from bodo_jupyter.contract.runtime import UNSET, ContractError, FieldInfo, Model

ROOT = Path(__file__).resolve().parent.parent
SPEC: dict[str, Any] = codegen.load(ROOT)
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
MODELS = ROOT / codegen.MODELS
TYPESCRIPT = ROOT / codegen.TYPESCRIPT
PACKAGE = SPEC_PATH.parent
REGISTRY = Registry().with_resource(
    "urn:contract", Resource.from_contents(SPEC, default_specification=DRAFT202012))


def jsonschema_errors(schema: str, data: Any) -> list[str]:
    """What a standard JSON Schema validator says of ``data`` (the reference for parse)."""
    v = Draft202012Validator({"$ref": f"urn:contract#/components/schemas/{schema}"},
                             registry=REGISTRY)
    return [e.message for e in v.iter_errors(data)]


# -- generated files in step with the document ---------------------------------------------


def test_generated_files_are_current():
    """models.py and api.ts are what openapi.yaml makes (``codegen --check`` in a test)."""
    stale = codegen.drift(ROOT)
    assert not stale, ("stale generated files: run `python -m bodo_jupyter.contract.codegen`\n"
                       + "\n".join(stale.values()))
    assert codegen.main(["--check", str(ROOT)]) == 0


def add_required_field(spec: dict[str, Any]) -> str:
    cluster = spec["components"]["schemas"]["Cluster"]
    cluster["properties"]["region"] = {"type": "string", "description": "Where it runs."}
    cluster["required"].append("region")
    return "region"


def add_status(spec: dict[str, Any]) -> str:
    spec["components"]["schemas"]["ClusterStatus"]["enum"].append("HIBERNATING")
    return "HIBERNATING"


def drop_property(spec: dict[str, Any]) -> str:
    task = spec["components"]["schemas"]["Task"]
    del task["properties"]["attempts"]
    task["required"].remove("attempts")
    return "attempts"


@pytest.mark.parametrize("change", [add_required_field, add_status, drop_property])
def test_check_fails_when_document_and_code_disagree(change):
    """Any change to the document shows up in both generated files, and the check reports
    both, with a diff that names what changed."""
    spec = copy.deepcopy(SPEC)
    word = change(spec)
    assert codegen.python_module(spec) != MODELS.read_text()
    assert codegen.typescript_module(spec) != TYPESCRIPT.read_text()
    stale = codegen.drift(ROOT, spec)
    assert set(stale) == {MODELS, TYPESCRIPT}
    for diff in stale.values():
        assert word in diff, diff


def test_check_command_on_a_stale_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """``--check`` exits 1 and shows a diff when a file is stale, writes nothing; without
    ``--check`` the generator rewrites the files, after which the check passes."""
    spec = copy.deepcopy(SPEC)
    add_status(spec)
    for rel in (codegen.SPEC, codegen.MODELS, codegen.TYPESCRIPT):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes((ROOT / rel).read_bytes())
    (tmp_path / codegen.SPEC).write_text(yaml.safe_dump(spec, sort_keys=False))

    assert codegen.main(["--check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "bodo_jupyter/contract/models.py is stale" in err
    assert '+    HIBERNATING = "HIBERNATING"' in err and '+  "HIBERNATING",' in err
    assert (tmp_path / codegen.MODELS).read_bytes() == MODELS.read_bytes()

    assert codegen.main([str(tmp_path)]) == 0
    assert "wrote bodo_jupyter/contract/models.py" in capsys.readouterr().out
    assert codegen.main(["--check", str(tmp_path)]) == 0


@pytest.mark.parametrize(("schema", "words"), [
    ({"type": "string", "enum": ["a", "b"]}, "inline enum"),
    ({"type": "integer", "multipleOf": 2}, "multipleOf"),
    ({"type": ["string", "integer"]}, "several types"),
    ({"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 2}]}, "differ in JSON type"),
])
def test_codegen_refuses_what_the_runtime_cannot_check(schema: dict[str, Any], words: str):
    """An inline enum has no name to generate, and a keyword the runtime would not check
    must not be dropped silently."""
    spec = copy.deepcopy(SPEC)
    spec["components"]["schemas"]["Cluster"]["properties"]["colour"] = schema
    with pytest.raises(codegen.CodegenError, match=words):
        codegen.python_module(spec)


# -- what is generated -----------------------------------------------------------------------


def test_every_enum_schema_is_a_str_enum():
    """Each named enum is a StrEnum with the document's values, in order, as UPPER_SNAKE."""
    enums = {n: s["enum"] for n, s in SCHEMAS.items() if "enum" in s}
    assert {"StepState", "EventState", "JobRunPhase", "ScheduleType", "SourceType",
            "ErrorCode", "StepName", "ClusterStatus", "TaskKind"} <= set(enums)
    for name, values in enums.items():
        cls = getattr(models, name)
        assert issubclass(cls, enum.StrEnum), name
        assert [m.value for m in cls] == values, name
    assert TaskKind.CLUSTER_CREATE == "cluster.create"
    assert TaskKind.AWS_GRANT_IMAGE == "aws.grant-image"
    assert JobRunPhase.QUEUED_SLOT == "queued-slot"
    assert StepName.STOP_ENGINES == "stop-engines" and StepName.END == "end"
    assert ErrorCode.AWS_NO_CREDENTIALS == "aws_no_credentials"


def test_task_status_done():
    """The hand-written ``done`` (runtime.TaskStatusExtras) survives regeneration."""
    assert {s for s in TaskStatus if s.done} == {TaskStatus.FINISHED, TaskStatus.FAILED,
                                                 TaskStatus.CANCELLED}
    assert "def done" not in MODELS.read_text()


def inline_objects(name: str, schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Parent+Property names of the inline object schemas inside a named schema."""
    out = {}
    for prop, sub in schema.get("properties", {}).items():
        if "properties" in sub:
            inner = name + "".join(w.capitalize() for w in prop.split("_"))
            out[inner] = sub
            out.update(inline_objects(inner, sub))
    return out


def test_every_object_schema_is_a_model():
    """Named and inline object schemas are dataclasses with the document's properties, in
    its order, with its required flags; allOf compositions are subclasses."""
    objects = {n: s for n, s in SCHEMAS.items() if "properties" in s}
    for name, schema in list(objects.items()):
        objects.update(inline_objects(name, schema))
    assert {"ClusterLastTask", "ClusterDedicatedTo", "JobSchedule", "JobNewCluster",
            "InfoUser", "InfoOrganization", "ErrorError"} <= set(objects)
    for name, schema in objects.items():
        cls = getattr(models, name)
        assert dataclasses.is_dataclass(cls) and issubclass(cls, Model), name
        infos = cls.fields_info()
        assert [f.name for f in infos] == list(schema["properties"]), name
        assert {f.name for f in infos if f.required} == set(schema.get("required", [])), name
        assert cls._closed is (schema.get("additionalProperties") is False), name
        assert " ".join(cls.__doc__.split()) == " ".join(schema["description"].split()), name
    for sub, base in (("TaskDetail", "Task"), ("JobCreated", "Job"),
                      ("JobRunDetail", "JobRun")):
        cls = getattr(models, sub)
        assert cls.__bases__ == (getattr(models, base),)
        required = set(SCHEMAS[base]["required"]) | set(SCHEMAS[sub]["allOf"][1]["required"])
        assert {f.name for f in cls.fields_info() if f.required} == required


def test_field_info_carries_the_constraints():
    """Forms and the CLI read limits from the contract instead of repeating them."""
    retries = CreateJobRequest.field_info("retries")
    assert isinstance(retries, FieldInfo)
    assert (retries.type, retries.minimum, retries.maximum, retries.default) == \
        ("integer", 0, 10, 0)
    assert not retries.required and retries.description.startswith("Times a failed run")
    name = CreateClusterRequest.field_info("name")
    assert name.required and (name.min_length, name.max_length) == (1, 63)
    assert name.pattern == "^[a-z]([-a-z0-9]*[a-z0-9])?$"
    assert name.pattern_message.startswith("1-63 characters")
    assert name.extensions == {"x-pattern-message": name.pattern_message}
    assert CreateClusterRequest.field_info("instances").default == 1
    assert CreateClusterRequest.field_info("provider").default is UNSET
    kind = JobScheduleRequest.field_info("type")
    assert kind.ref is ScheduleType and kind.enum == ("now", "at", "cron")
    assert kind.default == "now"
    timezone = JobScheduleRequest.field_info("timezone")
    assert timezone.nullable and timezone.default is UNSET and timezone.max_length == 64
    env = CreateJobRequest.field_info("env")
    assert env.values.max_length == 32768 and env.keys.pattern == "^[A-Za-z_][A-Za-z0-9_]*$"
    cluster = CreateJobRequest.field_info("cluster")
    assert [a.type for a in cluster.one_of] == ["string", "object"]
    assert cluster.one_of[1].ref is NewCluster
    assert CreateJobRequest.field_info("git_password").write_only
    assert Cluster.field_info("created_at").format == "date-time"
    # A property named like a Python name the class body needs gets a trailing "_".
    assert ErrorError.field_info("field").attr == "field_"
    assert ErrorError.field_info("field_").name == "field"
    with pytest.raises(KeyError):
        CreateJobRequest.field_info("nope")


# -- strict: parse ---------------------------------------------------------------------------

JOB = {"name": "nightly", "cluster": "demo", "command": "etl.py --date today",
       "path": "https://github.com/acme/pipelines"}
AWS = {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG",
       "account_id": "123456789012", "region": "us-east-1"}


@pytest.mark.parametrize(("cls", "body", "expected"), [
    (CreateClusterRequest, {"name": "demo", "instance_type": "local.small"},
     {"name": "demo", "instance_type": "local.small", "instances": 1, "efa": False}),
    (CreateClusterRequest, {"name": "a", "instance_type": "local.small", "instances": 4,
                            "efa": True, "provider": "aws", "client_token": "t-1"}, None),
    (CreateJobRequest, JOB, {**JOB, "retries": 0, "retry_delay_s": 0}),
    (CreateJobRequest, {**JOB, "schedule": "now"}, {**JOB, "schedule": "now", "retries": 0,
                                                    "retry_delay_s": 0}),
    (CreateJobRequest, {**JOB, "schedule": None}, {**JOB, "retries": 0, "retry_delay_s": 0}),
    (CreateJobRequest, {**JOB, "schedule": {"type": "cron", "cron": "0 2 * * *"}},
     {**JOB, "schedule": {"type": "cron", "cron": "0 2 * * *",
                          "max_concurrent_runs": 1}, "retries": 0, "retry_delay_s": 0}),
    (CreateJobRequest, {**JOB, "cluster": {"instance_type": "local.small"}, "retries": 3,
                        "env": {"GREETING": "hello", "_X1": ""}, "timeout_s": 60,
                        "ref": None, "git_username": "alice", "git_password": "s3cret"},
     {**JOB, "cluster": {"instance_type": "local.small", "instances": 1, "efa": False},
      "retries": 3, "retry_delay_s": 0, "env": {"GREETING": "hello", "_X1": ""},
      "timeout_s": 60, "git_username": "alice", "git_password": "s3cret"}),
    (UpdateJobRequest, {"active": False}, None),
    (AwsCredentialsRequest, AWS, None),
])
def test_parse_accepts_good_bodies_and_fills_defaults(cls: type[Model], body: dict[str, Any],
                                                      expected: dict[str, Any] | None):
    assert not jsonschema_errors(cls.__name__, body)
    parsed = cls.parse(body)
    assert isinstance(parsed, cls)
    assert parsed.to_dict() == (body if expected is None else expected)


def test_parse_builds_models_and_enum_members():
    job = CreateJobRequest.parse({**JOB, "cluster": {"instance_type": "local.small"},
                                  "schedule": {"type": "at", "at": "2030-01-31T09:00:00Z"}})
    assert isinstance(job.cluster, NewCluster) and job.cluster.instances == 1
    assert isinstance(job.schedule, JobScheduleRequest)
    assert job.schedule.type is ScheduleType.AT and job.schedule.timezone is None
    assert CreateJobRequest.parse(JOB).schedule is None  # the server's default: now
    assert CreateJobRequest.parse({**JOB, "cluster": "demo"}).cluster == "demo"


@pytest.mark.parametrize(("cls", "body", "field", "message"), [
    # the body itself
    (CreateClusterRequest, [1, 2], "", "the request body must be a JSON object"),
    (CreateJobRequest, "job", "", "the request body must be a JSON object"),
    # required and unknown fields
    (CreateClusterRequest, {"instance_type": "local.small"}, "name", "name is required"),
    (CreateClusterRequest, {"nmae": "demo", "instance_type": "local.small"}, "nmae",
     "unknown field 'nmae'; allowed: name, provider, instance_type, instances, efa, "
     "bodo_version, client_token"),
    (UpdateJobRequest, {"active": True, "x": 1, "colour": "red"}, "colour",
     "unknown fields 'colour', 'x'; allowed: active"),
    (CreateJobRequest, {**JOB, "cluster": {"instance_type": "local.small", "gpus": 1}},
     "cluster.gpus", "unknown field 'cluster.gpus'; allowed: provider, instance_type"),
    (CreateJobRequest, {**JOB, "schedule": {"type": "cron", "when": "daily"}},
     "schedule.when", "unknown field 'schedule.when'"),
    # JSON types: a bool is not a number, a string is not a bool
    (CreateClusterRequest, {"name": "ok", "instance_type": "t", "instances": "two"},
     "instances", "instances must be a whole number, got 'two'"),
    (CreateClusterRequest, {"name": "ok", "instance_type": "t", "instances": True},
     "instances", "instances must be a whole number, got true"),
    (CreateClusterRequest, {"name": "ok", "instance_type": "t", "instances": 1.5},
     "instances", "instances must be a whole number, got 1.5"),
    (CreateClusterRequest, {"name": "ok", "instance_type": "t", "bodo_version": "$(reboot)"},
     "bodo_version", "bodo_version '$(reboot)' is invalid: use a version such as 2026.10"),
    (CreateClusterRequest, {"name": "ok", "instance_type": "t", "efa": "yes"},
     "efa", "efa must be true or false, got 'yes'"),
    (CreateClusterRequest, {"name": 7, "instance_type": "t"}, "name",
     "name must be a string, got 7"),
    (CreateClusterRequest, {"name": None, "instance_type": "t"}, "name",
     "name must be a string, got null"),
    (UpdateJobRequest, {"active": "yes"}, "active", "active must be true or false, got 'yes'"),
    (UpdateJobRequest, {"active": None}, "active", "active must be true or false, got null"),
    # numbers
    (CreateClusterRequest, {"name": "ok", "instance_type": "t", "instances": 0},
     "instances", "instances must be at least 1, got 0"),
    (CreateJobRequest, {**JOB, "timeout_s": -5}, "timeout_s",
     "timeout_s must be at least 1, got -5"),
    (CreateJobRequest, {**JOB, "timeout_s": "60"}, "timeout_s",
     "timeout_s must be a whole number or null, got '60'"),
    (CreateJobRequest, {**JOB, "retries": 11}, "retries", "retries must be at most 10, got 11"),
    (CreateJobRequest, {**JOB, "schedule": {"type": "cron", "max_concurrent_runs": 17}},
     "schedule.max_concurrent_runs", "schedule.max_concurrent_runs must be at most 16, got 17"),
    # strings: lengths and patterns
    (CreateClusterRequest, {"name": "Bad_Name", "instance_type": "t"}, "name",
     "name 'Bad_Name' is invalid: use 1-63 characters: lowercase letters, digits and '-', "
     "starting with a letter and not ending with '-'"),
    (CreateJobRequest, {**JOB, "name": "ends-"}, "name", "name 'ends-' is invalid: use 1-63"),
    (CreateClusterRequest, {"name": "x" * 64, "instance_type": "t"}, "name",
     "name is longer than 63 characters"),
    (CreateClusterRequest, {"name": "", "instance_type": "t"}, "name", "name must not be empty"),
    (CreateClusterRequest, {"name": "ok", "instance_type": "t", "client_token": "t" * 65},
     "client_token", "client_token is longer than 64 characters"),
    (CreateJobRequest, {**JOB, "command": ""}, "command", "command must not be empty"),
    (AwsCredentialsRequest, {**AWS, "access_key_id": "AKIA12345"}, "access_key_id",
     "access_key_id 'AKIA12345' is invalid: use AKIA (or ASIA) followed by"),
    (AwsCredentialsRequest, {**AWS, "account_id": "12345"}, "account_id",
     "account_id '12345' is invalid: use the 12 digits"),
    (AwsCredentialsRequest, {**AWS, "account_id": 123456789012}, "account_id",
     "account_id must be a string, got 123456789012"),
    (AwsCredentialsRequest, {**AWS, "region": "mars-1"}, "region",
     "region 'mars-1' is invalid: use an AWS region name such as us-east-1"),
    (AwsCredentialsRequest, {**AWS, "secret_access_key": ""}, "secret_access_key",
     "secret_access_key must not be empty"),
    (AwsCredentialsRequest, {k: v for k, v in AWS.items() if k != "region"}, "region",
     "region is required"),
    # enums and unions
    (CreateJobRequest, {**JOB, "schedule": {"type": "weekly"}}, "schedule.type",
     "schedule.type must be one of now, at, cron, got 'weekly'"),
    (CreateJobRequest, {**JOB, "schedule": {"type": 3}}, "schedule.type",
     "schedule.type must be one of now, at, cron, got 3"),
    (CreateJobRequest, {**JOB, "schedule": "later"}, "schedule",
     "schedule must be 'now', an object or null, got 'later'"),
    (CreateJobRequest, {**JOB, "schedule": ["now"]}, "schedule",
     "schedule must be 'now', an object or null, got [\"now\"]"),
    (CreateJobRequest, {**JOB, "schedule": {"type": "cron", "cron": "x" * 129}},
     "schedule.cron", "schedule.cron is longer than 128 characters"),
    (CreateJobRequest, {**JOB, "cluster": 5}, "cluster",
     "cluster must be a string or an object, got 5"),
    (CreateJobRequest, {**JOB, "cluster": None}, "cluster",
     "cluster must be a string or an object, got null"),
    (CreateJobRequest, {**JOB, "cluster": ""}, "cluster", "cluster must not be empty"),
    (CreateJobRequest, {**JOB, "cluster": {"instances": 2}}, "cluster.instance_type",
     "cluster.instance_type is required"),
    (CreateJobRequest, {**JOB, "cluster": {"instance_type": "x" * 65}},
     "cluster.instance_type", "cluster.instance_type is longer than 64 characters"),
    (CreateJobRequest, {**JOB, "cluster": {"instance_type": "t", "instances": 0}},
     "cluster.instances", "cluster.instances must be at least 1, got 0"),
    # maps: values and keys
    (CreateJobRequest, {**JOB, "env": {"FOO": "x" * 32769}}, "env.FOO",
     "env.FOO is longer than 32768 characters"),
    (CreateJobRequest, {**JOB, "env": {"X": 1}}, "env.X", "env.X must be a string, got 1"),
    (CreateJobRequest, {**JOB, "env": {"9X": "1"}}, "env.9X",
     "env.9X is not a valid name: use letters, digits and '_', not starting with a digit"),
    (CreateJobRequest, {**JOB, "env": ["X=1"]}, "env",
     "env must be an object or null, got [\"X=1\"]"),
])
def test_parse_refuses_bad_input(cls: type[Model], body: Any, field: str, message: str):
    """The first problem, with the dotted path of the bad input and a message that starts
    with it and names the bad value. The contract itself (a standard JSON Schema
    validator) refuses every one of these bodies too: parse is not stricter than it."""
    with pytest.raises(ContractError) as caught:
        cls.parse(body)
    assert caught.value.field == field
    assert caught.value.message.startswith(message), caught.value.message
    assert str(caught.value) == caught.value.message
    assert isinstance(caught.value, ValueError)
    again = pickle.loads(pickle.dumps(caught.value))
    assert (again.field, again.message) == (field, caught.value.message)
    assert jsonschema_errors(cls.__name__, body)


def test_a_pattern_ends_at_the_end():
    """A JSON Schema pattern's ``$`` is the end of the string (ECMA-262). Python's ``re``
    (and so the jsonschema package) also lets it match before a final newline."""
    with pytest.raises(ContractError, match=r"^name 'demo\\n' is invalid"):
        CreateClusterRequest.parse({"name": "demo\n", "instance_type": "t"})
    with pytest.raises(ContractError, match=r"^region 'us-east-1\\n' is invalid"):
        AwsCredentialsRequest.parse({**AWS, "region": "us-east-1\n"})


def test_parse_prefixes_nested_paths():
    """``path`` names where a body sits inside a larger document."""
    with pytest.raises(ContractError) as caught:
        NewCluster.parse({"instances": 1}, path="spec.cluster")
    assert caught.value.field == "spec.cluster.instance_type"
    with pytest.raises(ContractError, match=r"^spec must be an object, got 3$"):
        NewCluster.parse(3, path="spec")


# -- lenient: from_dict, and to_dict ---------------------------------------------------------

NOW = "2024-05-01T12:00:00.123456Z"
TASK = {"id": "t-0c1d2e3f4a5b", "kind": "cluster.create", "status": "FINISHED",
        "cluster_id": "c-5f2a9c81d3e0", "cluster_name": "demo", "progress": 1.0, "error": None,
        "attempts": 1, "created_by": "u-1", "created_at": NOW, "started_at": NOW,
        "finished_at": NOW, "parent_id": None}
STEPS = [{"name": "prepare", "title": "Preparing the cluster folder", "state": "done",
          "message": "Preparing the cluster folder (0.0s)"},
         {"name": "launch", "title": "Starting the controller", "state": "failed",
          "message": "boom"}]
EVENTS = [{"seq": 1, "time": NOW, "step": "prepare", "state": "started",
           "message": "Preparing", "progress": 0.0},
          {"seq": 2, "time": NOW, "step": "end", "state": "finished", "message": "Done",
           "progress": 1}]
CLUSTER = {"id": "c-5f2a9c81d3e0", "name": "demo", "provider": "local",
           "instance_type": "local.medium", "instances": 2, "cores_per_instance": 2,
           "core_count": 4, "efa": False, "bodo_version": "2026.10", "status": "RUNNING",
           "status_message": "",
           "created_by": "u-1", "created_at": NOW, "updated_at": NOW, "ready_at": NOW,
           "terminated_at": None,
           "last_task": {"id": "t-0c1d2e3f4a5b", "kind": "cluster.create",
                         "status": "FINISHED"},
           "dedicated_to": None, "holder": None}
RUN = {"id": "r-9a8b7c6d5e4f", "job_id": "j-3b9d0e7a1c2f", "job_name": "nightly",
       "status": "FAILED", "phase": "done", "trigger": "cron", "due_at": NOW,
       "reason": "exit code 1", "exit_code": 1, "command_line": "mpiexec -n 4 python etl.py",
       "source_revision": "0123abc", "cluster": {"id": "c-5f2a9c81d3e0", "name": "demo"},
       "attempts": 2, "task_id": "t-0c1d2e3f4a5b", "created_at": NOW, "started_at": NOW,
       "finished_at": NOW}
JOB_VIEW = {"id": "j-3b9d0e7a1c2f", "name": "nightly", "cluster": None,
            "new_cluster": {"provider": "local", "instance_type": "local.small",
                            "instances": 1, "efa": False, "bodo_version": None},
            "schedule": {"type": "cron", "at": None, "cron": "0 2 * * *",
                         "timezone": "Europe/Paris", "max_concurrent_runs": 1, "active": True,
                         "next_run_at": NOW},
            "command": "etl.py", "command_line": "mpiexec -n <CORE_COUNT> python etl.py",
            "source_type": "git", "path": "https://github.com/acme/pipelines", "ref": "main",
            "git_username": None, "git_password_set": False, "env": {"A": "1"},
            "timeout_s": None, "retries": 0, "retry_delay_s": 0, "created_by": "u-1",
            "created_at": NOW, "updated_at": NOW, "last_run": RUN}

EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    ("Info", {"version": "0.1.0", "user": {"id": "u-1", "name": "ann"},
              "organization": {"id": "o-1", "name": "acme"},
              "providers": [{"name": "local", "display_name": "This machine",
                             "max_instances": 4}],
              "default_provider": "local"}),
    ("Cluster", CLUSTER),
    ("Cluster", {**CLUSTER, "last_task": None, "status": "TERMINATED",
                 "dedicated_to": {"run_id": "r-9a8b7c6d5e4f", "job_id": None,
                                  "job_name": None}}),
    ("Cluster", {**CLUSTER, "holder": {"kind": "job_run", "id": "r-9a8b7c6d5e4f",
                                       "label": "job 'nightly' (run r-9a8b7c6d5e4f)",
                                       "since": NOW}}),
    ("ClusterAction", {"cluster": CLUSTER, "task": {**TASK, "steps": STEPS, "last_seq": 0}}),
    ("ClusterPage", {"items": [CLUSTER], "next": "abc"}),
    ("Task", TASK),
    ("TaskDetail", {**TASK, "steps": STEPS, "last_seq": 2, "events": EVENTS,
                    "children": [{"id": "t-0c1d2e3f4a5c", "kind": "cluster.create",
                                  "status": "FINISHED", "cluster_id": "c-5f2a9c81d3e0",
                                  "progress": 1, "error": None}]}),
    ("TaskPage", {"items": [TASK], "next": None}),
    ("Connection", {"cluster": "demo", "cluster_id": "c-5f2a9c81d3e0", "core_count": 4,
                    "ipyparallel": {"key": "k", "ports": [1, 2], "nested": {"a": None}}}),
    ("InstanceTypeList", {"items": [{"name": "local.small", "cores": 1, "vcpus": 1,
                                     "memory_gib": 2, "efa": False, "description": "1 core",
                                     "provider": "local"}]}),
    ("Job", JOB_VIEW),
    ("JobCreated", {**JOB_VIEW, "notices": ["dropped .git"], "last_run": None}),
    ("JobRunDetail", {**RUN, "log_size": 120}),
    ("JobRunPage", {"items": [{**RUN, "cluster": None, "log_size": 0}], "next": None}),
    ("JobLogs", {"run_id": "r-9a8b7c6d5e4f", "status": "INPROGRESS", "text": "[rank 0] hi\n",
                 "offset": 0, "next_offset": 12, "complete": False}),
    ("JobCancelled", {"job": "nightly", "cancelled_tasks": ["t-0c1d2e3f4a5b"]}),
    ("JobDeleted", {"job": "nightly", "deleted": True, "cancelled_tasks": []}),
    ("AwsAccount", {"access_key_id": "\u2026MPLE", "account_id": "123456789012",
                    "region": "us-east-1", "arn": "arn:aws:iam::123456789012:user/bodo",
                    "status": "READY", "ready": True, "status_message": "", "task_id": None,
                    "created_at": NOW, "updated_at": NOW}),
    ("AwsCredentialsDeleted", {"deleted": True}),
    ("Error", {"error": {"code": "bad_request", "message": "name is required",
                         "field": "name"}}),
    ("Error", {"error": {"code": "not_found", "message": "no such cluster"}}),
]


@pytest.mark.parametrize(("schema", "data"), EXAMPLES,
                         ids=[f"{i}-{s}" for i, (s, _) in enumerate(EXAMPLES)])
def test_responses_round_trip(schema: str, data: dict[str, Any]):
    """A valid answer survives from_dict -> to_dict unchanged; parse accepts it too."""
    assert not jsonschema_errors(schema, data)  # the example is what a server may answer
    cls = getattr(models, schema)
    assert cls.from_dict(data).to_dict() == data
    assert cls.parse(data).to_dict() == data
    assert cls.from_dict(data) == cls.parse(data)


def test_from_dict_builds_nested_models_and_enums():
    task = TaskDetail.from_dict({**TASK, "steps": STEPS, "last_seq": 2, "events": EVENTS,
                                 "children": []})
    assert task.status is TaskStatus.FINISHED and task.status.done
    assert task.steps[1].state == "failed" and task.events[1].step == StepName.END
    action = ClusterAction.from_dict({"cluster": CLUSTER, "task": TASK})
    assert action.cluster.status is ClusterStatus.RUNNING
    assert action.cluster.last_task.kind is TaskKind.CLUSTER_CREATE
    assert action.task.steps is None  # optional, absent
    job = Job.from_dict(JOB_VIEW)
    assert job.last_run.cluster.name == "demo" and job.new_cluster.instances == 1
    assert job.schedule.type is ScheduleType.CRON


def test_from_dict_tolerates_what_a_newer_server_sends():
    """Unknown keys are ignored, unknown enum values stay strings, missing optional keys
    become None (or their default): a client never breaks on a newer server."""
    newer = {**CLUSTER, "status": "HIBERNATING", "region": "eu-west-3",
             "last_task": {"id": "t-1", "kind": "cluster.resize", "status": "PAUSED",
                           "eta": 3}}
    cluster = Cluster.from_dict(newer)
    assert cluster.status == "HIBERNATING" and not isinstance(cluster.status, ClusterStatus)
    assert cluster.last_task.kind == "cluster.resize" and cluster.last_task.status == "PAUSED"
    assert not hasattr(cluster, "region")
    out = cluster.to_dict()
    assert out["status"] == "HIBERNATING" and "region" not in out and "eta" not in out["last_task"]
    request = CreateClusterRequest.from_dict({"name": "demo", "instance_type": "t"})
    assert request.instances == 1 and request.provider is None
    task = TaskDetail.from_dict({"id": "t-1"})  # lenient: nothing is checked
    assert task.status is None and task.steps is None
    with pytest.raises(ContractError, match="made from an object"):
        Cluster.from_dict(["not", "an", "object"])  # type: ignore[arg-type]


def test_to_dict_is_json_ready():
    """Enums become their values, required keys are always there (null where None),
    optional keys are left out when None."""
    error = models.Error(error=ErrorError(code=ErrorCode.NOT_FOUND, message="gone"))
    assert error.to_dict() == {"error": {"code": "not_found", "message": "gone"}}
    assert type(error.to_dict()["error"]["code"]) is str
    step = models.Step(name="x", title="X", state=models.StepState.DONE, message="")
    assert type(step.to_dict()["state"]) is str
    ref = models.ClusterDedicatedTo(run_id="r-1", job_id=None, job_name=None)
    assert ref.to_dict() == {"run_id": "r-1", "job_id": None, "job_name": None}


# -- the package stands alone ----------------------------------------------------------------


def imports(path: Path) -> list[tuple[int, str]]:
    """(level, module) of every import in a file: level > 0 for relative imports."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(0, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.level, node.module or ""))
    return out


def test_the_contract_package_imports_only_itself_and_the_standard_library():
    """Servers, clients and tools can depend on it without the rest of bodo_jupyter; only
    codegen (a dev tool) may use a third-party package, PyYAML, and discovery asks
    jupyter_core (part of every Jupyter install) where Jupyter's data folder is."""
    files = sorted(PACKAGE.glob("*.py"))
    assert {f.name for f in files} >= {"__init__.py", "codegen.py", "models.py", "runtime.py"}
    for f in files:
        for level, module in imports(f):
            top = module.split(".")[0]
            if level:
                assert level == 1, f"{f.name}: import from outside the package: {module}"
            elif top == "bodo_jupyter":
                assert module.startswith("bodo_jupyter.contract"), f"{f.name}: {module}"
            elif f.name == "codegen.py" and top == "yaml":
                pass
            elif f.name == "discovery.py" and module == "jupyter_core.paths":
                pass  # where Jupyter keeps data, asked where it is needed (lazily)
            else:
                assert top in sys.stdlib_module_names, f"{f.name} imports {module}"


def test_importing_the_models_loads_nothing_else():
    """What ``import bodo_jupyter.contract.models`` really loads, in a fresh interpreter."""
    code = ("import sys\nbefore = set(sys.modules)\nimport bodo_jupyter.contract.models\n"
            "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] not in "
            "sys.stdlib_module_names and not m.startswith('bodo_jupyter.contract')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['bodo_jupyter']", out  # the parent package (a light __init__)
