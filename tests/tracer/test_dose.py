"""Teaching dosimetry against closed forms, and its bookkeeping for every library tracer."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from arkit_py.tracer import dose
from arkit_py.tracer.decay import MEV_TO_J, nuclide
from arkit_py.tracer.model import library_ids, load_tracer

PURE = """
id: pure
nuclide: Y-90
activity: {value: 2 GBq, source: s}
sources: {s: {citation: test, status: derived}}
regions: {lesion: {structures: [liver]}, other: {remainder: true}}
compartments:
  lesion: {region: lesion, initial: 0.2, half_time: 10 h, to: excreted, source: s}
  rest: {region: other, initial: 0.8, source: s}
"""
ORGAN_QUANTITIES = ("absorbed dose", "equivalent dose")


def _write(tmp_path, text):
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    return load_tracer(str(path))


# -- closed forms -------------------------------------------------------------------------


def test_pure_electron_emitter_gives_a0_tiac_e_over_m(tmp_path):
    m = _write(tmp_path, PURE)
    a0, tiac_h, mass_g = 2e9, 5.0, 250.0
    e = nuclide("Y-90").electron_mev  # Y-90 photons: ~1e-6 MeV per decay against 0.933 MeV of electrons
    expected_gy = a0 * tiac_h * 3600 * e * 1.602176634e-13 / (mass_g / 1000)
    (row,) = [r for r in dose.absorbed_doses(m, {"lesion": tiac_h}, {"lesion": mass_g}) if r.region == "lesion"]
    assert row.electron_mgy_per_mbq * a0 / 1e6 == pytest.approx(expected_gy * 1000, rel=1e-12)
    assert row.mgy == pytest.approx(expected_gy * 1000, rel=1e-5)  # the tracer's activity, 2 GBq
    assert row.mass_g == mass_g and row.comparable


def test_self_s_value_without_photons_is_electron_energy_over_mass():
    s = dose.self_s_value(1000.0, electron_mev=0.5, photon_lines=())
    assert s.electron_gy == pytest.approx(0.5 * MEV_TO_J / 1.0, rel=1e-15)
    assert s.photon_gy == 0 and s.photon_absorbed_fraction == 0


def test_mu_en_matches_the_table_at_its_energies_and_interpolates_between():
    for energy, mu in dose.MU_EN_WATER:
        assert dose.mu_en_water(energy) == pytest.approx(mu, rel=1e-12)
    between = dose.mu_en_water(0.364)  # I-131's main line, between 0.3 and 0.4 MeV
    assert 0.03192 < between < 0.03279


def test_mean_chord_of_a_sphere_is_four_thirds_of_its_radius():
    for radius in (0.5, 1.0, 7.3):
        assert dose.mean_chord_cm(4 / 3 * math.pi * radius**3) == pytest.approx(4 * radius / 3, rel=1e-12)


@pytest.mark.parametrize("energy", [0.03, 0.1405, 0.208, 0.364, 0.511, 1.0, 2.6])
def test_photon_self_absorbed_fraction_rises_with_mass_and_stays_in_0_1(energy):
    masses = np.geomspace(0.1, 1e6, 40)
    phi = np.array([dose.photon_self_absorbed_fraction(energy, m) for m in masses])
    assert np.all((phi >= 0) & (phi <= 1))
    assert np.all(np.diff(phi) > 0)


def test_photon_self_absorbed_fraction_closed_form():
    radius = (3 * 1000 / (4 * math.pi)) ** (1 / 3)  # 1000 g of water
    expected = 1 - math.exp(-0.02546 * 1.0 * 4 * radius / 3)
    assert dose.photon_self_absorbed_fraction(0.1, 1000.0, 1.0) == pytest.approx(expected, rel=1e-12)


def test_bladder_wall_dose_is_half_the_contents_electron_dose_plus_their_photon_dose():
    m = load_tracer("fdg")
    tiac = m.tiac_regions()
    masses = dose.masses_from_reference(m, "male")
    contents = masses["urinary_bladder_contents"]
    assert contents.grams == pytest.approx(dose.BLADDER_CONTENTS_ML * 1.04)
    (row,) = [r for r in dose.absorbed_doses(m, tiac, masses) if r.region == "urinary_bladder_contents"]
    s = dose.self_s_value(contents.grams, electron_mev=m.nuclide.electron_mev, photon_lines=m.nuclide.photon_lines,
                          density_g_ml=contents.density_g_ml)
    decays_per_mbq = tiac["urinary_bladder_contents"] * 3600 * 1e6
    assert row.organ == "urinary_bladder"
    assert row.electron_mgy_per_mbq == pytest.approx(0.5 * s.electron_gy * decays_per_mbq * 1000, rel=1e-12)
    assert row.photon_mgy_per_mbq == pytest.approx(s.photon_gy * decays_per_mbq * 1000, rel=1e-12)


def test_the_phantom_bladder_cavity_is_its_inner_ellipsoid():
    assert dose.BLADDER_CONTENTS_ML == pytest.approx(202.6, abs=0.05)


# -- masses ------------------------------------------------------------------------------


def test_reference_masses_split_and_sum_as_icrp_89():
    table = dose.reference_masses()
    assert {r.status for r in table.values()} <= {"verified-secondary", "derived", "secondary-code"}
    m = load_tracer("psma617-lu177")
    male, female = dose.masses_from_reference(m, "male"), dose.masses_from_reference(m, "female")
    assert male["kidneys"].grams == 310 and female["kidneys"].grams == 276
    assert male["liver"].grams == 1800 and female["liver"].grams == 1400
    assert male["other"].grams is None and "remainder" in male["other"].reason
    bone = dose.masses_from_reference(load_tracer("mdp"), "male")["skeleton"]
    assert bone.grams == 10500 and bone.density_g_ml == pytest.approx(1.4)


def test_masses_from_volumes_sum_structures_and_use_the_fallback():
    m = load_tracer("mdp")
    masses = dose.masses_from_volumes(m, {"kidney_left": 100.0, "kidney_right": 50.0, "urinary_bladder": 240.0,
                                          "femur_left": 500.0})
    assert masses["kidneys"].grams == pytest.approx(150 * 1.04)
    assert masses["skeleton"].grams == pytest.approx(500 * 1.4)
    assert masses["urinary_bladder_contents"].grams == pytest.approx(240 * 1.04)
    assert "wall included" in masses["urinary_bladder_contents"].source
    assert masses["other"].grams is None
    with_contents = dose.masses_from_volumes(m, {"urinary_bladder": 45.0, "urinary_bladder_contents": 200.0},
                                             {"urinary_bladder_contents": 1.0})
    assert with_contents["urinary_bladder_contents"].grams == pytest.approx(200.0)
    assert with_contents["kidneys"].grams is None and "segmentation" in with_contents["kidneys"].reason


# -- every library tracer ------------------------------------------------------------------


@pytest.mark.parametrize("sex", ["male", "female"])
@pytest.mark.parametrize("tracer_id", library_ids())
def test_library_tracers_give_finite_non_negative_doses_and_their_published_values(tracer_id, sex):
    m = load_tracer(tracer_id)
    rep = dose.report(m, m.tiac_regions(), sex=sex)
    json.dumps(rep)  # JSON-ready as it is
    assert [r["region"] for r in rep["rows"]] == m.region_ids
    shown = []
    for r in rep["rows"]:
        if r["mgy_per_mbq"] is None:
            assert not r["comparable"] and r["reason"]
        else:
            for key in ("electron_mgy_per_mbq", "photon_mgy_per_mbq", "mgy_per_mbq", "mgy"):
                assert math.isfinite(r[key]) and r[key] >= 0, (r["region"], key)
            assert 0 <= r["photon_absorbed_fraction"] <= 1
            assert r["mass_g"] > 0 and r["mass_source"]
        expected = [p for p in m.published if p.get("organ") == r["organ"] and p.get("quantity") in ORGAN_QUANTITIES
                    and p.get("sex") in (None, sex)]
        assert [{k: v for k, v in p.items() if k != "mgy_per_mbq"} for p in r["published"]] == expected
        shown += r["published"]
    shown += rep["published_unmatched"]
    # every published dose value is shown once; TIACs are `tracer show`'s, not the dose report's
    for_sex = [p for p in m.published if p.get("sex") in (None, sex) and p.get("quantity") != "TIAC"]
    assert sorted(json.dumps({k: v for k, v in p.items() if k != "mgy_per_mbq"}, sort_keys=True) for p in shown) \
        == sorted(json.dumps(p, sort_keys=True) for p in for_sex)
    text = dose.format_report(rep)
    assert "teaching approximation" in text.lower() and "not asserted" in text


def test_published_comparison_keeps_only_comparable_organs():
    ours = dose.published_comparison(load_tracer("mdp"))
    assert "skeleton" not in ours and "urinary_bladder" in ours
    ours = dose.published_comparison(load_tracer("psma617-lu177"))
    assert 0 < ours["kidneys"] < 10


def test_report_from_curves_needs_the_nuclide_and_maps_columns_onto_structures():
    from arkit_py.errors import InputError

    tiac = {"liver": 0.1, "kidney_left": 0.02, "body": 1.0}
    with pytest.raises(InputError, match="nuclide"):
        dose.report(None, tiac)
    rep = dose.report(None, tiac, nuclide="F-18", activity_bq=370e6)
    rows = {r["region"]: r for r in rep["rows"]}
    assert rows["liver"]["mass_g"] == 1800 and rows["kidney_left"]["mass_g"] == 155
    assert rows["body"]["mgy_per_mbq"] is None


# -- the derived parameters of the library files reproduce what they were fitted to ---------


def test_mdp_whole_body_retention_at_24_h_is_the_measured_31_percent():
    m = load_tracer("mdp")
    ids, q = m.solve(np.array([24 * 3600.0]), decay_corrected=True)
    body = sum(q[0, ids.index(c)] for c in ids if c not in ("bladder", "excreted"))
    assert body == pytest.approx(0.31, abs=0.001)


def test_mdp_bone_uptake_rises_over_hours_while_the_soft_tissue_clears():
    """The uptake phase a bone scan waits for: decay-corrected bone activity at 10 min is a
    small part of its 3 h value, the blood falls with its 1 h half-time, and at 4 h 6 % is
    left in the blood (the EANM figure the half-time was derived from)."""
    m = load_tracer("mdp")
    hours = np.array([10 / 60, 1, 3, 4])
    ids, q = m.solve(hours * 3600.0, decay_corrected=True)
    bone, blood = q[:, ids.index("bone")], q[:, ids.index("blood")]
    assert bone[0] < 0.15 * bone[2] and bone[1] < bone[2] < bone[3]
    assert blood[0] > blood[1] > blood[2] > blood[3]
    assert blood == pytest.approx(2.0 ** -hours, rel=1e-3)  # the two exits give a 1 h half-time
    assert blood[3] == pytest.approx(0.06, abs=0.005)
    assert bone[2] / bone[3] > 0.9  # near its plateau by 3 h


def test_iodide_thyroid_fills_over_the_first_day_as_in_icrp_137():
    """ICRP's own tables for injected I-131 (with decay), as shipped beside the ICRP 137
    model it is reduced from: thyroid 0.17 of the injected activity at 6 h, 0.23 at 12 h,
    0.27 at 24 h; the reduction is within 3 % of them and rises over the first day."""
    m = load_tracer("iodide-i131")
    hours = np.array([1, 2, 6, 12, 24])
    ids, q = m.solve(hours * 3600.0)
    thyroid = q[:, ids.index("thyroid")]
    assert np.all(np.diff(thyroid) > 0)
    assert thyroid[2:] == pytest.approx([0.17, 0.23, 0.27], rel=0.03)
    assert thyroid[0] < 0.3 * thyroid[4]


def test_psma617_kidneys_and_salivary_glands_fill_from_the_blood_in_the_first_hour():
    """Their uptake phase is the blood's measured fast phase (0.16 h, mirt2017): the
    decay-corrected kidney and salivary contents at 5 min are about a third of their 1 h
    values, which are their peaks; then they clear slowly (effective half-lives of days)."""
    m = load_tracer("psma617-lu177")
    minutes = np.array([5, 15, 60, 240, 1440])
    ids, q = m.solve(minutes * 60.0, decay_corrected=True)
    for organ, final in (("kidneys", 0.05), ("salivary", 0.01)):
        c = q[:, ids.index(organ)]
        assert c[0] < 0.4 * c[2] and c[1] < c[2]
        assert c[2] == pytest.approx(final, rel=0.05)
        assert c[2] > c[3] > c[4] > 0.6 * c[2]
    fast = q[:, ids.index("blood_distribution")]
    assert fast == pytest.approx(0.436 * 2.0 ** -(minutes / 60 / 0.16), rel=1e-3, abs=1e-6)


def test_psma617_urinary_excretion_at_24_h_is_the_measured_56_5_percent():
    m = load_tracer("psma617-lu177")
    ids, q = m.solve(np.array([24 * 3600.0]), decay_corrected=True)
    assert q[0, ids.index("excreted")] + q[0, ids.index("bladder")] == pytest.approx(0.565, abs=0.001)
