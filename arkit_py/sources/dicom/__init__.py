"""DICOM in: image series (CT, MR, PT; single-frame and enhanced multi-frame), DICOM-SEG,
RTSTRUCT, and PET SUV from the tags. pydicom reads, highdicom interprets SEG, pylibjpeg (with
its openjpeg and libjpeg plugins) decodes compressed pixel data.

The modules and their contracts (one job each):

- ``files``: ``scan(path) -> Listing``: a folder or a ``.zip`` (read as hostile as bundles
  are) grouped into objects (an image series, a SEG, an RTSTRUCT, ...), non-DICOM files
  skipped and counted; ``select(spec)`` takes ``DIR`` or ``DIR?series=N`` (N: the 1-based
  index ``arkit dicom ls`` prints) to one object, or InputError listing the choices.
- ``series``: ``read_image_series(obj) -> ImageVolume``: voxels (I, J, K) with a voxel ->
  RAS mm affine, sorted by geometry (never by file name), slice spacing from positions,
  rescale slope and intercept per slice.
- ``seg``: ``read_dicom_seg(path) -> Segmentation``; ``rtstruct``: ``read_rtstruct(path, *,
  reference=None) -> Segmentation``.
- ``suv``: the SUVbw factor of a PET series from its tags.

Nothing from a header beyond geometry and physics (no names, IDs, dates, institution,
descriptions or UIDs) leaves these modules: listings show a frame of reference only as a
short hash.
"""
