"""Readers: label volumes from files and phantoms, each returning a :class:`Segmentation`."""

from .segmentation import Segment, Segmentation

__all__ = ["Segment", "Segmentation"]
