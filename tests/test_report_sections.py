"""The HTML report's sections: every category the rules file results under is numbered once, the numbers run
0, 1, 2, ... without gaps or repeats, and the report's opening text (report/workflow.rst) introduces each one."""

import re
from pathlib import Path

import docutils.core
import jinja2

ROOT = Path(__file__).resolve().parents[1]
# a category string as the rules write it: report(..., category="4. Representations") or _last_epoch_report's 3rd arg
CATEGORY = re.compile(r"""["'](\d+)\. ([A-Z][^"']*)["']""")


def rule_categories() -> set[tuple[int, str]]:
    return {
        (int(n), name)
        for smk in (ROOT / "rules").glob("*.smk")
        for n, name in CATEGORY.findall(smk.read_text())
    }


def test_categories_are_numbered_once_and_without_gaps():
    categories = rule_categories()
    numbers = sorted(n for n, _ in categories)
    names = [name for _, name in categories]
    assert len(set(names)) == len(names), f"a section under two numbers: {sorted(categories)}"
    assert numbers == list(range(len(numbers))), f"numbers repeat or skip: {sorted(categories)}"


def test_the_opening_text_introduces_every_section_in_order():
    text = (ROOT / "report" / "workflow.rst").read_text()
    listed = [(int(n), name) for n, name in re.findall(r"^(\d+)\. \*\*([^*]+)\*\*", text, re.M)]
    assert listed == sorted(rule_categories())


def test_the_opening_text_renders_without_warnings():
    text = jinja2.Template((ROOT / "report" / "workflow.rst").read_text()).render(
        snakemake={"config": {"variants": {"a": {}, "b": {}}, "training": {"epochs": 3}}}
    )
    assert "2 variants, 3 epochs" in text
    html = docutils.core.publish_parts(
        text, writer="html", settings_overrides={"report_level": 2, "halt_level": 2}
    )["body"]
    assert html.count("<li>") == len(rule_categories())
