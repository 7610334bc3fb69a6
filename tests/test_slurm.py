"""The smoke config through profiles/slurm on a one-node SLURM cluster that the test starts and stops.

Needs Debian's slurm-wlm and munge and root (CI installs them, see .ci/run). Where the cluster cannot run, the
test fails and says why; it does not skip.

The cluster (tests/slurm/cluster.sh) has one partition, "debug", with this machine's CPUs and no GPU. The test
runs a copy of profiles/slurm with only what a user fills in for their cluster changed: the partition names, and
requests sized to this node (no `gres`/`gpu`, 1 CPU and at most 2 GB per job). Target: one variant's evaluation
on test-clean (15 SLURM jobs: every data stage, a training, an evaluation). `results/wer_table.csv` (24 jobs) took
11-13 minutes on 2 shared cores, most of it the start-up of Snakemake inside every job, and `all` 9 more: too long
for `make test`, whose end-to-end test runs the whole smoke DAG locally.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
PARTITION = "debug"
TARGET = "results/wer/contextnet/test-clean.json"
TOOLS = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "srun", "sinfo"]


def cluster_profile(path: Path) -> Path:
    """profiles/slurm with the placeholders filled in for the test cluster."""
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.v8+.yaml").read_text())
    profile["default-resources"].update(slurm_partition=PARTITION, mem_mb=1000, cpus_per_task=1)
    for resources in profile["set-resources"].values():
        resources["slurm_partition"] = PARTITION
        resources.pop("gres", None)  # the node has no GPU: --gres=gpu:1 would be refused
        resources.update(gpu=0, cpus_per_task=1, mem_mb=2000)
    profile["set-threads"] = {rule: 1 for rule in profile["set-threads"]}
    path.mkdir(parents=True)
    (path / "config.v8+.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return path


class Cluster:
    def __init__(self, state: Path, env: dict):
        self.state = state
        self.env = env
        self.ctld_log = state / "log" / "slurmctld.log"

    def run(self, *cmd: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), env=self.env, capture_output=True, text=True, timeout=60, **kwargs)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"SLURM test cluster: {', '.join(missing)} not found; "
            "install with `apt-get install -y --no-install-recommends slurm-wlm munge`"
        )
    if os.geteuid() != 0:
        pytest.fail(
            f"SLURM test cluster: {CLUSTER.name} runs munged, slurmctld and slurmd as root; uid is {os.geteuid()}"
        )
    state = tmp_path_factory.mktemp("slurm")
    conf = state / "slurm.conf"
    # The jobstep plugin (0.6.1) drops every SLURM_* variable, SLURM_CONF too, before its nested `srun`; a real
    # cluster has /etc/slurm/slurm.conf, this one keeps its config in `state`. A wrapper restores it.
    bin_dir = state / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(
        f'#!/bin/sh\nexport SLURM_CONF="{conf}"\nexec "{shutil.which("srun")}" "$@"\n'
    )
    (bin_dir / "srun").chmod(0o755)
    env = {**os.environ, "SLURM_CONF": str(conf), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    cluster = Cluster(state, env)
    try:
        start = subprocess.run(
            ["bash", str(CLUSTER), "start", str(state)], capture_output=True, text=True, timeout=120
        )
        if start.returncode != 0:
            pytest.fail(
                f"SLURM test cluster did not start (exit {start.returncode}):\n{start.stdout}\n{start.stderr}"
            )
        info = cluster.run("sinfo", "-h", "-p", PARTITION, "-o", "%P %T %c")
        assert info.returncode == 0 and info.stdout.split()[1] in {"idle", "mixed"}, info
        yield cluster
    finally:
        cluster.run("scancel", "--user", "root")  # jobs of this private cluster only (SLURM_CONF)
        subprocess.run(["bash", str(CLUSTER), "stop", str(state)], capture_output=True, text=True, timeout=60)


def test_sbatch_runs_a_job(slurm_cluster):
    out = slurm_cluster.state / "hello.out"
    submit = slurm_cluster.run(
        "sbatch", "--parsable", "-p", PARTITION, "-o", str(out), "--wrap", "echo hello $SLURM_JOB_ID"
    )
    assert submit.returncode == 0, submit.stderr
    job_id = submit.stdout.strip().split(";")[0]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out.exists() and out.read_text().strip()):
        time.sleep(0.5)
    assert out.read_text().split() == ["hello", job_id]


def target_jobs(config: dict) -> dict[str, int]:
    """The jobs TARGET (one variant on one split) needs from scratch, per rule: the data stages of the training,
    dev and test splits, one training, one evaluation."""
    splits = len({*config["data"]["train_splits"], *config["data"]["dev_splits"], "test-clean"})
    return {
        "synthesize_corpus": splits,
        "extract": splits,
        "transcripts": splits,
        "tfrecords": splits,
        "vocabulary": 1,
        "train": 1,
        "evaluate": 1,
    }


def test_smoke_training_and_evaluation_through_slurm(slurm_cluster, tmp_path):
    profile = cluster_profile(tmp_path / "profile")
    work = tmp_path / "work"
    work.mkdir()
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            TARGET,
            "--profile",
            str(profile),
            "--configfile",
            "config/smoke.yaml",
            "--directory",
            str(work),
            "--slurm-keep-successful-logs",
            "--slurm-init-seconds-before-status-checks",
            "5",
        ],
        cwd=ROOT,
        env=slurm_cluster.env,
        capture_output=True,
        text=True,
        timeout=3000,
    )
    elapsed = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"snakemake through SLURM failed after {elapsed:.0f} s:\n{output[-6000:]}"
    print(f"smoke {TARGET} through SLURM: {elapsed:.0f} s")

    # the target: the evaluation of the trained variant on its split
    smoke = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    result = json.loads((work / TARGET).read_text())
    assert (result["variant"], result["split"], result["epochs"]) == (
        "contextnet",
        "test-clean",
        smoke["training"]["epochs"],
    )
    assert 0.0 <= result["greedy_wer"] <= 1.0 and result["utterances"] > 0

    # every job was an sbatch submission in the test partition ...
    expected = target_jobs(smoke)
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)\.?\n", output)
    assert len(submitted) == sum(expected.values()), output[-4000:]
    # only the output lists (a printf of the train job's expected files, rules/output_lists.smk) run locally
    assert set(re.findall(r"localrule (\w+):", output)) <= {"output_list"}, output[-4000:]
    ctld = slurm_cluster.ctld_log.read_text()
    for job_id, log in submitted:
        assert re.search(
            rf"(Allocate JobId={job_id} NodeList=\S+ #CPUs=1 Partition={PARTITION}|"
            rf"Started JobId={job_id} in {PARTITION} )",
            ctld,
        ), f"SLURM never started job {job_id}"
        assert f"_job_complete: JobId={job_id} WEXITSTATUS 0" in ctld, f"SLURM job {job_id} did not exit 0"
        assert Path(log).is_relative_to(work / ".snakemake" / "slurm_logs"), log
    # ... and ran its rule there: the plugin's per-job logs hold the job-side Snakemake's report
    ran: dict[str, int] = {}
    for _, log in submitted:
        text = Path(log).read_text()
        finished = re.search(r"Finished jobid: 0 \(Rule: (\w+)\)", text)
        assert finished, f"{log} does not show the rule finishing:\n{text[-2000:]}"
        assert f"rule_{finished.group(1)}" in Path(log).parts, log
        ran[finished.group(1)] = ran.get(finished.group(1), 0) + 1
    assert ran == expected
    # every rule log of the run was written inside the jobs
    assert len(list((work / "logs").rglob("*.log"))) >= sum(expected.values())
