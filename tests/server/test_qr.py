"""The join QR code decodes back to the exact text with a real decoder (zxing-cpp)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import png
import pytest
import zxingcpp

from arkit_py.server.qr import QUIET, qr_matrix, qr_png, qr_svg

URLS = [
    "https://192.168.1.20:8443/j/K7M2QX",
    "http://localhost:5000/j/ABC234",
    "https://[fd00::5]:8443/j/K7M2QX",
    "https://arkit-classroom.radiology.example-university.ac.uk:8443/j/K7M2QX?lang=en&via=projection",
]
SVG = "{http://www.w3.org/2000/svg}"
RUN = re.compile(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z")


def decode(image: np.ndarray) -> str:
    """The text of the single QR code in a greyscale uint8 image."""
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, found
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return found[0].text


def png_pixels(data: bytes) -> np.ndarray:
    width, height, rows, meta = png.Reader(bytes=data).read()
    assert meta["greyscale"] and meta["bitdepth"] == 1 and not meta.get("alpha")
    return np.array([list(r) for r in rows], dtype=np.uint8).reshape(height, width) * 255


def rasterise_svg(svg: str, scale: int = 6) -> np.ndarray:
    """Our SVG drawn from its own rectangles: the white background, then the black runs."""
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    x0, y0, w, h = (int(v) for v in root.get("viewBox").split())
    assert (x0, y0) == (0, 0) and w == h
    rect, path = list(root)
    assert rect.tag == SVG + "rect" and rect.get("fill") == "#fff" and rect.get("width") == str(w)
    assert path.tag == SVG + "path" and path.get("fill") == "#000"
    d = path.get("d")
    runs = RUN.findall(d)
    assert "".join(f"M{x} {y}h{n}v1h-{m}z" for x, y, n, m in runs) == d  # nothing else in the path
    grid = np.full((h, w), 255, dtype=np.uint8)
    for x, y, n, m in runs:
        assert n == m
        grid[int(y), int(x):int(x) + int(n)] = 0
    return np.kron(grid, np.ones((scale, scale), dtype=np.uint8))


@pytest.mark.parametrize("url", URLS)
def test_png_decodes_to_the_url(url):
    assert decode(png_pixels(qr_png(url))) == url


@pytest.mark.parametrize("url", URLS)
def test_svg_decodes_to_the_url(url):
    assert decode(rasterise_svg(qr_svg(url))) == url


def test_png_geometry():
    matrix = qr_matrix(URLS[0])
    n = len(matrix)
    assert (n - 2 * QUIET - 17) % 4 == 0  # a QR version: 21, 25, ... modules plus the quiet zone
    for box in (1, 3, 10):
        pixels = png_pixels(qr_png(URLS[0], box=box))
        assert pixels.shape == (n * box, n * box)
        assert (pixels[: QUIET * box] == 255).all() and (pixels[:, -QUIET * box:] == 255).all()  # quiet zone
        expected = np.kron(np.where(np.array(matrix), 0, 255).astype(np.uint8), np.ones((box, box), np.uint8))
        assert (pixels == expected).all()


def test_svg_matches_the_matrix_and_is_standalone():
    svg = qr_svg(URLS[0])
    matrix = np.array(qr_matrix(URLS[0]))
    assert ((rasterise_svg(svg, scale=1) == 0) == matrix).all()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ')
    assert 'shape-rendering="crispEdges"' in svg
    for word in ("href", "<script", "<image", "url(", "@import", "http://www.w3.org/1999/xlink"):
        assert word not in svg


def test_error_correction_is_m():
    # in byte mode a version-3 symbol (29 modules) holds 53 bytes at level L, 42 at M, 32 at Q
    assert len(qr_matrix("a" * 42)) == 29 + 2 * QUIET
    assert len(qr_matrix("a" * 43)) == 33 + 2 * QUIET
    found = zxingcpp.read_barcodes(png_pixels(qr_png(URLS[0])), formats=zxingcpp.BarcodeFormat.QRCode)
    assert found[0].ec_level == "M"


def test_deterministic():
    assert qr_svg(URLS[0]) == qr_svg(URLS[0])
    assert qr_png(URLS[0]) == qr_png(URLS[0])
    assert qr_png(URLS[0]) != qr_png(URLS[1])
    code = "from arkit_py.server.qr import qr_png, qr_svg; import sys, hashlib; " \
           f"sys.stdout.write(hashlib.sha256(qr_png({URLS[0]!r}) + qr_svg({URLS[0]!r}).encode()).hexdigest())"
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert len(runs) == 1


def test_no_pillow_at_run_time():
    """With Pillow made unimportable the output is the same, byte for byte (qrcode only
    imports Pillow opportunistically)."""
    code = ("import sys, hashlib; {block}from arkit_py.server.qr import qr_png, qr_svg; "
            f"sys.stdout.write(hashlib.sha256(qr_png({URLS[0]!r}) + qr_svg({URLS[0]!r}).encode()).hexdigest()"
            " + str(sorted(m for m, v in sys.modules.items() if v and m.split('.')[0] == 'PIL')))")
    blocked, free = (subprocess.run([sys.executable, "-c", code.format(block=b)], capture_output=True, text=True,
                                    check=True).stdout for b in ("sys.modules['PIL'] = None; ", ""))
    assert blocked.endswith("[]") and blocked[:64] == free[:64]


def test_bad_arguments():
    with pytest.raises(ValueError, match="must not be empty"):
        qr_svg("")
    with pytest.raises(TypeError):
        qr_png(b"https://x")
    with pytest.raises(ValueError, match="box must be a positive integer"):
        qr_png("https://x", box=0)
    with pytest.raises(ValueError, match="too long for a QR code"):
        qr_svg("x" * 3000)


def test_png_is_a_png():
    data = qr_png(URLS[0])
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert png.Reader(file=io.BytesIO(data)).read()[0] == len(qr_matrix(URLS[0])) * 10
