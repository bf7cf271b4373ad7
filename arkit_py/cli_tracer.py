"""``arkit tracer ...``: list, show, simulate, tiac, dose, extract (a thin shell)."""

from __future__ import annotations

import argparse
import json
import math
import sys

from .cli_common import write_atomic
from .errors import InputError
from .units import UnitError, format_activity, format_time, parse_quantity

#: What ``arkit tracer tiac`` and ``dose`` take: a model (library ID, tracer file) or curves.
MODEL_OR_CURVES = ("library", "tracer-file", "curves")


def _voiding(model, text: str | None):
    """Apply ``--voiding 2h`` or ``--voiding none`` to a model."""
    from .tracer.options import voiding

    interval_s, never = voiding(text)
    if never:
        return model.with_voiding(None)
    return model if interval_s is None else model.with_voiding(interval_s)


def load_model(spec: str, voiding: str | None = None):
    from .tracer.inputs import load_tracer

    return _voiding(load_tracer(spec), voiding)


def cmd_list(args: argparse.Namespace) -> int:
    from .tracer.inputs import load_tracer
    from .tracer.tracerfile import library_ids

    rows = []
    for tracer_id in library_ids():
        m = load_tracer(tracer_id)
        rows.append({"id": m.id, "name": m.name, "nuclide": m.nuclide_name})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(r["id"]) for r in rows)
        for r in rows:
            print(f"{r['id']:<{width}}  {r['nuclide']:<7} {r['name']}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from .tracer.dose import published_comparison

    # everything that can fail is computed before the first line is printed
    m = load_model(args.tracer, args.voiding)
    n = m.nuclide
    tiac = m.tiac_regions()
    ours = published_comparison(m, tiac)  # our teaching estimate (mGy/MBq) per organ
    if args.json:
        out = {
            "id": m.id, "name": m.name, "nuclide": n.name, "half_life_s": n.half_life_s,
            "mean_life_h": n.mean_life_h, "description": m.description,
            "regions": {r.id: {"structures": list(r.structures), "fallback": list(r.fallback),
                               "remainder": r.remainder} for r in m.regions.values()},
            "parameters": [{"name": p.name, "value": p.text, "source": p.source, "status": p.status, "note": p.note}
                           for p in m.params],
            "tiac_h": tiac, "published": m.published, "sources": m.sources,
        }
        print(json.dumps(out, indent=2, default=str))
        return 0
    print(f"{m.id}: {m.name}")
    print(f"nuclide {n.name}: half-life {format_time(n.half_life_s)} (ICRP-107 via radioactivedecay), mean life "
          f"{n.mean_life_h:.4g} h; per decay {n.electron_mev:.4g} MeV electrons, {n.photon_mev:.4g} MeV photons")
    if m.description:
        print(f"\n{m.description}")
    print("\nregions -> structures")
    for r in m.regions.values():
        target = "the body (remainder)" if r.remainder else ", ".join(r.structures)
        if r.fallback:
            target += f" (else {', '.join(r.fallback)})"
        print(f"  {r.id}: {target}")
    print("\nparameters (value, source, status)")
    unverified = 0
    for p in m.params:
        flag = "UNVERIFIED teaching default" if p.unverified else p.status
        unverified += p.unverified
        note = f"  [{p.note}]" if p.note else ""
        print(f"  {p.name} = {p.text}   {p.source}   {flag}{note}")
    if unverified:
        print(f"  {unverified} of {len(m.params)} parameters are unverified teaching defaults: their primary source "
              "was not seen (see docs/data-sources.md).")
    voiding = m.voiding.interval.text if m.voiding.interval else "none"
    print(f"\nTIAC (h, exact, voiding every {voiding}); sum {sum(tiac.values()):.4g} h <= mean life {n.mean_life_h:.4g} h")
    for region, value in tiac.items():
        print(f"  {region}: {value:.4g}")
    if m.published:
        print("\npublished values (printed beside ours, not asserted; ours are a teaching approximation)")
        for row in m.published:
            organ = row.get("label") or row.get("organ") or ""
            if row.get("quantity") == "TIAC":
                organ = row.get("region", "")
                mine = tiac.get(row.get("region"))
                beside = f"   ours {mine:.4g} h" if mine is not None else ""
            else:
                mine = ours.get(row.get("organ")) if ours else None
                beside = f"   ours {mine:.3g} mGy/MBq" if mine is not None and "dose" in str(row.get("quantity")) \
                    and row.get("quantity") != "effective dose" else ""
            print(f"  {row.get('quantity')} {organ}: {row.get('value')} {row.get('unit')}   {row.get('source')} "
                  f"({row.get('status')}){beside}")
    print("\nsources")
    for key, src in m.sources.items():
        print(f"  {key}: {src.get('citation', '')} [{src.get('status', '')}]")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from .tracer import options
    from .tracer.curves import write_curves_csv

    m = load_model(args.tracer, args.voiding)
    activity = options.activity(args.activity) if args.activity else (m.activity.value if m.activity else 370e6)
    until = options.time_span(args.until, key="until") if args.until else m.until_s
    step = options.time_span(args.step, key="step") if args.step else until / 60
    if step > until:
        raise InputError(None, f"--step ({args.step}) is longer than --until ({args.until})")
    if until / step > 1_000_000:
        raise InputError(None, "--step is too small for --until (more than a million samples)")
    times = m.sample_times(until, step)
    curves = m.simulate(activity, times, decay_corrected=args.decay_corrected)
    text = write_curves_csv(curves, time_column="time_min", unit="MBq")
    if args.output == "-":
        sys.stdout.write(text)
    else:
        write_atomic(args.output, text.encode("utf-8"))
        print(f"arkit: wrote {args.output}: {len(times)} samples to {format_time(until)}, {len(curves.regions)} regions, "
              f"{format_activity(activity)} {m.nuclide_name}", file=sys.stderr)
    return 0


def _curves_input(args, *, need_activity: bool):
    """(model or None, curves or None, nuclide, activity_bq) from a model (ID, tracer file)
    or a curves CSV."""
    from .tracer import options
    from .tracer.decay import nuclide
    from .tracer.inputs import resolve_tracer

    tracer = resolve_tracer(args.input, kinds=MODEL_OR_CURVES)
    if tracer.kind.model:
        m = _voiding(tracer.read(), getattr(args, "voiding", None))
        activity = options.activity(args.activity) if args.activity else (m.activity.value if m.activity else 370e6)
        return m, None, m.nuclide, activity
    if not args.nuclide:
        raise InputError(args.input, "--nuclide is needed with a curves file (e.g. --nuclide F-18)")
    n = nuclide(args.nuclide)
    curves = tracer.read(unit=args.unit, decay_corrected=args.decay_corrected, nuclide=n.name)
    if need_activity and not args.activity:
        raise InputError(args.input, "--activity (the administered activity, e.g. 370MBq) is needed to turn "
                                     "curves into TIACs")
    activity = options.activity(args.activity) if args.activity else None
    return None, curves, n, activity


def _tiacs(args):
    from .tracer.tiac import tiac_from_curves

    model, curves, n, activity = _curves_input(args, need_activity=True)
    if model is not None:
        tiac = model.tiac_regions()
        method = dict.fromkeys(tiac, "compartment model (exact)")
        return model, n, activity, tiac, method
    rows = tiac_from_curves(curves, n, activity, source=args.input)
    return None, n, activity, {r.region: r.tiac_h for r in rows}, {r.region: r.method for r in rows}


def cmd_tiac(args: argparse.Namespace) -> int:
    _, n, _, tiac, method = _tiacs(args)
    if args.json:
        print(json.dumps({"nuclide": n.name, "tiac_h": tiac, "method": method}, indent=2))
        return 0
    width = max(len(r) for r in tiac)
    print(f"TIAC (h) for {n.name} (mean life {n.mean_life_h:.4g} h)")
    for region, value in tiac.items():
        print(f"  {region:<{width}}  {value:.5g}  {method[region]}")
    print(f"  {'sum':<{width}}  {sum(tiac.values()):.5g}")
    return 0


def cmd_dose(args: argparse.Namespace) -> int:
    from .tracer import dose

    model, n, activity, tiac, _method = _tiacs(args)
    volumes = densities = None
    sex = args.sex
    if args.phantom and args.segmentation:
        raise InputError(args.phantom, "give --phantom or --segmentation, not both")
    spec = args.phantom or args.segmentation
    if args.phantom and not args.phantom.startswith("phantom:"):
        raise InputError(args.phantom, "--phantom takes phantom:mird-adult[?...] or phantom:icrp110-male|female")
    if spec and spec.startswith("phantom:icrp110-"):  # ICRP's own voxels and densities, its sex
        from .phantoms import icrp110

        volumes, densities = icrp110.structure_volumes_and_densities(spec)
        sex = icrp110.parse_spec(spec)["sex"]
    elif spec:
        from .sources.load import load_segmentation

        seg = load_segmentation(spec, labels=args.label_table)
        per_voxel = seg.voxel_volume_ml
        volumes = {}
        for label, count in seg.voxel_counts().items():
            if label in seg.segments and label != seg.body_label:
                name = seg.segments[label].structure.name
                volumes[name] = volumes.get(name, 0.0) + count * per_voxel
    report = dose.report(model, tiac, activity_bq=activity, sex=sex, nuclide=n, volumes_ml=volumes,
                         densities=densities)
    if args.json:
        print(json.dumps(report, indent=2, default=float))
    else:
        print(dose.format_report(report))
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    """``arkit tracer extract PET --labels LABELS``: per structure and frame, the mean (and
    with --json the largest) activity concentration or SUVbw, as CSV (-o) or JSON (--json)."""
    from .sources.load import load_segmentation
    from .tracer.curves import Curves, write_curves_csv
    from .tracer.extract import extract_curves
    from .tracer.inputs import read_pet
    from .tracer.options import body_weight
    from .units import unit_factor

    if not args.output and not args.json:
        raise InputError(None, "give -o CURVES.csv to write the curves, or --json to print them")
    if args.quantity == "suv":
        if args.unit is not None:
            raise InputError(None, "--unit is for --quantity activity: SUVs are in g/mL")
        unit = "g/mL"
    else:
        unit = args.unit or "kBq/mL"
        if unit not in ("Bq/mL", "kBq/mL", "MBq/mL"):
            try:
                parse_quantity(f"1 {unit}", "concentration")
            except UnitError:
                raise InputError(None, f"--unit: {unit!r} is not a concentration unit (Bq/mL, kBq/mL)") from None
    weight_g = None
    if args.weight is not None:
        if args.quantity != "suv":
            raise InputError(None, "--weight is for --quantity suv")
        weight_g = body_weight(args.weight)

    pet = read_pet(args.pet, bids=args.bids)
    scale = None
    if args.quantity == "suv":
        scale = _suv_scale(pet, weight_g, args.pet)  # before the labels: a refusal comes first
    seg = load_segmentation(args.labels, labels=args.label_table, reference=args.pet)  # an RTSTRUCT on the PET's grid
    curves = extract_curves(pet, seg, spec=args.labels, with_max=args.json)
    maxima = curves.meta.get("max")
    if scale is None:
        factor = unit_factor(unit, "concentration")
        values = curves.values / factor
        maxima = None if maxima is None else maxima / factor
    else:
        per_frame = scale(curves.times_s)[:, None]
        values = curves.values * per_frame
        maxima = None if maxima is None else maxima * per_frame
    if args.output:
        shown = Curves(curves.times_s, curves.regions, values if scale is not None else curves.values,
                       "concentration", curves.decay_corrected, curves.nuclide, curves.meta)
        text = write_curves_csv(shown, time_column="time_min", unit="Bq/mL" if scale is not None else unit)
        write_atomic(args.output, text.encode("utf-8"))
    for w in curves.meta.get("warnings", []):
        print(f"arkit: {w}", file=sys.stderr)
    if args.json:
        volumes = curves.meta["volumes_ml"]
        out = {"unit": unit, "times_s": [float(t) for t in curves.times_s],
               "structures": {name: {"mean": [float(v) for v in values[:, j]],
                                     "max": [float(v) for v in maxima[:, j]],
                                     "volume_ml": float(volumes[name])}
                              for j, name in enumerate(curves.regions)}}
        print(json.dumps(out, indent=2))
    if args.output:
        what = "SUVbw, g/mL" if scale is not None else unit + (", decay-corrected" if curves.decay_corrected else "")
        print(f"arkit: wrote {args.output}: {len(curves.times_s)} frames, {len(curves.regions)} structures "
              f"({what})", file=sys.stderr)
    return 0


def _suv_scale(pet, weight_g: float | None, spec: str):
    """times (s after injection) -> SUVbw per Bq/mL of the PET's values at those times.

    DICOM: the tags' factor (PatientWeight and RadionuclideTotalDose). NIfTI: --weight and the
    sidecar's InjectedRadioactivity. Values not decay-corrected are corrected to injection
    first (the nuclide's half-life, or the header's)."""
    import numpy as np

    meta = pet.meta
    if meta.get("dicom"):
        if weight_g is not None:
            raise InputError(spec, "--weight is for a NIfTI PET: a DICOM PET's SUV uses its PatientWeight (0010,1030)")
        per = meta.get("suv_per_bq_ml")
        if per is None:
            raise InputError(spec, f"no SUV: {meta.get('suv_problem', 'the SUV tags are incomplete')}")
    else:
        missing = [what for what, value in (("the sidecar's InjectedRadioactivity (the dose)", meta.get("injected_bq")),
                                            ("--weight (the body weight, e.g. 70kg)", weight_g)) if not value]
        if missing:
            raise InputError(spec, f"--quantity suv with a NIfTI PET needs {' and '.join(missing)}")
        per = weight_g / meta["injected_bq"]
    if pet.decay_corrected:
        return lambda t: np.full(len(t), per)
    half_life = meta.get("half_life_s")
    if pet.nuclide:
        from .tracer.decay import nuclide

        half_life = nuclide(pet.nuclide).half_life_s
    if not half_life:
        raise InputError(spec, "SUV of values that are not decay-corrected needs the nuclide (the sidecar's "
                               "TracerRadionuclide)")
    lam = math.log(2.0) / half_life
    return lambda t: per * np.exp(lam * np.asarray(t, dtype=np.float64))


def cmd_pet(args: argparse.Namespace) -> int:
    """``arkit tracer pet BODY --tracer ID --at T``: a PET with a known truth (Bq/mL, with
    its PET-BIDS sidecar), from a label volume and a tracer model."""
    import numpy as np

    from .sources.load import load_segmentation
    from .tracer import options
    from .tracer.synthetic import synthetic_pet

    out = args.output
    if not out.endswith((".nii.gz", ".nii")):
        raise InputError(out, "the PET is written as NIfTI: end the name in .nii.gz or .nii")
    if args.ct and not args.ct.endswith((".nii.gz", ".nii")):
        raise InputError(args.ct, "the CT is written as NIfTI: end the name in .nii.gz or .nii")
    at = options.time_span(args.at, key="at")
    activity = options.activity(args.activity) if args.activity else None
    try:
        fwhm = round(parse_quantity(args.fwhm, "length") * 10.0, 6) if args.fwhm else 5.0  # cm (internal) -> mm
    except UnitError as error:
        raise InputError(None, f"--fwhm: {error}") from None
    if not 0 <= fwhm <= 50:
        raise InputError(None, f"--fwhm must be between 0 and 50 mm, got {args.fwhm}")
    if not 0 <= args.noise <= 2:
        raise InputError(None, f"--noise is a fraction between 0 and 2, got {args.noise:g}")
    model = load_model(args.tracer, args.voiding)
    seg = load_segmentation(args.body, labels=args.labels)
    pet = synthetic_pet(seg, model, at, activity_bq=activity, fwhm_mm=fwhm, noise=args.noise, seed=args.seed)
    import nibabel as nib

    img = nib.Nifti1Image(pet.data, pet.affine)
    img.header.set_xyzt_units("mm", "sec")
    img.header["descrip"] = b"arkit synthetic PET, Bq/mL"
    sidecar = out[: -len(".nii.gz")] if out.endswith(".nii.gz") else out[: -len(".nii")]
    sidecar += ".json"
    write_atomic(out, img.to_bytes() if out.endswith(".nii") else _gz(img.to_bytes()))
    write_atomic(sidecar, (json.dumps(pet.sidecar, indent=1) + "\n").encode())
    if args.ct:  # its CT companion: HU from the structures' densities, on the same grid
        from .sources.synthetic_ct import synthetic_ct

        ct = nib.Nifti1Image(synthetic_ct(seg), pet.affine)
        ct.header.set_xyzt_units("mm", "sec")
        ct.header["descrip"] = b"arkit synthetic CT, HU"
        write_atomic(args.ct, ct.to_bytes() if args.ct.endswith(".nii") else _gz(ct.to_bytes()))
        print(f"arkit: wrote {args.ct}: the synthetic CT (HU) on the same grid", file=sys.stderr)
    peak = float(np.max(pet.data))
    given = format_activity(pet.sidecar["InjectedRadioactivity"] * 1e6)
    print(f"arkit: wrote {out} and {sidecar}: {model.id} at {format_time(at)}, {given} {model.nuclide_name}, "
          f"FWHM {fwhm:g} mm, {len(pet.truth)} structures, peak {peak / 1000:.3g} kBq/mL", file=sys.stderr)
    return 0


def _gz(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, compresslevel=6, mtime=0)


def cmd_suv(args: argparse.Namespace) -> int:
    """``arkit tracer suv PET``: what the SUV factor of a DICOM PET series is made of."""
    from .sources.dicom import files
    from .sources.dicom.suv import cmd_suv_datasets

    obj = files.select(args.pet, want="image")
    if obj.modality != "PT":
        raise InputError(obj.shown, f"is a {obj.modality or 'non-PET'} series, not a PET (Modality PT)")
    datasets = [obj.read_dataset(f, pixels=False) for f in obj.files]
    return cmd_suv_datasets(datasets, args.json, nuclide=args.nuclide, source=obj.shown)


def add_parser(sub) -> None:
    t = sub.add_parser("tracer", help="radiotracers: reference models, curves, TIACs, teaching dosimetry")
    ts = t.add_subparsers(dest="tracer_command", required=True)

    p = ts.add_parser("list", help="the tracer library")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = ts.add_parser("show", help="a tracer's model, parameters with sources, TIACs and published values")
    p.add_argument("tracer", help="library ID (fdg, mdp, ...) or a tracer .yaml")
    p.add_argument("--voiding", help="bladder voiding interval (e.g. 2h) or 'none'")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = ts.add_parser("simulate", help="activity curves of a tracer model (CSV: time_min, then MBq per region)")
    p.add_argument("tracer", help="library ID or a tracer .yaml")
    p.add_argument("--activity", help="administered activity, e.g. 370MBq or 10 mCi (default: the tracer's)")
    p.add_argument("--until", help="end time, e.g. 120min (default: the tracer's)")
    p.add_argument("--step", help="sampling step, e.g. 5min (default: until/60)")
    p.add_argument("--voiding", help="bladder voiding interval (e.g. 2h) or 'none'")
    p.add_argument("--decay-corrected", action="store_true", help="write decay-corrected activity instead of physical")
    p.add_argument("-o", "--output", required=True, help="CSV to write ('-' for stdout)")
    p.set_defaults(func=cmd_simulate)

    for name, func, helptext in (("tiac", cmd_tiac, "time-integrated activity coefficients (hours) per region"),
                                 ("dose", cmd_dose, "teaching absorbed-dose estimate per organ (an approximation)")):
        p = ts.add_parser(name, help=helptext)
        p.add_argument("input", help="library tracer ID, a tracer .yaml, or a curves .csv")
        p.add_argument("--nuclide", help="nuclide of a curves file, e.g. F-18")
        p.add_argument("--activity", help="administered activity, e.g. 370MBq")
        p.add_argument("--unit", default="MBq", help="unit of a curves file's values (MBq, kBq, Bq, mCi, ...)")
        p.add_argument("--decay-corrected", action="store_true",
                       help="the curves are decay-corrected (physical decay is put back before integrating)")
        p.add_argument("--voiding", help="bladder voiding interval (e.g. 2h) or 'none'")
        p.add_argument("--json", action="store_true")
        if name == "dose":
            p.add_argument("--sex", choices=("male", "female"), default="male", help="reference masses (ICRP 89)")
            p.add_argument("--segmentation", help="masses from this segmentation's volumes x density (NIfTI, NRRD, "
                                                  "TotalSegmentator folder, phantom:mird-adult) instead of ICRP 89")
            p.add_argument("--label-table", help="label table naming the segmentation's labels")
            p.add_argument("--phantom", help="masses from a phantom's voxels: phantom:mird-adult[?...], or "
                                             "phantom:icrp110-male|female (after arkit phantom import; ICRP's "
                                             "densities, and its sex)")
        p.set_defaults(func=func)

    p = ts.add_parser("pet", help="a synthetic PET with a known truth: a body filled with a tracer model's "
                                  "concentrations at a time, blurred (NIfTI in Bq/mL with its PET-BIDS sidecar)")
    p.add_argument("body", help="a label volume or built-in body (phantom:mird-adult, sample:abdomen-ct, a NIfTI...)")
    p.add_argument("--labels", help="label table of the body (a file, or totalsegmentator)")
    p.add_argument("--tracer", required=True, help="a library tracer ID or a tracer .yaml")
    p.add_argument("--at", required=True, help="the time after administration, e.g. 60min")
    p.add_argument("--activity", help="administered activity (default: the tracer's), e.g. 370MBq")
    p.add_argument("--fwhm", help="the scanner's resolution, a Gaussian's full width at half maximum (default 5mm)")
    p.add_argument("--noise", type=float, default=0.0, help="relative noise per voxel before the blur (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    p.add_argument("--voiding", help="bladder voiding interval, or 'none' (default: the tracer's)")
    p.add_argument("-o", "--output", required=True, help="the PET, .nii.gz (its sidecar: the same name in .json)")
    p.add_argument("--ct", help="also write the synthetic CT (HU from each structure's density) here, .nii.gz")
    p.set_defaults(func=cmd_pet)

    p = ts.add_parser("suv", help="the SUVbw factor of a PET series from its DICOM tags (QIBA rules)")
    p.add_argument("pet", help="DICOM folder, .zip or file of a PET series (PATH?series=N to choose)")
    p.add_argument("--nuclide", help="nuclide to check RadionuclideHalfLife against when the header names none")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_suv)

    p = ts.add_parser("extract", help="curves from a PET and a label volume (mean concentration or SUV per frame)")
    p.add_argument("pet", help="3D/4D PET NIfTI (Bq/mL, with its PET-BIDS .json), or a DICOM PET series (folder, "
                               ".zip or file; PATH?series=N to choose; Units BQML)")
    p.add_argument("--labels", required=True, help="label volume on any grid (NIfTI, NRRD, TotalSegmentator folder, "
                                                   "DICOM SEG or RTSTRUCT, phantom:...)")
    p.add_argument("--label-table", help="label table naming the labels")
    p.add_argument("--bids", help="PET-BIDS JSON sidecar of a NIfTI PET (default: beside it)")
    p.add_argument("--quantity", choices=("activity", "suv"), default="activity",
                   help="activity concentration per frame in --unit (default), or SUVbw (g/mL): a DICOM PET's from "
                        "its tags, a NIfTI's from the sidecar's dose and --weight")
    p.add_argument("--unit", help="unit of the activity concentrations (default kBq/mL)")
    p.add_argument("--weight", help="body weight for the SUV of a NIfTI PET, e.g. 70kg")
    p.add_argument("--json", action="store_true",
                   help="print {unit, times_s (frame mid-times after injection), structures: {name: {mean, max, "
                        "volume_ml}}}")
    p.add_argument("-o", "--output", help="CSV to write (required unless --json)")
    p.set_defaults(func=cmd_extract)
