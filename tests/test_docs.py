"""Reference docs are generated from the code; the committed copies must be current."""

from pathlib import Path

from bodo_jupyter.docgen import generate

ROOT = Path(__file__).resolve().parent.parent


def test_generated_docs_are_current():
    for path, text in generate(ROOT).items():
        assert path.read_text() == text, (
            f"{path.relative_to(ROOT)} is stale: run `python -m bodo_jupyter.docgen`")
