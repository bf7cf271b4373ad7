"""A small hologram GLB with known contents, made in memory: the browser tests and the
Node-tool tests use it until (and besides) the real pipeline's output.

Layout as docs/hologram-format.md describes: a root ``hologram`` node, one node per system, one
structure node per structure with extras {label, system, volume_ml, display}.
"""

from __future__ import annotations

import json
import struct

import numpy as np

# The structures of the demo hologram: name -> (display, system, label, centre m, radii m,
# linear RGB). Metres, glTF frame (+X patient left, +Y up, +Z anterior), origin at the
# bottom-centre of the body.
DEMO_STRUCTURES = {
    "body": ("Body", "body", 1, (0.0, 0.30, 0.0), (0.16, 0.30, 0.10), (0.58, 0.64, 0.72)),
    "liver": ("Liver", "digestive", 5, (-0.06, 0.36, 0.02), (0.08, 0.04, 0.05), (0.45, 0.08, 0.05)),
    "kidney_left": ("Left kidney", "urinary", 2, (0.06, 0.30, -0.04), (0.02, 0.045, 0.02), (0.5, 0.15, 0.1)),
    "kidney_right": ("Right kidney", "urinary", 3, (-0.06, 0.29, -0.04), (0.02, 0.045, 0.02), (0.5, 0.15, 0.1)),
    "heart": ("Heart", "cardiovascular", 51, (0.02, 0.46, 0.03), (0.045, 0.05, 0.04), (0.6, 0.02, 0.03)),
}
DEMO_ANIMATED = "liver"  # carries a 2-target palette morph driven by a weights animation
DEMO_MERGED = ("kidney_left", "kidney_right")  # build_demo_glb(merged=True): one urinary mesh


def _ellipsoid(centre, radii, subdivisions=3):
    """(vertices (n, 3) float32, faces (m, 3) uint16, normals (n, 3) float32) of an
    icosphere scaled to ``radii`` around ``centre``."""
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    radii = np.asarray(radii, float)
    vertices = sphere.vertices * radii + np.asarray(centre, float)
    normals = sphere.vertices / radii**2
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return vertices.astype(np.float32), sphere.faces.astype(np.uint16), normals.astype(np.float32)


def build_demo_glb(*, merged: bool = False) -> bytes:
    """A small hologram in the layout docs/hologram-format.md describes: a root ``hologram`` node, one
    node per system, under it one structure node per structure with extras {label, system,
    volume_ml, display}; a translucent PBR body and unlit organs with COLOR_0; the liver
    has a palette-morph (COLOR_0 targets + weights animation). Valid with 0 issues.

    ``merged``: the kidneys become one mesh on a node ``urinary_merged`` with extras
    {system, merged: [{name, label, display, volume_ml}]} and a per-vertex ``_LABEL``, as
    the writer does when a profile runs out of draw calls."""
    binary = bytearray()
    views, accessors = [], []

    def add(array, target=None, minmax=False):
        array = np.ascontiguousarray(array)
        binary.extend(b"\0" * (-len(binary) % 4))
        view = {"buffer": 0, "byteOffset": len(binary), "byteLength": array.nbytes}
        if target:
            view["target"] = target
        binary.extend(array.tobytes())
        views.append(view)
        kind = "SCALAR" if array.ndim == 1 else {3: "VEC3"}[array.shape[1]]
        ctype = {np.dtype(np.float32): 5126, np.dtype(np.uint16): 5123}[array.dtype]
        accessor = {"bufferView": len(views) - 1, "componentType": ctype,
                    "count": int(array.shape[0]), "type": kind}
        if minmax:
            flat = array.reshape(array.shape[0], -1)
            accessor["min"] = [float(v) for v in flat.min(0)]
            accessor["max"] = [float(v) for v in flat.max(0)]
        accessors.append(accessor)
        return len(accessors) - 1

    systems = []
    for _, system, *_ in DEMO_STRUCTURES.values():
        if system not in systems:
            systems.append(system)
    nodes = [{"name": "hologram", "children": []}]
    system_index = {}
    for system in systems:
        nodes.append({"name": f"{system}_system", "children": []})
        system_index[system] = len(nodes) - 1
        nodes[0]["children"].append(len(nodes) - 1)

    meshes, materials, animations = [], [], []
    merged_parts = []
    for name, (display, system, label, centre, radii, colour) in DEMO_STRUCTURES.items():
        vertices, faces, normals = _ellipsoid(centre, radii)
        volume_ml = round(4.0 / 3.0 * np.pi * float(np.prod(radii)) * 1e6, 2)
        if merged and name in DEMO_MERGED:
            merged_parts.append((name, display, system, label, volume_ml, vertices, faces, normals, colour))
            continue
        attributes = {
            "POSITION": add(vertices, 34962, minmax=True),
            "NORMAL": add(normals, 34962),
        }
        primitive = {"attributes": attributes, "material": len(materials)}
        mesh = {"name": name, "primitives": [primitive]}
        if system == "body":
            materials.append({
                "name": name, "alphaMode": "BLEND", "doubleSided": False,
                "pbrMetallicRoughness": {"baseColorFactor": [*colour, 0.25],
                                         "metallicFactor": 0.0, "roughnessFactor": 0.7},
            })
        else:
            materials.append({
                "name": name, "extensions": {"KHR_materials_unlit": {}},
                "pbrMetallicRoughness": {"baseColorFactor": [1.0, 1.0, 1.0, 1.0],
                                         "metallicFactor": 0.0, "roughnessFactor": 1.0},
            })
            n = len(vertices)
            if name == DEMO_ANIMATED:
                stops = np.array([[0.0, 0.0, 0.3], [0.9, 0.9, 0.0], [1.0, 0.1, 0.0]], np.float32)
                base = stops.min(0)
                attributes["COLOR_0"] = add(np.tile(base, (n, 1)).astype(np.float32), 34962)
                primitive["targets"] = [
                    {"COLOR_0": add(np.tile(stop - base, (n, 1)).astype(np.float32), 34962, minmax=True)}
                    for stop in stops[1:]
                ]
                mesh["weights"] = [0.0, 1.0]
            else:
                attributes["COLOR_0"] = add(np.tile(np.float32(colour), (n, 1)).astype(np.float32), 34962)
        primitive["indices"] = add(faces.reshape(-1), 34963)
        meshes.append(mesh)
        nodes.append({"name": name, "mesh": len(meshes) - 1,
                      "extras": {"label": label, "system": system, "volume_ml": volume_ml,
                                 "display": display}})
        nodes[system_index[system]]["children"].append(len(nodes) - 1)
        if name == DEMO_ANIMATED:
            times = np.array([0.0, 1.0, 2.0, 3.0], np.float32)
            weights = np.array([[0, 0], [1, 0], [0, 1], [0, 0]], np.float32).reshape(-1)
            animations.append({
                "name": "uptake",
                "samplers": [{"input": add(times, minmax=True), "output": add(weights),
                              "interpolation": "LINEAR"}],
                "channels": [{"sampler": 0, "target": {"node": len(nodes) - 1, "path": "weights"}}],
            })

    if merged_parts:
        system = merged_parts[0][2]
        offsets = np.cumsum([0] + [len(p[5]) for p in merged_parts])
        vertices = np.concatenate([p[5] for p in merged_parts])
        faces = np.concatenate([p[6].astype(np.uint32) + o for p, o in zip(merged_parts, offsets)])
        attributes = {
            "POSITION": add(vertices, 34962, minmax=True),
            "NORMAL": add(np.concatenate([p[7] for p in merged_parts]), 34962),
            "COLOR_0": add(np.concatenate([np.tile(np.float32(p[8]), (len(p[5]), 1)) for p in merged_parts]), 34962),
            "_LABEL": add(np.concatenate([np.full(len(p[5]), p[3], np.float32) for p in merged_parts])),
        }
        materials.append({"name": f"{system}_merged", "extensions": {"KHR_materials_unlit": {}},
                          "pbrMetallicRoughness": {"metallicFactor": 0.0, "roughnessFactor": 1.0}})
        primitive = {"attributes": attributes, "material": len(materials) - 1,
                     "indices": add(faces.reshape(-1).astype(np.uint16), 34963)}
        meshes.append({"name": f"{system}_merged", "primitives": [primitive]})
        nodes.append({"name": f"{system}_merged", "mesh": len(meshes) - 1, "extras": {
            "system": system,
            "merged": [{"name": p[0], "label": p[3], "display": p[1], "volume_ml": p[4],
                        "triangles": len(p[6])} for p in merged_parts]}})
        nodes[system_index[system]]["children"].append(len(nodes) - 1)

    binary.extend(b"\0" * (-len(binary) % 4))
    gltf = {
        "asset": {"version": "2.0", "generator": "arkit tests (demo hologram)"},
        "extensionsUsed": ["KHR_materials_unlit"],
        "scene": 0,
        "scenes": [{"nodes": [0], "extras": {"arkit": {"units": "m", "source": "test"}}}],
        "nodes": nodes, "meshes": meshes, "materials": materials, "animations": animations,
        "accessors": accessors, "bufferViews": views, "buffers": [{"byteLength": len(binary)}],
    }
    text = json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    chunks = struct.pack("<II", len(text), 0x4E4F534A) + text
    chunks += struct.pack("<II", len(binary), 0x004E4942) + bytes(binary)
    return struct.pack("<III", 0x46546C67, 2, 12 + len(chunks)) + chunks
