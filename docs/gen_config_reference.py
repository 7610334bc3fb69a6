"""Write config/README.md, the reference of every config key, from config/schema.yaml.

Each key's type and default come from the schema; its meaning from the key's `description:` or, failing that,
from the YAML comment on its line or on the lines just above it. `--check` exits 1 when the committed file
differs from what the schema gives (`make docs` and tests/test_docs.py run it).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"
OUTPUT = ROOT / "config" / "README.md"

HEADER = """\
# Configuration reference

Generated from `config/schema.yaml` by `docs/gen_config_reference.py`: do not edit by hand; run
`python docs/gen_config_reference.py` after changing the schema. How configs, profiles and `--config` combine:
[the docs site's configuration page](../docs/configuration.md).

A key marked **required** must be set in every config; `<name>` stands for a name of your choice (a split, a
variant). "—" in the default column: the schema gives none.
"""

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[^\s#:][^:#]*?|\"[^\"]+\"):(?P<rest>.*)$")


def comments_by_path(text: str) -> dict[tuple[str, ...], str]:
    """(key, key, ...) of every block-style mapping key -> its trailing comment, else the comment lines above it."""
    found: dict[tuple[str, ...], str] = {}
    stack: list[tuple[int, str]] = []
    above: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("#").strip())
            continue
        match = _KEY.match(line)
        if not stripped or not match or stripped.startswith("-"):
            above = []
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"].strip().strip('"')))
        rest = match["rest"]
        trailing = (
            rest.split(" #", 1)[1].strip() if " #" in rest and not rest.strip().startswith(("'", '"')) else ""
        )
        if trailing or above:
            found[tuple(key for _, key in stack)] = trailing or " ".join(above)
        above = []
    return found


def _resolve(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follows a local `$ref`, keeping the referring node's own keywords (they refine the target)."""
    if "$ref" not in node:
        return node
    target = schema
    for part in node["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    merged = dict(_resolve(target, schema))
    merged.update({key: value for key, value in node.items() if key != "$ref"})
    merged["_ref"] = node["$ref"].rsplit("/", 1)[-1]
    return merged


def _literal(value: Any) -> str:
    return (
        "`"
        + (
            yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
            if not isinstance(value, str)
            else value
        )
        + "`"
    )


def describe_type(node: dict[str, Any], schema: dict[str, Any]) -> str:
    """A short human form of a node's type: `enum`, `const`, `oneOf` alternatives, bounds, array items."""
    node = _resolve(node, schema)
    if "const" in node:
        return _literal(node["const"])
    if "enum" in node:
        return " | ".join(_literal(value) for value in node["enum"])
    for keyword in ("oneOf", "anyOf"):
        if keyword in node:
            return " or ".join(describe_type(option, schema) for option in node[keyword])
    kinds = node.get("type", "object" if "properties" in node else "")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    if "array" in kinds and "items" in node:
        kinds[kinds.index("array")] = f"list of {describe_type(node['items'], schema)}"
    text = " or ".join(kinds)
    bounds = [
        f"{symbol} {node[word]}"
        for word, symbol in (
            ("minimum", "≥"),
            ("exclusiveMinimum", ">"),
            ("maximum", "≤"),
            ("exclusiveMaximum", "<"),
        )
        if word in node
    ]
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def rows(
    node: dict[str, Any],
    schema: dict[str, Any],
    comments: dict[tuple[str, ...], str],
    key: str,
    schema_path: tuple[str, ...],
    required: bool,
    expanded: dict[str, str],
) -> list[tuple[str, str, str, str]]:
    """One row per key, depth first; objects get a row of their own and then their properties' rows.

    A shared definition (`$ref`) with properties is expanded once; later uses point to it (`expanded`).
    """
    resolved = _resolve(node, schema)
    ref = resolved.get("_ref") if "$ref" in node else None
    shared = ref if "properties" in resolved else None
    # a comment where a shared definition is defined describes every use of it
    meaning = (
        resolved.get("description") or comments.get(schema_path) or comments.get(("$defs", ref or ""), "")
    )
    if shared in expanded:
        meaning = f"{meaning} (the keys of `{expanded[shared]}`)".strip()
    default = _literal(resolved["default"]) if "default" in resolved else "—"
    out = [
        (f"`{key}`" + (" **required**" if required else ""), describe_type(node, schema), default, meaning)
    ]
    if shared in expanded:
        return out
    if shared:
        expanded[shared] = key
        schema_path = ("$defs", shared)
    for name, child in resolved.get("properties", {}).items():
        out += rows(
            child,
            schema,
            comments,
            f"{key}.{name}",
            (*schema_path, "properties", name),
            name in resolved.get("required", []),
            expanded,
        )
    extra = resolved.get("additionalProperties")
    if isinstance(extra, dict) and "properties" in _resolve(extra, schema):
        out += rows(
            extra, schema, comments, f"{key}.<name>", (*schema_path, "additionalProperties"), False, expanded
        )
    return out


def render(schema_text: str) -> str:
    schema = yaml.safe_load(schema_text)
    comments = comments_by_path(schema_text)
    sections = [HEADER]
    required = schema.get("required", [])
    expanded: dict[str, str] = {}
    for name, node in schema["properties"].items():
        table = rows(node, schema, comments, name, ("properties", name), name in required, expanded)
        sections.append(
            f"## `{name}`\n\n| key | type | default | meaning |\n|---|---|---|---|\n"
            + "".join(f"| {' | '.join(_cell(cell) or '—' for cell in row)} |\n" for row in table)
        )
    return "\n".join(sections)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if config/README.md is out of date")
    args = parser.parse_args(argv)
    text = render(SCHEMA.read_text())
    if args.check:
        if OUTPUT.read_text() != text:
            print(
                f"{OUTPUT.relative_to(ROOT)} is out of date: run python docs/gen_config_reference.py",
                file=sys.stderr,
            )
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
