"""MkDocs hook: the site's pages from files kept outside docs/, so that each text has one copy.

README.md becomes the home page, RESULTS.md and config/README.md pages of their own. Every page's relative
links are written for where its file lives in the repository (`docs/pipeline.md` from README.md,
`../RESULTS.md` from docs/statistics.md), so that they work when the files are read on a forge; they are
rewritten to the site's pages here, and `mkdocs build --strict` checks them like any other link.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[1]
# repository path -> the page it becomes in the site
PAGES = {"README.md": "index.md", "RESULTS.md": "results.md", "config/README.md": "config-reference.md"}
_LINK = re.compile(r"(\]\()([^)\s#]+)((?:#[^)\s]*)?\))")


def site_link(target: str, source: str) -> str:
    """A link written in repository file `source` -> the same target as a path under docs/, if it is one."""
    if "://" in target or target.startswith(("/", "mailto:")):
        return target
    path = posixpath.normpath(posixpath.join(posixpath.dirname(source), target))
    if path in PAGES:
        path = PAGES[path]
    elif path.startswith("docs/"):
        path = path.removeprefix("docs/")
    else:
        return target  # outside the site: left as it is, so that the strict build reports it
    page = PAGES.get(source, source.removeprefix("docs/"))
    return posixpath.relpath(path, posixpath.dirname(page) or ".")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for source, page in PAGES.items():
        files.append(File.generated(config, page, content=(ROOT / source).read_text()))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    uri = page.file.src_uri
    source = next((repo for repo, site in PAGES.items() if site == uri), f"docs/{uri}")
    return _LINK.sub(lambda m: m[1] + site_link(m[2], source) + m[3], markdown)
