"""Python and TypeScript types generated from ``openapi.yaml``.

    python -m bodo_jupyter.contract.codegen [--check] [ROOT]

writes ``bodo_jupyter/contract/models.py`` and ``labextension/src/generated/api.ts``
under ROOT (default: the repository this package is in). With ``--check`` it
writes nothing and exits 1, showing a diff, when a committed file differs from
what it would write; ``tests/test_contract.py`` runs the same check.

What is generated from what:

* a named string-enum schema -> an ``enum.StrEnum`` (members: the values in
  UPPER_SNAKE) / a ``const`` array of the values and its union type;
* an object schema, named or inline (then named Parent+Property, e.g.
  ``ClusterLastTask``) -> a ``@dataclass(kw_only=True)`` subclass of
  ``runtime.Model`` whose fields carry their schema / an ``interface``;
* ``allOf: [{$ref: Base}, {required: [...]}]`` -> a subclass of Base (an
  interface extending it) that redeclares the fields it makes required;
* any other named schema (``Timestamp``, ``Progress``) is written out where
  it is used.

Enums must be named (an inline enum is an error), and a schema keyword the
runtime does not check is an error rather than a constraint silently dropped.
Hand-written additions to a generated class are mixins listed in
``runtime.EXTRAS``.

A dev tool: it needs PyYAML, and nothing at runtime imports it.
"""

from __future__ import annotations

import argparse
import difflib
import json
import keyword
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import runtime
from .runtime import UNSET

ROOT = Path(__file__).resolve().parents[2]
SPEC = Path("bodo_jupyter/contract/openapi.yaml")
MODELS = Path("bodo_jupyter/contract/models.py")
TYPESCRIPT = Path("labextension/src/generated/api.ts")
FORMS_TS = Path("labextension/src/generated/forms.ts")
COMMAND = "python -m bodo_jupyter.contract.codegen"
WIDTH = 100

# Keywords the generated code understands; anything else (but x- extensions) is an error.
KNOWN = {"type", "enum", "const", "default", "description", "format", "minimum", "maximum",
         "minLength", "maxLength", "pattern", "items", "properties", "required",
         "additionalProperties", "propertyNames", "oneOf", "anyOf", "allOf", "$ref",
         "example", "examples", "writeOnly", "readOnly", "title"}
# Keywords a $ref may have beside it (they annotate the use, not the referenced type).
BESIDE_REF = {"$ref", "description", "default", "writeOnly", "readOnly", "example", "examples",
              "title"}
CONSTRAINTS = (("minimum", "minimum"), ("maximum", "maximum"), ("minLength", "min_length"),
               ("maxLength", "max_length"), ("pattern", "pattern"), ("format", "format"),
               ("const", "const"))
# Names the class bodies of models.py use: a field may not hide them.
RESERVED = {"field", "meta", "Schema", "Model", "dataclass", "enum", "Any", "parse",
            "from_dict", "to_dict", "field_info", "fields_info"}


class CodegenError(Exception):
    """The document uses something the generator (or the runtime) cannot express."""


# -- what the document says, normalised ---------------------------------------------------


@dataclass
class Sch:
    """A schema as runtime.Schema holds it, with ``ref`` a generated class's name."""

    type: str | None = None
    nullable: bool = False
    ref: str | None = None
    const: Any = UNSET
    format: str | None = None
    minimum: Any = None
    maximum: Any = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    items: Sch | None = None
    values: Sch | None = None
    keys: Sch | None = None
    one_of: list[Sch] = field(default_factory=list)
    default: Any = UNSET
    description: str | None = None
    write_only: bool = False
    extensions: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prop:
    name: str
    attr: str
    required: bool
    schema: Sch


@dataclass
class EnumDef:
    name: str
    values: list[str]
    description: str | None


@dataclass
class ModelDef:
    name: str
    description: str | None
    closed: bool
    props: list[Prop]  # every field, the base's included
    base: str | None = None
    own: list[Prop] = field(default_factory=list)  # the fields this class declares


@dataclass
class Contract:
    enums: dict[str, EnumDef]
    models: dict[str, ModelDef]  # each after the models it uses


def contract(spec: dict[str, Any]) -> Contract:
    """The document's schemas as enums and models."""
    return _Reader(spec).read()


class _Reader:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.schemas: dict[str, Any] = spec["components"]["schemas"]
        self.kinds = {name: self.kind(raw) for name, raw in self.schemas.items()}
        self.enums: dict[str, EnumDef] = {}
        self.models: dict[str, ModelDef] = {}
        self.reading: set[str] = set()

    @staticmethod
    def kind(raw: dict[str, Any]) -> str:
        if "enum" in raw:
            return "enum"
        if "allOf" in raw or ("properties" in raw and "object" in as_list(raw.get("type"))):
            return "model"
        return "alias"  # written out where it is used

    def read(self) -> Contract:
        for name, raw in self.schemas.items():
            if self.kinds[name] == "enum":
                self.enums[name] = self.enum(name, raw)
            elif self.kinds[name] == "model":
                self.model(name, raw, f"#/components/schemas/{name}")
        for name in runtime.EXTRAS:
            if name not in self.enums and name not in self.models:
                raise CodegenError(f"runtime.EXTRAS names {name}, which the document lacks")
        return Contract(self.enums, self.models)

    def enum(self, name: str, raw: dict[str, Any]) -> EnumDef:
        where = f"#/components/schemas/{name}"
        values = raw["enum"]
        if raw.get("type") != "string" or not all(isinstance(v, str) for v in values):
            raise CodegenError(f"{where}: only enums of strings are supported")
        unknown = set(raw) - {"type", "enum", "description", "example", "title"}
        if unknown:
            raise CodegenError(f"{where}: {sorted(unknown)} beside an enum are not supported")
        members = [member(v) for v in values]
        if len(set(members)) != len(members):
            raise CodegenError(f"{where}: two values make the same member name: {members}")
        return EnumDef(name, list(values), raw.get("description"))

    def model(self, name: str, raw: dict[str, Any], where: str) -> ModelDef:
        if name in self.models:
            return self.models[name]
        if name in self.reading:
            raise CodegenError(f"{where}: {name} contains itself; cycles are not supported")
        self.reading.add(name)
        if "allOf" in raw:
            made = self.composed(name, raw, where)
        else:
            unknown = {k for k in raw if k not in KNOWN and not k.startswith("x-")}
            if unknown:
                raise CodegenError(f"{where}: codegen does not support {sorted(unknown)}")
            required = raw.get("required", [])
            props = raw["properties"]
            missing = [r for r in required if r not in props]
            if missing:
                raise CodegenError(f"{where}: required {missing} are not properties")
            made = ModelDef(name, raw.get("description"),
                            raw.get("additionalProperties") is False, [])
            for pname, praw in props.items():
                schema = self.schema(praw, name + camel(pname), f"{where}/properties/{pname}")
                made.props.append(Prop(pname, attribute(pname), pname in required, schema))
            made.own = list(made.props)
        self.reading.discard(name)
        self.models[name] = made
        return made

    def composed(self, name: str, raw: dict[str, Any], where: str) -> ModelDef:
        """``allOf: [{$ref: Base}, {required: [...], properties: {...}}]`` -> a subclass."""
        first, *rest = raw["allOf"]
        if set(raw) - {"allOf", "description", "title"} or set(first) != {"$ref"}:
            raise CodegenError(f"{where}: only allOf [{{$ref: Base}}, {{required, properties}}]"
                               " is supported")
        base_name = ref_name(first["$ref"])
        if self.kinds.get(base_name) != "model":
            raise CodegenError(f"{where}: allOf must start with a $ref to an object schema")
        base = self.model(base_name, self.schemas[base_name], f"#/components/schemas/{base_name}")
        props = {p.name: p for p in base.props}
        own: dict[str, Prop] = {}
        for i, part in enumerate(rest):
            if set(part) - {"required", "properties"}:
                raise CodegenError(f"{where}/allOf/{i + 1}: only required and properties")
            for pname, praw in part.get("properties", {}).items():
                schema = self.schema(praw, name + camel(pname),
                                     f"{where}/allOf/{i + 1}/properties/{pname}")
                props[pname] = own[pname] = Prop(pname, attribute(pname), False, schema)
            for pname in part.get("required", []):
                if pname not in props:
                    raise CodegenError(f"{where}: required {pname!r} is not a property")
                p = props[pname]
                props[pname] = own[pname] = Prop(p.name, p.attr, True, p.schema)
        return ModelDef(name, raw.get("description"), base.closed, list(props.values()),
                        base=base_name, own=[p for p in props.values() if p.name in own])

    def schema(self, raw: dict[str, Any], ctx: str, where: str) -> Sch:
        """One schema; ``ctx`` names an inline object found in it."""
        unknown = {k for k in raw if k not in KNOWN and not k.startswith("x-")}
        if unknown:
            raise CodegenError(f"{where}: codegen does not support {sorted(unknown)}; teach "
                               "codegen.py and runtime.py first")
        if "$ref" in raw:
            return self.reference(raw, ctx, where)
        if "allOf" in raw:
            raise CodegenError(f"{where}: allOf is only supported for named schemas")
        if "enum" in raw:
            raise CodegenError(f"{where}: an inline enum; give it a name under "
                               "components/schemas and $ref it")
        if "oneOf" in raw or "anyOf" in raw:
            return self.union(raw, ctx, where)
        types = as_list(raw.get("type"))
        nullable = "null" in types
        types = [t for t in types if t != "null"]
        if len(types) > 1:
            raise CodegenError(f"{where}: several types {types}: use oneOf")
        s = Sch(type=types[0] if types else None, nullable=nullable)
        if s.type == "object" and "properties" in raw:
            if ctx in self.schemas or ctx in self.models:
                raise CodegenError(f"{where}: the inline object's name {ctx} is taken")
            self.model(ctx, raw, where)
            s.ref = ctx
        elif s.type == "object":
            extra = raw.get("additionalProperties")
            if isinstance(extra, dict):
                s.values = self.schema(extra, ctx + "Value", where + "/additionalProperties")
            elif extra is False:
                raise CodegenError(f"{where}: an object that allows no property at all")
            if "propertyNames" in raw:
                s.keys = self.schema(raw["propertyNames"], ctx + "Key", where + "/propertyNames")
        elif s.type == "array" and "items" in raw:
            s.items = self.schema(raw["items"], ctx + "Item", where + "/items")
        for key, attr in CONSTRAINTS:
            if key in raw:
                setattr(s, attr, raw[key])
        annotate(s, raw)
        return s

    def reference(self, raw: dict[str, Any], ctx: str, where: str) -> Sch:
        name = ref_name(raw["$ref"])
        if name not in self.schemas:
            raise CodegenError(f"{where}: $ref to unknown schema {name}")
        if self.kinds[name] == "alias":  # written out here; what is beside the $ref wins
            merged = {**self.schemas[name], **{k: v for k, v in raw.items() if k != "$ref"}}
            return self.schema(merged, ctx, where)
        if set(raw) - BESIDE_REF - {k for k in raw if k.startswith("x-")}:
            raise CodegenError(f"{where}: only {sorted(BESIDE_REF)} may stand beside a $ref "
                               "to an enum or object")
        if self.kinds[name] == "model":
            self.model(name, self.schemas[name], f"#/components/schemas/{name}")
        s = Sch(type="string" if self.kinds[name] == "enum" else "object", ref=name)
        annotate(s, raw)
        return s

    def union(self, raw: dict[str, Any], ctx: str, where: str) -> Sch:
        key = "oneOf" if "oneOf" in raw else "anyOf"
        if "oneOf" in raw and "anyOf" in raw:
            raise CodegenError(f"{where}: both oneOf and anyOf")
        if set(raw) - {key, "description", "default", "example", "examples", "title",
                       "writeOnly"} - {k for k in raw if k.startswith("x-")}:
            raise CodegenError(f"{where}: only annotations may stand beside {key}")
        nullable, alternatives = False, []
        for i, alt in enumerate(raw[key]):
            if alt.get("type") == "null" and set(alt) <= {"type", "description"}:
                nullable = True
            else:
                alternatives.append(self.schema(alt, ctx, f"{where}/{key}/{i}"))
        if len(alternatives) == 1:  # X or null
            s = alternatives[0]
            s.nullable = s.nullable or nullable
        else:
            kinds = [a.type for a in alternatives]
            if None in kinds or len(set(kinds)) != len(kinds):
                raise CodegenError(f"{where}: alternatives must differ in JSON type: {kinds}")
            s = Sch(one_of=alternatives, nullable=nullable)
        annotate(s, raw)
        return s


def annotate(s: Sch, raw: dict[str, Any]) -> None:
    if "description" in raw:
        s.description = raw["description"]
    if "default" in raw:
        s.default = raw["default"]
    if raw.get("writeOnly"):
        s.write_only = True
    s.extensions.update({k: v for k, v in raw.items() if k.startswith("x-")})


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def ref_name(ref: str) -> str:
    if not ref.startswith("#/components/schemas/"):
        raise CodegenError(f"$ref {ref}: only #/components/schemas/... is supported")
    return ref.rsplit("/", 1)[1]


def camel(name: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", name) if w)


def member(value: str) -> str:
    """``cluster.create`` -> ``CLUSTER_CREATE``, ``queued-slot`` -> ``QUEUED_SLOT``."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", value).strip("_").upper()
    return name if name and not name[0].isdigit() else "V_" + name


def attribute(name: str) -> str:
    attr = re.sub(r"\W", "_", name)
    if attr[:1].isdigit():
        attr = "_" + attr
    return attr + "_" if keyword.iskeyword(attr) or attr in RESERVED else attr


def uses(m: ModelDef) -> set[str]:
    """Names of the classes a model's fields refer to."""
    out: set[str] = set()

    def walk(s: Sch | None) -> None:
        if s is None:
            return
        if s.ref:
            out.add(s.ref)
        for sub in (s.items, s.values, s.keys, *s.one_of):
            walk(sub)

    for p in m.props:
        walk(p.schema)
    return out


# -- Python -------------------------------------------------------------------------------


def python_module(spec: dict[str, Any]) -> str:
    """The text of models.py for this document."""
    c = contract(spec)
    extras = sorted(runtime.EXTRAS.items())
    names = ["Model", "Schema", *(mixin.__name__ for _, mixin in extras), "meta"]
    typing = sorted({"Any"} & {w for m in c.models.values() for p in m.props
                               for w in re.findall(r"\w+", py_type(p.schema, p.required))})
    out = [
        f"# GENERATED from {SPEC.as_posix()}; do not edit.\n"
        f"# Change openapi.yaml (or runtime.py), then run `{COMMAND}`.\n"
        '"""The API\'s types, one class per schema of openapi.yaml.\n\n'
        "Enums are ``StrEnum``s; objects are dataclasses whose fields carry their schema.\n"
        "``Model.parse`` (strict), ``Model.from_dict`` (lenient), ``model.to_dict()`` and\n"
        '``Model.field_info(name)`` are explained in runtime.py.\n"""\n\n'
        "from __future__ import annotations\n\n"
        "import enum\n"
        "from dataclasses import dataclass, field\n"
    ]
    if typing:
        out.append(f"from typing import {', '.join(typing)}\n")
    out.append(f"\nfrom .runtime import {', '.join(sorted(names, key=isort_key))}\n")
    for e in c.enums.values():
        out.append("\n\n" + py_enum(e))
    for m in c.models.values():
        out.append("\n\n" + py_model(m))
    return "".join(out)


def isort_key(name: str) -> tuple[int, str]:
    """Ruff's isort order inside one import: CONSTANTS, Classes, then the rest."""
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name


def py_enum(e: EnumDef) -> str:
    mixin = runtime.EXTRAS.get(e.name)
    bases = f"{mixin.__name__}, enum.StrEnum" if mixin else "enum.StrEnum"
    lines = [f"class {e.name}({bases}):", docstring(e.description or e.name, 4), ""]
    lines += [f"    {member(v)} = {pystr(v)}" for v in e.values]
    return "\n".join(lines) + "\n"


def py_model(m: ModelDef) -> str:
    mixin = runtime.EXTRAS.get(m.name)
    bases = [mixin.__name__] if mixin else []
    bases += [m.base or "Model", *(["closed=True"] if m.closed else [])]
    head = f"class {m.name}({', '.join(bases)}):"
    lines = ["@dataclass(kw_only=True)", head, docstring(m.description or m.name, 4)]
    if m.own:
        lines.append("")
    for p in m.own:
        lines.append(py_field(p))
    return "\n".join(lines) + "\n"


def py_field(p: Prop) -> str:
    s = p.schema
    args: list[tuple[str, Expr]] = []
    if p.attr != p.name:
        args.append(("name", Str(p.name)))
    if p.required:
        args.append(("required", Lit("True")))
    args += schema_args(s)
    start = f"    {p.attr}: {py_type(s, p.required)} = field("
    if not p.required:
        default = "None" if s.default is UNSET else py_default(s, s.default)
        start += f"default={default}, "
    start += "metadata=meta("
    flat = start + ", ".join(f"{k}={v.flat()}" for k, v in args) + "))"
    if len(flat) <= WIDTH:
        return flat
    return start + "\n" + "\n".join(pack(args, 8, "))"))


def schema_args(s: Sch) -> list[tuple[str, Expr]]:
    """runtime.Schema arguments, in a fixed order, leaving out the defaults."""
    args: list[tuple[str, Expr]] = []
    if s.ref:
        args.append(("ref", Lit(s.ref)))
    elif s.type:
        args.append(("type", Str(s.type)))
    if s.nullable:
        args.append(("nullable", Lit("True")))
    if s.one_of:
        args.append(("one_of", Tup([Call("Schema", schema_args(a)) for a in s.one_of])))
    for attr in ("const", "format", "minimum", "maximum", "min_length", "max_length",
                 "pattern"):
        value = getattr(s, attr)
        if value is not None and value is not UNSET:
            args.append((attr, py_value(value)))
    for attr in ("items", "values", "keys"):
        sub = getattr(s, attr)
        if sub is not None:
            args.append((attr, Call("Schema", schema_args(sub))))
    if s.default is not UNSET:
        args.append(("default", Lit(py_default(s, s.default))))
    if s.write_only:
        args.append(("write_only", Lit("True")))
    if s.extensions:
        args.append(("extensions", Dct([(k, py_value(v)) for k, v in s.extensions.items()])))
    if s.description:
        args.append(("description", Str(" ".join(s.description.split()))))
    return args


def py_type(s: Sch, required: bool = True) -> str:
    if s.ref:
        out = s.ref
    elif s.one_of:
        out = " | ".join(dict.fromkeys(py_type(a) for a in s.one_of))
    elif s.type == "array":
        out = f"list[{py_type(s.items) if s.items else 'Any'}]"
    elif s.type == "object":
        out = f"dict[str, {py_type(s.values) if s.values else 'Any'}]"
    else:
        out = {"string": "str", "integer": "int", "number": "float",
               "boolean": "bool"}.get(s.type or "", "Any")
    optional = s.nullable or (not required and s.default is UNSET)
    return f"{out} | None" if optional and out != "Any" else out


def py_default(s: Sch, value: Any) -> str:
    if s.ref and value is not None and isinstance(value, str) and not s.one_of:
        return f"{s.ref}.{member(value)}"  # an enum's member
    if isinstance(value, list | dict):
        raise CodegenError(f"default {value!r}: only scalar defaults are supported")
    return py_value(value).flat()


def py_value(value: Any) -> Expr:
    if isinstance(value, str):
        return Str(value)
    if isinstance(value, dict):
        return Dct([(k, py_value(v)) for k, v in value.items()])
    if isinstance(value, list):
        return Tup([py_value(v) for v in value])
    return Lit(repr(value))


def docstring(text: str, indent: int) -> str:
    pad = " " * indent
    text = pydoc_escape(text.strip())
    one = f'{pad}"""{text}"""'
    if "\n" not in text and len(one) <= WIDTH:
        return one
    lines = wrap_text(text, WIDTH - indent - 3)
    return f'{pad}"""' + f"\n{pad}".join(lines).rstrip() + f'\n{pad}"""'


def pydoc_escape(text: str) -> str:
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return "".join(c if ord(c) < 128 else escape_char(c) for c in text)


def wrap_text(text: str, width: int) -> list[str]:
    """Each line of the description wrapped; blank lines kept."""
    out: list[str] = []
    for line in text.split("\n"):
        out += textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False) or [""]
    return out


def escape_char(c: str) -> str:
    code = ord(c)
    if code < 0x20 or code == 0x7F:
        return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(c, f"\\x{code:02x}")
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def pystr(value: str) -> str:
    """A double-quoted Python literal, ASCII only (no confusable characters in source)."""
    body = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if 0x20 <= ord(c) < 0x7F else escape_char(c) for c in body) + '"'


# A small layout engine: expressions that go on one line when they fit, else break.


class Expr:
    def flat(self) -> str:
        raise NotImplementedError

    def broken(self, indent: int, tail: str) -> list[str]:
        """Lines after the opening one (which ends where this expression starts)."""
        return [self.flat() + tail]


@dataclass
class Lit(Expr):
    text: str

    def flat(self) -> str:
        return self.text


@dataclass
class Str(Expr):
    value: str

    def flat(self) -> str:
        return pystr(self.value)

    def broken(self, indent: int, tail: str) -> list[str]:
        words = re.findall(r"\S+\s*|\s+", self.value)
        pieces, current = [], ""
        for w in words:
            if current and indent + 4 + len(pystr(current + w)) + len(tail) + 1 > WIDTH:
                pieces.append(current)
                current = ""
            current += w
        pieces.append(current)
        lines = [" " * (indent + 4) + pystr(p) for p in pieces]
        lines[-1] += ")" + tail
        return ["(", *lines]


@dataclass
class Call(Expr):
    name: str
    args: list[tuple[str, Expr]]

    def flat(self) -> str:
        return f"{self.name}(" + ", ".join(f"{k}={v.flat()}" for k, v in self.args) + ")"

    def broken(self, indent: int, tail: str) -> list[str]:
        return [f"{self.name}(", *pack(self.args, indent + 4, ")" + tail)]


@dataclass
class Tup(Expr):
    items: list[Expr]

    def flat(self) -> str:
        inner = ", ".join(i.flat() for i in self.items)
        return f"({inner},)" if len(self.items) == 1 else f"({inner})"

    def broken(self, indent: int, tail: str) -> list[str]:
        return ["(", *pack([("", i) for i in self.items], indent + 4, ")" + tail)]


@dataclass
class Dct(Expr):
    items: list[tuple[str, Expr]]

    def flat(self) -> str:
        return "{" + ", ".join(f"{pystr(k)}: {v.flat()}" for k, v in self.items) + "}"

    def broken(self, indent: int, tail: str) -> list[str]:
        args = [(pystr(k) + ": ", v) for k, v in self.items]
        return ["{", *pack(args, indent + 4, "}" + tail, sep="")]


def pack(args: list[tuple[str, Expr]], indent: int, tail: str, sep: str = "=") -> list[str]:
    """``key=value`` arguments packed into lines of at most WIDTH, at ``indent``; a value
    too long for a line of its own is broken up. The last line ends with ``tail``."""
    pad = " " * indent
    lines: list[str] = []
    current = ""
    for i, (key, value) in enumerate(args):
        end = tail if i == len(args) - 1 else ","
        text = (f"{key}{sep}" if key and sep else key) + value.flat()
        if current and len(pad + current + " " + text + end) <= WIDTH:
            current += " " + text + end
            continue
        if current:
            lines.append(pad + current)
        if len(pad + text + end) <= WIDTH:
            current = text + end
            continue
        head = f"{key}{sep}" if key and sep else key
        broken = value.broken(indent, end)
        lines.append(pad + head + broken[0])
        lines += broken[1:]
        current = ""
    if current:
        lines.append(pad + current)
    return lines


# -- TypeScript ---------------------------------------------------------------------------


def typescript_module(spec: dict[str, Any]) -> str:
    """The text of api.ts for this document."""
    c = contract(spec)
    out = [f"// GENERATED from {SPEC.as_posix()}; do not edit.\n"
           f"// Change openapi.yaml, then run `{COMMAND}`.\n"
           "// One type per schema of the API (see the python models for the checks).\n"]
    for e in c.enums.values():
        out.append("\n" + ts_enum(e))
    for m in c.models.values():
        out.append("\n" + ts_interface(m))
    return "".join(out)


def plural(name: str) -> str:
    """``ClusterStatus`` -> ``CLUSTER_STATUSES``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()
    return snake + ("ES" if snake.endswith(("S", "X", "CH", "SH")) else "S")


def ts_enum(e: EnumDef) -> str:
    const = plural(e.name)
    values = [json_value(v) for v in e.values]
    one = f"export const {const} = [{', '.join(values)}] as const;"
    if len(one) > WIDTH:
        one = f"export const {const} = [\n" + "".join(f"  {v},\n" for v in values) + "] as const;"
    return (f"/** The values of {e.name}, in the contract's order. */\n{one}\n"
            + jsdoc(e.description, "") + f"export type {e.name} = (typeof {const})[number];\n")


def ts_interface(m: ModelDef) -> str:
    head = f"export interface {m.name} extends {m.base} {{" if m.base else \
        f"export interface {m.name} {{"
    lines = [jsdoc(m.description, "") + head]
    for p in m.own:
        s = p.schema
        doc = s.description or ""
        if s.default is not UNSET:
            doc += f"\n@default {json_value(s.default)}"
        lines.append(jsdoc(doc.strip() or None, "  ")
                     + f"  {tsname(p.name)}{'' if p.required else '?'}: {ts_type(s)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def ts_type(s: Sch) -> str:
    if s.const is not UNSET:
        out = json_value(s.const)
    elif s.ref:
        out = s.ref
    elif s.one_of:
        out = " | ".join(dict.fromkeys(ts_type(a) for a in s.one_of))
    elif s.type == "array":
        item = ts_type(s.items) if s.items else "unknown"
        out = f"({item})[]" if "|" in item else f"{item}[]"
    elif s.type == "object":
        out = f"Record<string, {ts_type(s.values) if s.values else 'unknown'}>"
    else:
        out = {"string": "string", "integer": "number", "number": "number",
               "boolean": "boolean"}.get(s.type or "", "unknown")
    return f"{out} | null" if s.nullable and out != "unknown" else out


def tsname(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_$][\w$]*", name) else json_value(name)


def json_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def jsdoc(text: str | None, pad: str) -> str:
    if not text:
        return ""
    text = text.strip().replace("*/", "*\\/")
    one = f"{pad}/** {text} */"
    if "\n" not in text and len(one) <= WIDTH:
        return one + "\n"
    lines = wrap_text(text, WIDTH - len(pad) - 3)
    return (f"{pad}/**\n" + "".join(f"{pad} * {line}".rstrip() + "\n" for line in lines)
            + f"{pad} */\n")


# -- files --------------------------------------------------------------------------------


def load(root: Path = ROOT) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((root / SPEC).read_text())


def forms_module() -> str:
    """The declared forms (bodo_jupyter.contract.forms) as TypeScript data, so the UI
    renders the very forms the CLI renders."""
    import json

    from .forms import FORMS, KINDS

    kinds = " | ".join(f"'{k}'" for k in KINDS)
    described = {name: form.describe() for name, form in FORMS.items()}
    return f"""// GENERATED by `{COMMAND}` from bodo_jupyter/contract/forms.py; do not edit.

/** One input of a form; types and bounds come from the API contract. */
export interface FormField {{
  name: string;
  label: string;
  /** The field's dotted path in the request; errors name it (`field`). */
  api: string;
  kind: {kinds};
  help: string;
  required: boolean;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  max_length?: number;
  pattern?: string;
  pattern_message?: string;
  choices?: string[];
  /** A live list to choose from: instance_types, free_clusters, providers, timezones. */
  choices_from?: string;
  /** Shown only when these fields have these values (one value or a list). */
  show_if?: Record<string, string | string[]>;
  advanced?: boolean;
  placeholder?: string;
}}

export interface FormSpec {{
  name: string;
  title: string;
  help: string;
  fields: FormField[];
}}

export const FORMS: Record<string, FormSpec> = {json.dumps(described, indent=2)};
"""


def generate(spec: dict[str, Any], root: Path = ROOT) -> dict[Path, str]:
    """Each generated file under ``root`` with the text it should have."""
    return {root / MODELS: python_module(spec), root / TYPESCRIPT: typescript_module(spec),
            root / FORMS_TS: forms_module()}


def drift(root: Path = ROOT, spec: dict[str, Any] | None = None,
          max_lines: int = 40) -> dict[Path, str]:
    """The generated files that differ from what ``spec`` (default: the committed
    openapi.yaml) makes, each with a short unified diff."""
    out = {}
    for path, text in generate(load(root) if spec is None else spec, root).items():
        old = path.read_text() if path.exists() else ""
        if old != text:
            rel = path.relative_to(root).as_posix()
            diff = list(difflib.unified_diff(old.splitlines(keepends=True),
                                             text.splitlines(keepends=True),
                                             f"{rel} (committed)", f"{rel} (generated)", n=1))
            more = len(diff) - max_lines
            out[path] = "".join(diff[:max_lines]) + (f"... {more} more lines\n" if more > 0
                                                      else "")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=COMMAND, description="Generate models.py and api.ts from openapi.yaml.")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 with a diff if a generated file is stale")
    parser.add_argument("root", nargs="?", type=Path, default=ROOT,
                        help="the repository root (default: %(default)s)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.check:
        stale = drift(root)
        for path, diff in stale.items():
            print(f"{path.relative_to(root)} is stale: run `{COMMAND}`", file=sys.stderr)
            print(diff, file=sys.stderr)
        return 1 if stale else 0
    for path, text in generate(load(root), root).items():
        rel = path.relative_to(root)
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {rel}")
        else:
            print(f"{rel} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
