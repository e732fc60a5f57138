"""The README's "Differences from 2.5.0" names a test for every difference: each exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _differences_rows() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Differences from 2.5.0", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][
        1:
    ]


def _defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test_")
    }


def test_every_difference_names_a_test_that_exists() -> None:
    rows = _differences_rows()
    assert len(rows) >= 10
    missing = []
    for row in rows:
        found = re.search(r"`(tests/[\w/]+\.py)(?:::(\w+))?`\s*\|\s*$", row)
        if found is None:
            missing.append(f"no test named in: {row[:80]}")
            continue
        path, name = ROOT / found.group(1), found.group(2)
        if not path.is_file():
            missing.append(f"{found.group(1)} does not exist")
        elif name is not None and name not in _defined_tests(path):
            missing.append(f"{found.group(1)} has no {name}")
    assert missing == []
