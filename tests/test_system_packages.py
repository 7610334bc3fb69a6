"""`make test` sets up the system packages its tests need (tests/system_packages.sh), so CI is a plain `make test`.

The script runs against a PATH of stand-ins (`id`, `apt-get`, the programs it looks for), so these tests install
nothing and behave the same on any machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "system_packages.sh"
PROGRAMS = ["dot", "munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "srun", "sinfo"]
PACKAGES = ["graphviz", "slurm-wlm", "munge"]


def stub(folder: Path, name: str, body: str = "exit 0") -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    os.symlink(shutil.which("env"), folder / "env")
    return folder


def run_script(bin_dir: Path, *, uid: int, apt: bool) -> subprocess.CompletedProcess:
    stub(bin_dir, "id", f"echo {uid}")
    if apt:
        calls = bin_dir.parent / "apt-calls"
        # apt-get "installs" the packages by putting stand-ins of their programs on PATH
        installs = "; ".join(
            f'printf "#!/bin/sh\\n" > "{bin_dir}/{p}"; /bin/chmod +x "{bin_dir}/{p}"' for p in PROGRAMS
        )
        stub(
            bin_dir,
            "apt-get",
            f'echo "$DEBIAN_FRONTEND $*" >> "{calls}"\ncase "$1" in install) {installs};; esac',
        )
    return subprocess.run(
        ["/bin/bash", str(SCRIPT)], env={"PATH": str(bin_dir)}, capture_output=True, text=True, timeout=60
    )


def apt_calls(bin_dir: Path) -> list[str]:
    calls = bin_dir.parent / "apt-calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_nothing_happens_when_every_program_is_there(bin_dir: Path) -> None:
    for program in PROGRAMS:
        stub(bin_dir, program)
    result = run_script(bin_dir, uid=0, apt=True)
    assert result.returncode == 0, result.stderr
    assert apt_calls(bin_dir) == []


def test_root_on_debian_installs_the_packages_with_apt(bin_dir: Path) -> None:
    stub(bin_dir, "dot")  # graphviz there, SLURM and munge not
    result = run_script(bin_dir, uid=0, apt=True)
    assert result.returncode == 0, result.stderr
    calls = apt_calls(bin_dir)
    assert calls[0].split()[-1] == "update"
    assert calls[1].split() == ["noninteractive", "install", "-y", "--no-install-recommends", *PACKAGES]
    assert "munged" in result.stderr and "slurmctld" in result.stderr


@pytest.mark.parametrize(("uid", "apt"), [(1000, True), (0, False)], ids=["not-root", "no-apt"])
def test_elsewhere_names_the_packages_and_fails(bin_dir: Path, uid: int, apt: bool) -> None:
    result = run_script(bin_dir, uid=uid, apt=apt)
    assert result.returncode == 1
    assert apt_calls(bin_dir) == []
    for name in [*PACKAGES, "tests/test_profiles.py", "tests/test_slurm.py", "dot", "slurmctld", "munged"]:
        assert name in result.stderr, (name, result.stderr)


def test_make_test_runs_the_set_up_and_ci_calls_only_make_test() -> None:
    makefile = (ROOT / "Makefile").read_text()
    test_target = re.search(r"^test:(.*)$", makefile, flags=re.M)
    assert test_target and "system-packages" in test_target.group(1).split()
    assert re.search(r"^system-packages:\n\tbash tests/system_packages.sh$", makefile, flags=re.M)
    commands = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[-1] == "make test"
    assert not any("apt-get" in line for line in commands)
