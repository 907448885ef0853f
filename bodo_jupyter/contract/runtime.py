"""What the generated models are made of (hand-written; ``models.py`` uses it).

``models.py`` is generated from ``openapi.yaml`` by ``codegen.py``: it only
declares enums and dataclasses, and states each field's schema with
:func:`meta`. Everything models *do* is here, once, for all of them:

* ``Model.parse(data, path="")`` -- strict, for request bodies (the server):
  checks everything the schema says, fills defaults, and raises
  :class:`ContractError` naming the dotted path of the first bad input.
* ``Model.from_dict(data)`` -- lenient, for responses (the clients): ignores
  unknown keys, fills missing ones with their default or None, keeps enum
  values it does not know as plain strings, builds nested models.
* ``model.to_dict()`` -- JSON-ready: nested models as dicts, enums as their
  values, every required key present, optional keys that are None left out.
* ``Model.field_info(name)`` -- a field's constraints as the contract states
  them (``CreateJobRequest.field_info("retries").maximum == 10``), so that
  forms and the CLI need not repeat numbers.

Enum fields are annotated with their enum class; after ``from_dict`` an
unknown value stays a plain ``str``. Enum members are ``str`` too, so
comparing with strings works either way.

Standard library only: this module is imported by servers and clients alike.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Self

__all__ = ["UNSET", "ContractError", "FieldInfo", "Model", "Schema", "meta"]

# What each JSON type is called in messages.
WORDS = {"string": "a string", "integer": "a whole number", "number": "a number",
         "boolean": "true or false", "object": "an object", "array": "a list",
         "null": "null"}


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # a schema without ``const`` or ``default``


class ContractError(ValueError):
    """Input that breaks the contract.

    ``field`` is the dotted path of the bad input (``name``, ``schedule.cron``,
    ``cluster.instance_type``, ``env.FOO``, ``items[2]``; ``""`` for the whole
    body) and ``message`` one sentence for people that starts with that path
    and names the bad value.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)  # both in args: it pickles and copies whole
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, kw_only=True)
class Schema:
    """One JSON schema of the contract, reduced to what the contract uses.

    ``type`` is the JSON type of a non-null value (``string``, ``integer``,
    ``number``, ``boolean``, ``object``, ``array``), or None for "any" and for
    unions (``one_of``: the alternatives of a ``oneOf``/``anyOf``, told apart
    by JSON type). ``ref`` is the generated class a value is built as: a
    :class:`Model` (type ``object``) or an enum (type ``string``; ``enum`` is
    then its values). An ``object`` without ``ref`` is a map: ``values`` is
    the schema of its values (None: anything), ``keys`` that of its keys.
    ``const`` and ``default`` are :data:`UNSET` when the schema has none.
    ``extensions`` holds the ``x-`` keys, such as ``x-pattern-message``.
    """

    type: str | None = None
    nullable: bool = False
    ref: type | None = None
    enum: tuple[Any, ...] | None = None
    const: Any = UNSET
    format: str | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    items: Schema | None = None
    values: Schema | None = None
    keys: Schema | None = None
    one_of: tuple[Schema, ...] = ()
    default: Any = UNSET
    description: str | None = None
    write_only: bool = False
    extensions: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ref is not None:
            if issubclass(self.ref, enum.Enum):
                object.__setattr__(self, "type", "string")
                object.__setattr__(self, "enum", tuple(m.value for m in self.ref))
            else:
                object.__setattr__(self, "type", "object")

    @property
    def pattern_message(self) -> str | None:
        """The pattern's rule in words (``x-pattern-message``), if the contract has one."""
        return self.extensions.get("x-pattern-message")

    def describe(self) -> str:
        """What a valid value is, in words: ``a whole number or null``."""
        if self.one_of:
            words = [a.describe() for a in self.one_of]
        elif self.const is not UNSET:
            words = [show(self.const)]
        elif self.enum is not None:
            words = ["one of " + ", ".join(map(str, self.enum))]
        else:
            words = [WORDS.get(self.type or "", "anything")]
        if self.nullable:
            words.append("null")
        return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]

    def fits(self, value: Any) -> bool:
        """Whether ``value`` has a JSON type this schema allows (nothing more is checked)."""
        if value is None:
            return self.nullable
        if self.one_of:
            return any(a.fits(value) for a in self.one_of)
        kind = json_type(value)
        return (self.type is None or kind == self.type
                or (self.type == "number" and kind == "integer"))


@dataclass(frozen=True, kw_only=True)
class FieldInfo(Schema):
    """A field of a model: its schema, its JSON ``name``, its Python ``attr``, and
    whether it is ``required``. ``default`` is the schema's default (UNSET if none)."""

    name: str = ""
    attr: str = ""
    required: bool = False

    def initial(self) -> Any:
        """The value of the field when the input leaves it out."""
        return None if self.default is UNSET else copy.deepcopy(self.default)


def meta(**schema: Any) -> dict[str, FieldInfo]:
    """Dataclass field metadata of a generated model field (``field(metadata=meta(...))``).

    Takes :class:`FieldInfo` arguments; ``name`` defaults to the attribute's name.
    """
    return {"contract": FieldInfo(**schema)}


class Model:
    """Base of every generated model: a ``@dataclass(kw_only=True)`` whose fields carry
    their schema (see :func:`meta`). ``closed=True`` in the class statement means
    ``additionalProperties: false``: :meth:`parse` refuses unknown fields."""

    _closed: ClassVar[bool] = False

    def __init_subclass__(cls, closed: bool | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if closed is not None:
            cls._closed = closed

    @classmethod
    def fields_info(cls) -> tuple[FieldInfo, ...]:
        """Every field, in the contract's order."""
        return _fields_info(cls)

    @classmethod
    def field_info(cls, name: str) -> FieldInfo:
        """One field, by JSON name (or Python attribute name)."""
        for f in _fields_info(cls):
            if name in (f.name, f.attr):
                return f
        raise KeyError(f"{cls.__name__} has no field {name!r}")

    @classmethod
    def parse(cls, data: Any, path: str = "") -> Self:
        """Strict: ``data`` (parsed JSON) checked against everything the contract says,
        with defaults filled in. Raises :class:`ContractError` on the first problem;
        ``path`` prefixes the field names in it (for a model inside another)."""
        if not isinstance(data, dict):
            if not path:
                raise ContractError("", "the request body must be a JSON object")
            raise ContractError(path, f"{path} must be an object, got {show(data)}")
        infos = _fields_info(cls)
        if cls._closed:
            known = {f.name for f in infos}
            unknown = sorted(str(k) for k in data if k not in known)
            if unknown:
                names = ", ".join(repr(join(path, k)) for k in unknown)
                raise ContractError(
                    join(path, unknown[0]),
                    f"unknown field{'s' if len(unknown) > 1 else ''} {names}; "
                    f"allowed: {', '.join(f.name for f in infos)}")
        values = {}
        for f in infos:
            where = join(path, f.name)
            if f.name in data:
                values[f.attr] = check(f, data[f.name], where)
            elif f.required:
                raise ContractError(where, f"{where} is required")
            else:
                values[f.attr] = f.initial()
        return cls(**values)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Lenient: builds the model from what a server sent, never refusing what a newer
        server may send (unknown keys are ignored, unknown enum values stay strings,
        missing keys become their default or None). Nothing is checked."""
        if not isinstance(data, Mapping):
            raise ContractError("", f"{cls.__name__} is made from an object, got {show(data)}")
        values = {}
        for f, plain in _loose_plan(cls):
            if f.name not in data:
                values[f.attr] = f.initial()
                continue
            value = data[f.name]
            values[f.attr] = value if plain and type(value) in _IMMUTABLE else loose(f, value)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The model as JSON-ready data: every required key (null where None), optional
        keys only when not None; nested models as dicts, enums as their values."""
        out = {}
        for f in _fields_info(type(self)):
            value = getattr(self, f.attr)
            if value is not None or f.required:
                out[f.name] = dump(value)
        return out


@cache
def _loose_plan(cls: type[Model]) -> tuple[tuple[FieldInfo, bool], ...]:
    """Each field, and whether a str, number or boolean in it is taken as it is."""
    return tuple((f, f.ref is None and not f.one_of) for f in _fields_info(cls))


@cache
def _fields_info(cls: type[Model]) -> tuple[FieldInfo, ...]:
    out = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        info = f.metadata.get("contract")
        if info is not None:
            out.append(dataclasses.replace(info, name=info.name or f.name, attr=f.name))
    return tuple(out)


# -- strict -------------------------------------------------------------------------------


def check(s: Schema, value: Any, path: str) -> Any:
    """``value`` checked against ``s`` (raising :class:`ContractError` at ``path``), as
    the model field holds it: models built, enum values as enum members."""
    if value is None:
        if s.nullable:
            return None
        raise ContractError(path, f"{path} must be {s.describe()}, got null")
    if s.one_of:
        fitting = [a for a in s.one_of if a.fits(value)]
        if not fitting:
            raise ContractError(path, f"{path} must be {s.describe()}, got {show(value)}")
        first: ContractError | None = None
        for alternative in fitting:
            try:
                return check(alternative, value, path)
            except ContractError as e:
                first = first or e
        assert first is not None
        if first.field == path and all(a.const is not UNSET or a.enum is not None
                                       for a in fitting):
            # "schedule must be 'now', an object or null", rather than "must be 'now'"
            raise ContractError(path, f"{path} must be {s.describe()}, got {show(value)}")
        raise first
    if s.enum is not None and (not s.fits(value) or value not in s.enum):
        raise ContractError(path, f"{path} must be {s.describe()}, got {show(value)}")
    if not s.fits(value):
        raise ContractError(path, f"{path} must be {s.describe()}, got {show(value)}")
    if s.const is not UNSET and value != s.const:
        raise ContractError(path, f"{path} must be {s.describe()}, got {show(value)}")
    if isinstance(s.ref, type) and issubclass(s.ref, Model):
        return s.ref.parse(value, path)
    if isinstance(value, str):
        check_text(s, value, path)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if s.minimum is not None and value < s.minimum:
            raise ContractError(path, f"{path} must be at least {s.minimum}, got {show(value)}")
        if s.maximum is not None and value > s.maximum:
            raise ContractError(path, f"{path} must be at most {s.maximum}, got {show(value)}")
    elif isinstance(value, list):
        if s.items is None:
            return copy.deepcopy(value)
        return [check(s.items, v, f"{path}[{i}]") for i, v in enumerate(value)]
    elif isinstance(value, dict):
        out = {}
        for k, v in value.items():
            where = join(path, k)
            if s.keys is not None:
                check_key(s.keys, k, where)
            out[k] = check(s.values, v, where) if s.values is not None else copy.deepcopy(v)
        return out
    if isinstance(s.ref, type) and issubclass(s.ref, enum.Enum):
        return s.ref(value)
    return value


def check_text(s: Schema, value: str, path: str) -> None:
    if s.min_length is not None and len(value) < s.min_length:
        if s.min_length == 1:
            raise ContractError(path, f"{path} must not be empty")
        raise ContractError(path, f"{path} must be at least {s.min_length} characters long, "
                                  f"got {show(value)}")
    if s.max_length is not None and len(value) > s.max_length:
        raise ContractError(path, f"{path} is longer than {s.max_length} characters")
    if s.pattern is not None and not regex(s.pattern).search(value):
        rule = (f"use {s.pattern_message}" if s.pattern_message
                else f"it must match {s.pattern}")
        raise ContractError(path, f"{path} {show(value)} is invalid: {rule}")


def check_key(s: Schema, key: str, path: str) -> None:
    """A map's key (``propertyNames``): ``env.9X is not a valid name: use ...``."""
    if s.pattern is not None and not regex(s.pattern).search(key):
        rule = (f"use {s.pattern_message}" if s.pattern_message
                else f"it must match {s.pattern}")
        raise ContractError(path, f"{path} is not a valid name: {rule}")
    check_text(s, key, path)


@cache
def regex(pattern: str) -> re.Pattern[str]:
    """A JSON Schema pattern: ASCII classes, and a final ``$`` that is the very end
    (Python's ``$`` also matches before a final newline)."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern, re.ASCII)


# -- lenient ------------------------------------------------------------------------------


def loose(s: Schema, value: Any) -> Any:
    """``value`` as a field holds it, built without checking (see ``Model.from_dict``)."""
    if value is None:
        return None
    if s.one_of:
        for alternative in s.one_of:
            if alternative.fits(value):
                return loose(alternative, value)
        return copy.deepcopy(value)
    ref = s.ref
    if ref is not None:
        if _is_model(ref):
            return ref.from_dict(value) if isinstance(value, Mapping) else copy.deepcopy(value)
        if _is_enum(ref):
            try:
                return ref(value)
            except ValueError:
                return value  # a value this client does not know (yet)
    if type(value) in _IMMUTABLE:  # the common case: nothing to build or copy
        return value
    if isinstance(value, list) and s.items is not None:
        return [loose(s.items, v) for v in value]
    if isinstance(value, Mapping) and s.values is not None:
        return {k: loose(s.values, v) for k, v in value.items()}
    return copy.deepcopy(value)


_IMMUTABLE = frozenset({str, int, float, bool})


@cache
def _is_model(ref: type) -> bool:
    return issubclass(ref, Model)


@cache
def _is_enum(ref: type) -> bool:
    return issubclass(ref, enum.Enum)


# -- out ----------------------------------------------------------------------------------


def dump(value: Any) -> Any:
    """JSON-ready data: models as dicts, enums as their values."""
    if isinstance(value, Model):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [dump(v) for v in value]
    if isinstance(value, Mapping):
        return {k: dump(v) for k, v in value.items()}
    return value


# -- words --------------------------------------------------------------------------------


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def show(value: Any, limit: int = 60) -> str:
    """A value in a message: strings quoted, other values as JSON; long ones cut."""
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, default=repr)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def join(path: str, name: object) -> str:
    return f"{path}.{name}" if path else str(name)


# -- hand-written additions to generated classes ------------------------------------------


class TaskStatusExtras:
    """Mixed into the generated ``TaskStatus`` enum."""

    @property
    def done(self) -> bool:
        """The task has ended: ``FINISHED``, ``FAILED`` or ``CANCELLED``."""
        return str(self) in ("FINISHED", "FAILED", "CANCELLED")


# Generated class name -> mixin it gets (before its base). codegen.py reads this.
EXTRAS: dict[str, type] = {"TaskStatus": TaskStatusExtras}
