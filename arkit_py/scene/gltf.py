"""Writing a Document as a binary glTF 2.0 file (GLB), plain or meshopt-compressed.

Layout (docs/hologram-format.md): one root node ``hologram``; under it one node per system
(``<system>_system``); under those one node per structure, named by its canonical name,
with ``extras`` = {label, system, volume_ml, display, ...}. Uncompressed, a structure
node carries its mesh; compressed, the mesh sits on a child ``<name>_mesh`` whose
translation and uniform scale undo the position quantization (KHR_mesh_quantization).

Compressed files store every bufferView with EXT_meshopt_compression (meshoptimizer's
codecs through the PyPI ``meshopt`` package) and keep an uncompressed fallback buffer
that has no data, as the extension allows. The JSON and buffers are written the same way
every time: identical documents give identical bytes.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, replace

import numpy as np

from .document import Document, StructureNode
from .uptake import hat_weights, keyframes

POSITION_BITS = 14  # quantization grid: a 1.9 m body -> 0.12 mm steps

FLOAT, UBYTE, BYTE, USHORT, UINT = 5126, 5121, 5120, 5123, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
SYSTEM_ORDER = ("body", "skeletal", "respiratory", "cardiovascular", "digestive", "urinary",
                "nervous", "endocrine", "reproductive", "lymphatic", "other")


@dataclass(frozen=True)
class WriteOptions:
    compress: bool = True
    position_bits: int = POSITION_BITS


class _Builder:
    """Accumulates bufferViews and accessors; ``compress`` encodes each view with meshopt."""

    def __init__(self, compress: bool):
        self.compress = compress
        self.raw = bytearray()  # uncompressed data (the only buffer, or the fallback's layout)
        self.packed = bytearray()  # compressed data (GLB BIN chunk when compressing)
        self.views: list[dict] = []
        self.accessors: list[dict] = []
        self.decoded_checks: list[tuple[bytes, int, int, str, bytes]] = []

    @staticmethod
    def _align(buf: bytearray, n: int = 4) -> None:
        buf.extend(b"\0" * (-len(buf) % n))

    def view(self, data: np.ndarray, *, target: int | None, stride: int | None, mode: str) -> int:
        data = np.ascontiguousarray(data)
        raw_bytes = data.tobytes()
        self._align(self.raw)
        view: dict = {"buffer": 0, "byteOffset": len(self.raw), "byteLength": len(raw_bytes)}
        if stride:
            view["byteStride"] = stride
        if target:
            view["target"] = target
        self.raw.extend(raw_bytes)
        if self.compress:
            import meshopt

            count = len(data) if mode == "ATTRIBUTES" else data.size
            size = data.nbytes // count
            encoded = meshopt.encode_gltf_buffer(data.reshape(count, -1) if mode == "ATTRIBUTES" else data.ravel(), mode)
            self._align(self.packed)
            view["buffer"] = 1
            view["extensions"] = {"EXT_meshopt_compression": {
                "buffer": 0, "byteOffset": len(self.packed), "byteLength": len(encoded),
                "byteStride": size, "count": count, "mode": mode,
            }}
            self.packed.extend(encoded)
            self.decoded_checks.append((encoded, count, size, mode, raw_bytes))
        self.views.append(view)
        return len(self.views) - 1

    def accessor(self, view: int | None, component: int, count: int, kind: str, *, normalized: bool = False,
                 lo=None, hi=None) -> int:
        acc: dict = {"componentType": component, "count": int(count), "type": kind}
        if view is not None:  # no bufferView: all zeros (glTF 2.0 accessors)
            acc = {"bufferView": view, **acc}
        if normalized:
            acc["normalized"] = True
        if lo is not None:
            acc["min"] = [_num(v) for v in lo]
            acc["max"] = [_num(v) for v in hi]
        self.accessors.append(acc)
        return len(self.accessors) - 1


def _num(v) -> float | int:
    v = v.item() if hasattr(v, "item") else v
    return int(v) if isinstance(v, (int, np.integer)) else float(np.float32(v))


def _mesh_plain(b: _Builder, s: StructureNode) -> dict:
    g = s.geometry
    pos = g.positions.astype(np.float32)
    attributes = {"POSITION": b.accessor(b.view(pos, target=ARRAY_BUFFER, stride=None, mode="ATTRIBUTES"),
                                         FLOAT, len(pos), "VEC3", lo=pos.min(0), hi=pos.max(0))}
    if g.normals is not None:
        nrm = g.normals.astype(np.float32)
        attributes["NORMAL"] = b.accessor(b.view(nrm, target=ARRAY_BUFFER, stride=None, mode="ATTRIBUTES"),
                                          FLOAT, len(nrm), "VEC3")
    _per_vertex(b, g, attributes, slice(None))
    idx = g.indices.astype(np.uint16 if len(pos) < 65536 else np.uint32).ravel()
    indices = b.accessor(b.view(idx, target=ELEMENT_ARRAY_BUFFER, stride=None, mode="TRIANGLES"),
                         USHORT if idx.dtype == np.uint16 else UINT, len(idx), "SCALAR")
    return {"attributes": attributes, "indices": indices}


def _palette_morph(b: _Builder, primitive: dict, s: StructureNode, legend, order, compress: bool) -> None:
    """The palette morph of docs/hologram-format.md: base COLOR_0 = per-channel minimum of the stops,
    one target per stop carrying stop - base (all deltas >= 0, so compressors that clamp
    negatives cannot damage them). Per-vertex uptake: one target per frame, base = each
    vertex's per-channel minimum over the frames. Each target also names a POSITION
    accessor without a bufferView (all zeros, no bytes): three.js declares its morph
    uniforms only when positions morph, and would otherwise fail to compile the shader of
    a colour-only morph."""
    n = len(s.geometry.positions) if order is None else len(order)
    u = s.uptake
    if u.vertex_values is None:
        base = np.broadcast_to(legend.palette.min(0), (n, 3))
        deltas = [np.broadcast_to(stop - legend.palette.min(0), (n, 3)) for stop in legend.palette]
    else:
        values = u.vertex_values if order is None else u.vertex_values[order]
        colours = legend.color(values)  # (n, F, 3)
        base = colours.min(axis=1)
        deltas = [colours[:, f] - base for f in range(colours.shape[1])]
    zero = b.accessor(None, FLOAT, n, "VEC3", lo=[0.0, 0.0, 0.0], hi=[0.0, 0.0, 0.0])
    # VEC4 colours (alpha 1 in the base, 0 in the deltas): three.js r183, which model-viewer
    # 4.4 bundles, fails to compile the shader of a VEC3 colour morph on its VEC4 vertex colour
    if compress:  # 16-bit normalized RGBA (1/65535 steps), an 8-byte stride
        def colour(c, alpha):
            q = np.empty((n, 4), np.uint16)
            q[:, :3] = np.clip(np.rint(np.asarray(c) * 65535.0), 0, 65535)
            q[:, 3] = 65535 if alpha else 0
            return b.accessor(b.view(q, target=ARRAY_BUFFER, stride=8, mode="ATTRIBUTES"), USHORT, n, "VEC4",
                              normalized=True)
    else:
        def colour(c, alpha):
            data = np.empty((n, 4), np.float32)
            data[:, :3] = c
            data[:, 3] = 1.0 if alpha else 0.0
            return b.accessor(b.view(data, target=ARRAY_BUFFER, stride=None, mode="ATTRIBUTES"), FLOAT, n, "VEC4")
    primitive["attributes"]["COLOR_0"] = colour(base, True)
    primitive["targets"] = [{"POSITION": zero, "COLOR_0": colour(d, False)} for d in deltas]


def _per_vertex(b: _Builder, g, attributes: dict, order) -> None:
    """COLOR_0 and _LABEL of merged meshes (floats: 4-byte aligned, exact for labels)."""
    if g.colors is not None:
        c = np.ascontiguousarray(g.colors[order], dtype=np.float32)
        attributes["COLOR_0"] = b.accessor(b.view(c, target=ARRAY_BUFFER, stride=None, mode="ATTRIBUTES"),
                                           FLOAT, len(c), "VEC3")
    if g.labels is not None:
        lab = np.ascontiguousarray(g.labels[order], dtype=np.float32).reshape(-1, 1)
        attributes["_LABEL"] = b.accessor(b.view(lab, target=ARRAY_BUFFER, stride=None, mode="ATTRIBUTES"),
                                          FLOAT, len(lab), "SCALAR")


def quantize_positions(positions: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Integer positions on a uniform grid: (q (n, 4) uint16 with a zero pad, offset (3,),
    step) so that positions ~= offset + step * q[:, :3]."""
    lo = positions.min(0).astype(np.float64)
    extent = float((positions.max(0) - lo).max()) or 1e-6
    step = extent / ((1 << bits) - 1)
    q = np.rint((positions - lo) / step).astype(np.uint16)
    return np.concatenate([q, np.zeros((len(q), 1), np.uint16)], 1), lo, step


def _mesh_compressed(b: _Builder, s: StructureNode, bits: int) -> tuple[dict, dict]:
    """The compressed primitive and the dequantizing node transform."""
    import meshopt

    g = s.geometry
    # vertex cache order first, then vertices in first-use order: smaller encodings
    indices, remap, unique = meshopt.reorder_mesh(g.indices.astype(np.uint32).ravel(), True, False)
    order = np.empty(unique, dtype=np.int64)
    used = remap < unique
    order[remap[used]] = np.flatnonzero(used)
    positions = g.positions[order]
    q, lo, step = quantize_positions(positions, bits)
    attributes = {"POSITION": b.accessor(b.view(q, target=ARRAY_BUFFER, stride=8, mode="ATTRIBUTES"),
                                         USHORT, len(q), "VEC3", lo=q[:, :3].min(0), hi=q[:, :3].max(0))}
    if g.normals is not None:
        n = np.clip(np.rint(g.normals[order] * 127.0), -127, 127).astype(np.int8)
        n = np.concatenate([n, np.zeros((len(n), 1), np.int8)], 1)
        attributes["NORMAL"] = b.accessor(b.view(n, target=ARRAY_BUFFER, stride=4, mode="ATTRIBUTES"),
                                          BYTE, len(n), "VEC3", normalized=True)
    _per_vertex(b, g, attributes, order)
    idx = indices.astype(np.uint16 if unique < 65536 else np.uint32)
    acc = b.accessor(b.view(idx, target=ELEMENT_ARRAY_BUFFER, stride=None, mode="TRIANGLES"),
                     USHORT if idx.dtype == np.uint16 else UINT, len(idx), "SCALAR")
    transform = {"translation": [float(v) for v in lo], "scale": [float(step)] * 3}
    return {"attributes": attributes, "indices": acc}, transform, order


def _material(s: StructureNode) -> dict:
    m = s.material
    out: dict = {
        "name": m.name,
        "pbrMetallicRoughness": {
            "baseColorFactor": [round(float(c), 6) for c in m.color] + [round(float(m.alpha), 6)],
            "metallicFactor": 0.0,
            "roughnessFactor": round(float(m.roughness), 6),
        },
    }
    if m.alpha < 1.0:
        out["alphaMode"] = "BLEND"
    if m.double_sided:
        out["doubleSided"] = True
    if m.unlit:
        out["extensions"] = {"KHR_materials_unlit": {}}
    return out


def to_glb(doc: Document, options: WriteOptions = WriteOptions()) -> bytes:
    """The document as GLB bytes."""
    b = _Builder(options.compress)
    nodes: list[dict] = [{"name": "hologram", "children": []}]
    meshes, materials = [], []
    systems = sorted({s.system for s in doc.structures},
                     key=lambda x: (SYSTEM_ORDER.index(x) if x in SYSTEM_ORDER else len(SYSTEM_ORDER), x))
    system_node = {}
    for system in systems:
        nodes.append({"name": f"{system}_system", "children": []})
        system_node[system] = len(nodes) - 1
        nodes[0]["children"].append(len(nodes) - 1)
    unlit = False
    animated: list[tuple[StructureNode, int]] = []  # (structure, index of the node holding its mesh)
    legend = doc.legend
    for s in doc.structures:
        morph = legend is not None and s.uptake is not None
        if morph and s.geometry.colors is not None:  # the palette owns COLOR_0
            s = replace(s, geometry=replace(s.geometry, colors=None))
        materials.append(_material(s))
        unlit |= s.material.unlit
        if options.compress:
            primitive, transform, order = _mesh_compressed(b, s, options.position_bits)
        else:
            primitive, transform, order = _mesh_plain(b, s), None, None
        primitive["material"] = len(materials) - 1
        mesh: dict = {"name": s.name, "primitives": [primitive]}
        meshes.append(mesh)
        extras = dict(s.extras)
        if morph:
            _palette_morph(b, primitive, s, legend, order, options.compress)
            mesh["weights"] = _peak_weights(s.uptake, legend)
            extras.update(_uptake_extras(s, legend))
        node = {"name": s.name, "extras": extras}
        nodes.append(node)
        nodes[system_node[s.system]]["children"].append(len(nodes) - 1)
        if transform is None:
            node["mesh"] = len(meshes) - 1
        else:
            nodes.append({"name": f"{s.name}_mesh", "mesh": len(meshes) - 1, **transform})
            node["children"] = [len(nodes) - 1]
        if morph:
            animated.append((s, len(nodes) - 1))
    animations = _animation(b, animated, legend, doc.clip_name) if animated else []

    used = []
    if options.compress:
        used += ["EXT_meshopt_compression", "KHR_mesh_quantization"]
    if unlit:
        used.append("KHR_materials_unlit")
    gltf: dict = {"asset": {"version": "2.0", "generator": doc.generator}}
    if used:
        gltf["extensionsUsed"] = sorted(used)
    if options.compress:
        gltf["extensionsRequired"] = ["EXT_meshopt_compression", "KHR_mesh_quantization"]
    gltf["scene"] = 0
    gltf["scenes"] = [{"name": "arkit_scene", "nodes": [0], "extras": doc.scene_extras}]
    gltf["nodes"] = nodes
    gltf["meshes"] = meshes
    gltf["materials"] = materials
    if animations:
        gltf["animations"] = animations
    gltf["accessors"] = b.accessors
    gltf["bufferViews"] = b.views
    if options.compress:
        _Builder._align(b.packed)
        gltf["buffers"] = [
            {"byteLength": len(b.packed)},
            {"byteLength": len(b.raw), "extensions": {"EXT_meshopt_compression": {"fallback": True}}},
        ]
        binary = bytes(b.packed)
    else:
        _Builder._align(b.raw)
        gltf["buffers"] = [{"byteLength": len(b.raw)}]
        binary = bytes(b.raw)
    if options.compress:
        check_decoded(b.decoded_checks)
    return glb_bytes(gltf, binary)


def _peak_weights(u, legend) -> list[float]:
    """mesh.weights: the peak frame, so viewers that ignore the animation show something."""
    if u.vertex_values is not None:
        w = np.zeros(u.vertex_values.shape[1])
        w[int(np.argmax(u.vertex_values.mean(axis=0)))] = 1.0
    else:
        peak = int(np.argmax(u.values))
        w = hat_weights(legend.u(u.values[peak:peak + 1]), len(legend.palette))[0]
    return [round(float(x), 6) for x in w]


def _uptake_extras(s: StructureNode, legend) -> dict:
    """Node extras of an animated structure (docs/hologram-format.md): times_s, values, unit, activity_bq."""
    u = s.uptake
    return {
        "times_s": [round(float(t), 3) for t in u.times_s],
        "values": [float(f"{v:.6g}") for v in u.values],
        "unit": legend.unit,
        "activity_bq": [float(f"{a:.6g}") for a in u.activity_bq],
        "region": u.region,
    }


def _animation(b: _Builder, animated, legend, name: str) -> list[dict]:
    """One clip with a ``weights`` channel per animated mesh; structures with identical
    keys share their accessors."""
    samplers: list[dict] = []
    channels: list[dict] = []
    cache: dict[bytes, int] = {}
    for s, node in animated:
        times, weights = keyframes(s.uptake, legend)
        t32 = times.astype(np.float32)
        keep = np.concatenate([[True], np.diff(t32) > 0])  # float32 keys must increase strictly
        t32 = np.ascontiguousarray(t32[keep])
        w32 = np.ascontiguousarray(weights[keep].astype(np.float32))
        key = t32.tobytes() + w32.tobytes()
        if key not in cache:
            inp = b.accessor(b.view(t32, target=None, stride=None, mode="ATTRIBUTES"), FLOAT, len(t32), "SCALAR",
                             lo=[t32.min()], hi=[t32.max()])
            out = b.accessor(b.view(w32, target=None, stride=None, mode="ATTRIBUTES"), FLOAT, w32.size, "SCALAR")
            samplers.append({"input": inp, "output": out, "interpolation": "LINEAR"})
            cache[key] = len(samplers) - 1
        channels.append({"sampler": cache[key], "target": {"node": node, "path": "weights"}})
    return [{"name": name, "channels": channels, "samplers": samplers}]


def check_decoded(checks) -> None:
    """Decode every compressed view and compare it with its source: the encoder and the
    decoder viewers use must agree exactly (positions were quantized before encoding, and
    ``check_geometry`` bounds that quantization against the source mesh)."""
    import meshopt

    for encoded, count, size, mode, raw in checks:
        decoded = np.asarray(meshopt.decode_gltf_buffer(encoded, count, size, mode))
        if mode == "TRIANGLES":  # the codec may rotate a triangle's corners (winding kept)
            same = np.array_equal(_canonical(decoded), _canonical(np.frombuffer(raw, dtype=decoded.dtype)))
        else:
            same = decoded.tobytes() == raw
        if not same:
            raise RuntimeError(f"meshopt: a {mode} buffer of {count} elements did not decode to its source")


def _canonical(indices: np.ndarray) -> np.ndarray:
    """Triangles rotated so each starts at its smallest index (same winding)."""
    t = indices.reshape(-1, 3).astype(np.int64)
    shift = np.argmin(t, axis=1)
    rows = np.arange(len(t))[:, None]
    return t[rows, (shift[:, None] + np.arange(3)) % 3]


def glb_bytes(gltf: dict, binary: bytes) -> bytes:
    """The GLB container: 12-byte header, JSON chunk (space-padded), BIN chunk (zero-padded)."""
    text = json.dumps(gltf, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    chunks = struct.pack("<II", len(text), 0x4E4F534A) + text
    if binary:
        chunks += struct.pack("<II", len(binary), 0x004E4942) + binary
    return struct.pack("<III", 0x46546C67, 2, 12 + len(chunks)) + chunks


def read_glb(data: bytes) -> tuple[dict, bytes]:
    """(JSON, BIN chunk) of a GLB; for tests and tools."""
    magic, version, length = struct.unpack_from("<III", data, 0)
    if magic != 0x46546C67 or version != 2:
        raise ValueError("not a glTF 2.0 binary")
    offset, gltf, binary = 12, None, b""
    while offset < length:
        size, kind = struct.unpack_from("<II", data, offset)
        chunk = data[offset + 8:offset + 8 + size]
        if kind == 0x4E4F534A:
            gltf = json.loads(chunk)
        elif kind == 0x004E4942:
            binary = chunk
        offset += 8 + size
    return gltf, binary
