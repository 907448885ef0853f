"""Pure checks of user input: each error names what to fix."""

import pytest

from bodo_jupyter.platform.errors import BadRequest
from bodo_jupyter.platform.validation import check_bool, check_fields, check_int, check_name


@pytest.mark.parametrize("name", ["a", "demo", "my-cluster-2", "a" * 63, "x1"])
def test_good_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "Demo", "1abc", "-abc", "abc-", "a_b", "a.b",
                                  "a" * 64, "über", "a b", None, 12])
def test_bad_names(name):
    with pytest.raises(BadRequest) as e:
        check_name(name)
    assert e.value.field == "name"
    assert "lowercase letters" in e.value.message


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


def test_bool_and_fields():
    assert check_bool(True, "efa") is True
    with pytest.raises(BadRequest, match="true or false"):
        check_bool("yes", "efa")
    check_fields({"name": 1}, ["name", "efa"])
    with pytest.raises(BadRequest, match="unknown field 'nmae'") as e:
        check_fields({"nmae": 1}, ["name", "efa"])
    assert e.value.field == "nmae"
