"""Videos from per-epoch figures (H.264 MP4 through imageio-ffmpeg)."""

from lowrank_asr.video.writer import count_frames, read_video, side_by_side, write_video

__all__ = ["count_frames", "read_video", "side_by_side", "write_video"]
