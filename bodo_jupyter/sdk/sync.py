"""The blocking twin of the async client, for scripts, the CLI and notebook magics.

:class:`Platform` is :class:`AsyncPlatform` with every coroutine method turned
into a plain call, every async iterator (task events, log follows) into a
plain iterator, and every handle it returns into a blocking handle too. The
coroutines run on one event loop in a daemon thread of their own (like
dask-gateway's sync client), so it also works where a loop already runs in
the calling thread, such as a Jupyter kernel.
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import threading
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any, TypeVar

from .client import AsyncPlatform, Clusters, Credentials, Handle, Jobs, Tasks

T = TypeVar("T")
_ASYNC_OBJECTS = (AsyncPlatform, Handle, Clusters, Tasks, Jobs, Credentials)


class LoopThread:
    """An event loop running in a daemon thread; ``run`` waits for a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                        name="bodo-jupyter-sdk")
        self._thread.start()

    def run(self, aw: Awaitable[T]) -> T:
        if threading.current_thread() is self._thread:
            raise RuntimeError("a blocking bodo-jupyter call from the SDK's own loop; "
                               "use the async client (AsyncPlatform) there")
        return asyncio.run_coroutine_threadsafe(_await(aw), self.loop).result()

    def iterate(self, ait: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self.run(ait.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            close = getattr(ait, "aclose", None)
            if close is not None:
                self.run(close())


async def _await(aw: Awaitable[T]) -> T:
    return await aw


_loop: LoopThread | None = None
_lock = threading.Lock()


def loop_thread() -> LoopThread:
    """The process's one SDK loop thread, started on first use."""
    global _loop
    with _lock:
        if _loop is None:
            _loop = LoopThread()
        return _loop


class Blocking:
    """A blocking view of an async SDK object (see the module docstring)."""

    def __init__(self, target: Any, runner: LoopThread):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_runner", runner)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        runner: LoopThread = self._runner
        if inspect.iscoroutinefunction(attr):
            def call(*args: Any, **kwargs: Any) -> Any:
                return wrap(runner.run(attr(*args, **kwargs)), runner)

            call.__name__ = name
            call.__doc__ = attr.__doc__
            return call
        if inspect.isasyncgenfunction(attr):
            def iterate(*args: Any, **kwargs: Any) -> Iterator[Any]:
                for item in runner.iterate(attr(*args, **kwargs)):
                    yield wrap(item, runner)

            iterate.__name__ = name
            iterate.__doc__ = attr.__doc__
            return iterate
        return wrap(attr, runner)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __repr__(self) -> str:
        return repr(self._target)

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self._target)))

    def __eq__(self, other: object) -> bool:
        other = other._target if isinstance(other, Blocking) else other
        return bool(self._target == other)

    def __hash__(self) -> int:
        return hash(self._target)


def wrap(value: Any, runner: LoopThread) -> Any:
    if isinstance(value, _ASYNC_OBJECTS):
        return Blocking(value, runner)
    if isinstance(value, list):
        return [wrap(v, runner) for v in value]
    return value


class Platform(Blocking):
    """Blocking client: ``Platform().clusters.create("demo", "local.medium", 2, wait=True)``.

    Same arguments and methods as :class:`AsyncPlatform`; ``async_client`` is the
    async object underneath, for code that has an event loop of its own.
    """

    def __init__(self, url: str | None = None, token: str | None = None,
                 timeout: float = 30.0):
        runner = loop_thread()
        # Built on the loop thread: the HTTP client belongs to that loop.
        target = runner.run(_make(url, token, timeout))
        super().__init__(target, runner)

    @property
    def async_client(self) -> AsyncPlatform:
        return self._target  # type: ignore[no-any-return]

    def close(self) -> None:
        self._runner.run(self._target.close())

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _make(url: str | None, token: str | None, timeout: float) -> AsyncPlatform:
    return AsyncPlatform(url, token, timeout)


def attach(name: str, *, url: str | None = None, token: str | None = None,
           timeout: float = 30.0) -> Any:
    """``bodo_jupyter.attach("demo")`` -> an ipyparallel Client on all MPI ranks."""
    with Platform(url, token) as platform:
        return platform.clusters.get(name).attach(timeout=timeout)


@atexit.register
def _stop_loop() -> None:
    if _loop is not None:
        _loop.loop.call_soon_threadsafe(_loop.loop.stop)
