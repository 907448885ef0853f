"""A %px cell shows every rank's output, also output that arrives after the result.

ipyparallel's %px streams output only until the result is in; on a loaded machine a
rank's print could arrive later and never show (seen in CI: rank 2 missing from a
`%px print(...)`). The magics' view makes ``get()`` wait for the output first.
"""

from __future__ import annotations

from typing import Any

from bodo_jupyter.magics import WholeOutput


class Result:
    """An AsyncResult whose output is still on its way when the result is in."""

    def __init__(self, log: list[str]):
        self.log = log
        self.output_complete = False

    def wait(self, timeout: Any = None) -> None:
        self.log.append(f"wait {timeout}")

    def ready(self) -> bool:
        return True

    def wait_for_output(self, timeout: Any = -1) -> bool:
        self.log.append(f"wait_for_output {timeout}")
        self.output_complete = True
        return True

    def get(self, timeout: Any = None, return_exceptions: Any = None) -> list[int]:
        self.log.append(f"get (output complete: {self.output_complete})")
        return [0, 1, 2, 3]


class View:
    def __init__(self) -> None:
        self.block = False
        self.targets = "all"
        self.log: list[str] = []

    def execute(self, code: str, silent: bool = False, block: bool = False) -> Result:
        self.log.append(f"execute {code!r}")
        return Result(self.log)


def test_get_returns_only_once_the_output_is_complete():
    """The result first (an error is raised after the output is in, too), then the
    output; get() returns when both are there."""
    view = View()
    whole = WholeOutput(view)
    whole.block = True  # the view's own attributes, read and written through
    assert view.block is True and whole.targets == "all"
    result = whole.execute("print(1)", silent=False, block=False)
    assert result.get() == [0, 1, 2, 3]
    assert view.log == ["execute 'print(1)'", "get (output complete: False)",
                        "wait_for_output 10.0"]
