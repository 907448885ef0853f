"""The Bodo sidebar with the AWS provider (the AWS emulator, moto as a real process with
IAM enforced): onboarding asks for credentials, the create form's instance types say
why they are missing and lead to Settings, the credentials form links the account
(the launch-permission task to READY), and the instance types come. No AWS cluster is
made (tests/test_aws.py makes those)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .aws import Emulator, aws_emulator
from .test_ui import UI, expect, lab_in_chromium, open_sidebar

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def em(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with aws_emulator(tmp_path_factory.mktemp("aws")) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory, em: Emulator) -> Iterator[UI]:
    tmp = tmp_path_factory.mktemp("ui-aws")
    config = ('c.ControlPlane.enabled_providers = ["local", "aws"]\n'
              f'c.AWSProvider.ami_ids = {{"us-east-1": {em.ami!r}}}\n'
              "c.AWSProvider.poll_interval = 0.05\n"
              "c.ControlPlane.orphan_sweep_interval = 3600\n")
    try:
        with lab_in_chromium(tmp, "test_ui_aws", config, em.control_plane_env()) as ui:
            yield ui
    finally:
        em.proxy.reset()


def test_onboarding_asks_for_aws_credentials(ui: UI) -> None:
    sidebar = open_sidebar(ui)
    creds = sidebar.locator('[data-step="credentials"]')
    expect(creds).to_have_attribute("data-done", "false")
    expect(creds).to_contain_text("Needed for clusters on AWS")


def test_without_credentials_the_form_says_so_and_links_to_settings(ui: UI) -> None:
    sidebar = ui.sidebar()
    sidebar.get_by_role("button", name="Create cluster").click()
    form = sidebar.locator('form[data-form="cluster-create"]')
    form.get_by_role("button", name="Show advanced").click()
    form.get_by_label("Provider", exact=True).select_option("aws")
    note = form.locator('[data-field="instance_type"] .jp-bodo-field-note')
    expect(note).to_contain_text("No instance types from AWS")
    expect(note).to_contain_text("credentials")
    ui.shot("aws-no-credentials", form)
    note.get_by_role("button", name="Open Settings").click()
    expect(sidebar.get_by_role("tab", name="Settings")).to_have_attribute("aria-selected", "true")


def test_linking_credentials_reaches_ready_and_brings_instance_types(ui: UI, em: Emulator
                                                                     ) -> None:
    sidebar = ui.sidebar()
    settings = sidebar.locator(".jp-bodo-settings")
    expect(settings.locator('[data-account="none"]')).to_be_visible()
    form = settings.locator('form[data-form="aws-credentials"]')
    form.get_by_label("Access key id", exact=True).fill(em.user.access_key_id)
    form.get_by_label("Secret access key", exact=True).fill(em.user.secret_access_key)
    form.get_by_label("AWS account id", exact=True).fill(ACCOUNT)
    form.get_by_label("Region", exact=True).fill("us-east-1")
    form.get_by_role("button", name="Save", exact=True).click()
    account = settings.locator(".jp-bodo-account-line")
    expect(account).to_have_attribute("data-account", "READY", timeout=120_000)
    expect(account.locator(".jp-bodo-ready.jp-mod-done")).to_be_visible()
    expect(form.get_by_label("Secret access key", exact=True)).to_have_value("")
    assert em.user.secret_access_key not in ui.page.content()
    expect(sidebar.locator('[data-step="credentials"]')).to_have_attribute(
        "data-done", "true", timeout=60_000)
    ui.shot("aws-ready")
    sidebar.get_by_role("tab", name="Clusters").click()
    create = sidebar.locator('form[data-form="cluster-create"]')
    create.get_by_label("Provider", exact=True).select_option("local")
    create.get_by_label("Provider", exact=True).select_option("aws")
    types = create.get_by_label("Instance type", exact=True)
    expect(types.locator("option[value]:not([value=''])").first).to_be_attached(timeout=60_000)
    expect(create.locator('[data-field="instance_type"] .jp-bodo-field-note')).to_be_hidden()
    ui.shot("aws-instance-types", create)
