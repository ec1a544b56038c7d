"""Frames -> one Qwen2-VL video input, without torchvision.

The transformers Qwen2-VL video processor imports torchvision, which the CPU environment does not have. This is the
same arithmetic as the image processor (PIL bicubic resize to a multiple of patch*merge inside the pixel bounds,
rescale, normalise), with frames grouped in temporal patches of 2 instead of each image being repeated twice:

    frames (F, even: the last one repeated)  ->  pixel_values_videos (F/2 * gh * gw, C * 2 * 14 * 14)
                                                  video_grid_thw      [F/2, gh, gw]

All frames of a video are resized to the size the first frame gets, so one video is one grid. A video of two
equal frames therefore yields exactly what the image processor yields for that frame (a test checks this, and
checks against the transformers video processor wherever torchvision is importable).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Qwen2-VL's target size: both sides multiples of `factor`, area within the bounds, aspect kept."""
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio over 200: {height}x{width}")
    h = round(height / factor) * factor
    w = round(width / factor) * factor
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def even_frames(frames: list, temporal_patch: int = 2) -> list:
    """Pad to a multiple of the temporal patch by repeating the last frame."""
    if not frames:
        raise ValueError("a video needs at least one frame")
    pad = -len(frames) % temporal_patch
    return list(frames) + [frames[-1]] * pad


def video_inputs(
    frames: list[Image.Image],
    min_pixels: int,
    max_pixels: int,
    patch_size: int = 14,
    merge_size: int = 2,
    temporal_patch_size: int = 2,
    image_mean=(0.48145466, 0.4578275, 0.40821073),
    image_std=(0.26862954, 0.26130258, 0.27577711),
) -> tuple[np.ndarray, np.ndarray]:
    """(pixel_values_videos, video_grid_thw) for one video given as PIL frames."""
    frames = even_frames(frames, temporal_patch_size)
    width, height = frames[0].size
    h, w = smart_resize(height, width, patch_size * merge_size, min_pixels, max_pixels)
    mean = np.asarray(image_mean, dtype=np.float32)[:, None, None]
    std = np.asarray(image_std, dtype=np.float32)[:, None, None]
    stack = []
    for frame in frames:
        arr = np.asarray(frame.convert("RGB").resize((w, h), resample=Image.BICUBIC))
        arr = (arr.astype(np.float64) / 255.0).astype(np.float32).transpose(2, 0, 1)  # C, H, W
        stack.append((arr - mean) / std)
    video = np.stack(stack)  # F, C, H, W
    n_frames, channels = video.shape[:2]
    gt, gh, gw = n_frames // temporal_patch_size, h // patch_size, w // patch_size
    patches = video.reshape(
        gt, temporal_patch_size, channels,
        gh // merge_size, merge_size, patch_size,
        gw // merge_size, merge_size, patch_size,
    )
    # (t, bh, bw, mh, mw, C, tp, ph, pw): merge blocks contiguous, as the vision merger expects
    patches = patches.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    flat = patches.reshape(gt * gh * gw, channels * temporal_patch_size * patch_size * patch_size)
    return np.ascontiguousarray(flat, dtype=np.float32), np.array([gt, gh, gw], dtype=np.int64)
