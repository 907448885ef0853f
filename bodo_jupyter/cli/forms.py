"""Forms (``bodo_jupyter.contract.forms``) as click options, and errors as their flags.

The contract says a field's type, bounds and default; the form says its label,
help and flag. Options have no click default: a flag left out is left out of
the request, so the contract's default applies, and ``--help`` shows it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import click

from bodo_jupyter.contract.forms import Field, Form
from bodo_jupyter.contract.runtime import ContractError, Model

from .output import fail

FORM_KEY = "bodo_form"


def form_params(form: Form) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: the form's fields as the command's arguments and options."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        for fld in reversed([x for x in form.fields if x.cli]):
            f = _param(form, fld)(f)
        return f

    return decorate


def _param(form: Form, f: Field) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    if f.argument:
        return click.argument(f.name)
    help_text = form.help_of(f)
    default = form.default_of(f)
    if default not in (None, False, "") and f.kind != "boolean":
        help_text += f" [default: {default}]"
    names = [f.cli_flag, *([f.short] if f.short else [])]
    if f.kind == "boolean":
        return click.option(*names, f.name, is_flag=True, help=help_text)
    required = form.required(f) and "." not in f.api  # nested parts have other ways
    if f.kind == "integer":
        return click.option(*names, f.name, type=int, help=help_text)
    if f.kind == "pairs":
        return click.option(*names, f.name, multiple=True, metavar="NAME=VALUE",
                            help=help_text)
    if f.kind == "secret":
        help_text += (" Give the NAME of an environment variable that holds it: the "
                      "secret itself is never on the command line.")
        return click.option(*names, f.name, metavar="VAR", help=help_text)
    metavar = f.name.upper() if f.kind != "datetime" else "TIME"
    return click.option(*names, f.name, metavar=metavar, help=help_text,
                        required=required)


def values(form: Form, params: Mapping[str, Any]) -> dict[str, Any]:
    """Click's parameters as form values: pairs as a dict, secrets read from the
    environment variable named on the command line (never the secret itself)."""
    out: dict[str, Any] = {}
    for f in form.fields:
        if not f.cli or f.name not in params:
            continue
        v = params[f.name]
        if v is None or v == ():
            continue
        if f.kind == "pairs":
            pairs = {}
            for item in v:
                k, sep, val = item.partition("=")
                if not sep or not k:
                    fail(f"{f.cli_flag} takes NAME=VALUE, got {item!r}", 2)
                pairs[k] = val
            v = pairs
        elif f.kind == "secret":
            secret = os.environ.get(v)
            if secret is None:
                fail(f"{f.cli_flag} {v}: that environment variable is not set", 2)
            v = secret
        elif f.kind == "boolean" and v is False:
            continue
        out[f.name] = v
    return out


def build(form: Form, params: Mapping[str, Any]) -> Model:
    """The request the form's values make; a bad value fails here, naming its flag,
    before anything is sent."""
    click.get_current_context().meta[FORM_KEY] = form
    try:
        return form.build(values(form, params))
    except ContractError as e:
        fail(flag_message(form, e.field, e.message))


def flag_message(form: Form | None, path: str | None, message: str) -> str:
    """An error about the request field ``path`` as the user typed it: the flag first.

    ``timeout_s must be at least 1, got -5`` -> ``--timeout must be at least 1, got -5``;
    a message that does not start with the field gets the flag in front.
    """
    if form is None or not path:
        return message
    f = form.field_for(path)
    if f is None or not f.cli:
        return message
    flag = f.cli_flag
    rest = path[len(f.api) + 1:] if path != f.api else ""
    shown = f"{flag} {rest}" if rest else flag  # env.FOO -> --env FOO
    for prefix in (path, f.api):
        if message.startswith(prefix + " ") or message.startswith(prefix + ":"):
            return shown + message[len(prefix):]
    return f"{shown}: {message}"
