"""Videos: frame counts, decodability, padding of odd and mixed frame sizes, side-by-side holding."""

import numpy as np
import pytest
from PIL import Image

from lowrank_asr.errors import PipelineError
from lowrank_asr.video import count_frames, read_video, side_by_side, write_video

COLOURS = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (230, 230, 30), (20, 20, 20)]


def _frames(tmp_path, name, sizes):
    paths = []
    for i, (w, h) in enumerate(sizes):
        p = tmp_path / f"{name}_{i:03d}.png"
        Image.new("RGB", (w, h), COLOURS[i % len(COLOURS)]).save(p)
        paths.append(p)
    return paths


def test_video_has_one_frame_per_png_and_decodes(tmp_path):
    pngs = _frames(tmp_path, "a", [(101, 75)] * 4)  # odd size: must be padded to even
    out = write_video(pngs, tmp_path / "v" / "a.mp4", fps=2)
    assert count_frames(out) == 4
    frames, fps = read_video(out)
    assert frames.shape == (4, 76, 102, 3) and fps == pytest.approx(2)
    for k in range(4):  # centre pixel keeps the frame's colour (lossy codec: roughly)
        assert np.abs(frames[k, 38, 50].astype(int) - COLOURS[k]).max() < 30
    assert not list((tmp_path / "v").glob(".*"))


def test_hold_last_and_mixed_sizes(tmp_path):
    pngs = _frames(tmp_path, "b", [(64, 48), (80, 40), (50, 60)])
    out = write_video(pngs, tmp_path / "b.mp4", fps=4, hold_last=2)
    frames, _ = read_video(out)
    assert frames.shape == (5, 60, 80, 3)
    assert np.abs(frames[-1, 30, 40].astype(int) - COLOURS[2]).max() < 30
    assert frames[1, 2, 40].min() > 220  # padding above the 80x40 frame is white


def test_side_by_side_holds_last_frame_of_shorter_variant(tmp_path):
    a = _frames(tmp_path, "a", [(40, 40)] * 3)
    b = _frames(tmp_path, "b", [(60, 30)] * 5)
    out = side_by_side([a, b], tmp_path / "compare_landscape.mp4", fps=2, labels=["alpha", "beta"])
    assert count_frames(out) == 5
    frames, _ = read_video(out)
    top = 44
    assert frames.shape[1:] == (top + 40, 100, 3)
    # column a, frame 4: still a's last frame (colour 2); column b shows its own frame 4 (colour 4)
    assert np.abs(frames[4, top + 20, 20].astype(int) - COLOURS[2]).max() < 30
    assert np.abs(frames[4, top + 20, 70].astype(int) - COLOURS[4]).max() < 30
    assert frames[0, : top // 2].min() < 128  # label text drawn in the strip


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(PipelineError, match="no frames"):
        write_video([], tmp_path / "x.mp4", fps=2)
    with pytest.raises(PipelineError, match="missing"):
        write_video([tmp_path / "nope.png"], tmp_path / "x.mp4", fps=2)
    with pytest.raises(PipelineError, match="labels"):
        side_by_side([_frames(tmp_path, "c", [(10, 10)])], tmp_path / "x.mp4", fps=2, labels=["a", "b"])
    assert not (tmp_path / "x.mp4").exists()
