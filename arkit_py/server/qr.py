"""The join QR code: a session's join URL as SVG (for the projection) or PNG (for handouts).

Error correction level M (15 % of the symbol may be damaged or covered), a quiet zone of four
modules, black on white. The output depends only on the text, byte for byte. Pure Python
(``qrcode`` for the symbol, ``pypng`` for the PNG); Pillow is never needed.
"""

from __future__ import annotations

from ..errors import DependencyError

QUIET = 4  # modules of white border the QR specification requires

__all__ = ["qr_matrix", "qr_png", "qr_svg"]


def qr_matrix(text: str) -> list[list[bool]]:
    """The QR symbol of ``text`` as rows of modules (True = dark), quiet zone included.

    ``text`` is encoded as UTF-8 in the smallest version that holds it at level M.
    """
    if not isinstance(text, str):
        raise TypeError(f"qr_matrix: text must be a str, got {type(text).__name__}")
    if not text:
        raise ValueError("qr_matrix: text must not be empty")
    try:
        import qrcode
        from qrcode.exceptions import DataOverflowError
    except ImportError:
        raise DependencyError("qrcode", "The join QR code") from None
    symbol = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QUIET)
    symbol.add_data(text.encode("utf-8"))
    try:
        symbol.make(fit=True)
    except (DataOverflowError, ValueError):  # qrcode says "Invalid version (was 41 ...)" when nothing fits
        raise ValueError(f"qr_matrix: text is too long for a QR code ({len(text.encode())} bytes)") from None
    return [[bool(m) for m in row] for row in symbol.get_matrix()]


def qr_svg(text: str) -> str:
    """A standalone SVG of the QR code of ``text``.

    One unit per module in the ``viewBox`` (so it scales to any size without blurring, with
    ``shape-rendering="crispEdges"``), a white background and one black path made of
    ``M x y h w v 1 h -w z`` runs; no external references, no scripts.
    """
    matrix = qr_matrix(text)
    n = len(matrix)
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < n:
            if row[x]:
                start = x
                while x < n and row[x]:
                    x += 1
                runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" width="{n * 8}" height="{n * 8}" '
        f'shape-rendering="crispEdges">'
        f'<rect width="{n}" height="{n}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>\n'
    )


def qr_png(text: str, box: int = 10) -> bytes:
    """A PNG of the QR code of ``text``, ``box`` pixels per module (1-bit greyscale)."""
    if isinstance(box, bool) or not isinstance(box, int) or box < 1:
        raise ValueError(f"qr_png: box must be a positive integer, got {box!r}")
    matrix = qr_matrix(text)
    try:
        import png
    except ImportError:
        raise DependencyError("pypng", "The join QR code as PNG") from None
    import io

    rows = []
    for row in matrix:
        pixels = [0 if dark else 1 for dark in row for _ in range(box)]
        rows.extend([pixels] * box)
    out = io.BytesIO()
    png.Writer(len(rows[0]), len(rows), greyscale=True, bitdepth=1, compression=9).write(out, rows)
    return out.getvalue()
