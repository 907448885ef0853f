"""A declared form (``contract/forms.py``) as the HTML of JupyterHub's spawn options page.

Pure: a form, the live choices and what the user typed go in, HTML comes out; the
spawner fetches the choices from the platform. The page posts flat values back, which
:func:`form_values` turns into the form's values; the form's ``build`` and the API
check them (the hub API can send anything, so nothing here is trusted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from bodo_jupyter.contract.forms import Field, Form

#: A choice as (value, label).
Choice = tuple[str, str]


def _input(form: Form, f: Field, choices: Sequence[Choice], value: Any,
           error: str | None) -> str:
    required = form.required(f)
    name = escape(f.name, quote=True)
    attrs = f'id="bodo-{name}" name="{name}" class="form-control"'
    if required:
        attrs += " required"
    if f.kind == "choice":
        options = [] if required else ['<option value="">(none)</option>']
        for v, label in choices:
            sel = " selected" if str(value or "") == v else ""
            options.append(f'<option value="{escape(v, quote=True)}"{sel}>{escape(label)}'
                           "</option>")
        if not choices and required:
            options.append('<option value="" disabled selected>(none available)</option>')
        control = f"<select {attrs}>{''.join(options)}</select>"
    elif f.kind == "boolean":
        checked = " checked" if value else ""
        control = f'<input type="checkbox" id="bodo-{name}" name="{name}" value="1"{checked}>'
    else:
        info = form.info(f)
        extra = ""
        if info.max_length:
            extra += f' maxlength="{info.max_length}"'
        if info.pattern:
            extra += f' pattern="{escape(info.pattern, quote=True)}"'
        kind = "number" if f.kind == "integer" else "text"
        shown = "" if value is None else escape(str(value), quote=True)
        placeholder = escape(f.placeholder, quote=True)
        control = (f'<input type="{kind}" {attrs} value="{shown}" '
                   f'placeholder="{placeholder}"{extra}>')
    help_text = f'<small class="form-text text-muted">{escape(form.help_of(f))}</small>'
    err = (f'<div class="text-danger" id="bodo-{name}-error">{escape(error)}</div>'
           if error else "")
    group = "form-group has-error" if error else "form-group"
    return (f'<div class="{group}"><label for="bodo-{name}">{escape(f.label)}</label>'
            f"{control}{help_text}{err}</div>")


def render(form: Form, choices: Mapping[str, Sequence[Choice]],
           values: Mapping[str, Any] | None = None,
           errors: Mapping[str, str] | None = None, notice: str = "") -> str:
    """The form's fields as HTML inputs (the hub wraps them in its own <form>)."""
    values = values or {}
    errors = errors or {}
    parts = [f"<p>{escape(form.help)}</p>"] if form.help else []
    if notice:
        parts.append(f'<div class="alert alert-warning" id="bodo-notice">{escape(notice)}'
                     "</div>")
    for f in form.fields:
        if f.advanced:
            continue
        opts = choices.get(f.choices_from or f.name, ()) if f.kind == "choice" else ()
        if f.kind == "choice" and f.choices and not opts:
            opts = [(c, c) for c in f.choices]
        parts.append(_input(form, f, opts, values.get(f.name, form.default_of(f)),
                            errors.get(f.name)))
    return "\n".join(parts)


def form_values(form: Form, formdata: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """What the options page posted (lists of strings) -> the form's values: empty
    fields left out, checkboxes true when present, integers as given (the contract
    checks them)."""
    out: dict[str, Any] = {}
    for f in form.fields:
        raw = formdata.get(f.name)
        if f.kind == "boolean":
            if raw:
                out[f.name] = raw[0] not in ("", "0", "false", "off")
            continue
        if not raw or raw[0] == "":
            continue
        v: Any = raw[0].strip()
        if f.kind == "integer":
            try:
                v = int(v)
            except ValueError:
                pass  # the contract says what is wrong with it
        out[f.name] = v
    return out
