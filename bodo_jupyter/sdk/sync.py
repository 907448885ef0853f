"""The blocking twin of the async client, for scripts, the CLI and notebook magics.

:class:`Platform` is :class:`AsyncPlatform` with every coroutine method turned
into a plain call, every async iterator (task events, log follows, the
``iterate()`` of lists, which follow `next` across pages) into a
plain iterator, and every handle it returns into a blocking handle too.

Underneath is the async client itself, over a blocking transport
(:class:`~.http.BlockingTransport`, one ``httpx.Client``) whose coroutines do
their I/O in the calling thread and never suspend: each call runs its
coroutine to the end right there, with no event loop and no other thread. So
it works the same in a script, from several threads at once, and where an
event loop already runs in the calling thread (a Jupyter kernel); Ctrl-C stops
the request it interrupts; and a call costs what the request costs.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any, TypeVar

from .client import AsyncPlatform, Clusters, Credentials, Handle, Jobs, Notebooks, Tasks
from .http import BlockingTransport

T = TypeVar("T")
_ASYNC_OBJECTS = (AsyncPlatform, Handle, Clusters, Notebooks, Tasks, Jobs, Credentials)


def run(aw: Awaitable[T]) -> T:
    """The result of a coroutine of the SDK over a blocking transport (it never
    suspends), run to the end in this thread."""
    gen = aw.__await__()
    try:
        waited = gen.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    gen.close()
    raise RuntimeError(f"a blocking bodo-jupyter call waited for {waited!r}, which needs "
                       "an event loop; use the async client (AsyncPlatform) for this")


def iterate(ait: AsyncIterator[T]) -> Iterator[T]:
    """An async iterator of the SDK as a plain iterator; closed when left early."""
    try:
        while True:
            try:
                item = run(ait.__anext__())
            except StopAsyncIteration:
                return
            yield item
    finally:
        close = getattr(ait, "aclose", None)
        if close is not None:
            run(close())


class _BlockingAsyncPlatform(AsyncPlatform):
    """The async client over the blocking transport (what :class:`Platform` runs)."""

    transport_class = BlockingTransport


class Blocking:
    """A blocking view of an async SDK object (see the module docstring)."""

    def __init__(self, target: Any):
        object.__setattr__(self, "_target", target)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if inspect.iscoroutinefunction(attr):
            def call(*args: Any, **kwargs: Any) -> Any:
                return wrap(run(attr(*args, **kwargs)))

            call.__name__ = name
            call.__doc__ = attr.__doc__
            return call
        if inspect.isasyncgenfunction(attr):
            def items(*args: Any, **kwargs: Any) -> Iterator[Any]:
                for item in iterate(attr(*args, **kwargs)):
                    yield wrap(item)

            items.__name__ = name
            items.__doc__ = attr.__doc__
            return items
        return wrap(attr)

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


def wrap(value: Any) -> Any:
    if isinstance(value, _ASYNC_OBJECTS):
        return Blocking(value)
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


class Platform(Blocking):
    """Blocking client: ``Platform().clusters.create("demo", "local.medium", 2, wait=True)``.

    Same arguments and methods as :class:`AsyncPlatform`. For code with an event loop
    of its own, :meth:`async_client` makes an :class:`AsyncPlatform` on the same API.
    """

    def __init__(self, url: str | None = None, token: str | None = None,
                 timeout: float = 30.0):
        super().__init__(_BlockingAsyncPlatform(url, token, timeout))
        object.__setattr__(self, "_timeout", timeout)

    def async_client(self) -> AsyncPlatform:
        """A new async client on the same API (close it in its own event loop)."""
        target: AsyncPlatform = self._target
        return AsyncPlatform(target.url, target.token, self._timeout)

    def close(self) -> None:
        run(self._target.close())

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def attach(name: str, *, url: str | None = None, token: str | None = None,
           timeout: float = 30.0) -> Any:
    """``bodo_jupyter.attach("demo")`` -> an ipyparallel Client on all MPI ranks."""
    with Platform(url, token) as platform:
        return platform.clusters.get(name).attach(timeout=timeout)
