"""The root of the ``bodo-jupyter`` command and what every command shares.

Errors are one line on stderr, never a traceback: exit status 1 for errors
from the platform (a bad value names the flag you typed), 2 for a command
line that cannot be read (unknown option, missing argument).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from bodo_jupyter.sdk import APIError, Platform, TaskFailed

from .forms import FORM_KEY, flag_message
from .output import fail


class CLIGroup(click.Group):
    """Turns platform errors and click's usage errors into one-line messages."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            fail("aborted", 1)
        except click.UsageError as e:
            where = e.ctx.command_path if e.ctx is not None else "bodo-jupyter"
            fail(f"{e.format_message()} (see `{where} --help`)", 2)
        except click.ClickException as e:
            fail(e.format_message(), e.exit_code)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TaskFailed as e:
            task = e.task
            if task is not None and getattr(task, "data", None) is not None \
                    and task.data.kind:
                fail(f"{task.data.kind} {task.status}: "
                     f"{task.data.error or 'no reason given'} "
                     f"(see `bodo-jupyter task show {task.id}`)")
            fail(e.message)
        except APIError as e:
            form = ctx.meta.get(FORM_KEY)
            if form is not None:
                fail(flag_message(form, e.field, e.message))
            fail(option_message(ctx.meta.get(COMMAND_KEY), e.field, e.message))
        except KeyboardInterrupt:
            fail("interrupted", 130)


COMMAND_KEY = "bodo_command"


def option_message(command: click.Command | None, field: str | None, message: str) -> str:
    """An error about a query parameter, under the option that sent it (``--status``)."""
    if command is None or not field:
        return message
    for param in command.params:
        if isinstance(param, click.Option) and param.name == field and param.opts:
            return f"{param.opts[0]}: {message}"
    return message


def platform(ctx: click.Context) -> Platform:
    """The SDK client, made once per command from --url / the environment."""
    ctx.meta[COMMAND_KEY] = ctx.command
    root = ctx.find_root()
    obj = root.obj or {}
    if "platform" not in obj:
        obj["platform"] = Platform(url=obj.get("url"))
        root.obj = obj
    return obj["platform"]  # type: ignore[no-any-return]


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)


@click.group(cls=CLIGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="BODO_JUPYTER_URL", default=None,
              help="API URL, ending in /bodo/api/v1 (default: $BODO_JUPYTER_URL or the "
              "running control plane). The token is read from $BODO_JUPYTER_TOKEN, never "
              "from a flag.")
@click.version_option(package_name="bodo-jupyter")
@click.pass_context
def main(ctx: click.Context, url: str | None) -> None:
    """bodo-jupyter: MPI clusters, notebooks and jobs from Jupyter."""
    ctx.obj = {"url": url}
