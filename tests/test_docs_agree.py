"""The spec, the README and the code agree: every documented spec key is read, the outputs table is true."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from riskengine import spec as spec_module

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "riskengine"


def _schema_classes() -> list[type]:
    return [c for c in vars(spec_module).values()
            if dataclasses.is_dataclass(c) and isinstance(c, type) and c.__module__ == spec_module.__name__]


def test_every_spec_key_is_read_somewhere():
    """A key documented in spec.py that no code reads would be accepted and silently ignored."""
    code = "\n".join(p.read_text() for p in PACKAGE.rglob("*") if p.suffix in {".py", ".j2", ".html"}
                     and p.name != "spec.py")
    spec_code = (PACKAGE / "spec.py").read_text()
    # spec.py itself reads a few keys (validation that uses them is a read, e.g. exclusions.licence_event)
    body = spec_code[spec_code.index("def check_against_data"):]
    unread = []
    for cls in _schema_classes():
        for f in dataclasses.fields(cls):
            if f.name.startswith("_") or f.name == "kind":
                continue
            pattern = re.compile(rf"\.{f.name}\b|\[[\"']{f.name}[\"']\]|\b{f.name}=")
            if not pattern.search(code) and not pattern.search(body):
                unread.append(f"{cls.__name__}.{f.name}")
    assert unread == []


def test_the_readme_outputs_table_names_what_the_commands_write():
    """Each path in the README's table of outputs is written by the command or demo the README says writes it."""
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| file | for |"):]
    table = table[:table.index("\n\n")]
    paths = re.findall(r"`(out/[^`]+)`", table)
    assert paths, "the README's outputs table was not found"
    code = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    for path in paths:
        parts = [p for p in re.split(r"[/*]|<[^>]+>", path) if p and p != "out"]
        for part in parts:  # each literal folder or file name appears in the code that writes it
            if part in {"hmo"}:  # the pipeline's name, from the spec
                continue
            assert part in code or part.replace(".", "") in code, f"README outputs table: {path}: '{part}' is written nowhere"
    # the trial's files: the CLI's default folder is the one the README and the demo name
    assert "`out/hmo/trial/" in table
    from riskengine.evaluation import load_evaluation_spec, trial_folder

    assert trial_folder(load_evaluation_spec(ROOT / "evaluation" / "hmo.toml")) == Path("out/hmo/trial")


def test_the_readme_links_to_documents_that_exist():
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
    assert "docs/architecture.md" in readme and "DESIGN.md" not in readme


def test_one_earliest_valid_date():
    readme = (ROOT / "README.md").read_text()
    assert "1900" not in readme
    for path in PACKAGE.rglob("*"):
        if path.suffix in {".py", ".j2", ".html"} and "synth" not in path.parts:
            text = path.read_text()
            assert "1900" not in text, path
            if path.name != "spec.py":
                assert "1950" not in text, path
