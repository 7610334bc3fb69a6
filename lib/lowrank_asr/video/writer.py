"""MP4 videos from PNG frames (one frame per epoch), through the ffmpeg binary shipped by imageio-ffmpeg.

H.264 (libx264) in yuv420p, which every player decodes; yuv420p needs even width and height, so frames are
padded (white, centred) to the largest frame size rounded up to even. Frames are read and encoded one at a
time, so memory stays at one frame whatever the number of epochs. Writes go to a temporary file next to
the target and are renamed onto it when ffmpeg has finished.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lowrank_asr.errors import PipelineError

BACKGROUND = (255, 255, 255)
LABEL_HEIGHT = 44  # pixels of the label strip above each column of a side-by-side video


def _check_paths(frames: Sequence[os.PathLike | str], what: str) -> list[Path]:
    paths = [Path(p) for p in frames]
    if not paths:
        raise PipelineError(f"{what}: no frames given")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise PipelineError(
            f"{what}: frame files missing: {missing[:3]}{' …' if len(missing) > 3 else ''}; "
            "rerun the plot rule that makes them"
        )
    return paths


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size  # (width, height), read from the header only


def _load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, BACKGROUND + (255,))
            return Image.alpha_composite(bg, im).convert("RGB")  # transparent areas -> white, not black
        return im.convert("RGB")


def _pad(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    if im.size == size:
        return im
    canvas = Image.new("RGB", size, BACKGROUND)
    canvas.paste(im, ((size[0] - im.width) // 2, (size[1] - im.height) // 2))
    return canvas


def _even(n: int) -> int:
    return n + (n % 2)


def _encode(
    images: Iterator[Image.Image], size: tuple[int, int], out_mp4: os.PathLike | str, fps: float
) -> Path:
    out = Path(out_mp4)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}{out.suffix or '.mp4'}")
    try:
        writer = imageio_ffmpeg.write_frames(
            str(tmp),
            size,
            fps=fps,
            codec="libx264",
            pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p",
            quality=None,
            macro_block_size=1,  # we pad to even sizes ourselves; no silent rescaling
            output_params=["-crf", "20", "-preset", "medium", "-movflags", "+faststart"],
            ffmpeg_log_level="error",
        )
        writer.send(None)  # start ffmpeg
        try:
            for im in images:
                writer.send(np.ascontiguousarray(np.asarray(_pad(im, size), dtype=np.uint8)))
        finally:
            writer.close()
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def write_video(
    frame_pngs: Sequence[os.PathLike | str],
    out_mp4: os.PathLike | str,
    fps: float,
    *,
    hold_last: int = 0,
) -> Path:
    """Encode ``frame_pngs`` in order as an H.264 MP4 at ``fps``; ``hold_last`` repeats the last frame that
    many extra times (so the final epoch stays on screen). Frames of different sizes are padded to the largest."""
    paths = _check_paths(frame_pngs, f"write_video {out_mp4}")
    if fps <= 0 or hold_last < 0:
        raise PipelineError(f"write_video {out_mp4}: need fps > 0 and hold_last >= 0, got {fps}, {hold_last}")
    sizes = [_size(p) for p in paths]
    size = (_even(max(w for w, _ in sizes)), _even(max(h for _, h in sizes)))
    order = paths + [paths[-1]] * hold_last
    return _encode((_load_rgb(p) for p in order), size, out_mp4, fps)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def side_by_side(
    frame_lists: Sequence[Sequence[os.PathLike | str]],
    out_mp4: os.PathLike | str,
    fps: float,
    labels: Sequence[str] | None = None,
    *,
    hold_last: int = 0,
) -> Path:
    """One video with the variants' frames left to right (e.g. ``compare_landscape.mp4``).

    Frame t shows frame ``min(t, len - 1)`` of each list: a variant with fewer epochs holds its last frame.
    The video has ``max(len(list)) + hold_last`` frames. ``labels`` (one per list) are drawn above the columns.
    """
    if not frame_lists:
        raise PipelineError(f"side_by_side {out_mp4}: no frame lists given")
    lists = [_check_paths(fl, f"side_by_side {out_mp4} (column {i})") for i, fl in enumerate(frame_lists)]
    if labels is not None and len(labels) != len(lists):
        raise PipelineError(f"side_by_side {out_mp4}: {len(labels)} labels for {len(lists)} frame lists")
    col_sizes = [[_size(p) for p in fl] for fl in lists]
    col_w = [max(w for w, _ in s) for s in col_sizes]
    top = LABEL_HEIGHT if labels else 0
    body_h = max(h for s in col_sizes for _, h in s)
    size = (_even(sum(col_w)), _even(body_h + top))
    n = max(len(fl) for fl in lists)
    font = _font(28)

    def frames() -> Iterator[Image.Image]:
        for t in range(n + hold_last):
            canvas = Image.new("RGB", size, BACKGROUND)
            draw = ImageDraw.Draw(canvas)
            x0 = 0
            for i, fl in enumerate(lists):
                im = _load_rgb(fl[min(t, len(fl) - 1)])
                canvas.paste(im, (x0 + (col_w[i] - im.width) // 2, top + (body_h - im.height) // 2))
                if labels:
                    draw.text(
                        (x0 + col_w[i] // 2, top // 2), str(labels[i]), fill=(0, 0, 0), font=font, anchor="mm"
                    )
                x0 += col_w[i]
            yield canvas

    return _encode(frames(), size, out_mp4, fps)


def count_frames(mp4: os.PathLike | str) -> int:
    """Number of frames in a video (ffmpeg decodes it; exact, not from the container header)."""
    if not Path(mp4).is_file():
        raise PipelineError(f"count_frames: no video at {mp4}")
    return int(imageio_ffmpeg.count_frames_and_secs(str(mp4))[0])


def read_video(mp4: os.PathLike | str) -> tuple[np.ndarray, float]:
    """All frames ``[n, H, W, 3]`` uint8 and the frame rate (for tests and checks; loads the whole video)."""
    if not Path(mp4).is_file():
        raise PipelineError(f"read_video: no video at {mp4}")
    gen = imageio_ffmpeg.read_frames(str(mp4))
    meta = next(gen)
    w, h = meta["size"]
    frames = [np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3) for buf in gen]
    return (np.stack(frames) if frames else np.zeros((0, h, w, 3), np.uint8)), float(meta["fps"])
