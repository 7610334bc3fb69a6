"""End to end: the smoke config through the whole DAG, then what a code or config change makes Snakemake rerun.

The workflow runs from a copy of the checkout in a temporary folder, so the tests can edit library modules of the
copy (the Snakefile puts the copy's own lib/ first on the path of the DAG build and of every job).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("Snakefile", "rules", "workflow_scripts", "lib", "config", "report", "profiles", "envs")
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
SMOKE = ["--configfile", "config/smoke.yaml"]
DATA_RULES = {"synthesize_corpus", "extract", "transcripts", "tfrecords", "tfrecord_index", "vocabulary"}
LANDSCAPE_RULES = {
    "loss_grid",
    "merge_loss_grid",
    "plot_landscape",
    "landscape_video",
    "compare_landscape_video",
}
REPRESENTATION_RULES = {
    "representations",
    "representation_similarity",
    "plot_representations",
    "plot_representation_spectra",
    "plot_representation_similarity",
    "representation_video",
    "compression",
    "compression_table",
    "plot_compression",
    "plot_headline",
}  # the headline figure draws the compression table too
GEOMETRY_RULES = {"trajectory_plane", "interpolation", "sharpness", "plot_geometry"}

pytestmark = pytest.mark.slow


def snakemake(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*SNAKEMAKE, *SMOKE, *args], cwd=repo, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


def planned_jobs(repo: Path, *args: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run of `all` would run, `all` itself left out."""
    out = snakemake(repo, "-n", "all", *args)
    text = out.stdout + out.stderr
    jobs: list[tuple[str, dict[str, str]]] = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        head = re.match(r"(?:local)?rule (\w+):", block)
        if not head or head.group(1) == "all":
            continue
        found = re.search(r"^\s*wildcards: (.*)$", block, flags=re.M)
        wildcards = dict(item.split("=", 1) for item in found.group(1).split(", ")) if found else {}
        jobs.append((head.group(1), wildcards))
    return jobs


def planned_rules(repo: Path, *args: str) -> set[str]:
    return {rule for rule, _ in planned_jobs(repo, *args)}


@contextmanager
def edited(path: Path, addition: str) -> Iterator[None]:
    """Append `addition` to a source file for the duration of the block."""
    original = path.read_text()
    path.write_text(original + addition)
    try:
        yield
    finally:
        path.write_text(original)


def copy_checkout(repo: Path) -> Path:
    repo.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".snakemake")
    for part in PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, repo / part, ignore=ignore)
        else:
            shutil.copy2(source, repo / part)
    return repo


@pytest.fixture(scope="module")
def smoke_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = copy_checkout(tmp_path_factory.mktemp("e2e") / "repo")
    snakemake(repo, "--cores", "2", "all")
    snakemake(repo, "--report", "report.html")
    return repo


def test_smoke_run_produces_every_artefact(smoke_repo: Path) -> None:
    from lowrank_asr.config_files import load_yaml
    from lowrank_asr.video import count_frames

    cfg = load_yaml(ROOT / "config" / "smoke.yaml")
    variants, epochs = list(cfg["variants"]), cfg["training"]["epochs"]
    results = smoke_repo / "results"
    with open(results / "wer_table.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["variant"], r["split"]) for r in rows} == {
        (v, s) for v in variants for s in cfg["evaluation"]["splits"]
    }
    # an error rate counts insertions too, so a barely trained model (the smoke run's CTC) may exceed 1
    assert all(0.0 <= float(r["greedy_wer"]) < 10.0 and float(r["rtf"]) > 0 for r in rows)
    assert (results / "wer_table.md").read_text().count("\n") >= len(rows) + 2
    for variant in variants:
        history = list(
            csv.DictReader((results / "models" / variant / "history.csv").read_text().splitlines())
        )
        assert [int(r["epoch"]) for r in history] == list(range(1, epochs + 1))
        for kind in ("landscape", "attribution"):
            for epoch in range(1, epochs + 1):
                assert (results / "plots" / kind / variant / f"epoch_{epoch:03d}.png").stat().st_size > 10_000
            assert count_frames(results / "videos" / f"{variant}_{kind}.mp4") == epochs
    assert count_frames(results / "videos" / "compare_landscape.mp4") == epochs
    assert (results / "plots" / "training_curves.png").exists()
    check_geometry_outputs(results, variants, epochs)
    report = (smoke_repo / "report.html").read_text(errors="replace")
    assert "wer_table" in report and "training_curves" in report
    # every rule left a log and a benchmark
    logged = {p.name for p in (smoke_repo / "logs").iterdir()}
    benched = {p.name for p in (smoke_repo / "benchmarks").iterdir()}
    expected = (
        DATA_RULES
        | {
            "train",
            "evaluate",
            "wer_table",
            "integrated_gradients",
            "plot_attribution",
            "attribution_video",
            "training_curves",
        }
        | LANDSCAPE_RULES
        | GEOMETRY_RULES
    )
    assert expected <= logged and expected <= benched


def test_smoke_run_produces_representation_artefacts(smoke_repo: Path) -> None:
    from lowrank_asr.compression.tables import read_compression_csv
    from lowrank_asr.config_files import load_yaml
    from lowrank_asr.representations.io import read_representations, read_variant_similarity
    from lowrank_asr.video import count_frames

    cfg = load_yaml(ROOT / "config" / "smoke.yaml")
    variants, epochs = list(cfg["variants"]), cfg["training"]["epochs"]
    results = smoke_repo / "results"
    for variant in variants:
        for epoch in range(0, epochs + 1):  # epoch 0: the initialisation
            rep = read_representations(results / "representations" / variant / f"epoch_{epoch:03d}.h5")
            assert rep["attrs"]["variant"] == variant and rep["attrs"]["epoch"] == epoch
            assert len(rep["subset_ids"]) == cfg["representations"]["subset"]
    for epoch in range(0, epochs + 1):
        sim = read_variant_similarity(results / "representations" / f"variants_epoch_{epoch:03d}.h5")
        assert len(sim["cka"]) == len(variants) * (len(variants) - 1) // 2
        assert (
            results / "plots" / "representations" / "spectra" / f"epoch_{epoch:03d}.png"
        ).stat().st_size > 10_000
    rows = read_compression_csv(results / "compression.csv")
    assert {(r["variant"], r["split"], r["fraction"]) for r in rows} == {
        (v, s, float(f))
        for v in variants
        for s in cfg["evaluation"]["splits"]
        for f in cfg["compression"]["fractions"]
    }
    for name in ("effective_rank", "cka_final", "cka_variants"):
        assert (results / "plots" / "representations" / f"{name}.png").stat().st_size > 10_000
    assert (results / "plots" / "compression.png").stat().st_size > 10_000
    assert count_frames(results / "videos" / "representation_spectra.mp4") == epochs + 1
    report = (smoke_repo / "report.html").read_text(errors="replace")
    assert "effective_rank" in report and "compression" in report
    assert {p.name for p in (smoke_repo / "logs").iterdir()} >= REPRESENTATION_RULES
    assert {p.name for p in (smoke_repo / "benchmarks").iterdir()} >= REPRESENTATION_RULES


def check_geometry_outputs(results: Path, variants: list[str], epochs: int) -> None:
    """Epoch 0 weights, the three geometry files per variant with their shapes, and the geometry plots."""
    from lowrank_asr.geometry.io import read_geometry

    for variant in variants:
        assert (results / "models" / variant / "epoch_000.weights.h5").is_file()
        folder = results / "landscape" / variant
        traj = read_geometry(folder / "trajectory.h5", "trajectory")
        assert traj["projections"].shape == (len(traj["epochs"]), 2) and traj["epochs"][-1] == epochs
        assert traj["loss"].shape == (len(traj["ycoordinates"]), len(traj["xcoordinates"]))
        assert 0.0 < traj["explained_variance"].sum() <= 1.0 + 1e-9
        interp = read_geometry(folder / "interpolation.h5", "interpolation")
        assert interp["path_position"][0] == 0 and interp["path_position"][-1] == epochs
        assert len(interp["loss"]) == len(interp["t"]) and "wer" in interp
        sharp = read_geometry(folder / "sharpness.h5", "sharpness")
        assert sharp["epochs"].tolist() == list(range(1, epochs + 1))
        assert (sharp["iterations"] >= 1).all() and sharp["attrs"]["hvp_seconds"] > 0
        for data in (traj, interp, sharp):
            assert data["attrs"]["variant"] == variant and "seed" in data["attrs"]
        for kind in ("trajectory", "interpolation"):  # beside the run's landscape plots, as the data
            assert (results / "plots" / "landscape" / variant / f"{kind}.png").stat().st_size > 10_000
    for name in ("trajectory", "sharpness"):  # every run in one figure
        assert (results / "plots" / "landscape" / f"{name}.png").stat().st_size > 10_000
    assert not (results / "plots" / "geometry").exists()


def test_finished_workspace_has_nothing_to_do(smoke_repo: Path) -> None:
    out = snakemake(smoke_repo, "-n", "all")
    assert "Nothing to be done" in out.stdout + out.stderr
    assert planned_jobs(smoke_repo) == []


def test_editing_landscape_code_reruns_only_landscape_jobs(smoke_repo: Path) -> None:
    with edited(smoke_repo / "lib/lowrank_asr/landscape/grid.py", "\n\ndef _probe() -> int:\n    return 1\n"):
        rules = planned_rules(smoke_repo)
    assert "loss_grid" in rules and "plot_landscape" in rules
    assert (
        rules <= LANDSCAPE_RULES | GEOMETRY_RULES
    )  # the geometry analyses evaluate the loss with the grid code


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("geometry/trajectory.py", {"trajectory_plane", "plot_geometry"}),
        ("geometry/interpolation.py", {"interpolation", "plot_geometry"}),
        ("geometry/hessian.py", {"sharpness", "plot_geometry"}),
        ("plotting/geometry.py", {"plot_geometry"}),
    ],
)
def test_editing_a_geometry_module_reruns_only_its_analysis(
    smoke_repo: Path, module: str, expected: set
) -> None:
    with edited(smoke_repo / "lib/lowrank_asr" / module, "\n\ndef _probe() -> int:\n    return 1\n"):
        rules = planned_rules(smoke_repo)
    assert rules == expected


def test_editing_spectra_code_reruns_only_representation_jobs(smoke_repo: Path) -> None:
    with edited(
        smoke_repo / "lib/lowrank_asr/representations/spectra.py", "\n\ndef _probe() -> int:\n    return 1\n"
    ):
        rules = planned_rules(smoke_repo)
    assert {"representations", "plot_representation_spectra"} <= rules
    assert rules <= REPRESENTATION_RULES


STAGE_MODULES = sorted(
    [
        (f"representations/{p.name}", "representations")
        for p in (ROOT / "lib/lowrank_asr/representations").glob("*.py")
    ]
    + [(f"geometry/{p.name}", "geometry") for p in (ROOT / "lib/lowrank_asr/geometry").glob("*.py")]
    + [("plotting/representations.py", "representations"), ("plotting/geometry.py", "geometry")]
)


@pytest.mark.parametrize(("module", "stage"), STAGE_MODULES)
def test_editing_any_representation_or_geometry_module_reruns_only_its_stage(
    smoke_repo: Path, module: str, stage: str
) -> None:
    """Issues 12 and 13: a change in each new module reruns some of its stage's jobs and nothing else
    (tests/test_codehash.py checks the same through the code hashes, without a workspace)."""
    with edited(smoke_repo / "lib/lowrank_asr" / module, "\n\ndef _probe() -> int:\n    return 1\n"):
        rules = planned_rules(smoke_repo)
    allowed = {"representations": REPRESENTATION_RULES, "geometry": GEOMETRY_RULES}[stage]
    assert rules and rules <= allowed, (module, sorted(rules))


def test_editing_model_code_reruns_training_and_everything_after(smoke_repo: Path) -> None:
    with edited(
        smoke_repo / "lib/lowrank_asr/models/contextnet.py", "\n\ndef _probe() -> int:\n    return 1\n"
    ):
        jobs = planned_jobs(smoke_repo)
    rules = {rule for rule, _ in jobs}
    from lowrank_asr.config_files import load_yaml

    variants = set(load_yaml(ROOT / "config" / "smoke.yaml")["variants"])
    assert {w["run"] for rule, w in jobs if rule == "train"} == variants
    assert {
        "evaluate",
        "wer_table",
        "loss_grid",
        "integrated_gradients",
        "plot_landscape",
        "plot_attribution",
        "landscape_video",
        "attribution_video",
        "training_curves",
    } <= rules
    assert not rules & DATA_RULES


def test_editing_plotting_code_reruns_only_plots_and_videos(smoke_repo: Path) -> None:
    with edited(
        smoke_repo / "lib/lowrank_asr/plotting/landscape.py", "\n\ndef _probe() -> int:\n    return 1\n"
    ):
        rules = planned_rules(smoke_repo)
    assert "plot_landscape" in rules
    assert rules <= {"plot_landscape", "landscape_video", "compare_landscape_video", "plot_geometry"}


def test_changing_one_variant_reruns_only_that_variant(smoke_repo: Path) -> None:
    jobs = planned_jobs(
        smoke_repo, "--config", "variants={contextnet: {}, lowrank: {conv: lowrank, kernel_size: 3}}"
    )
    rules = {rule for rule, _ in jobs}
    assert "train" in rules
    per_run = [w for _, w in jobs if "run" in w]
    assert per_run and all(w["run"] == "lowrank" for w in per_run)
    # what joins the variants (table, comparison video, curves) is rebuilt too, nothing of the data stages
    assert not rules & DATA_RULES


def test_comment_and_docstring_changes_rerun_nothing(smoke_repo: Path) -> None:
    model = smoke_repo / "lib/lowrank_asr/models/contextnet.py"
    unrelated = smoke_repo / "lib/lowrank_asr/corpus/download.py"
    with edited(model, "\n# a comment about the encoder\n"), edited(unrelated, "\n# unrelated note\n"):
        source = model.read_text()
        model.write_text(source.replace('"""ContextNet encoder', '"""The ContextNet encoder', 1))
        assert planned_jobs(smoke_repo) == []


def test_two_seed_smoke_run_builds_every_seed_and_the_aggregated_table(tmp_path: Path) -> None:
    import yaml

    repo = copy_checkout(tmp_path / "repo")
    config = yaml.safe_load((repo / "config" / "smoke.yaml").read_text())
    config["training"]["seeds"] = [11, 12]
    # two variants are enough to pair them: the third (ctc) would only add CI time
    config["variants"] = dict(list(config["variants"].items())[:2])
    (repo / "config" / "smoke.yaml").write_text(yaml.safe_dump(config))
    snakemake(repo, "--cores", "2", "results/wer_table.csv", "results/plots/training_curves.png")
    results = repo / "results"
    variants, splits = list(config["variants"]), config["evaluation"]["splits"]
    for variant in variants:
        for seed in (11, 12):
            run = results / "models" / variant / f"seed_{seed}"
            assert (run / "history.csv").is_file() and (run / "epoch_002.weights.h5").is_file()
            for split in splits:
                assert (results / "decodes" / variant / f"seed_{seed}" / f"{split}.tsv").is_file()
                assert (results / "wer" / variant / f"seed_{seed}" / f"{split}.json").is_file()
        # the two seeds trained different models
        losses = [
            [
                r["train_loss"]
                for r in csv.DictReader(
                    (results / "models" / variant / f"seed_{s}" / "history.csv").read_text().splitlines()
                )
            ]
            for s in (11, 12)
        ]
        assert losses[0] != losses[1]
    with open(results / "wer_table.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["variant"], r["split"]) for r in rows} == {(v, s) for v in variants for s in splits}
    assert all(r["seeds"] == "2" and r["greedy_wer_seed_sd"] != "" for r in rows)
    assert all(
        float(r["greedy_wer_low"]) <= float(r["greedy_wer"]) <= float(r["greedy_wer_high"]) for r in rows
    )
    with open(results / "comparisons.csv", newline="") as handle:
        pairs = list(csv.DictReader(handle))
    assert len(pairs) == len(variants) * (len(variants) - 1) // 2 * len(splits) * 2  # greedy and beam
    assert all(p["seeds"] == "2/2" for p in pairs)
    assert (results / "plots" / "training_curves.png").stat().st_size > 10_000


def test_a_duration_budget_micro_batches_the_analyses_with_the_same_results(
    smoke_repo: Path, tmp_path: Path
) -> None:
    """evaluation.batch_seconds through the real rules and scripts: the loss grids, the geometry and the
    attributions, rerun on a copy of the finished workspace in micro-batches, equal the one-batch files."""
    from lowrank_asr.attribution.io import read_attributions
    from lowrank_asr.corpus.transcripts import read_transcripts
    from lowrank_asr.geometry.io import read_geometry
    from lowrank_asr.landscape.io import read_landscape

    cfg = smoke_config()
    repo = tmp_path / "budget"
    shutil.copytree(
        smoke_repo, repo, symlinks=True
    )  # results and Snakemake's metadata: only the analyses rerun
    splits = (cfg["landscape"]["split"], cfg["attribution"]["split"])
    longest = max(
        r.duration for s in splits for r in read_transcripts(repo / "resources" / "transcripts" / f"{s}.tsv")
    )
    budget = round(1.2 * longest, 3)  # every utterance fits; two of them rarely do
    variant, epochs = "lowrank", range(1, cfg["training"]["epochs"] + 1)
    folder = Path("results") / "landscape" / variant
    grids = [folder / f"epoch_{e:03d}.h5" for e in epochs]
    geometry = [folder / f"{kind}.h5" for kind in ("interpolation", "sharpness")]
    attributions = [Path("results") / "attribution" / variant / f"epoch_{e:03d}.h5" for e in epochs]
    targets = [str(p) for p in grids + geometry + attributions]
    snakemake(repo, "--cores", "2", *targets, "--config", f"evaluation={{batch_seconds: {budget}}}")
    logs = "".join(p.read_text() for p in (repo / "logs" / "loss_grid" / variant).glob("*.log"))
    assert re.search(r"4 utterances in [2-4] micro-batch\(es\)", logs), logs[-2000:]
    for grid in grids:
        a, b = read_landscape(repo / grid), read_landscape(smoke_repo / grid)
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-5)
        assert a["attrs"]["eval_loss"] == pytest.approx(b["attrs"]["eval_loss"], rel=1e-5)
    a, b = (read_geometry(r / geometry[0], "interpolation") for r in (repo, smoke_repo))
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-5)
    np.testing.assert_array_equal(a["wer"], b["wer"])
    a, b = (read_geometry(r / geometry[1], "sharpness") for r in (repo, smoke_repo))
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-5)
    np.testing.assert_allclose(
        a["eigenvalue"], b["eigenvalue"], rtol=1e-3
    )  # a few float32 HVPs, summed apart
    for path in attributions:
        a, b = (read_attributions(r / path)["items"] for r in (repo, smoke_repo))
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x["attributions"], y["attributions"], rtol=1e-4, atol=1e-6)
            assert x["hypothesis"] == y["hypothesis"]


def smoke_config() -> dict:
    from lowrank_asr.config_files import load_yaml

    return load_yaml(ROOT / "config" / "smoke.yaml")


def test_adding_an_evaluation_split_runs_only_that_split(smoke_repo: Path) -> None:
    cfg = smoke_config()
    splits = [*cfg["evaluation"]["splits"], "dev-clean"]
    jobs = planned_jobs(smoke_repo, "--config", f"evaluation={{splits: [{', '.join(splits)}]}}")
    # the compression sweep decodes the evaluation splits (compression.splits is unset in smoke.yaml), so it is
    # redone too; nothing else: no training, no evaluation of the other splits
    compression = {
        ("compression", None),
        ("compression_table", None),
        ("plot_compression", None),
        ("plot_headline", None),
    }
    assert "splits" not in cfg["compression"]
    assert {(rule, w.get("split")) for rule, w in jobs} == {
        ("evaluate", "dev-clean"),
        ("wer_table", None),
    } | compression
    assert {w["run"] for rule, w in jobs if rule == "evaluate"} == set(cfg["variants"])


@pytest.mark.parametrize("knob", ["beam_width", "max_symbols_per_step"])
def test_changing_a_decoding_knob_retrains_nothing(smoke_repo: Path, knob: str) -> None:
    value = smoke_config()["evaluation"][knob] + 1
    rules = planned_rules(smoke_repo, "--config", f"evaluation={{{knob}: {value}}}")
    assert {"evaluate", "wer_table"} <= rules
    # the attributions show greedy hypotheses, decoded with max_symbols_per_step
    # greedy hypotheses are decoded with max_symbols_per_step by the attributions, the interpolation's WER and the
    # compression sweep
    uses_knob = {
        "beam_width": set(),
        "max_symbols_per_step": {
            "integrated_gradients",
            "plot_attribution",
            "attribution_video",
            "interpolation",
            "plot_geometry",
            "compression",
            "compression_table",
            "plot_compression",
        },
    }[knob]
    assert rules <= {"evaluate", "wer_table", "plot_headline"} | uses_knob


def test_toggling_the_bad_audio_policy_reruns_only_splits_with_bad_audio(smoke_repo: Path) -> None:
    # smoke.yaml fails on bad audio and its corpus has none: under `skip` every split's transcripts stay the same
    assert planned_jobs(smoke_repo, "--config", "data={on_bad_audio: skip}") == []
    skipped = smoke_repo / "resources" / "transcripts" / "test-other.skipped.json"
    original = skipped.read_text()
    # as left by a `skip` run that found a corrupt file in test-other
    skipped.write_text(
        json.dumps([{"path": "x.flac", "utt_id": "x", "reason": "audio file holds no samples"}])
    )
    try:
        # the table counts the skipped utterances it reads from the list: only it is redone
        assert sorted(planned_jobs(smoke_repo, "--config", "data={on_bad_audio: skip}")) == [
            ("plot_headline", {}),
            ("wer_table", {}),
        ]
        jobs = planned_jobs(smoke_repo)  # back to `fail`: test-other's transcripts must run again (and fail)
    finally:
        skipped.write_text(original)
    assert ("transcripts", {"split": "test-other"}) in jobs
    assert {w.get("split") for _, w in jobs} == {"test-other", None}
    # the compression sweep decodes the evaluation splits too
    assert {rule for rule, _ in jobs} == {
        "transcripts",
        "tfrecords",
        "evaluate",
        "wer_table",
        "compression",
        "compression_table",
        "plot_compression",
        "plot_headline",
    }


def test_changing_the_training_history_reruns_only_the_curves(smoke_repo: Path) -> None:
    history = smoke_repo / "results" / "models" / "lowrank" / "history.csv"
    with edited(history, history.read_text().splitlines()[-1] + "\n"):
        jobs = planned_jobs(smoke_repo)
    assert [rule for rule, _ in jobs] == ["training_curves"]


def test_a_corrupt_local_tarball_keeps_the_extracted_split(smoke_repo: Path, tmp_path: Path) -> None:
    folder = smoke_repo / "resources" / "corpus" / "LibriSpeech" / "test-other"
    manifest = "resources/corpus/test-other.extracted.json"

    def files() -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    before = files()
    assert before
    bad = tmp_path / "test-other.tar.gz"
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    # the target before --config, which takes every argument after it
    out = snakemake(
        smoke_repo,
        "--cores",
        "1",
        manifest,
        "--config",
        f"corpus={{local: {{test-other: {bad}}}}}",
        check=False,
    )
    assert out.returncode != 0
    assert (
        f"{bad} is truncated or corrupt" in (smoke_repo / "logs" / "extract" / "test-other.log").read_text()
    )
    assert files() == before  # Snakemake deleted the declared manifest only
    # the config put back: the extraction is found in place, and nothing after it runs again
    snakemake(smoke_repo, "--cores", "1", manifest)
    assert files() == before
    assert planned_jobs(smoke_repo) == []
