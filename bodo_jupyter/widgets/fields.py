"""A declared form's fields as ipywidgets, and their values back as form values.

Pure: no I/O, no event loop, no kernel needed (ipywidgets makes widgets without
one). The form (:mod:`bodo_jupyter.contract.forms`) says each field's label,
help, kind, choices, ``show_if`` and whether it is advanced; the contract says
its default. Nothing is checked here: :meth:`Form.build` (the contract) and the
API are the judges, and their errors come back to the field they name
(:meth:`FormView.show_error`, with :meth:`Form.field_for`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

import ipywidgets as w

from bodo_jupyter.contract.forms import Field, Form

LABEL_WIDTH = "11em"
ERROR_STYLE = "color: var(--jp-error-color1, #d32f2f)"
HELP_STYLE = "color: var(--jp-ui-font-color2, #616161); font-size: 90%"
INTEGER = re.compile(r"^-?\d+$")
#: A choice list's value meaning "not given" (the contract's default applies).
NONE = ""

Choice = tuple[str, str]  # (label, value)


def make_input(form: Form, f: Field) -> w.Widget:
    """The input widget of one field, by its kind."""
    style = {"description_width": LABEL_WIDTH}
    layout = w.Layout(width="100%", max_width="42em")
    common: dict[str, Any] = {"description": f.label, "style": style, "layout": layout}
    default = form.default_of(f)
    placeholder = f.placeholder or ("" if default in (None, "", False) else str(default))
    if f.kind == "boolean":
        return w.Checkbox(value=bool(default), indent=True, **common)
    if f.kind == "choice":
        options: list[Choice] = [(c, c) for c in f.choices]
        if not options or not form.required(f):
            options = [("", NONE), *options]
        value = str(default) if default is not None and str(default) in f.choices \
            else options[0][1]
        return w.Dropdown(options=options, value=value, **common)
    if f.kind == "secret":
        return w.Password(placeholder=placeholder, **common)
    if f.kind == "pairs":
        return w.Textarea(placeholder=placeholder or "NAME=value, one a line", rows=3,
                          **common)
    if f.kind == "datetime":
        return w.Text(placeholder=placeholder or "2030-01-31T09:00:00+01:00", **common)
    return w.Text(placeholder=placeholder, **common)  # text, integer


def plain(markup: str) -> str:
    """An HTML widget's value as the words it shows."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def text(message: str, style: str) -> str:
    return f'<span style="{style}">{html.escape(message)}</span>' if message else ""


class FieldView:
    """One field: its input, its help under it, and its error (red, in words)."""

    def __init__(self, form: Form, f: Field):
        self.form = form
        self.field = f
        self.input = make_input(form, f)
        self.help = w.HTML(text(form.help_of(f), HELP_STYLE),
                           layout=w.Layout(margin=f"0 0 0 {LABEL_WIDTH}"))
        self.error = w.HTML("", layout=w.Layout(margin=f"0 0 0 {LABEL_WIDTH}"))
        self.note = w.HTML("", layout=w.Layout(margin=f"0 0 0 {LABEL_WIDTH}"))
        self.box = w.VBox([self.input, self.note, self.error, self.help])

    @property
    def raw(self) -> Any:
        return self.input.value

    @property
    def value(self) -> Any:
        """The form value: None when not given; integers as int (anything else as
        typed, for the contract to name); pairs as a dict."""
        kind, raw = self.field.kind, self.input.value
        if kind == "boolean":
            return bool(raw)
        if kind == "secret":
            return raw or None
        text_value = str(raw if raw is not None else "").strip()
        if text_value == "":
            return None
        if kind == "integer":
            return int(text_value) if INTEGER.match(text_value) else text_value
        if kind == "pairs":
            pairs: dict[str, str] = {}
            for line in text_value.splitlines():
                line = line.strip()
                if line:
                    name, _, val = line.partition("=")
                    pairs[name.strip()] = val
            return pairs
        return text_value

    @value.setter
    def value(self, v: Any) -> None:
        if self.field.kind == "pairs" and isinstance(v, Mapping):
            v = "\n".join(f"{k}={val}" for k, val in v.items())
        elif self.field.kind == "choice":
            v = NONE if v is None else str(v)
        elif self.field.kind != "boolean":
            v = "" if v is None else str(v)
        self.input.value = v

    def set_choices(self, choices: Iterable[Choice], note: str = "") -> None:
        """Live choices; the value kept when it is still offered. ``note`` says why a
        list is empty (shown in words instead of an empty list)."""
        options = list(choices)
        if not self.form.required(self.field) or not options:
            options = [("", NONE), *options]
        keep = self.input.value
        self.input.options = options
        values = [v for _, v in options]
        self.input.value = keep if keep in values else values[0] if values else NONE
        self.note.value = text(note, ERROR_STYLE)

    @property
    def error_text(self) -> str:
        return plain(self.error.value)

    @property
    def note_text(self) -> str:
        return plain(self.note.value)

    def show_error(self, message: str) -> None:
        self.error.value = text(message, ERROR_STYLE)

    def clear_error(self) -> None:
        self.error.value = ""

    @property
    def shown(self) -> bool:
        return self.box.layout.display != "none"

    @shown.setter
    def shown(self, on: bool) -> None:
        self.box.layout.display = None if on else "none"


class FormView:
    """A declared form as widgets: its fields (advanced ones behind *Show advanced*,
    ``show_if`` ones only when they apply), a general error line and the submit button.
    The panel that owns it wires the button and the live choices."""

    def __init__(self, form: Form, submit_label: str = "Create"):
        self.form = form
        self.fields = {f.name: FieldView(form, f) for f in form.fields}
        self.advanced = w.ToggleButton(value=False, description="Show advanced",
                                       icon="sliders")
        self.message = w.HTML("")
        self.submit = w.Button(description=submit_label, button_style="primary")
        self.cancel = w.Button(description="Cancel")
        title = w.HTML(f"<b>{html.escape(form.title)}</b>"
                       + (f"<br>{text(form.help, HELP_STYLE)}" if form.help else ""))
        has_advanced = any(f.advanced for f in form.fields)
        self.box = w.VBox([title, *[v.box for v in self.fields.values()],
                           *([self.advanced] if has_advanced else []),
                           self.message, w.HBox([self.submit, self.cancel])])
        for v in self.fields.values():
            v.input.observe(self._changed, names="value")
        self.advanced.observe(lambda _: self.update(), names="value")
        self.update()

    def __getitem__(self, name: str) -> FieldView:
        return self.fields[name]

    def _changed(self, change: Any) -> None:
        for v in self.fields.values():
            if v.input is change["owner"]:
                v.clear_error()
        self.update()

    def visible(self, f: Field) -> bool:
        """Shown now: not advanced (or advanced shown), and its ``show_if`` holds."""
        if f.advanced and not self.advanced.value:
            return False
        for other, want in f.show_if.items():
            wants = [str(x) for x in (want if isinstance(want, (list, tuple)) else [want])]
            raw = self.fields[other].raw
            if str(raw if raw is not None else "") not in wants:
                return False
        return True

    def update(self) -> None:
        for v in self.fields.values():
            v.shown = self.visible(v.field)

    def values(self) -> dict[str, Any]:
        """The shown fields' values, those not given left out (as Form.build wants)."""
        out: dict[str, Any] = {}
        for v in self.fields.values():
            if not self.visible(v.field):
                continue
            value = v.value
            if v.field.kind == "boolean" and not value:
                continue
            if value is not None:
                out[v.field.name] = value
        return out

    def set_values(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            self.fields[name].value = value

    def clear_errors(self) -> None:
        for v in self.fields.values():
            v.clear_error()
        self.message.value = ""

    def show_error(self, field: str | None, message: str) -> FieldView | None:
        """An error (the contract's or the API's) under the field its dotted ``field``
        names, when that field is shown; else above the buttons. Returns the field."""
        f = self.form.field_for(field)
        if f is not None and self.visible(f):
            view = self.fields[f.name]
            view.show_error(message)
            return view
        self.message.value = text(f"{f.label}: {message}" if f else message, ERROR_STYLE)
        return None

    @property
    def message_text(self) -> str:
        return plain(self.message.value)

    def clear_secrets(self) -> None:
        """Secrets never stay in a widget's value after a submit."""
        for v in self.fields.values():
            if v.field.kind == "secret":
                v.input.value = ""

    def choice_fields(self) -> list[FieldView]:
        return [v for v in self.fields.values() if v.field.choices_from]
