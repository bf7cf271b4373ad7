"""What every reader returns: label layers on one voxel grid, the grid's voxel -> RAS mm
affine, and what each label is.

No file names, header text or patient data travel in a Segmentation: readers keep only
geometry, label values, structure names and colours.

A reader's warnings (``NRRD space missing ... reading it as LPS``) are told with
:func:`warn` inside :func:`held_warnings`: they are held while the read is under way and
logged only when it succeeds, so a read that fails prints its one-line error and nothing
before it.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np

from ..structures import Structure, lookup


@dataclass(frozen=True)
class Segment:
    """One labelled structure.

    label : int, the value in its layer (unique across layers).
    structure : the canonical (or user ``other``) structure it maps to.
    layer : index into ``Segmentation.layers``.
    """

    label: int
    structure: Structure
    layer: int = 0


@dataclass
class Segmentation:
    """Label layers sharing one grid.

    layers : list of (I, J, K) unsigned int arrays, 0 = background. Most inputs have one
        layer; 3D Slicer's layered ``.seg.nrrd`` (overlapping segments) has several. Label
        values are unique across layers.
    affine : (4, 4) float, voxel index (i, j, k, 1) -> RAS mm.
    segments : label -> Segment, for every non-zero label that is present or named.
    body_label : the label that fills the body envelope (the phantom's soft tissue), drawn
        as the translucent ``body`` structure around all others; None when the input has
        no such filler.
    """

    layers: list[np.ndarray]
    affine: np.ndarray
    segments: dict[int, Segment] = field(default_factory=dict)
    body_label: int | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.layers[0].shape)  # type: ignore[return-value]

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in mL (= cm^3), from the affine's determinant."""
        return abs(float(np.linalg.det(self.affine[:3, :3]))) / 1000.0

    def voxel_counts(self) -> dict[int, int]:
        """label -> number of voxels, over all layers (one pass per layer, not per label)."""
        total = np.zeros(1, dtype=np.int64)
        for layer in self.layers:
            step = max(1, (1 << 22) // max(1, layer[0].size))  # slabs of ~4M voxels: bincount widens to int64
            for start in range(0, layer.shape[0], step):
                values = np.bincount(layer[start:start + step].ravel())
                if len(values) > len(total):
                    total = np.pad(total, (0, len(values) - len(total)))
                total[: len(values)] += values
        return {int(label): int(total[label]) for label in np.flatnonzero(total) if label}


# -- warnings held until a read succeeds -------------------------------------------------------

_HELD: ContextVar[list | None] = ContextVar("arkit_held_warnings", default=None)


def warn(logger: logging.Logger, message: str, *args, level: int = logging.WARNING) -> None:
    """Log ``message % args`` on ``logger``, or hold it while a :func:`held_warnings` read
    is under way."""
    held = _HELD.get()
    if held is None:
        logger.log(level, message, *args)
    else:
        held.append((logger, level, message, args))


class held_warnings:  # a context manager, named like one: ``with held_warnings():``
    """Hold the :func:`warn` calls of a read; log them when the block ends without an
    exception, drop them when it raises. Nested blocks hand theirs to the outer one, so
    only the outermost read's success lets them out."""

    def __enter__(self) -> list:
        self._outer = _HELD.get()
        self._held: list = []
        self._token = _HELD.set(self._held)
        return self._held

    def __exit__(self, exc_type, exc, tb) -> bool:
        _HELD.reset(self._token)
        if exc_type is None:
            if self._outer is not None:
                self._outer.extend(self._held)
            else:
                for logger, level, message, args in self._held:
                    logger.log(level, message, *args)
        return False


def relabel(seg: Segmentation, table) -> Segmentation:
    """A Segmentation whose segments named in ``table`` (label -> (name, colour), a label
    table) take its names and colours."""
    segments = dict(seg.segments)
    for label, segment in seg.segments.items():
        if label in table:
            name, color = table[label]
            segments[label] = Segment(label, lookup(name, color), segment.layer)
    return Segmentation(layers=seg.layers, affine=seg.affine, segments=segments, body_label=seg.body_label)


def place_mask(layers: list[np.ndarray], index: np.ndarray, label: int) -> int:
    """Put a whole mask (flat C-order voxel indices) into the first layer where it overlaps
    nothing, or a new layer when it overlaps every one, so labels stay unique across layers
    and every label lives in one layer (as in a layered 3D Slicer segmentation). Returns
    the layer's number."""
    for layer_no, layer in enumerate(layers):
        flat = layer.reshape(-1)  # a view: layers are C-contiguous
        if not flat[index].any():
            flat[index] = label
            return layer_no
    layers.append(np.zeros(layers[0].shape, dtype=layers[0].dtype))
    layers[-1].reshape(-1)[index] = label
    return len(layers) - 1
