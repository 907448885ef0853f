"""Which Bodo a cluster runs: the versions each provider offers, the default, and the
400s for a version it does not offer -- without starting a control plane."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from traitlets import TraitError
from traitlets.config import Config

from bodo_jupyter.platform.errors import BadRequest
from bodo_jupyter.platform.providers import bodo_versions
from bodo_jupyter.platform.providers.aws.provider import AWSProvider
from bodo_jupyter.platform.providers.local import LocalProvider

ROOT = Path(__file__).resolve().parents[1]


def test_the_pin_is_read_from_the_bodo_extra_not_written_twice():
    """AWS's default is the version pyproject's `bodo` extra pins (bodo==X.*)."""
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())[
        "project"]["optional-dependencies"]["bodo"]
    pin = next(r for r in extra if r.startswith("bodo=="))
    assert bodo_versions.pinned() == pin.removeprefix("bodo==").removesuffix(".*")
    assert bodo_versions.pinned(extra="postgres") is None
    assert bodo_versions.pinned(package="no-such-package-here") is None


def test_versions_are_ordered_newest_first_and_compared_as_versions():
    assert bodo_versions.newest_first(["2025.12.2", "2026.10", "2026.8", "2026.10.0"]) == [
        "2026.10", "2026.8", "2025.12.2"]
    assert bodo_versions.same("2026.10", "2026.10.0") and not bodo_versions.same("2026.1",
                                                                               "2026.10")
    with pytest.raises(ValueError, match="not a version"):
        bodo_versions.parse("latest")


def test_choice_defaults_to_the_newest_and_refuses_others_on_the_field():
    offered = ["2026.10", "2026.8"]
    assert bodo_versions.choose(None, offered, provider="aws") == "2026.10"
    assert bodo_versions.choose("2026.8.0", offered, provider="aws") == "2026.8"
    with pytest.raises(BadRequest) as e:
        bodo_versions.choose("2025.1", offered, provider="aws")
    assert e.value.field == "bodo_version" and "choose one of: 2026.10, 2026.8" in e.value.message
    assert bodo_versions.choose(None, [], provider="x") is None
    with pytest.raises(BadRequest) as e:
        bodo_versions.choose("2026.10", [], provider="x", field="cluster.bodo_version")
    assert e.value.field == "cluster.bodo_version"


def test_local_offers_exactly_the_installed_bodo(tmp_path):
    p = LocalProvider(data_dir=tmp_path, plane_id="p")
    have = bodo_versions.installed()
    assert have, "the test environment has the bodo extra"
    assert p.bodo_versions() == [have]
    assert p.choose_bodo_version(None) == have
    assert p.choose_bodo_version(have) == have
    with pytest.raises(BadRequest) as e:
        p.choose_bodo_version("1999.1")
    assert e.value.field == "bodo_version"
    assert f"which is {have}, not 1999.1" in e.value.message


def test_local_without_bodo_offers_none_and_runs_without_it(tmp_path):
    """A Python without bodo (a fresh venv): no version, and asking for one is a 400."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    p = LocalProvider(data_dir=tmp_path, plane_id="p", python=str(venv / "bin" / "python"))
    assert p.bodo_versions() == []
    assert p.choose_bodo_version(None) is None
    with pytest.raises(BadRequest) as e:
        p.choose_bodo_version("2026.10")
    assert e.value.field == "bodo_version" and "bodo is not installed" in e.value.message


def test_aws_offers_its_configured_list_newest_first(tmp_path):
    assert AWSProvider(data_dir=tmp_path, plane_id="p").bodo_versions() == [
        bodo_versions.pinned()]
    config = Config()
    config.AWSProvider.bodo_versions_offered = ["2026.8", "2026.10"]
    p = AWSProvider(data_dir=tmp_path, plane_id="p", config=config)
    assert p.bodo_versions() == ["2026.10", "2026.8"]
    assert p.choose_bodo_version(None) == "2026.10"
    config.AWSProvider.bodo_versions_offered = ["2026.10; rm -rf /"]
    with pytest.raises(TraitError, match="not a version"):
        AWSProvider(data_dir=tmp_path, plane_id="p", config=config)
