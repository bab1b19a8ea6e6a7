"""The one image preprocessing path, shared by collection, training and rollout.

* :func:`resize` is the only resize in the project (OpenCV ``INTER_AREA``): the env uses it to
  render at a dataset's size, collection stores its output, training and rollout feed models with it.
* :class:`ImagePreprocess` turns uint8 frames into model input. A frame that is not at the size the
  training data was *stored* at (``source_size``, e.g. the 640x480 camera image at rollout) is first
  brought there exactly as collection did, then to the model's ``image_size``; so a camera frame
  gives the same tensor whether it went through a dataset (training) or straight to the policy
  (rollout). ``crop`` (optional) cuts a fixed workspace box (fractions of the stored frame) first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def resize(img: np.ndarray, size) -> np.ndarray:
    """uint8 ``(H, W, 3)`` -> ``size`` = ``(h, w)`` (a no-op when already there)."""
    h, w = int(size[0]), int(size[1])
    if img.shape[:2] == (h, w):
        return img
    import cv2

    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def resize_frames(frames: np.ndarray, size) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` -> ``(T, h, w, 3)``."""
    frames = np.asarray(frames)
    if frames.shape[1:3] == tuple(int(x) for x in size):
        return frames
    return np.stack([resize(f, size) for f in frames])


def to_tensor(frames: np.ndarray):
    """uint8 ``(..., H, W, 3)`` -> float ``(..., 3, H, W)`` in [0, 1]."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(frames))
    return t.movedim(-1, -3).float().div_(255.0)


@dataclass
class ImagePreprocess:
    image_size: int  # model input side (square)
    source_size: tuple | None = None  # (H, W) of the training data's stored frames; None: resize directly
    crop: tuple | None = None  # (top, left, height, width) as fractions of the source frame

    def frames(self, frames: np.ndarray) -> np.ndarray:
        """uint8 ``(T, H, W, 3)`` -> uint8 ``(T, S, S, 3)``."""
        frames = np.asarray(frames)
        if self.source_size is not None:
            frames = resize_frames(frames, self.source_size)
        if self.crop is not None:
            top, left, hh, ww = self.crop
            H, W = frames.shape[1:3]
            y0, x0 = int(round(top * H)), int(round(left * W))
            frames = frames[:, y0:y0 + max(1, int(round(hh * H))), x0:x0 + max(1, int(round(ww * W)))]
        return resize_frames(frames, (self.image_size, self.image_size))

    def __call__(self, frames: np.ndarray):
        """uint8 ``(T, H, W, 3)`` -> float tensor ``(T, 3, S, S)`` in [0, 1]."""
        return to_tensor(self.frames(frames))


def random_shift(x, pad: int, generator=None):
    """DrQ's augmentation: pad ``(B, C, H, W)`` by ``pad`` pixels (replicating the border) and crop back
    at a random offset per sample, i.e. shift each image by up to +-pad pixels."""
    import torch
    import torch.nn.functional as F

    if pad <= 0:
        return x
    b, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    # one gather (no per-sample Python loop: torch.compile traces it whole), the same crops
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    return xp[torch.arange(b, device=x.device)[:, None, None, None], torch.arange(c, device=x.device)[None, :, None, None],
              rows, cols]
