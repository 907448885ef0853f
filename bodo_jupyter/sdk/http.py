"""HTTP to the API with httpx: auth, JSON, and errors that read as sentences.

There is no cap on connections: a UI or a hub may hold hundreds of long polls
at once, and each needs a connection of its own. httpcore's pool looks at
every connection it holds each time a request starts or ends (and polls the
idle ones' sockets), so that each request costs more the more are in flight;
a transport spreads its requests over several httpx clients of at most
:data:`POOL_SIZE` requests each, made as they are needed. The first request
makes the TLS context (it reads the CA bundle), which the clients share, and
imports what httpx imports only on first use, in a worker thread: together
about 90 ms that would otherwise stall the caller's event loop.

Starting a request costs the caller's loop about half a millisecond of CPU
(httpx builds it and opens or takes a connection), so a program that starts
hundreds at once would hold its loop for a hundred milliseconds or more in
one turn. At most :data:`STARTS_PER_TURN` requests of a transport start in one
turn of the loop; the others start in the next turns, and what else the loop
has to do (timers, other tasks, answers that came in) runs in between.

:class:`BlockingTransport` is the same with one blocking ``httpx.Client``, for
the blocking client (:mod:`.sync`): its coroutines never suspend.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import ssl
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from .errors import APIError

LONG_POLL_SLACK = 30.0  # seconds a long poll may take beyond its own wait
STARTS_PER_TURN = 16  # requests of one transport that start in one turn of the event loop
POOL_SIZE = 8  # requests in flight on one httpx client before the next one is used
T = TypeVar("T")


class BaseTransport:
    """What both transports share: the API's URL and token, request and error shapes."""

    def __init__(self, url: str, token: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        return headers

    def limits(self) -> httpx.Limits:
        return httpx.Limits(max_connections=None, max_keepalive_connections=POOL_SIZE)

    def prepare(self, path: str, body: Any, params: dict[str, Any] | None,
                wait: float | None) -> dict[str, Any]:
        """The keyword arguments of httpx's ``request`` for one API call; ``wait`` is a
        long poll's own wait, added to the timeout."""
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        return {"url": self.url + path, "params": query or None,
                "content": None if body is None else json.dumps(body).encode(),
                "headers": {"Content-Type": "application/json"} if body is not None else None,
                "timeout": self.timeout + (wait + LONG_POLL_SLACK if wait else 0.0)}

    def failure(self, e: httpx.HTTPError, timeout: float) -> APIError:
        if isinstance(e, httpx.TimeoutException):
            return APIError(f"the control plane at {self.url} did not answer within "
                            f"{timeout:g}s")
        return APIError(f"cannot reach the control plane at {self.url}: "
                        f"{e or type(e).__name__}")

    def answer(self, resp: httpx.Response) -> Any:
        if resp.status_code >= 400:
            raise error_of(resp, self.url)
        return resp.json() if resp.content else None

    async def request(self, method: str, path: str, *, body: Any = None,
                      params: dict[str, Any] | None = None,
                      wait: float | None = None) -> Any:
        """One API call: its JSON answer, or :class:`APIError`."""
        raise NotImplementedError

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, a blocking function, without blocking an event loop."""
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError


class Pool:
    """One httpx client (a connection pool) and the requests in flight on it."""

    __slots__ = ("busy", "client")

    def __init__(self, client: httpx.AsyncClient):
        self.client = client
        self.busy = 0


class Transport(BaseTransport):
    """The async transport (see the module docstring)."""

    def __init__(self, url: str, token: str, timeout: float = 30.0):
        super().__init__(url, token, timeout)
        self._loop: asyncio.AbstractEventLoop | None = None  # where the pools live
        self._pools: list[Pool] = []
        self._ssl: asyncio.Future[ssl.SSLContext] | None = None
        self._started = 0  # requests started since the last wait for a turn (_turn)
        self._reset_due = False

    async def _turn(self) -> None:
        """Once STARTS_PER_TURN requests started since the last wait, wait for the next
        turn of the loop: a burst is cut into turns of at most STARTS_PER_TURN starts,
        and calls one after the other pay one turn every STARTS_PER_TURN calls (rather
        than a callback each, to reset a count every turn)."""
        while self._started >= STARTS_PER_TURN:
            # sleep(0) is "the next turn", which is what is waited for (the count is
            # reset at its start).
            if not self._reset_due:
                self._reset_due = True
                asyncio.get_running_loop().call_soon(self._new_turn)
            await asyncio.sleep(0)
        self._started += 1

    def _new_turn(self) -> None:
        self._started = 0
        self._reset_due = False

    async def _take(self) -> Pool:
        """A place on the least busy pool; a new pool when each has POOL_SIZE requests."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Connections belong to the loop that opened them. In another one (a second
            # asyncio.run) the transport starts afresh; the old pools are dropped, not
            # closed (their loop may be closed).
            self._loop, self._pools, self._started, self._reset_due = loop, [], 0, False
            if self._ssl is not None and not self._ssl.done():
                self._ssl = None
        while True:
            if self._pools:
                pool = min(self._pools, key=_busy)
                if pool.busy < POOL_SIZE:
                    pool.busy += 1
                    return pool
            context = await self._ssl_context()  # once made, this does not suspend
            if not self._pools or min(p.busy for p in self._pools) >= POOL_SIZE:
                self._pools.append(Pool(httpx.AsyncClient(
                    headers=self.headers(), timeout=httpx.Timeout(self.timeout),
                    verify=context, limits=self.limits(),
                    trust_env=False,  # the API is ours: no proxy from the environment
                )))

    async def _ssl_context(self) -> ssl.SSLContext:
        """Made once, in a worker thread (see _prepare)."""
        if self._ssl is None:  # the first of (maybe many) calls at once makes it
            self._ssl = asyncio.ensure_future(asyncio.to_thread(_prepare))
        try:
            return await asyncio.shield(self._ssl)
        except BaseException:
            making = self._ssl
            if making is not None and making.done():  # it failed (this caller was not
                self._ssl = None  # just cancelled): the next call tries again
            raise

    async def request(self, method: str, path: str, *, body: Any = None,
                      params: dict[str, Any] | None = None,
                      wait: float | None = None) -> Any:
        """One API call; ``wait`` is a long poll's own wait, added to the timeout."""
        kwargs = self.prepare(path, body, params, wait)
        pool = await self._take()
        try:
            await self._turn()
            resp = await pool.client.request(method, **kwargs)
        except httpx.HTTPError as e:
            raise self.failure(e, kwargs["timeout"]) from None
        finally:
            pool.busy -= 1
        return self.answer(resp)

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def aclose(self) -> None:
        pools, self._pools = self._pools, []
        if self._loop is not asyncio.get_running_loop():
            return  # dropped, as in _take
        for pool in pools:
            await pool.client.aclose()


class BlockingTransport(BaseTransport):
    """The blocking transport: one ``httpx.Client`` (its pool is thread-safe), made on
    first use. Its coroutines do their I/O in the calling thread and never suspend, so
    the blocking client runs them without an event loop."""

    def __init__(self, url: str, token: str, timeout: float = 30.0):
        super().__init__(url, token, timeout)
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    headers=self.headers(), timeout=httpx.Timeout(self.timeout),
                    limits=self.limits(), trust_env=False)
            return self._client

    async def request(self, method: str, path: str, *, body: Any = None,
                      params: dict[str, Any] | None = None,
                      wait: float | None = None) -> Any:
        kwargs = self.prepare(path, body, params, wait)
        try:
            resp = self._http().request(method, **kwargs)
        except httpx.HTTPError as e:
            raise self.failure(e, kwargs["timeout"]) from None
        return self.answer(resp)

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)

    async def aclose(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def _busy(pool: Pool) -> int:
    return pool.busy


def _prepare() -> ssl.SSLContext:
    """What the first request needs that takes long to get, for a worker thread: the TLS
    context (reading the CA bundle), and the modules httpx imports on first use: httpcore,
    and anyio's asyncio backend (together ~90 ms here, which would otherwise stall the
    event loop of the first call)."""
    import httpcore  # noqa: F401

    try:
        importlib.import_module("anyio._backends._asyncio")
    except ImportError:  # anyio is laid out otherwise: it comes with the first request
        pass
    # As httpx makes it for a client with trust_env=False (SSL_CERT_FILE is not read).
    return httpx.create_ssl_context(trust_env=False)


def _param(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def error_of(resp: httpx.Response, url: str) -> APIError:
    """The API's JSON error as an APIError; anything else as a sentence about the answer."""
    try:
        err = resp.json()["error"]
        return APIError(err["message"], resp.status_code, err.get("code", ""),
                        err.get("field"))
    except (ValueError, KeyError, TypeError):
        text = resp.text.strip()[:200] or resp.reason_phrase
        return APIError(f"HTTP {resp.status_code} from {url}: {text}", resp.status_code)
