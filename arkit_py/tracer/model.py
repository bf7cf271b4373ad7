"""A tracer's model, in one import: the compartment model and its maths (solving, TIACs)
are in :mod:`arkit_py.tracer.kinetics`, reading and checking tracer files and the library
in :mod:`arkit_py.tracer.tracerfile`, and :func:`load_tracer` (a library ID or a tracer
file) is the model part of the tracer-input registry, :mod:`arkit_py.tracer.inputs`."""

from __future__ import annotations

from .inputs import load_tracer
from .kinetics import EXCRETED, Compartment, Param, Region, TracerModel, Transfer, Voiding
from .tracerfile import STATUSES, TRACER_IDS, is_library_id, is_tracer_file, library_ids

__all__ = ["EXCRETED", "STATUSES", "TRACER_IDS", "Compartment", "Param", "Region", "TracerModel", "Transfer",
           "Voiding", "is_library_id", "is_tracer_file", "library_ids", "load_tracer"]
