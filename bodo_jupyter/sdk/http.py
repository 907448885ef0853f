"""HTTP to the API with httpx: auth, JSON, and errors that read as sentences.

One ``httpx.AsyncClient`` per transport, made on first use, with no cap on
connections: a UI or a hub may hold hundreds of long polls at once, and each
needs a connection of its own. It is made in a worker thread, because making
one loads the CA bundle and imports httpx's transport (tens of milliseconds
that would otherwise stall the caller's event loop), and then used in the event
loop that first needed it.

Starting a request costs the caller's loop about half a millisecond of CPU
(httpx builds it and opens or takes a connection), so a program that starts
hundreds at once would hold its loop for a hundred milliseconds or more in
one turn. At most :data:`STARTS_PER_TURN` requests of a transport start in one
turn of the loop; the others start in the next turns, and what else the loop
has to do (timers, other tasks, answers that came in) runs in between.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from .errors import APIError

LONG_POLL_SLACK = 30.0  # seconds a long poll may take beyond its own wait
STARTS_PER_TURN = 16  # requests of one transport that start in one turn of the event loop


class Transport:
    def __init__(self, url: str, token: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._making: asyncio.Future[httpx.AsyncClient] | None = None
        self._started = 0  # requests started in this turn of the loop

    async def _turn(self) -> None:
        """Wait for a turn of the loop with room for one more request to start."""
        # sleep(0) is "the next turn", which is what is waited for (the count is reset at
        # its start); no event would say more.
        while self._started >= STARTS_PER_TURN:  # noqa: ASYNC110
            await asyncio.sleep(0)
        if not self._started:
            asyncio.get_running_loop().call_soon(self._new_turn)
        self._started += 1

    def _new_turn(self) -> None:
        self._started = 0

    def _make_client(self) -> httpx.AsyncClient:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        return httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(self.timeout),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            trust_env=False,  # the API is ours: no proxy from the environment
        )

    async def _http(self) -> httpx.AsyncClient:
        if self._client is not None:
            return self._client
        if self._making is None:  # the first of (maybe many) calls at once makes it
            self._making = asyncio.ensure_future(asyncio.to_thread(self._make_client))
        try:
            client = await asyncio.shield(self._making)
        except BaseException:
            making = self._making
            if making is not None and making.done():  # it failed (this caller was not
                self._making = None  # just cancelled): the next call tries again
            raise
        self._client = client
        return client

    async def request(self, method: str, path: str, *, body: Any = None,
                      params: dict[str, Any] | None = None,
                      wait: float | None = None) -> Any:
        """One API call; ``wait`` is a long poll's own wait, added to the timeout."""
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        timeout = self.timeout + (wait + LONG_POLL_SLACK if wait else 0.0)
        try:
            http = await self._http()
            await self._turn()
            resp = await http.request(
                method, self.url + path, params=query or None,
                content=None if body is None else json.dumps(body).encode(),
                headers={"Content-Type": "application/json"} if body is not None else None,
                timeout=timeout)
        except httpx.TimeoutException:
            raise APIError(f"the control plane at {self.url} did not answer within "
                           f"{timeout:g}s") from None
        except httpx.HTTPError as e:
            raise APIError(f"cannot reach the control plane at {self.url}: "
                           f"{e or type(e).__name__}") from None
        if resp.status_code >= 400:
            raise error_of(resp, self.url)
        return resp.json() if resp.content else None

    async def aclose(self) -> None:
        making, self._making = self._making, None
        if self._client is None and making is not None:
            self._client = await making  # being made: close it once it is
        if self._client is not None:
            await self._client.aclose()
            self._client = None


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
