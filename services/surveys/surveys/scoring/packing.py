"""A response's usable item answers, packed: little-endian float64, NaN where not usable.

One blob per response holds every item of its codebook, scales in the order knowledge,
attitudes, use (those the codebook has) and items in codebook order. Packing a chunk's
matrices is one ``tobytes`` and unpacking 100,000 responses one ``frombuffer``: what makes
the round's Cronbach's alpha cheap to recompute after every resolution or withdrawal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from surveys.scoring.codebook import SCALE_NAMES, Codebook, ScaleName

__all__ = ["layout", "pack", "unpack"]

_DTYPE = "<f8"


def layout(codebook: Codebook) -> list[tuple[ScaleName, int]]:
    """(scale, number of items) in packing order."""
    return [
        (name, len(codebook.scales[name].items)) for name in SCALE_NAMES if name in codebook.scales
    ]


def pack(items: Mapping[ScaleName, np.ndarray], codebook: Codebook) -> list[bytes]:
    """One blob per row of the (rows x items) matrices of ``items`` (``ScoredChunk.items``)."""
    parts = [np.asarray(items[name], dtype=float) for name, _ in layout(codebook)]
    matrix = np.ascontiguousarray(np.hstack(parts), dtype=_DTYPE)
    if matrix.shape[0] == 0:
        return []
    width = matrix.shape[1] * 8
    data = matrix.tobytes()
    return [data[i : i + width] for i in range(0, len(data), width)]


def unpack(blobs: Sequence[bytes], codebook: Codebook) -> dict[ScaleName, np.ndarray]:
    """The (rows x items) matrix of each scale from blobs packed with ``codebook``."""
    shape = layout(codebook)
    total = sum(k for _, k in shape)
    matrix = np.frombuffer(b"".join(blobs), dtype=_DTYPE)
    if matrix.size != total * len(blobs):
        raise ValueError("the packed answers were not packed with this codebook")
    matrix = matrix.reshape(len(blobs), total)
    out: dict[ScaleName, np.ndarray] = {}
    start = 0
    for name, k in shape:
        out[name] = matrix[:, start : start + k]
        start += k
    return out
