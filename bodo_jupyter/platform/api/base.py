"""What every API handler shares: JSON in and out, errors, who is asking.

Handlers are written once as mixins over :class:`APIMixin` and combined with
a host-specific base class: a token-checking tornado handler for
``bodo-jupyter serve``, or jupyter-server's ``APIHandler`` inside Jupyter, so
that each host keeps its own authentication.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from tornado import web

from bodo_jupyter.contract.discovery import API_PREFIX
from bodo_jupyter.contract.runtime import ContractError, Model

from ..errors import BadRequest, PlatformError, Unavailable, contract_error
from ..limits import Limits, check_int64

if TYPE_CHECKING:
    from ..identity import Identity
    from ..service import ControlPlane

log = logging.getLogger("bodo_jupyter.api")
__all__ = ["API_PREFIX", "APIMixin"]

M = TypeVar("M", bound=Model)

#: Secrets in a query string (``?token=...``), which never reach a log whole.
SECRET_QUERY = re.compile(r"(?i)([?&](?:token|access_token|api_key|password)=)[^&#]*")
_DEFAULT_LIMITS = Limits()


def redact_uri(uri: str) -> str:
    """A request URI as logs show it: the values of token-like query parameters hidden."""
    return SECRET_QUERY.sub(r"\1[redacted]", uri)


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
    #
    # Bodies are streamed (tornado's ``stream_request_body``): ``prepare`` refuses one
    # whose Content-Length is far over ``Limits.max_body_bytes`` before a byte of it is
    # read (see ``Limits.check_content_length``), and ``data_received`` keeps no more
    # than the limit of any body (chunked, or a little over), which ``raw_body`` then
    # refuses: no body over the limit is ever held whole.

    _stream_request_body = True

    @property
    def limits(self) -> Limits:
        plane = self.settings.get("bodo_control_plane")
        return getattr(plane, "limits", None) or _DEFAULT_LIMITS

    def prepare(self) -> Any:
        self._body_chunks: list[bytes] = []
        self._body_size = 0
        self.limits.check_content_length(self.request.headers.get("Content-Length"))
        self._check_url_text()
        return super().prepare()  # type: ignore[misc]

    def _check_url_text(self) -> None:
        """No NUL in the URL: PostgreSQL refuses it in any string (a 500 there), and no
        name or id has one. Path parts and query parameters, by name."""
        for arg in getattr(self, "path_args", None) or ():
            if isinstance(arg, str) and "\x00" in arg:
                raise BadRequest("the URL path holds a NUL character", field="path")
        for name, values in self.request.query_arguments.items():
            if "\x00" in name or any(b"\x00" in v for v in values):
                raise BadRequest(f"query parameter {name!r} holds a NUL character",
                                 field=name.replace("\x00", ""))

    def data_received(self, chunk: bytes) -> None:
        if self._finished:  # type: ignore[attr-defined]
            return
        self._body_size += len(chunk)
        if self._body_size <= self.limits.max_body_bytes:
            self._body_chunks.append(chunk)

    def raw_body(self) -> bytes:
        chunks = getattr(self, "_body_chunks", None)
        if chunks is None:  # not streamed (a host that read the body itself)
            return self.request.body  # type: ignore[no-any-return]
        self.limits.check_body_size(self._body_size)
        return b"".join(chunks)

    def json_body(self) -> Any:
        body = self.raw_body()
        if not body:
            return {}
        self.limits.check_body_size(len(body))
        try:
            value = json.loads(body)
        except RecursionError:
            raise BadRequest(f"the request body is nested more than "
                             f"{self.limits.max_json_depth} levels deep", field="body") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(f"the request body is not valid JSON: {e}", field="body") from None
        self.limits.check_json(value)
        return value

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
            n = int(v)
        except ValueError:
            raise BadRequest(f"query parameter {name} must be a whole number, got {v!r}",
                             field=name) from None
        check_int64(n, name)
        return n

    def float_arg(self, name: str, default: float, maximum: float) -> float:
        v = self.arg(name)
        if v is None or v == "":
            return default
        try:
            f = float(v)
            if f != f:  # NaN
                raise ValueError(v)
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
                        field: str | None = None,
                        headers: dict[str, str] | None = None) -> None:
        err: dict[str, Any] = {"code": code, "message": message}
        if field:
            err["field"] = field
        self.clear()  # type: ignore[attr-defined]
        for k, v in (headers or {}).items():
            self.set_header(k, v)  # type: ignore[attr-defined]
        self.send({"error": err}, status)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors are JSON with a sentence for people, never a traceback."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, PlatformError):
            retry = getattr(exc, "retry_after", None)
            self.send_error_json(exc.status, exc.code, exc.message, exc.field,
                                 {"Retry-After": str(retry)} if retry else None)
            return
        if isinstance(exc, web.HTTPError):
            reason = exc.log_message or exc.reason or web.httputil.responses.get(status_code, "")
            code = {401: "unauthorized", 403: "forbidden", 404: "not_found",
                    405: "method_not_allowed"}.get(status_code, "http_error")
            self.send_error_json(status_code, code, reason)
            return
        self.send_error_json(status_code, "internal",
                             "internal error in the control plane; see its log")

    def _request_summary(self) -> str:
        """What tornado's access log and warnings show of a request: no token."""
        r = self.request
        return f"{r.method} {redact_uri(r.uri)} ({r.remote_ip})"

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
