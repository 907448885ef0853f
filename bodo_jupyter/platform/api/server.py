"""The API as a standalone tornado application (``bodo-jupyter serve``).

Authentication is a bearer token: ``Authorization: token <t>`` or
``Authorization: Bearer <t>``. Tokens in query strings are refused because
they end up in access logs and shell history.
"""

from __future__ import annotations

import hmac
from typing import Any

from tornado import web

from ..errors import Unauthorized, Unavailable
from ..identity import Identity
from .base import API_PREFIX
from .handlers import make_handlers


class TokenAuthHandler(web.RequestHandler):
    """Base for standalone handlers: checks the bearer token on every request."""

    def identity(self) -> Identity:
        expected: str = self.settings["bodo_token"]
        header = self.request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() not in ("token", "bearer") or not given:
            raise Unauthorized("missing API token: send 'Authorization: token <token>'")
        if not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise Unauthorized("invalid API token")
        plane = self.settings["bodo_control_plane"]
        if not plane.started:
            raise Unavailable("the control plane is starting; try again in a moment")
        return plane.local_identity  # type: ignore[no-any-return]

    def check_xsrf_cookie(self) -> None:
        """Token-authenticated API: no cookies, so no XSRF to check."""


class NotFoundHandler(TokenAuthHandler):
    def prepare(self) -> None:
        raise web.HTTPError(404, f"no API route {self.request.path}")


def make_app(plane: Any, token: str, **settings: Any) -> web.Application:
    from .base import APIMixin

    class APINotFound(APIMixin, NotFoundHandler):
        pass

    handlers: list[Any] = list(make_handlers(TokenAuthHandler, API_PREFIX))
    handlers.append((r".*", APINotFound))
    return web.Application(
        handlers,
        bodo_control_plane=plane,
        bodo_token=token,
        **settings,
    )
