"""One registry of tracer inputs: every kind of thing a tracer spec can name (``--tracer``,
a lesson hologram's ``tracer:``, the input of ``arkit tracer ...``), the rule that
recognises it and the reader that reads it.

Kinds, tried in this order (the first whose rule matches is the spec's kind):

===============  ==============================================  =====================================
kind             matches                                         read by (returns)
===============  ==============================================  =====================================
``nifti-pet``    ``.nii``/``.nii.gz``                            :func:`~arkit_py.sources.pet.read_nifti_pet`
                 (with its PET-BIDS ``.json``)                   (DynamicPet)
``dicom-pet``    a DICOM series: a folder holding DICOM,         :func:`~arkit_py.sources.pet.read_dicom_dynamic_pet`
                 ``.zip``, ``.dcm``, a DICM file, ``?series=N``  (DynamicPet)
``curves``       ``.csv``                                        :func:`~arkit_py.tracer.curves.read_curves_csv`
                                                                 (Curves)
``library``      a library ID (``fdg``, ``mdp``, ...)            :func:`~arkit_py.tracer.tracerfile.read_library_tracer`
                                                                 (TracerModel)
``tracer-file``  ``.yaml``/``.yml``, or a path with a folder     :func:`~arkit_py.tracer.tracerfile.read_tracer_file`
                                                                 (TracerModel)
===============  ==============================================  =====================================

A spec no kind matches is an unknown tracer (InputError naming the closest library ID).
A command that takes only some kinds (``arkit tracer show``: a model; ``arkit tracer
extract``: a PET) resolves among those. A new kind is one :class:`TracerKind` in
:data:`KINDS`, like a volume reader in :data:`arkit_py.sources.load.READERS`.

>>> resolve_tracer("fdg").kind.name, resolve_tracer("curves.csv").kind.name
('library', 'curves')
>>> resolve_tracer("pet.nii.gz").kind.pet
True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..sources.pet import DynamicPet, is_dicom_pet, is_nifti_pet, read_dicom_dynamic_pet, read_nifti_pet
from .curves import Curves, read_curves_csv
from .kinetics import TracerModel
from .tracerfile import is_library_id, is_tracer_file, read_library_tracer, read_tracer_file, unknown_tracer


@dataclass(frozen=True)
class TracerKind:
    """One kind of tracer input.

    name : ``library``, ``tracer-file``, ``curves``, ``nifti-pet``, ``dicom-pet``.
    detect : spec -> whether the spec is of this kind (may look at the file system).
    read : ``read(spec, **options)`` -> a TracerModel, Curves or DynamicPet; each kind takes
        its own options (curves: ``unit``, ``decay_corrected``, ``nuclide``; a PET: ``bids``,
        ``nuclide``; a model: none).
    file : the spec names a file or folder (relative to the lesson folder in a lesson).
    shown : how a bundle names an input of this kind without its file name (file names can
        identify a patient, ``docs/security.md``); None: the spec itself (a library ID).
    probes : the rule looks at the file system (in a lesson: in the lesson folder); other
        rules look at the name only.
    """

    name: str
    detect: Callable[[str], bool]
    read: Callable[..., TracerModel | Curves | DynamicPet]
    file: bool
    shown: str | None = None
    probes: bool = False

    @property
    def pet(self) -> bool:
        """A PET to measure over the label map."""
        return self.name in PET_KINDS

    @property
    def model(self) -> bool:
        """A compartment model (a library ID or a tracer file)."""
        return self.name in MODEL_KINDS


def _is_curves(spec: str) -> bool:
    return spec.lower().endswith(".csv")


def _read_nifti_pet(spec: str, *, bids=None, nuclide: str | None = None) -> DynamicPet:
    """A NIfTI PET; its nuclide is the sidecar's (a given ``nuclide`` overrides it later)."""
    del nuclide
    return read_nifti_pet(spec, bids)


#: Every kind, in the order their rules are tried.
KINDS: list[TracerKind] = [
    TracerKind("nifti-pet", is_nifti_pet, _read_nifti_pet, file=True, shown="PET"),
    TracerKind("dicom-pet", is_dicom_pet, read_dicom_dynamic_pet, file=True, shown="PET", probes=True),
    TracerKind("curves", _is_curves, read_curves_csv, file=True, shown="curves file"),
    TracerKind("library", is_library_id, read_library_tracer, file=False),
    TracerKind("tracer-file", is_tracer_file, read_tracer_file, file=True, shown="tracer file"),
]

PET_KINDS = ("nifti-pet", "dicom-pet")
MODEL_KINDS = ("library", "tracer-file")


@dataclass(frozen=True)
class TracerInput:
    """A tracer spec and its kind."""

    spec: str
    kind: TracerKind

    def read(self, **options):
        """The kind's reader on the spec (see :class:`TracerKind` for the options)."""
        return self.kind.read(self.spec, **options)


def tracer_kind(name: str) -> TracerKind:
    """The kind called ``name``."""
    for kind in KINDS:
        if kind.name == name:
            return kind
    raise KeyError(f"no tracer kind {name!r} (kinds: {', '.join(k.name for k in KINDS)})")


def find_tracer(spec: str | os.PathLike, *, kinds: Iterable[str] | None = None,
                folder: str | os.PathLike | None = None) -> TracerInput | None:
    """The kind of ``spec`` among ``kinds`` (default: all), tried in registry order; None
    when none matches.

    folder : where a relative file spec is (a lesson folder): a rule that looks at the file
        system looks there, the others at the name as written; a file kind's spec is
        returned joined to ``folder``.
    """
    spec = os.fspath(spec)
    wanted = None if kinds is None else set(kinds)
    for kind in KINDS:
        if wanted is not None and kind.name not in wanted:
            continue
        if folder is None or not kind.file:
            if kind.detect(spec):
                return TracerInput(spec, kind)
            continue
        located = str(Path(folder) / spec)
        if kind.detect(located if kind.probes else spec):
            return TracerInput(located, kind)
    return None


def resolve_tracer(spec: str | os.PathLike, *, kinds: Iterable[str] | None = None) -> TracerInput:
    """Like :func:`find_tracer`, but a spec no kind matches is an InputError (an unknown
    tracer: the closest library ID and the library)."""
    found = find_tracer(spec, kinds=kinds)
    if found is None:
        raise unknown_tracer(os.fspath(spec))
    return found


def read_tracer(spec: str | os.PathLike, *, kinds: Iterable[str] | None = None, **options):
    """Resolve a tracer spec and read it: a TracerModel, Curves or DynamicPet."""
    return resolve_tracer(spec, kinds=kinds).read(**options)


def is_pet(spec: str | os.PathLike) -> bool:
    """Whether a tracer spec is a PET (a NIfTI, or a DICOM series)."""
    found = find_tracer(spec, kinds=PET_KINDS)
    return found is not None


def load_tracer(spec: str | os.PathLike) -> TracerModel:
    """A compartment model: a library tracer by ID (``fdg``) or a tracer file
    (``my-fdg.yaml``, which may start with ``base: <id>`` and override any part)."""
    return read_tracer(str(spec), kinds=MODEL_KINDS)


def read_pet(path: str | os.PathLike, bids=None, *, nuclide: str | None = None) -> DynamicPet:
    """Read a PET: a DICOM PET series (a folder, ``.zip``, ``.dcm`` or DICM file,
    ``PATH?series=N``), else a 3D or 4D NIfTI and its PET-BIDS sidecar. The reader's
    warnings are told only when the read succeeds.

    bids : the sidecar of a NIfTI (a JSON file or its content as a mapping; default: the
        ``.json`` beside it); must be None for DICOM (its tags give timing and units).
    nuclide : DICOM only: the nuclide to check RadionuclideHalfLife against when the header
        names none (``F-18``).
    """
    found = find_tracer(path, kinds=PET_KINDS) or TracerInput(os.fspath(path), tracer_kind("nifti-pet"))
    return found.read(bids=bids, nuclide=nuclide)
