"""The API contract: ``openapi.yaml``, and the types generated from it.

``openapi.yaml`` is the one description of the REST API's shape. From it,
``codegen.py`` (``python -m bodo_jupyter.contract.codegen``) generates
``models.py`` (Python: enums and dataclasses) and
``labextension/src/generated/api.ts`` (TypeScript); ``runtime.py`` is the
hand-written part the generated models use (``parse``, ``from_dict``,
``to_dict``, ``field_info``, :class:`~.runtime.ContractError`).

This package imports nothing from the rest of bodo_jupyter and nothing outside
the standard library (but ``codegen``, a dev tool that reads YAML), so that
servers, clients and tools can all depend on it.
"""

from __future__ import annotations

from pathlib import Path

SPEC_PATH = Path(__file__).with_name("openapi.yaml")
