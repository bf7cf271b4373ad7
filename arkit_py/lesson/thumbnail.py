"""A lesson's thumbnail, drawn without a browser: the hologram seen from the front.

A small z-buffer rasteriser (numba) over the document's triangles, orthographic, lit by one
light from the viewer; the translucent body is blended over the organs; structures with
uptake show their peak colour. The PNG container is written here (zlib + CRC, a few lines).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIZE = 256
BACKGROUND = np.array([0x1F, 0x27, 0x33], np.float64) / 255.0


def _kernel():
    from numba import njit

    @njit(cache=True)
    def raster(xy, z, shade, faces, colour_index, colours, depth, image, size):
        for f in range(faces.shape[0]):
            a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
            x0, y0 = xy[a, 0], xy[a, 1]
            x1, y1 = xy[b, 0], xy[b, 1]
            x2, y2 = xy[c, 0], xy[c, 1]
            area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
            if area == 0.0:
                continue
            lo_x = max(int(np.floor(min(x0, min(x1, x2)))), 0)
            hi_x = min(int(np.ceil(max(x0, max(x1, x2)))), size - 1)
            lo_y = max(int(np.floor(min(y0, min(y1, y2)))), 0)
            hi_y = min(int(np.ceil(max(y0, max(y1, y2)))), size - 1)
            for py in range(lo_y, hi_y + 1):
                for px in range(lo_x, hi_x + 1):
                    sx, sy = px + 0.5, py + 0.5
                    w0 = ((x1 - sx) * (y2 - sy) - (x2 - sx) * (y1 - sy)) / area
                    w1 = ((x2 - sx) * (y0 - sy) - (x0 - sx) * (y2 - sy)) / area
                    w2 = 1.0 - w0 - w1
                    if w0 < 0 or w1 < 0 or w2 < 0:
                        continue
                    d = w0 * z[a] + w1 * z[b] + w2 * z[c]
                    if d > depth[py, px]:
                        depth[py, px] = d
                        s = w0 * shade[a] + w1 * shade[b] + w2 * shade[c]
                        k = colour_index[f]
                        for ch in range(3):
                            image[py, px, ch] = colours[k, ch] * s

    return raster


_RASTER = None


def _draw(meshes, lo, scale, size):
    """meshes: [(positions, faces, normals, colour)] -> (image (size, size, 3), covered mask)."""
    global _RASTER
    if _RASTER is None:
        _RASTER = _kernel()
    image = np.zeros((size, size, 3))
    depth = np.full((size, size), -np.inf)
    if not meshes:
        return image, np.isfinite(depth)
    xy_all, z_all, shade_all, faces_all, index_all, colours = [], [], [], [], [], []
    offset = 0
    for k, (p, f, n, colour) in enumerate(meshes):
        xy = np.stack([(p[:, 0] - lo[0]) * scale, (size - 1) - (p[:, 1] - lo[1]) * scale], 1)
        xy_all.append(xy)
        z_all.append(p[:, 2])
        shade_all.append(0.35 + 0.65 * np.clip(n[:, 2], 0.0, 1.0))  # light from the viewer (+Z)
        faces_all.append(f.astype(np.int64) + offset)
        index_all.append(np.full(len(f), k, np.int64))
        colours.append(colour)
        offset += len(p)
    _RASTER(np.concatenate(xy_all), np.concatenate(z_all), np.concatenate(shade_all), np.concatenate(faces_all),
            np.concatenate(index_all), np.asarray(colours, np.float64), depth, image, size)
    return image, np.isfinite(depth)


def render(doc, size: int = SIZE) -> np.ndarray:
    """(size, size, 3) uint8 sRGB: the document from the front (+Z looks at the viewer)."""
    from ..scene.palette import linear_to_srgb

    lo, hi = doc.bounds()
    extent = float(max(hi[0] - lo[0], hi[1] - lo[1])) or 1.0
    margin = 0.06 * size
    scale = (size - 2 * margin) / extent
    centre = (lo + hi) / 2
    origin = centre - (size / 2) / scale

    def colour_of(s):
        if s.uptake is not None and doc.legend is not None:
            return doc.legend.color(np.max(s.uptake.values))
        return np.asarray(s.material.color, np.float64)

    opaque = [s for s in doc.structures if s.material.alpha >= 1.0]
    clear = [s for s in doc.structures if s.material.alpha < 1.0]

    def meshes(items):
        out = []
        for s in items:
            g = s.geometry
            normals = g.normals if g.normals is not None else np.tile([0.0, 0.0, 1.0], (len(g.positions), 1))
            out.append((g.positions.astype(np.float64), g.indices, normals.astype(np.float64), colour_of(s)))
        return out

    inner, inner_mask = _draw(meshes(opaque), origin, scale, size)
    outer, outer_mask = _draw(meshes(clear), origin, scale, size)
    image = np.where(inner_mask[..., None], inner, BACKGROUND_LINEAR)
    if clear:
        alpha = float(np.mean([s.material.alpha for s in clear])) + 0.1
        image = np.where(outer_mask[..., None], (1 - alpha) * image + alpha * outer, image)
    return np.round(linear_to_srgb(image) * 255).astype(np.uint8)


BACKGROUND_LINEAR = np.where(BACKGROUND <= 0.04045, BACKGROUND / 12.92, ((BACKGROUND + 0.055) / 1.055) ** 2.4)


def png_bytes(rgb: np.ndarray) -> bytes:
    """A minimal deterministic PNG (8-bit RGB, no ancillary chunks)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\0" + rgb[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def render_png(doc, size: int = SIZE) -> bytes:
    return png_bytes(render(doc, size))
