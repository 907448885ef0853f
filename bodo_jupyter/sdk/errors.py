"""Errors the SDK raises: one sentence for people, plus what a program needs."""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """An error from the API (or from reaching it).

    ``status`` is the HTTP status (0 when the API could not be reached),
    ``code`` the API's stable error code, ``field`` the request field at fault
    (a dotted path such as ``schedule.cron``) when there is one.
    """

    def __init__(self, message: str, status: int = 0, code: str = "",
                 field: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.field = field


class TaskFailed(APIError):
    """A task (or a job run) ended without finishing."""

    def __init__(self, message: str, code: str, task: Any = None):
        super().__init__(message, code=code)
        self.task = task
