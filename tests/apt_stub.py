"""Stand-ins for apt-get, apt-cache and dpkg-deb on PATH, so that tests decide what the real-test gate sees
(lowrank_asr.corpus.packaged) without package lists or network."""

from __future__ import annotations

import os
from pathlib import Path

# apt-cache policy: every package named gets a block; Candidate is (none) unless offered
_APT_CACHE = """#!/bin/sh
[ "$1" = policy ] || exit 1
shift
for p in "$@"; do printf '%s:\\n  Installed: (none)\\n  Candidate: {candidate}\\n' "$p"; done
"""


def apt_stub_env(folder: Path, *, offered: bool) -> dict[str, str]:
    """The environment with stubs first on PATH: ``apt-cache policy`` offers the packages or not; apt-get and
    dpkg-deb fail if called (a dry run must not call them)."""
    folder.mkdir(parents=True, exist_ok=True)
    scripts = {
        "apt-cache": _APT_CACHE.format(candidate="1.0-1" if offered else "(none)"),
        "apt-get": "#!/bin/sh\necho 'stub apt-get must not run' >&2\nexit 1\n",
        "dpkg-deb": "#!/bin/sh\necho 'stub dpkg-deb must not run' >&2\nexit 1\n",
    }
    for name, text in scripts.items():
        path = folder / name
        path.write_text(text)
        path.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}
