"""Reference docs are generated from the code; the committed copies must be current."""

from pathlib import Path

from bodo_jupyter.docgen import configurable_classes, generate

ROOT = Path(__file__).resolve().parent.parent


def test_generated_docs_are_current():
    for path, text in generate(ROOT).items():
        assert path.read_text() == text, (
            f"{path.relative_to(ROOT)} is stale: run `python -m bodo_jupyter.docgen`")


def config_classes_in_source() -> dict[str, str]:
    """Classes whose body declares a trait with ``config=True``, found by reading the
    source (not by importing it, so that nothing can hide a class): name -> file."""
    import ast

    found = {}
    for path in sorted((ROOT / "bodo_jupyter").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            for stmt in node.body:
                value = getattr(stmt, "value", None)
                if isinstance(value, ast.Call) and any(
                        k.arg == "config" and isinstance(k.value, ast.Constant)
                        and k.value.value is True for k in value.keywords):
                    found[node.name] = str(path.relative_to(ROOT))
    return found


def test_every_configurable_class_is_documented():
    """docs/configuration.md has a section for every class with config traits."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    in_source = config_classes_in_source()
    assert {"ControlPlane", "JobRunner", "JobScheduler", "SourceFetcher", "JobLogs",
            "SecretBox", "LocalProvider"} <= set(in_source)
    missing = {name: where for name, where in in_source.items()
               if f"\n### {name}\n" not in text}
    assert not missing, f"configurable classes missing from docs/configuration.md: {missing}"
    # And docgen finds the same classes by importing the package (nothing skipped).
    assert {c.__name__ for c in configurable_classes(strict=True)} == set(in_source)
    assert "`c.SourceFetcher.git_ca_file`" in text
