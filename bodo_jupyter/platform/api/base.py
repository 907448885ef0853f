"""What every API handler shares: JSON in and out, errors, who is asking.

Handlers are written once as mixins over :class:`APIMixin` and combined with
a host-specific base class: a token-checking tornado handler for
``bodo-jupyter serve``, or jupyter-server's ``APIHandler`` inside Jupyter, so
that each host keeps its own authentication.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from tornado import web

from bodo_jupyter.contract.discovery import API_PREFIX
from bodo_jupyter.contract.runtime import ContractError, Model

from ..errors import BadRequest, PlatformError, Unavailable, contract_error

if TYPE_CHECKING:
    from ..identity import Identity
    from ..service import ControlPlane

log = logging.getLogger("bodo_jupyter.api")
__all__ = ["API_PREFIX", "APIMixin"]

M = TypeVar("M", bound=Model)


class APIMixin:
    """Mixed into a tornado RequestHandler subclass."""

    # provided by the RequestHandler
    settings: dict[str, Any]
    request: Any

    @property
    def plane(self) -> ControlPlane:
        plane = self.settings.get("bodo_control_plane")
        if plane is None or not plane.started:
            raise Unavailable("the control plane is starting; try again in a moment")
        return plane

    #: Who is asking; raises Unauthorized/Forbidden. Defined by the host base class
    #: (which comes after the mixin in the MRO).
    identity: Callable[[], Identity]

    # -- input ------------------------------------------------------------------------

    def json_body(self) -> Any:
        body = self.request.body
        if not body:
            return {}
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(f"the request body is not valid JSON: {e}") from None

    def body(self, model: type[M]) -> M:
        """The request body as the contract's typed request (a 400 naming the field when
        it breaks the contract): services get exactly what the SDK sends."""
        try:
            return model.parse(self.json_body())
        except ContractError as e:
            raise contract_error(e) from None

    def arg(self, name: str, default: str | None = None) -> str | None:
        return self.get_argument(name, default)  # type: ignore[attr-defined]

    def bool_arg(self, name: str) -> bool | None:
        v = self.arg(name)
        if v is None or v == "":
            return None
        if v.lower() in ("1", "true", "yes"):
            return True
        if v.lower() in ("0", "false", "no"):
            return False
        raise BadRequest(f"query parameter {name} must be true or false, got {v!r}", field=name)

    def int_arg(self, name: str, default: int) -> int:
        v = self.arg(name)
        if v is None or v == "":
            return default
        try:
            return int(v)
        except ValueError:
            raise BadRequest(f"query parameter {name} must be a whole number, got {v!r}",
                             field=name) from None

    def float_arg(self, name: str, default: float, maximum: float) -> float:
        v = self.arg(name)
        if v is None or v == "":
            return default
        try:
            f = float(v)
        except ValueError:
            raise BadRequest(f"query parameter {name} must be a number, got {v!r}",
                             field=name) from None
        if not 0 <= f <= maximum:
            raise BadRequest(f"query parameter {name} must be between 0 and {maximum:g}",
                             field=name)
        return f

    # -- output -----------------------------------------------------------------------

    def send(self, obj: Any, status: int = 200) -> None:
        self.set_status(status)  # type: ignore[attr-defined]
        self.set_header("Content-Type", "application/json")  # type: ignore[attr-defined]
        self.set_header("Cache-Control", "no-store")  # type: ignore[attr-defined]
        self.finish(json.dumps(obj))  # type: ignore[attr-defined]

    def send_error_json(self, status: int, code: str, message: str,
                        field: str | None = None) -> None:
        err: dict[str, Any] = {"code": code, "message": message}
        if field:
            err["field"] = field
        self.clear()  # type: ignore[attr-defined]
        self.send({"error": err}, status)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors are JSON with a sentence for people, never a traceback."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, PlatformError):
            self.send_error_json(exc.status, exc.code, exc.message, exc.field)
            return
        if isinstance(exc, web.HTTPError):
            reason = exc.log_message or exc.reason or web.httputil.responses.get(status_code, "")
            code = {401: "unauthorized", 403: "forbidden", 404: "not_found",
                    405: "method_not_allowed"}.get(status_code, "http_error")
            self.send_error_json(status_code, code, reason)
            return
        self.send_error_json(status_code, "internal",
                             "internal error in the control plane; see its log")

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, PlatformError):
            log.info("%s %s -> %s %s", self.request.method, self.request.path,
                     value.status, value.message)
            return
        super().log_exception(typ, value, tb)  # type: ignore[misc]

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, PlatformError):
            self.log_exception(type(e), e, None)
            if not self._finished:  # type: ignore[attr-defined]
                self.send_error(e.status, exc_info=(type(e), e, None))  # type: ignore[attr-defined]
            return
        super()._handle_request_exception(e)  # type: ignore[misc]
