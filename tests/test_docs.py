"""The README stays short, and config/README.md is what docs/gen_config_reference.py makes of the schema.

The site itself is built strictly by `make docs` (mkdocs: broken links and anchors fail), not here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "gen_config_reference", ROOT / "docs" / "gen_config_reference.py"
)
gen = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = gen
_spec.loader.exec_module(gen)

SCHEMA = """\
$defs:
  # a shared choice
  mode: {enum: [a, b], default: a}
  part:
    type: object
    required: [size]
    properties:
      size: {type: integer, minimum: 1}   # how big
properties:
  first: {$ref: "#/$defs/part"}
  second: {$ref: "#/$defs/part"}
  named: {type: object, additionalProperties: {$ref: "#/$defs/part"}}
  section:
    type: object
    properties:
      # the rate,
      # in Hz
      rate: {type: [number, "null"], exclusiveMinimum: 0, default: 16000}
      mode: {$ref: "#/$defs/mode"}
      fancy: {type: boolean, description: "a described | key"}
required: [section]
"""


def test_readme_is_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


def test_committed_config_reference_is_up_to_date() -> None:
    expected = gen.render((ROOT / "config" / "schema.yaml").read_text())
    assert (ROOT / "config" / "README.md").read_text() == expected, "run python docs/gen_config_reference.py"


def test_every_schema_key_has_a_row() -> None:
    text = (ROOT / "config" / "README.md").read_text()
    schema = gen.yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    for section, node in schema["properties"].items():
        for key in node.get("properties", {}):
            assert f"| `{section}.{key}`" in text, f"{section}.{key}"


def test_comments_are_found_by_key_path() -> None:
    comments = gen.comments_by_path(SCHEMA)
    assert comments[("$defs", "part", "properties", "size")] == "how big"
    assert comments[("properties", "section", "properties", "rate")] == "the rate, in Hz"
    assert comments[("$defs", "mode")] == "a shared choice"
    assert ("properties", "section") not in comments


def test_rows_give_type_default_and_meaning() -> None:
    text = gen.render(SCHEMA)
    assert "| `section.rate` | number or null (> 0) | `16000` | the rate, in Hz |" in text
    assert "| `section.mode` | `a` \\| `b` | `a` | a shared choice |" in text
    assert "| `section.fancy` | boolean | — | a described \\| key |" in text
    assert "| `section` **required** | object | — | — |" in text


def test_a_shared_definition_is_expanded_once() -> None:
    text = gen.render(SCHEMA)
    assert "| `first.size` **required** | integer (≥ 1) | — | how big |" in text
    assert "`second.size`" not in text and "`named.<name>.size`" not in text
    assert "| `second` | object | — | (the keys of `first`) |" in text
    assert "| `named.<name>` | object | — | (the keys of `first`) |" in text
