"""Simplifying the curves where three or more labels meet, the same way for every patch.

Patches are decimated with their borders locked, so that neighbours keep meeting exactly.
Left alone, those borders keep every voxel-scale vertex of every junction curve: at 1 mm a
TotalSegmentator-like volume has tens of thousands of them, more than a phone's budget.
Here each junction curve (a chain of junction edges between two corners) is simplified
once, by Douglas-Peucker within a tolerance and with a longest span, and every dropped
vertex is collapsed onto the nearest kept vertex along its chain, in all faces at once, so
all patches that share the curve see the same simplified curve.
"""

from __future__ import annotations

import numpy as np


def junction_edges(faces: np.ndarray, keys: np.ndarray, junction: np.ndarray | None = None) -> np.ndarray:
    """(m, 2) undirected edges whose faces belong to more than one patch (key).

    junction : (n,) bool per vertex, the vertex borders three or more labels; only faces
        with two such vertices can hold a junction edge, so only those are examined.
    """
    if junction is not None:
        near = junction[faces].sum(axis=1) >= 2
        faces, keys = faces[near], keys[near]
    if len(faces) == 0:
        return np.zeros((0, 2), np.int64)
    f = faces.astype(np.int64)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    k = np.concatenate([keys, keys, keys])
    e.sort(axis=1)
    stride = int(f.max()) + 1
    code = e[:, 0] * stride + e[:, 1]
    order = np.argsort(code, kind="stable")
    code, k = code[order], k[order]
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    mixed = np.minimum.reduceat(k, starts) != np.maximum.reduceat(k, starts)
    chosen = code[starts[mixed]]
    return np.stack([chosen // stride, chosen % stride], 1)


def _chains(edges: np.ndarray) -> list[np.ndarray]:
    """Split the junction graph into chains between corners (vertices of degree != 2);
    a closed loop becomes one chain that starts and ends at the same vertex."""
    if len(edges) == 0:
        return []
    ids, local = np.unique(edges, return_inverse=True)
    local = local.reshape(-1, 2)
    n, m = len(ids), len(local)
    deg = np.bincount(local.ravel(), minlength=n)
    both = np.concatenate([local, local[:, ::-1]])
    edge_id = np.concatenate([np.arange(m), np.arange(m)])
    order = np.argsort(both[:, 0], kind="stable")
    both, edge_id = both[order], edge_id[order]
    offsets = np.searchsorted(both[:, 0], np.arange(n + 1))
    used = np.zeros(m, dtype=bool)

    def walk(start: int, slot: int) -> np.ndarray:
        path = [start]
        while True:
            used[edge_id[slot]] = True
            nxt = int(both[slot, 1])
            path.append(nxt)
            if deg[nxt] != 2 or nxt == start:
                break
            a = offsets[nxt]
            slot = a if not used[edge_id[a]] else a + 1
            if used[edge_id[slot]]:
                break
        return ids[np.array(path)]

    chains = []
    for v in np.r_[np.flatnonzero(deg != 2), np.flatnonzero(deg == 2)]:  # corners first, then loops
        for slot in range(offsets[v], offsets[v + 1]):
            if not used[edge_id[slot]]:
                chains.append(walk(int(v), slot))
    return chains


def _douglas_peucker(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Indices of the points kept (always the two ends)."""
    keep = np.zeros(len(points), dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        seg = points[b] - points[a]
        length = np.linalg.norm(seg)
        rel = points[a + 1:b] - points[a]
        if length > 1e-12:
            d = np.linalg.norm(np.cross(rel, seg / length), axis=1)
        else:
            d = np.linalg.norm(rel, axis=1)
        i = int(np.argmax(d))
        if d[i] > tolerance:
            keep[a + 1 + i] = True
            stack += [(a, a + 1 + i), (a + 1 + i, b)]
    return np.flatnonzero(keep)


def simplify_junctions(vertices: np.ndarray, faces: np.ndarray, keys: np.ndarray, *, tolerance: float,
                       max_span: float, junction: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Faces with junction curves simplified, and a mask of the faces still proper
    triangles (collapses make some degenerate: drop them).

    vertices : (n, 3) positions (mm). faces : (m, 3) vertex ids. keys : (m,) patch key of
    each face. tolerance : Douglas-Peucker distance (mm). max_span : longest stretch of a
    curve (mm) left without a kept vertex.
    """
    edges = junction_edges(faces, keys, junction)
    if len(edges) == 0:
        return faces, np.ones(len(faces), dtype=bool)
    remap = np.arange(len(vertices), dtype=faces.dtype)
    for chain in _chains(edges):
        closed = chain[0] == chain[-1]
        pts = vertices[chain]
        if closed:  # split a loop at its farthest point so both halves have a chord
            far = int(np.argmax(np.linalg.norm(pts - pts[0], axis=1)))
            pieces = [(chain[:far + 1], pts[:far + 1]), (chain[far:], pts[far:])]
        else:
            pieces = [(chain, pts)]
        for ids, p in pieces:
            if len(ids) < 3:
                continue
            kept = _douglas_peucker(p, tolerance)
            arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))]
            extra = []
            for a, b in zip(kept[:-1], kept[1:]):
                span = arc[b] - arc[a]
                if span > max_span:
                    pieces_n = int(np.ceil(span / max_span))
                    marks = arc[a] + span * np.arange(1, pieces_n) / pieces_n
                    extra += list(np.searchsorted(arc, marks))
            kept = np.unique(np.r_[kept, np.array(extra, dtype=np.int64)])
            # each dropped vertex goes to the nearer kept one along the curve
            nxt = np.searchsorted(kept, np.arange(len(ids)))
            nxt = np.minimum(nxt, len(kept) - 1)
            prv = np.maximum(np.searchsorted(kept, np.arange(len(ids)), side="right") - 1, 0)
            to_prev = (arc - arc[kept[prv]]) <= (arc[kept[nxt]] - arc)
            target = np.where(to_prev, kept[prv], kept[nxt])
            remap[ids] = ids[target]
    f = remap[faces]  # same dtype as faces
    good = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    return f, good
