"""The API contract: ``openapi.yaml``, and the types generated from it.

``openapi.yaml`` is the one description of the REST API's shape. This package
imports nothing from the rest of bodo_jupyter and nothing outside the standard
library, so that servers, clients and tools can all depend on it.
"""

from __future__ import annotations

from pathlib import Path

SPEC_PATH = Path(__file__).with_name("openapi.yaml")
