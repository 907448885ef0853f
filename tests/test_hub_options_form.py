"""The spawn options page from a declared form: pure, no hub."""

from __future__ import annotations

from bodo_jupyter.contract.forms import CLUSTER_CREATE
from bodo_jupyter.hub.options_form import form_values, render
from bodo_jupyter.hub.spawner import HUB_ENV, notebook_name


def test_the_page_has_an_input_per_field_with_live_choices_and_what_was_typed() -> None:
    html = render(CLUSTER_CREATE, {"instance_types": [("local.small", "small <2 cores>")]},
                  {"name": 'x"><script>', "instances": 3},
                  errors={"name": "must be lowercase"})
    assert 'name="name"' in html and 'name="instance_type"' in html
    assert 'name="instances"' in html and 'value="3"' in html
    # Labels, values and messages are escaped: typed text cannot become markup.
    assert "<script>" not in html and "&lt;2 cores&gt;" in html
    assert 'id="bodo-name-error"' in html and "must be lowercase" in html
    # Advanced fields stay off the page; their defaults apply.
    assert 'name="provider"' not in html and 'name="bodo_version"' not in html


def test_a_required_choice_with_nothing_to_choose_says_so() -> None:
    html = render(CLUSTER_CREATE, {})
    assert "(none available)" in html


def test_posted_values_become_the_forms_values() -> None:
    got = form_values(CLUSTER_CREATE, {"name": [" demo "], "instances": ["4"],
                                       "efa": ["1"], "instance_type": [""]})
    assert got == {"name": "demo", "instances": 4, "efa": True}
    # Not a number: kept as typed, for the contract to refuse with its message.
    assert form_values(CLUSTER_CREATE, {"instances": ["four"]}) == {"instances": "four"}
    assert form_values(CLUSTER_CREATE, {}) == {}


def test_default_notebook_names_are_valid_names() -> None:
    assert notebook_name("ada@acme.com", "") == "ada"
    assert notebook_name("Ada.Lovelace@acme.com", "Big_One") == "ada-lovelace-big-one"
    assert notebook_name("@@@", "") == "notebook"
    assert len(notebook_name("a" * 80, "b" * 80)) <= 40


def test_only_the_hubs_own_variables_reach_the_platform() -> None:
    assert HUB_ENV.match("JUPYTERHUB_API_TOKEN") and HUB_ENV.match("JPY_API_TOKEN")
    for name in ("PATH", "AWS_SECRET_ACCESS_KEY", "JUPYTERHUBX", "jupyterhub_api_token",
                 "BODO_JUPYTER_SECRET_KEY"):
        assert not HUB_ENV.match(name)


def test_onboarding_ticks_what_the_organisation_has() -> None:
    from bodo_jupyter.platform.api.landing import onboarding

    def states(**kw: object) -> list[str]:
        return [s.state for s in onboarding(**{"aws_offered": False, "aws_ready": False,
                                               "clusters": 0, "notebooks": 0, **kw})]

    assert states() == ["not-needed", "todo", "todo"]
    assert states(aws_offered=True) == ["todo", "todo", "todo"]
    assert states(aws_offered=True, aws_ready=True, clusters=2, notebooks=1) == [
        "done", "done", "done"]
