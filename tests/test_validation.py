"""Pure checks of user input: each error names what to fix."""

import pytest

from bodo_jupyter.contract.models import CreateClusterRequest, CreateJobRequest
from bodo_jupyter.contract.runtime import ContractError
from bodo_jupyter.platform.errors import BadRequest
from bodo_jupyter.platform.validation import check_int


@pytest.mark.parametrize("name", ["a", "demo", "my-cluster-2", "a" * 63, "x1"])
def test_good_names(name):
    assert CreateClusterRequest.parse({"name": name, "instance_type": "t"}).name == name


@pytest.mark.parametrize("name", ["", "A", "Demo", "1abc", "-abc", "abc-", "a_b", "a.b",
                                  "a" * 64, "über", "a b", "demo\n", None, 12])
@pytest.mark.parametrize("model", [CreateClusterRequest, CreateJobRequest])
def test_bad_names(name, model):
    """Cluster and job names become host names, tags and file names: DNS labels only."""
    body = {"name": name, "instance_type": "t", "cluster": "c", "command": "x.py",
            "path": "https://h/o/r"}
    body = {k: v for k, v in body.items() if k in {f.name for f in model.fields_info()}}
    with pytest.raises(ContractError) as e:
        model.parse(body)
    assert e.value.field == "name"
    assert ("lowercase letters" in e.value.message or "must be a string" in e.value.message
            or "longer than 63" in e.value.message or "must not be empty" in e.value.message), \
        e.value.message


def test_int_bounds():
    assert check_int(3, "instances", minimum=1, maximum=8) == 3
    with pytest.raises(BadRequest, match="whole number"):
        check_int("4", "instances", minimum=1, maximum=8)
    with pytest.raises(BadRequest, match="at least 1, got 0"):
        check_int(0, "instances", minimum=1, maximum=8)
    with pytest.raises(BadRequest, match="at most 8, got 9"):
        check_int(9, "instances", minimum=1, maximum=8)
    with pytest.raises(BadRequest, match="whole number"):
        check_int(2.5, "instances", minimum=1, maximum=8)
    with pytest.raises(BadRequest, match="whole number"):
        check_int(True, "instances", minimum=1, maximum=8)
