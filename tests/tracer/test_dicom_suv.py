"""The SUVbw factor of a PET series from its DICOM tags.

Oracles: the SUV factors published with 8 real vendor headers (tests/data/pet_suv, from
cornerstonejs/calculate-suv's test data), a real [18F]FLT slice whose factor the test
recomputes from its own tags with plain arithmetic, and synthetic headers whose answers are
worked here by hand (weight_g / (dose x 2^(-delay / T1/2))).
"""

from __future__ import annotations

import copy
import doctest
import json
import re
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom import Dataset

from arkit_py.errors import InputError
from arkit_py.sources.dicom import suv as suv_module
from arkit_py.sources.dicom.suv import (
    REPORT_KEYS,
    cmd_suv_datasets,
    dataset_from_json,
    nuclide_from_code_meaning,
    suv_factor,
    suv_factor_from_json,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "pet_suv"
EXPECTED = {k: v for k, v in json.loads((DATA / "expected_suv_factors.json").read_text()).items()
            if not k.startswith("_")}
T_F18 = 6586.2  # the header value of these synthetic series; ICRP-107 gives the same to 0.01 %


def pet(n=1, *, rp=None, **tags) -> list[Dataset]:
    """A synthetic BQML PET series of ``n`` instances: 65 kg, 300 MBq F-18 injected at
    09:00:00, series at 10:00:00 on the same day; ``tags`` (None deletes) and ``rp`` (the
    radiopharmaceutical item's tags) override."""
    base = {"Modality": "PT", "Units": "BQML", "DecayCorrection": "START", "CorrectedImage": ["ATTN", "DECY", "SCAT"],
            "SeriesDate": "20210305", "SeriesTime": "100000", "AcquisitionDate": "20210305",
            "AcquisitionTime": "100000", "PatientWeight": 65}
    item = {"RadionuclideTotalDose": 300e6, "RadionuclideHalfLife": T_F18, "RadiopharmaceuticalStartTime": "090000"}
    base.update(tags)
    item.update(rp or {})
    out = []
    for _ in range(n):
        ds = Dataset()
        for key, value in base.items():
            if value is not None:
                setattr(ds, key, value)
        r = Dataset()
        for key, value in item.items():
            if value is not None:
                setattr(r, key, value)
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "77004003", "SCT", "^18^Fluorine"
        r.RadionuclideCodeSequence = [code]
        ds.RadiopharmaceuticalInformationSequence = [r]
        out.append(ds)
    return out


def expected(weight_kg, dose_bq, delay_s, half_life_s=T_F18):
    return weight_kg * 1000.0 / (dose_bq * 2.0 ** (-delay_s / half_life_s))


def refused(datasets, *words, **kwargs):
    with pytest.raises(InputError) as info:
        suv_factor(datasets, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


# -- real headers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vendor_headers_match_the_published_factors(name):
    report = suv_factor_from_json(DATA / f"{name}-instances.json")
    assert report.suv_factor == pytest.approx(EXPECTED[name], rel=1e-6)
    units = json.loads((DATA / f"{name}-instances.json").read_text())[0]["Units"]
    assert report.units == units
    out = report.to_json()
    assert list(out) == list(REPORT_KEYS)
    json.dumps(out)
    # nothing identifying: no date of the study (20201217) nor any 8-digit date in the report
    assert not re.search(r"\d{8}", json.dumps(out["warnings"]))
    assert "2020" not in " ".join(out["warnings"])


def test_the_scan_start_is_the_earliest_acquisition_when_it_precedes_the_series():
    # CPS_AND_BQML: series 13:49:18, acquisition 13:03:48.234, injection 12:00:37
    report = suv_factor_from_json(DATA / "CPS_AND_BQML_AC_DT_-_S_DT-instances.json")
    assert report.delay_s == pytest.approx(3 * 60 + 11.234 + 3600, abs=1e-6)
    assert any("before the SeriesTime" in w for w in report.warnings)
    # RADIOPHARM_DATETIME_UNDEFINED: acquisition after the series, so the series time counts
    report = suv_factor_from_json(DATA / "RADIOPHARM_DATETIME_UNDEFINED-instances.json")
    assert report.delay_s == pytest.approx(3600 + 4 * 60 + 31.843, abs=1e-6)


def test_philips_cnts_uses_the_private_factor_and_agrees_with_the_concentration_factor():
    report = suv_factor_from_json(DATA / "PHILIPS_CNTS_AND_BQML_SUV-instances.json")
    assert report.units == "CNTS" and report.suv_factor == 0.000551
    ours = 1.602563 * expected(54, 238e6, 3956, 6588)  # (7053,1009) x weight / decayed dose
    assert ours == pytest.approx(0.000551, rel=1e-2)
    assert not any("differs" in w for w in report.warnings)


def test_real_flt_slice_from_its_own_tags():
    ds = pydicom.dcmread(DATA / "acrin_flt_breast_PT_1.dcm", stop_before_pixels=True)
    item = ds.RadiopharmaceuticalInformationSequence[0]

    def seconds(tm):
        tm = str(tm)
        return int(tm[:2]) * 3600 + int(tm[2:4]) * 60 + float(tm[4:])

    assert str(ds.AcquisitionTime) == str(ds.SeriesTime) and "RadiopharmaceuticalStartDateTime" not in item
    delay = seconds(ds.SeriesTime) - seconds(item.RadiopharmaceuticalStartTime)
    half_life = float(item.RadionuclideHalfLife)
    oracle = float(ds.PatientWeight) * 1000 / (float(item.RadionuclideTotalDose) * 2 ** (-delay / half_life))
    report = suv_factor([ds])
    assert report.suv_factor == pytest.approx(oracle, rel=1e-12)
    assert report.delay_s == pytest.approx(delay, abs=1e-6)
    assert report.nuclide == "F-18"  # from the old-style code meaning F^18^[^18^Fluorine]
    assert report.warnings == []
    assert set(report.to_json()) == set(REPORT_KEYS)


def test_json_model_instances_give_the_same_factor():
    rows = json.loads((DATA / "SIEMENS-instances.json").read_text())
    model = [dataset_from_json(r).to_json_dict() for r in rows]
    assert suv_factor_from_json(model).suv_factor == pytest.approx(EXPECTED["SIEMENS"], rel=1e-9)


# -- synthetic headers: answers by hand ------------------------------------------------------------

def test_synthetic_bqml_start():
    report = suv_factor(pet(3))
    assert report.delay_s == 3600
    assert report.suv_factor == pytest.approx(expected(65, 300e6, 3600), rel=1e-12)
    assert report.decayed_bq == pytest.approx(300e6 * 2 ** (-3600 / T_F18), rel=1e-12)
    assert (report.nuclide, report.weight_kg, report.half_life_s, report.warnings) == ("F-18", 65, T_F18, [])


def test_admin_decay_correction_has_no_decay_factor():
    report = suv_factor(pet(DecayCorrection="ADMIN"))
    assert report.decayed_bq == report.injected_bq == 300e6
    assert report.suv_factor == pytest.approx(65_000 / 300e6, rel=1e-12)
    assert report.delay_s == 3600


def test_start_datetime_is_preferred_to_the_start_time():
    report = suv_factor(pet(rp={"RadiopharmaceuticalStartDateTime": "20210305083000.000000",
                                "RadiopharmaceuticalStartTime": "090000"}))
    assert report.delay_s == 5400
    assert any("disagree" in w for w in report.warnings)
    report = suv_factor(pet(rp={"RadiopharmaceuticalStartDateTime": "20210305090000", "RadiopharmaceuticalStartTime": None}))
    assert report.delay_s == 3600 and report.warnings == []


def test_earliest_acquisition_of_all_instances_and_ge_private_scan_time():
    series = pet(3, SeriesTime="101500")
    for ds, t in zip(series, ("100500", "100000", "101000")):
        ds.AcquisitionTime = t
    report = suv_factor(series)
    assert report.delay_s == 3600  # the earliest acquisition, 10:00:00
    for ds in series:
        ds.private_block(0x0009, "GEMS_PETD_01", create=True).add_new(0x0D, "DT", "20210305100200.00")
    assert suv_factor(series).delay_s == 3720  # GE's scan date-time wins, as QIBA says
    later = pet(2, AcquisitionTime="103000")  # acquisitions after the series: the series time counts
    assert suv_factor(later).delay_s == 3600


def test_midnight_crossing_without_dates():
    # injected 23:40 (clock time only), series at 00:20 the next day
    series = pet(SeriesDate="20210306", SeriesTime="002000", AcquisitionDate=None, AcquisitionTime="002000",
                 rp={"RadiopharmaceuticalStartTime": "234000"})
    report = suv_factor(series)
    assert report.delay_s == 2400
    assert report.suv_factor == pytest.approx(expected(65, 300e6, 2400), rel=1e-12)
    assert any("midnight" in w for w in report.warnings)
    # no dates at all
    undated = pet(SeriesDate=None, SeriesTime="002000", AcquisitionDate=None, AcquisitionTime=None,
                  rp={"RadiopharmaceuticalStartTime": "234000"})
    assert suv_factor(undated).delay_s == 2400
    # with a date-time, the day is explicit: no warning
    dated = pet(SeriesDate="20210306", SeriesTime="002000", AcquisitionDate=None, AcquisitionTime=None,
                rp={"RadiopharmaceuticalStartDateTime": "20210305234000", "RadiopharmaceuticalStartTime": "234000"})
    report = suv_factor(dated)
    assert report.delay_s == 2400 and report.warnings == []
    # an acquisition clock time just after midnight belongs to the day after a 23:59:50 series
    late = pet(SeriesTime="235950", AcquisitionDate=None, AcquisitionTime="000005",
               rp={"RadiopharmaceuticalStartTime": "225950"})
    assert suv_factor(late).delay_s == 3600


def test_cnts_with_only_the_concentration_factor_and_a_disagreeing_suv_factor():
    def philips(series, **factors):
        for ds in series:
            block = ds.private_block(0x7053, "Philips PET Private Group", create=True)
            for offset, value in factors.items():
                block.add_new(int(offset[1:], 16), "DS", value)
        return series

    report = suv_factor(philips(pet(Units="CNTS"), x09="2.0"))
    assert report.units == "CNTS"
    assert report.suv_factor == pytest.approx(2.0 * expected(65, 300e6, 3600), rel=1e-12)
    right = 2.0 * expected(65, 300e6, 3600)
    report = suv_factor(philips(pet(Units="CNTS"), x00=f"{1.1 * right:.6g}", x09="2.0"))
    assert report.suv_factor == pytest.approx(1.1 * right, rel=1e-5)
    assert any("differs" in w for w in report.warnings)


def test_gml_is_already_suv():
    report = suv_factor(pet(Units="GML", PatientWeight=None))
    assert report.suv_factor == 1.0 and report.warnings


def test_half_life_checked_against_icrp_107():
    assert suv_factor(pet(), nuclide="F-18").warnings == []
    report = suv_factor(pet(rp={"RadionuclideHalfLife": 6000.0}))
    assert report.half_life_s == 6000.0  # the header's, which the scanner used
    assert any("ICRP-107" in w for w in report.warnings)
    report = suv_factor(pet(), nuclide="Ga-68")
    assert report.nuclide == "Ga-68" and len(report.warnings) == 2  # conflict with the header, half-life off
    report = suv_factor(pet(rp={"RadionuclideHalfLife": None}))
    assert report.half_life_s == pytest.approx(T_F18, rel=1e-4) and report.warnings


def test_icrp_half_lives_are_those_of_tracer_decay():
    from arkit_py.tracer.decay import nuclide

    for name in ("F-18", "Ga-68", "Tc-99m", "Zr-89", "C-11"):
        assert suv_module.icrp_half_life_s(name) == nuclide(name).half_life_s
    assert suv_module.icrp_half_life_s("Xx-12") is None
    refused(pet(), "Xx-12", nuclide="Xx-12")


def test_code_meanings():
    assert nuclide_from_code_meaning("^18^Fluorine") == "F-18"
    assert nuclide_from_code_meaning("F^18^[^18^Fluorine]") == "F-18"
    assert nuclide_from_code_meaning("^68^Gallium") == "Ga-68"
    assert nuclide_from_code_meaning("^89^Zirconium") == "Zr-89"
    assert nuclide_from_code_meaning("Diagnostic radioisotope") is None


# -- refusals, each naming the tag ----------------------------------------------------------------

def test_refusals_name_the_tag():
    refused(pet(PatientWeight=None), "PatientWeight", "(0010,1030)")
    refused(pet(PatientWeight=0), "PatientWeight")
    refused(pet(PatientWeight=65_000), "PatientWeight")
    refused(pet(rp={"RadionuclideTotalDose": None}), "RadionuclideTotalDose", "(0018,1074)")
    refused(pet(Units="PROP"), "Units", "PROP")
    refused(pet(Units=None), "Units")
    refused(pet(DecayCorrection="NONE"), "DecayCorrection", "NONE")
    refused(pet(CorrectedImage=["ATTN", "SCAT"]), "CorrectedImage", "DECY")
    refused(pet(CorrectedImage=["DECY"]), "CorrectedImage", "ATTN")
    refused(pet(rp={"RadiopharmaceuticalStartTime": "103000"}), "RadiopharmaceuticalStartTime", "after the scan")
    refused(pet(rp={"RadiopharmaceuticalStartDateTime": "20210305103000"}), "RadiopharmaceuticalStartDateTime",
            "after the scan")
    refused(pet(rp={"RadiopharmaceuticalStartTime": None}), "RadiopharmaceuticalStartTime")
    refused(pet(SeriesTime=None), "SeriesTime")
    bad = pet()
    with warnings.catch_warnings():  # pydicom warns of the invalid TM it is given
        warnings.simplefilter("ignore")
        bad[0].SeriesTime = "25h"
    refused(bad, "SeriesTime")
    refused(pet(Modality="CT"), "Modality")
    refused(pet(Units="CNTS"), "(7053,1000)")
    refused([_without_code(ds) for ds in pet(rp={"RadionuclideHalfLife": None})], "RadionuclideHalfLife")
    two = pet(2)
    two[1].PatientWeight = 70
    refused(two, "PatientWeight", "differs")
    two = pet(2)
    del two[1].PatientWeight
    refused(two, "PatientWeight", "missing from 1 of 2")
    no_rp = pet()
    del no_rp[0].RadiopharmaceuticalInformationSequence
    refused(no_rp, "RadiopharmaceuticalInformationSequence")
    refused([], "no PET instances")


def _without_code(ds):
    ds = copy.deepcopy(ds)
    del ds.RadiopharmaceuticalInformationSequence[0].RadionuclideCodeSequence
    return ds


def test_nothing_identifying_leaves_in_messages():
    message = refused(pet(rp={"RadiopharmaceuticalStartDateTime": "20210305103000"}), "after the scan")
    assert "2021" not in message and "0305" not in message


# -- the CLI piece -------------------------------------------------------------------------------

def test_cmd_suv_datasets_prints_json_and_text(capsys):
    assert cmd_suv_datasets(pet(), True) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == list(REPORT_KEYS) and out["suv_factor"] == pytest.approx(expected(65, 300e6, 3600))
    assert cmd_suv_datasets(pet(rp={"RadionuclideHalfLife": 6000.0}), False) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("SUVbw factor") and "arkit: warning:" in captured.err


def test_doctests():
    result = doctest.testmod(suv_module)
    assert result.attempted > 0 and result.failed == 0
