"""The animated hologram: palette morph on COLOR_0, keys, extras, and what three.js plays."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from arkit_py.phantoms import mird
from arkit_py.scene.document import Legend, Uptake
from arkit_py.scene.gltf import read_glb
from arkit_py.scene.hologram import HologramOptions, build_hologram
from arkit_py.scene.palette import UPTAKE_PALETTE, relative_luminance
from arkit_py.scene.uptake import UptakeOptions, hat_weights, keyframes
from tests.analytic import fdg_trapped
from tests.gltf_tools import uptake_colors

LEGEND = Legend("concentration", "kBq/mL", 0.0, 10.0, UPTAKE_PALETTE, clip_s=12.0, real_s=7200.0)


def test_palette_brightens_with_the_value_and_stays_visible():
    y = relative_luminance(UPTAKE_PALETTE)
    assert np.all(np.diff(y) > 0)
    assert y[0] > 0.1  # additive displays draw black as see-through
    assert UPTAKE_PALETTE.min() >= 0 and UPTAKE_PALETTE.max() <= 1


def test_hat_weights_blend_at_most_two_stops():
    u = np.linspace(0, 1, 1001)
    w = hat_weights(u)
    np.testing.assert_allclose(w.sum(1), 1.0)
    assert (np.count_nonzero(w, axis=1) <= 2).all()
    np.testing.assert_allclose(w @ UPTAKE_PALETTE, LEGEND.color(u * 10.0), atol=1e-12)


def test_linear_keys_reproduce_the_palette_between_samples():
    rng = np.random.default_rng(7)
    t = np.sort(rng.uniform(0, 7200, 30))
    t[0] = 0.0
    v = rng.uniform(-3, 14, 30)  # crosses every stop and both clipping ends
    uptake = Uptake(t, v, v * 1e6)
    clip, w = keyframes(uptake, LEGEND)
    probe = np.sort(rng.uniform(0, t[-1], 2000))
    weights = np.stack([np.interp(probe * 12 / 7200, clip, w[:, k]) for k in range(8)], 1)
    expected = LEGEND.color(np.interp(probe, t, v))
    np.testing.assert_allclose(weights @ UPTAKE_PALETTE, expected, atol=1e-9)


@pytest.fixture(scope="module")
def fdg(tmp_path_factory):
    """FDG holograms of the 4 mm phantom: plain and compressed."""
    seg = mird.voxelize(4.0)
    out = tmp_path_factory.mktemp("fdg")
    results = {}
    for compress in (False, True):
        r = build_hologram(copy.deepcopy(seg), HologramOptions(compress=compress, uptake=UptakeOptions("fdg")))
        path = out / ("fdg.glb" if compress else "fdg-plain.glb")
        path.write_bytes(r.glb)
        results[compress] = (path, r)
    return results


@pytest.mark.parametrize("compress,tolerance", [(False, 1 / 255), (True, 2 / 255)])
def test_three_js_plays_palette_of_the_interpolated_value(fdg, compress, tolerance):
    path, result = fdg[compress]
    gltf, _ = read_glb(path.read_bytes())
    legend = gltf["scenes"][0]["extras"]["arkit"]["legend"]
    clip_times = [0.0, 0.37, 1.5, 2.25, 4.0, 6.0, 8.75, 10.5, 11.99, 12.0]
    played = uptake_colors(path, clip_times)
    assert played["duration"] == pytest.approx(legend["clip_s"], abs=1e-5)
    palette = np.asarray(legend["palette"])
    scale = Legend(legend["quantity"], legend["unit"], legend["min"], legend["max"], palette, legend["clip_s"],
                   legend["real_s"])
    nodes = {n["name"]: n for n in gltf["nodes"]}
    assert set(played["structures"]) == set(result.report["tracer"]["structures"])
    for name, entry in played["structures"].items():
        extras = nodes[name]["extras"]
        real = np.asarray(clip_times) * legend["real_s"] / legend["clip_s"]
        value = np.interp(real, extras["times_s"], extras["values"])
        expected = scale.color(value)
        got = np.asarray(entry["colors"])
        assert np.abs(got - expected).max() <= tolerance, name
        assert all(np.count_nonzero(np.asarray(w) > 1e-6) <= 2 for w in entry["influences"])


def test_fdg_extras_and_legend_follow_the_design(fdg):
    path, result = fdg[False]
    gltf, _ = read_glb(path.read_bytes())
    arkit = gltf["scenes"][0]["extras"]["arkit"]
    legend = arkit["legend"]
    assert set(legend) == {"quantity", "unit", "min", "max", "scale", "palette", "clip_s", "real_s",
                           "decay_corrected"}
    assert legend["quantity"] == "suv" and (legend["min"], legend["max"]) == (0.0, 5.0)
    assert legend["real_s"] == 7200.0 and legend["clip_s"] == 12.0 and legend["decay_corrected"] is True
    assert len(legend["palette"]) == 8
    assert len(gltf["animations"]) == 1
    nodes = {n["name"]: n for n in gltf["nodes"]}
    for name in ("brain", "liver", "urinary_bladder", "body"):
        extras = nodes[name]["extras"]
        assert {"label", "system", "volume_ml", "times_s", "values", "unit", "activity_bq"} <= set(extras)
        assert len(extras["times_s"]) == len(extras["values"]) == len(extras["activity_bq"])
        assert extras["times_s"][0] == 0.0 and extras["times_s"][-1] == 7200.0
    # physical activity: the brain starts empty and traps FDG from the plasma (closed form,
    # tests/analytic.py), then F-18 decay
    brain = nodes["brain"]["extras"]
    assert brain["activity_bq"][0] == 0
    expected = fdg_trapped(brain["times_s"][1:], 0.08 * 370e6, decay_corrected=False)
    np.testing.assert_allclose(brain["activity_bq"][1:], expected, rtol=1e-3)
    # SUV (decay-corrected) rises over the first hour
    suv = np.interp([300.0, 3600.0], brain["times_s"], brain["values"])
    assert suv[1] > 4 * suv[0]
    # the bladder fills, then empties at the void (3.5 h is after 2 h: only filling here)
    bladder = nodes["urinary_bladder"]["extras"]["activity_bq"]
    assert bladder[0] == 0 and max(bladder) > 0.1 * 370e6
    # structures without uptake keep their anatomical material; uptake ones are unlit white
    materials = gltf["materials"]
    spleen = materials[gltf["meshes"][nodes["spleen"]["mesh"]]["primitives"][0]["material"]]
    assert "extensions" not in spleen and spleen["pbrMetallicRoughness"]["baseColorFactor"][:3] != [1.0, 1.0, 1.0]
    brain_mesh = gltf["meshes"][nodes["brain"]["mesh"]]
    brain_material = materials[brain_mesh["primitives"][0]["material"]]
    assert "KHR_materials_unlit" in brain_material["extensions"]
    # mesh.weights shows the peak frame; palette deltas are all >= 0
    assert len(brain_mesh["weights"]) == 8 and sum(brain_mesh["weights"]) == pytest.approx(1.0)
    assert len(brain_mesh["primitives"][0]["targets"]) == 8


def test_tracer_extras_carry_the_icrp107_half_life(fdg):
    """The client decay-corrects activity_bq with scene.extras.arkit.tracer.half_life_s:
    F-18's, as radioactivedecay (ICRP-107) gives it."""
    import radioactivedecay as rd

    for compress in (False, True):
        path, result = fdg[compress]
        gltf, _ = read_glb(path.read_bytes())
        tracer = gltf["scenes"][0]["extras"]["arkit"]["tracer"]
        assert set(tracer) == {"tracer", "nuclide", "half_life_s", "activity_bq"}
        assert tracer["tracer"] == "fdg" and tracer["nuclide"] == "F-18" and tracer["activity_bq"] == 370e6
        assert tracer["half_life_s"] == float(rd.Nuclide("F-18").half_life("s"))
        assert tracer["half_life_s"] == pytest.approx(6586.2, abs=1.0)  # 109.77 min
        assert result.report["tracer"]["half_life_s"] == tracer["half_life_s"]


def test_bladder_keys_both_sides_of_a_void(tmp_path):
    seg = mird.voxelize(4.0)
    r = build_hologram(seg, HologramOptions(compress=False, uptake=UptakeOptions("fdg", until_s=4 * 3600)))
    gltf, _ = read_glb(r.glb)
    (tmp_path / "void.glb").write_bytes(r.glb)
    nodes = {n["name"]: n for n in gltf["nodes"]}
    e = nodes["urinary_bladder"]["extras"]
    t = np.asarray(e["times_s"])
    a = np.asarray(e["activity_bq"])
    i = int(np.flatnonzero(np.isclose(t, 3.5 * 3600))[0])
    assert a[i] > 0.05 * 370e6 and a[i + 1] < 1e-3 * a[i] and t[i + 1] - t[i] <= 2.0


def test_window_clips_and_is_reported(tmp_path):
    seg = mird.voxelize(4.0)
    r = build_hologram(seg, HologramOptions(compress=False, uptake=UptakeOptions(
        "fdg", window=(0.0, 2.0), quantity="concentration", activity_bq=200e6)))
    gltf, _ = read_glb(r.glb)
    legend = gltf["scenes"][0]["extras"]["arkit"]["legend"]
    assert legend["unit"] == "kBq/mL" and legend["max"] == 2.0 and legend["decay_corrected"] is False
    assert gltf["scenes"][0]["extras"]["arkit"]["tracer"]["activity_bq"] == 200e6
    json.dumps(gltf)  # extras are plain JSON
