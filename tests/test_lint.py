"""The snakemake-workflows catalog's style gates: `snakemake --lint` reports nothing, `snakefmt --check` passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "config", ["config/config.yaml", "config/smoke.yaml", "config/librispeech.yaml", "config/rehearsal.yaml"]
)
def test_snakemake_lint_is_clean(config: str, tmp_path: Path) -> None:
    # --directory: Snakemake's state goes to tmp_path, not into the checkout that parallel tests guard
    lint = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--configfile", config, "--directory", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = lint.stdout + lint.stderr
    assert lint.returncode == 0 and "Lints for" not in output, output[-4000:]
    assert "your workflow is in a good condition" in output


def test_snakefile_and_rules_are_snakefmt_formatted() -> None:
    # pinned in pyproject's dev extras and requirements.lock; line length from [tool.snakefmt] in pyproject.toml
    check = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "--diff", "Snakefile", "rules"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, f"run `snakefmt Snakefile rules`:\n{(check.stdout + check.stderr)[-4000:]}"


def test_documented_commands_give_no_target_after_configfile() -> None:
    """`--configfile` takes several values: a target right after its file would be read as another config file."""
    documents = [ROOT / "README.md", ROOT / "Makefile", *sorted((ROOT / "docs").glob("*.md"))]
    commands = [
        line
        for path in documents
        for line in path.read_text().splitlines()
        if line.strip().startswith(("snakemake ", "$(BIN)/snakemake ")) and "--configfile" in line
    ]
    assert commands
    for line in commands:
        words = line.split("#", 1)[0].split()
        after = words[words.index("--configfile") + 2 :]
        assert not after or after[0].startswith("-") or after[0] in {"|", "&&", ";"}, line


def test_no_test_statement_is_a_bare_boolean_expression() -> None:
    """`assert_allclose(a, b) and x == y` as a statement checks only the first part (assert_* returns None)."""
    import ast

    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Expr) and isinstance(node.value, (ast.BoolOp, ast.Compare)):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:80]}")
    assert not found, "\n".join(found)
