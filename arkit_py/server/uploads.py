"""Files a lecturer uploads to a lesson's source folder, checked by what they hold, never by
their name or the type the browser claims (docs/studio.md, docs/security.md).

- a label volume: NIfTI-1/2 (``.nii``, ``.nii.gz``, the header read by nibabel) or NRRD;
- DICOM: one file (``DICM`` at byte 128: a SEG, an RTSTRUCT) or a zip of a study, read as
  hostile by the DICOM reader's own checks (members that leave the archive, links,
  encrypted or repeated members, more than the member or total limits, bomb ratios) and
  scanned: it must hold at least one DICOM object;
- a table (curves CSV, label table CSV/TSV/JSON/TXT, tracer YAML): UTF-8 text without NUL,
  at most 10 MB.

Uploads stream to a temporary file in the lesson folder (the request's size is bounded by
MAX_CONTENT_LENGTH), are checked, then renamed into place: nothing half-written. Stored
names are neutral (``volume-1.nii.gz``, ``dicom-1.zip``, ``table-1.csv``) unless the form
gives ``name``: a patient's name in a file name would reach the lesson.yaml and URLs.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArkitError, SessionError

TEXT_LIMIT = 10 * 1024 * 1024
TEXT_SUFFIXES = (".csv", ".tsv", ".json", ".txt", ".yaml", ".yml", ".ctbl")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def _nifti_head(head: bytes) -> bool:
    if len(head) >= 348 and head[344:348] in (b"n+1\0", b"ni1\0"):
        return True
    return len(head) >= 8 and head[4:8] in (b"n+2\0", b"ni2\0")


def sniff(path: Path) -> tuple[str, str]:
    """(kind, suffix) of an uploaded file by its content; SessionError ``bad_upload``."""
    with open(path, "rb") as f:
        head = f.read(600)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as g:
                inner = g.read(600)
        except (OSError, EOFError, ValueError):
            raise SessionError("bad_upload", "a gzip file that cannot be read") from None
        if _nifti_head(inner):
            return "volume", ".nii.gz"
        raise SessionError("bad_upload", "a gzip file that is not a NIfTI volume")
    if _nifti_head(head):
        return "volume", ".nii"
    if head.startswith(b"NRRD000"):
        return "volume", ".nrrd"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom", ".dcm"
    if head.startswith(b"PK\x03\x04"):
        return "dicom", ".zip"
    if b"\0" in head:
        raise SessionError("bad_upload", "not a file the studio takes: a label volume (NIfTI, NRRD), DICOM "
                                         "(a .dcm or a zip of a study), or a table (CSV, TSV, JSON, YAML)")
    return "table", ""


def _check_volume(path: Path, suffix: str) -> None:
    if suffix == ".nrrd":
        import nrrd

        try:
            nrrd.read_header(str(path))
        except Exception as error:  # noqa: BLE001 - pynrrd raises several kinds
            raise SessionError("bad_upload", f"an NRRD file whose header cannot be read ({error})") from None
        return
    from ..sources.nifti import load_nifti_header

    with _named(path, suffix) as named:  # nibabel goes by the name's ending
        try:
            load_nifti_header(named)
        except ArkitError as error:
            raise SessionError("bad_upload", f"a NIfTI file nibabel cannot read ({_problem(error)})") from None


@contextlib.contextmanager
def _named(path: Path, suffix: str):
    """``path`` under its name plus ``suffix`` while the block runs (a rename: no hard
    links needed), then back."""
    named = path.with_name(path.name + suffix)
    os.rename(path, named)
    try:
        yield named
    finally:
        os.rename(named, path)


def _problem(error: ArkitError) -> str:
    return getattr(error, "problem", None) or str(error)


def _check_dicom(path: Path, suffix: str) -> str:
    """A short description of what the DICOM holds (no names, IDs or dates)."""
    from ..sources.dicom.files import scan

    with _named(path, suffix) as named:
        try:
            listing = scan(str(named))
        except ArkitError as error:
            raise SessionError("bad_upload", f"refused DICOM: {_problem(error)}") from None
    if not listing.objects:
        raise SessionError("bad_upload", "no DICOM object in this upload (a zip is taken as a DICOM study)")
    return listing.describe()


def _check_text(path: Path, original: str) -> str:
    if path.stat().st_size > TEXT_LIMIT:
        raise SessionError("bad_upload", f"a table is at most {TEXT_LIMIT // (1024 * 1024)} MB")
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SessionError("bad_upload", f"not UTF-8 text (byte {error.start}): not a table the studio takes") \
            from None
    if b"\0" in data:
        raise SessionError("bad_upload", "not a text file")
    suffix = Path(original.lower()).suffix
    if suffix not in TEXT_SUFFIXES:
        raise SessionError("bad_upload", f"a text file must end in one of {', '.join(TEXT_SUFFIXES)} (what it is "
                                         "read as: curves .csv, label table .csv/.tsv/.json/.txt, tracer .yaml)")
    return suffix


@dataclass
class Checked:
    """An upload checked and waiting in a temporary file of the lesson folder."""

    tmp: Path
    size: int
    kind: str
    suffix: str
    about: str
    name: str | None  # the name the form asked for, if any


def check_upload(folder: Path, upload, name: str | None = None) -> Checked:
    """Stream one uploaded file (a werkzeug FileStorage) to a temporary file in ``folder``
    and check it by content; SessionError ``bad_upload`` (the temporary file removed)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".upload-", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            shutil.copyfileobj(upload.stream, f, 1 << 20)
            size = f.tell()
        upload.close()
        if size == 0:
            raise SessionError("bad_upload", "an empty file")
        kind, suffix = sniff(tmp)
        if kind == "volume":
            _check_volume(tmp, suffix)
            about = {".nrrd": "NRRD volume"}.get(suffix, "NIfTI volume")
        elif kind == "dicom":
            about = _check_dicom(tmp, suffix)
        else:
            suffix = _check_text(tmp, upload.filename or "")
            about = "table"
        if name is not None and (not NAME.fullmatch(name) or not name.lower().endswith(suffix or "")):
            raise SessionError("bad_upload", f"a file name is letters, digits, '.', '_' and '-' (at most 80), ending "
                                             f"in {suffix or 'its type'}")
        os.chmod(tmp, 0o600)
        return Checked(tmp, size, kind, suffix, about, name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def install(folder: Path, checked: Checked) -> dict:
    """Give a checked upload its name in ``folder``: the one asked for (replacing a file of that
    name, never a folder), else the first free neutral one, taken atomically (a link that fails
    when the name exists), so two uploads at once never share a name."""
    if checked.name is not None:
        target = folder / checked.name
        if target.is_dir():
            raise SessionError("bad_upload", f"{checked.name!r} is a folder of this lesson")
        os.replace(checked.tmp, target)
        return _stored(checked, checked.name)
    stem = {"volume": "volume", "dicom": "dicom", "table": "table"}[checked.kind]
    n = 1
    while True:
        name = f"{stem}-{n}{checked.suffix}"
        try:
            os.link(checked.tmp, folder / name)
        except FileExistsError:
            n += 1
            continue
        except OSError:  # no hard links here: an exclusive create, then the rename over it
            try:
                os.close(os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                n += 1
                continue
            os.replace(checked.tmp, folder / name)
            return _stored(checked, name)
        checked.tmp.unlink(missing_ok=True)
        return _stored(checked, name)


def _stored(checked: Checked, name: str) -> dict:
    return {"name": name, "size": checked.size, "kind": checked.kind, "about": checked.about}


def store_uploads(folder: Path, uploads, name: str | None = None) -> list[dict]:
    """Check every upload first, then install them all: one refused leaves none behind."""
    checked: list[Checked] = []
    try:
        for upload in uploads:
            checked.append(check_upload(folder, upload, name))
        return [install(folder, c) for c in checked]
    finally:
        for c in checked:
            c.tmp.unlink(missing_ok=True)


def kind_of_stored(path: Path) -> str:
    """The kind of a stored file, by its name (the studio named it when it was checked)."""
    name = path.name.lower()
    if path.is_dir():
        return "folder"
    if name.endswith((".nii", ".nii.gz", ".nrrd")):
        return "volume"
    if name.endswith((".zip", ".dcm")):
        return "dicom"
    return "table"


def _clutter(name: str) -> bool:
    parts = name.split("/")
    return parts[0] == "__MACOSX" or parts[-1] in (".DS_Store", "Thumbs.db", "desktop.ini")


def check_file(path: Path) -> str:
    """The kind of a file a lesson folder holds, checked by content as an upload is (its own
    name kept); SessionError ``bad_upload``."""
    kind, suffix = sniff(path)
    if kind == "volume":
        _check_volume(path, suffix)
    elif kind == "dicom":
        _check_dicom(path, suffix)
    else:
        _check_text(path, path.name)
    return kind


def extract_source_zip(path: Path, target: Path) -> str:
    """Unpack a lesson folder zip (``<id>/lesson.yaml`` and its files, as the studio exports
    it, or lesson.yaml at its root) into ``target`` (created; must not exist), with the same
    refusals as a DICOM zip; returns the lesson.yaml text."""
    from ..errors import InputError
    from ..sources.dicom.files import _zip_members

    try:
        zf, infos = _zip_members(str(path))
    except InputError as error:
        raise SessionError("bad_upload", f"refused zip: {error.problem}") from None
    infos = [i for i in infos if not _clutter(i.filename)]  # what Finder and Explorer add
    with zf:
        names = [i.filename for i in infos]
        prefix = "" if "lesson.yaml" in names else None
        if prefix is None:
            tops = {n.split("/", 1)[0] for n in names}
            if len(tops) == 1 and f"{next(iter(tops))}/lesson.yaml" in names:
                prefix = next(iter(tops)) + "/"
        if prefix is None:
            raise SessionError("bad_upload", "this zip is neither a bundle nor a lesson folder (no lesson.yaml)")
        tmp = Path(tempfile.mkdtemp(prefix=".import-", dir=target.parent))
        try:
            for info in infos:
                if not info.filename.startswith(prefix):
                    continue
                rel = info.filename[len(prefix):]
                dest = (tmp / rel).resolve()
                if tmp.resolve() not in dest.parents:
                    raise SessionError("bad_upload", "refused zip: a member outside the lesson folder")
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            text = (tmp / "lesson.yaml").read_text(encoding="utf-8")
            (tmp / "lesson.yaml").unlink()
            for member in sorted(tmp.rglob("*")):  # every file is checked as an upload is
                if member.is_file():
                    try:
                        check_file(member)
                    except SessionError as error:
                        raise SessionError("bad_upload", f"{member.relative_to(tmp).as_posix()[:120]}: "
                                                         f"{error.message}") from None
            os.replace(tmp, target)
        except UnicodeDecodeError:
            raise SessionError("bad_upload", "lesson.yaml in this zip is not UTF-8 text") from None
        except (OSError, zipfile.BadZipFile, RuntimeError) as error:
            raise SessionError("bad_upload", f"refused zip: {error}") from None
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return text


__all__ = ["Checked", "check_file", "check_upload", "extract_source_zip", "install", "kind_of_stored", "sniff",
           "store_uploads"]
