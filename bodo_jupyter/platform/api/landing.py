"""The platform's own page in the hub (``/services/bodo/``): where a user lands after login.

Someone with no notebook yet starts here: the guide's onboarding steps (link AWS
credentials, create a cluster, create a notebook), each ticked when done, and the
organisation's clusters, notebooks and jobs. The data comes from the same services the
API uses, so the page and the API never disagree; the UI issue fills the same page
with the sidebar's panels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyterhub.utils import url_path_join
from tornado import web

from ..errors import PlatformError
from ..identity import Identity

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Step:
    title: str
    state: str  # "done", "todo" or "not-needed"
    detail: str


def onboarding(*, aws_offered: bool, aws_ready: bool, clusters: int,
               notebooks: int) -> list[Step]:
    """The guide's three onboarding steps, from what the organisation has (pure)."""
    if not aws_offered:
        creds = Step("Link AWS credentials", "not-needed",
                     "This platform runs clusters on its own machine: no cloud account needed.")
    elif aws_ready:
        creds = Step("Link AWS credentials", "done", "Your organisation's AWS account is ready.")
    else:
        creds = Step("Link AWS credentials", "todo",
                     "Settings: your access key, secret, account id and region "
                     "(bodo-jupyter credentials set).")
    return [
        creds,
        Step("Create a cluster", "done" if clusters else "todo",
             f"{clusters} live cluster(s) in your organisation." if clusters else
             "bodo-jupyter cluster create --name my-cluster"),
        Step("Create a notebook", "done" if notebooks else "todo",
             f"{notebooks} live notebook(s) in your organisation." if notebooks else
             "A notebook is a Jupyter server on a node of its own, attached to a cluster."),
    ]


def page_data(plane: Any, ident: Identity) -> dict[str, Any]:
    """What the page shows, read with the API's own list operations (blocking: run it
    in the store's reader threads)."""
    clusters = plane.clusters.list(ident, limit=50)["items"]
    jobs = plane.jobs.list(ident, limit=50)["items"]
    notebooks_service = getattr(plane, "notebooks", None)
    notebooks = notebooks_service.list(ident, limit=50)["items"] if notebooks_service else []
    aws_offered = "aws" in plane.providers
    aws_ready = False
    if aws_offered:
        try:
            aws_ready = bool(plane.aws_accounts.show(ident).get("ready"))
        except PlatformError:
            aws_ready = False
    live = ("NEW", "INPROGRESS", "RUNNING")
    return {
        "steps": onboarding(
            aws_offered=aws_offered, aws_ready=aws_ready,
            clusters=sum(c["status"] in live for c in clusters),
            notebooks=sum(n["status"] in live for n in notebooks)),
        "clusters": clusters, "jobs": jobs, "notebooks": notebooks,
    }


class LandingMixin:
    """GET: the page (login through the hub's OAuth when there is no cookie yet)."""

    settings: dict[str, Any]

    @web.authenticated
    async def get(self) -> None:
        model = self.current_user  # type: ignore[attr-defined]
        identities = self.settings["bodo_hub_identities"]
        plane = self.settings["bodo_control_plane"]
        try:
            ident = await identities.identity_for(model)
        except PlatformError as e:
            self.set_status(e.status)  # type: ignore[attr-defined]
            self.render("landing.html", ident=None, error=e.message,  # type: ignore[attr-defined]
                        data=None, hub=self._hub_links(model))
            return
        data = await plane.store.read(page_data, plane, ident)
        self.render("landing.html", ident=ident, error=None, data=data,  # type: ignore[attr-defined]
                    hub=self._hub_links(model))

    def _hub_links(self, model: dict[str, Any]) -> dict[str, str]:
        hub_prefix = self.settings["bodo_hub_prefix"]
        name = model.get("name", "")
        return {
            "home": url_path_join(hub_prefix, "home"),
            "logout": url_path_join(hub_prefix, "logout"),
            "spawn": url_path_join(hub_prefix, "spawn", name),
            "user": url_path_join(self.settings["bodo_base_url"], "user", name) + "/",
        }
