#!/usr/bin/env python3
"""Renders the app and tray icons from icon.svg (needs rsvg-convert, from librsvg2-bin).

Outputs are committed; run this again only after changing the SVG:
  python3 icons/generate.py
App icons: 32x32.png, 128x128.png, 128x128@2x.png, icon.png (512), icon.ico, icon.icns.
Tray icons (one per state): tray-stopped.png, tray-running.png, tray-tunnel.png, tray-error.png.
"""
import pathlib
import struct
import subprocess

HERE = pathlib.Path(__file__).resolve().parent
SVG = (HERE / "icon.svg").read_text()


def render(svg: str, size: int, out: pathlib.Path) -> bytes:
    png = subprocess.run(["rsvg-convert", "-w", str(size), "-h", str(size), "-f", "png"],
                         input=svg.encode(), capture_output=True, check=True).stdout
    out.write_bytes(png)
    return png


def ico(pngs: dict) -> bytes:
    """An .ico whose entries are PNGs (Windows Vista and later read them)."""
    header = struct.pack("<HHH", 0, 1, len(pngs))
    offset = 6 + 16 * len(pngs)
    entries, data = b"", b""
    for size, png in sorted(pngs.items()):
        dim = 0 if size >= 256 else size
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(png), offset + len(data))
        data += png
    return header + entries + data


def icns(pngs: dict) -> bytes:
    """An .icns with PNG payloads: ic07 (128), ic08 (256), ic09 (512)."""
    kinds = {128: b"ic07", 256: b"ic08", 512: b"ic09"}
    body = b"".join(kinds[s] + struct.pack(">I", 8 + len(p)) + p for s, p in sorted(pngs.items()) if s in kinds)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def tray_variant(state: str) -> str:
    base, badge = {
        "stopped": ("#8b8b95", None),
        "running": ("#e5484d", None),
        "tunnel": ("#e5484d", "#30a46c"),
        "error": ("#e5484d", "#f5a524"),
    }[state]
    svg = SVG.replace('fill="#e5484d"', f'fill="{base}"').replace('stroke="#e5484d"', f'stroke="{base}"')
    if badge:
        svg = svg.replace("</svg>", f'  <circle cx="52" cy="12" r="11" fill="{badge}" stroke="#fff" stroke-width="3"/>\n</svg>')
    return svg


if __name__ == "__main__":
    sizes = {}
    for size, name in [(32, "32x32.png"), (128, "128x128.png"), (256, "128x128@2x.png"), (512, "icon.png")]:
        sizes[size] = render(SVG, size, HERE / name)
    extra = {16: render(SVG, 16, HERE / ".16.png"), 48: render(SVG, 48, HERE / ".48.png")}
    (HERE / ".16.png").unlink()
    (HERE / ".48.png").unlink()
    (HERE / "icon.ico").write_bytes(ico({16: extra[16], 32: sizes[32], 48: extra[48], 256: sizes[256]}))
    (HERE / "icon.icns").write_bytes(icns({128: sizes[128], 256: sizes[256], 512: sizes[512]}))
    for state in ["stopped", "running", "tunnel", "error"]:
        render(tray_variant(state), 64, HERE / f"tray-{state}.png")
    print("icons written to", HERE)
