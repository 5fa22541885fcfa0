"""Draw the workbench icon (workbench.svg) and render its PNG sizes (rerunnable).

The picture is the product in one glance: a triangle mesh whose cells carry a solved field,
cut by one iso-line. The SVG is written from code so that it stays small and exact; the PNGs
are rendered from it with Qt's SVG renderer (PySide6, in the GUI extra):

    python resources/icons/make_icons.py
"""

from __future__ import annotations

import math
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = (48, 128, 256)
# a perceptually ordered map, dark blue -> teal -> green -> yellow (viridis' stops)
STOPS = [(0.0, (68, 1, 84)), (0.25, (59, 82, 139)), (0.5, (33, 145, 140)), (0.75, (94, 201, 98)), (1.0, (253, 231, 37))]


def colour(value: float) -> str:
    value = min(max(value, 0.0), 1.0)
    for (t0, c0), (t1, c1) in zip(STOPS, STOPS[1:]):
        if value <= t1:
            w = (value - t0) / (t1 - t0)
            return "#" + "".join(f"{round(a + w * (b - a)):02x}" for a, b in zip(c0, c1))
    return "#%02x%02x%02x" % STOPS[-1][1]


def field(x: float, y: float) -> float:
    """A Darcy-like pressure: high at the upper left, a small bump at the lower right."""
    return 0.85 * math.exp(-((x - 0.15) ** 2 + (y - 0.85) ** 2) / 0.35) + 0.35 * math.exp(-((x - 0.8) ** 2 + (y - 0.25) ** 2) / 0.05)


def svg() -> str:
    n, lo, hi = 6, 40.0, 216.0
    step = (hi - lo) / n

    def point(i: int, j: int) -> tuple[float, float]:
        # interior nodes nudged so the mesh looks unstructured, deterministically
        dx = dy = 0.0
        if 0 < i < n and 0 < j < n:
            dx = 0.22 * step * math.sin(2.1 * i + 1.3 * j)
            dy = 0.22 * step * math.cos(1.7 * i - 2.3 * j)
        return lo + i * step + dx, lo + j * step + dy

    cells = []
    for i in range(n):
        for j in range(n):
            a, b, c, d = point(i, j), point(i + 1, j), point(i + 1, j + 1), point(i, j + 1)
            for tri in ((a, b, c), (a, c, d)) if (i + j) % 2 == 0 else ((a, b, d), (b, c, d)):
                cx = sum(p[0] for p in tri) / 3
                cy = sum(p[1] for p in tri) / 3
                value = field((cx - lo) / (hi - lo), 1 - (cy - lo) / (hi - lo))
                pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in tri)
                cells.append(f'<polygon points="{pts}" fill="{colour(value)}"/>')
    return "\n".join(
        [
            '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">',
            "<title>Simulation workbench</title>",
            "<defs>",
            '<linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">',
            '<stop offset="0" stop-color="#23395d"/><stop offset="1" stop-color="#101b30"/>',
            "</linearGradient>",
            '<clipPath id="plate"><rect x="40" y="40" width="176" height="176" rx="10"/></clipPath>',
            "</defs>",
            '<rect x="8" y="8" width="240" height="240" rx="48" fill="url(#bg)"/>',
            '<g clip-path="url(#plate)" stroke="#ffffff" stroke-opacity="0.45" stroke-width="1.6" stroke-linejoin="round">',
            *cells,
            "</g>",
            # one iso-line of the field, and the probe where the answers are compared
            '<path d="M 40 112 C 86 116 122 150 142 216" fill="none" stroke="#ffffff" stroke-width="7" stroke-linecap="round"/>',
            '<circle cx="174" cy="88" r="13" fill="#ffffff"/><circle cx="174" cy="88" r="6" fill="#e4572e"/>',
            "</svg>",
            "",
        ]
    )


def render_png(source: Path, size: int, target: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 (fonts and paint devices need it)
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(source)).render(painter)
    painter.end()
    if not image.save(str(target)):
        raise OSError(f"could not write {target}")


def main() -> None:
    source = HERE / "workbench.svg"
    source.write_text(svg(), encoding="utf-8")
    for size in SIZES:
        name = "workbench.png" if size == 256 else f"workbench-{size}.png"
        render_png(source, size, HERE / name)
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
