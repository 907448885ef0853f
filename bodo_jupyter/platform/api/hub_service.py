"""The API as a JupyterHub-managed service (``/services/bodo/``).

Inside a hub the control plane is a service the hub starts: the scheduler and the
task engine live here, so jobs run with no notebook server up. Who asks is the hub's
business: a request carries a hub token (``Authorization: token <t>``, as the SDK,
the CLI, kernels and the spawner send it) or the OAuth cookie of a browser that
logged in to the hub. The hub names the user; the user's hub groups
(``contract/hub_groups.py``), read with the service's own token, name the
organisation every query is scoped to.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any
from urllib.parse import quote

from jupyterhub.services.auth import (
    HubOAuth,
    HubOAuthCallbackHandler,
    HubOAuthenticated,
    UserNotAllowed,
)
from jupyterhub.utils import url_path_join
from tornado import httpclient, web
from traitlets import Float
from traitlets.config import LoggingConfigurable

from bodo_jupyter.contract.hub_groups import GroupError, org_from_groups

from ..errors import Forbidden, Unauthorized, Unavailable
from ..identity import Identity
from .base import APIMixin
from .handlers import make_handlers
from .landing import TEMPLATES, LandingMixin


class HubIdentities(LoggingConfigurable):
    """Hub user names -> the control plane's identities, through the user's hub groups."""

    groups_cache_seconds = Float(
        30.0, config=True,
        help="How long the organisation read from a user's hub groups is trusted before "
        "the hub is asked again (a user moved between organisations waits at most this).",
    )

    def __init__(self, plane: Any, hub_auth: HubOAuth, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plane = plane
        self.hub_auth = hub_auth
        self._cache: dict[str, tuple[float, tuple[str, bool] | None]] = {}
        self._identities: dict[str, Identity] = {}

    async def _hub_groups(self, name: str) -> list[str]:
        url = url_path_join(self.hub_auth.api_url, "users", quote(name, safe=""))
        req = httpclient.HTTPRequest(
            url, headers={"Authorization": f"token {self.hub_auth.api_token}"},
            request_timeout=30)
        try:
            resp = await httpclient.AsyncHTTPClient().fetch(req, raise_error=False)
        except OSError as e:
            raise Unavailable(f"JupyterHub is not answering: {e}") from None
        if resp.code == 404:
            return []
        if resp.code != 200:
            self.log.error("hub API GET users/%s answered %s", name, resp.code)
            raise Unavailable("JupyterHub did not say which organisation you belong to; "
                              "try again in a moment")
        return list(json.loads(resp.body).get("groups") or [])

    async def organization_of(self, name: str) -> tuple[str, bool] | None:
        hit = self._cache.get(name)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.groups_cache_seconds:
            return hit[1]
        try:
            org = org_from_groups(await self._hub_groups(name))
        except GroupError as e:
            raise Forbidden(str(e)) from None
        self._cache[name] = (now, org)
        return org

    async def identity_for(self, model: dict[str, Any]) -> Identity:
        if model.get("kind", "user") != "user":
            raise Forbidden(f"the hub {model.get('kind')} {model.get('name')!r} belongs to no "
                            "organisation; call the API with a user's token")
        name = model["name"]
        org = await self.organization_of(name)
        if org is None:
            raise Forbidden(f"hub user {name!r} belongs to no organisation; an admin adds "
                            "them to one (hub group bodo-org:<organisation>)")
        known = self._identities.get(name)
        if known is not None and (known.org_name, known.is_admin) == org:
            return known
        org_name, is_admin = org
        ident: Identity = await asyncio.to_thread(self.plane.ensure_user, name, org_name,
                                                  is_admin=is_admin)
        self._identities[name] = ident
        return ident


class HubServiceHandler(HubOAuthenticated, web.RequestHandler):
    """Base for API handlers in the hub service: hub token or OAuth cookie."""

    _bodo_identity: Identity | None = None

    async def bodo_before_method(self) -> bool:
        """Who asks, found before each API method runs (asking the hub is async)."""
        try:
            model = await self.hub_auth.get_user(self, sync=False)
        except web.HTTPError as e:
            raise Unavailable(f"JupyterHub could not check the token: {e.log_message}") \
                from None
        if not model:
            raise Unauthorized("log in to JupyterHub, or send 'Authorization: token "
                               "<hub API token>'")
        try:
            self.check_hub_user(model)
        except UserNotAllowed:
            service = os.environ.get("JUPYTERHUB_SERVICE_NAME", "bodo")
            raise Forbidden(f"this token of {model.get('name')!r} may not use the platform: "
                            f"it lacks the scope access:services!service={service}") from None
        self._bodo_identity = await self.settings["bodo_hub_identities"].identity_for(model)
        return False

    def check_xsrf_cookie(self) -> None:
        """A request with a token in its header carries no ambient authority: no XSRF to
        check. A browser's (cookie) request must send the hub's XSRF token."""
        if self.request.headers.get("Authorization"):
            return
        super().check_xsrf_cookie()

    def identity(self) -> Identity:
        if self._bodo_identity is None:  # a handler that did not pass bodo_before_method
            raise Unauthorized("not authenticated")
        plane = self.settings["bodo_control_plane"]
        if not plane.started:
            raise Unavailable("the control plane is starting; try again in a moment")
        return self._bodo_identity


class APINotFound(APIMixin, HubServiceHandler):
    async def get(self, *args: Any) -> None:
        await self.bodo_before_method()
        raise web.HTTPError(404, f"no API route {self.request.path}")

    post = put = delete = patch = get


class LandingHandler(LandingMixin, HubOAuthenticated, web.RequestHandler):
    pass


def make_hub_app(plane: Any, hub_auth: HubOAuth, identities: HubIdentities, *,
                 cookie_secret: bytes, base_url: str = "/",
                 **settings: Any) -> web.Application:
    """The service's routes under its prefix: the API at ``<prefix>api/v1``, the OAuth
    callback, and the landing page at the prefix itself."""
    prefix = hub_auth.base_url
    api = url_path_join(prefix, "api/v1")
    handlers: list[Any] = list(make_handlers(HubServiceHandler, api))
    handlers += [
        (api + "/.*", APINotFound),
        (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
        (prefix.rstrip("/") + "/?", LandingHandler),
    ]
    return web.Application(
        handlers,
        hub_auth=hub_auth,
        cookie_secret=cookie_secret,
        xsrf_cookies=True,
        login_url=hub_auth.login_url,
        template_path=str(TEMPLATES),
        bodo_control_plane=plane,
        bodo_hub_identities=identities,
        bodo_hub_prefix=hub_auth.hub_prefix,
        bodo_base_url=base_url,
        **settings,
    )
