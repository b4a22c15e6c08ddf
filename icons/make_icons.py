#!/usr/bin/env python3
"""Draws Cairn's icon (three stacked stones) as RGBA PNGs, with no dependencies.

Run from this folder: python3 make_icons.py. The PNGs are committed; this script
is how they were made and how to remake them at other sizes.
"""
import struct
import zlib

STONES = [  # centre x, centre y, radius x, radius y (unit square), colour
    (0.50, 0.80, 0.40, 0.14, (47, 111, 98)),
    (0.50, 0.55, 0.29, 0.12, (63, 138, 121)),
    (0.50, 0.33, 0.18, 0.10, (92, 166, 148)),
]


def pixel(x, y):
    for cx, cy, rx, ry, rgb in STONES:
        d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2
        if d <= 1.0:
            return rgb
    return None


def render(size, samples=4):
    rows = []
    for py in range(size):
        row = bytearray([0])  # filter type: none
        for px in range(size):
            hits, acc = 0, [0, 0, 0]
            for sy in range(samples):
                for sx in range(samples):
                    c = pixel((px + (sx + 0.5) / samples) / size, (py + (sy + 0.5) / samples) / size)
                    if c:
                        hits += 1
                        acc = [a + b for a, b in zip(acc, c)]
            if hits:
                row += bytes([acc[0] // hits, acc[1] // hits, acc[2] // hits, 255 * hits // samples**2])
            else:
                row += bytes(4)
        rows.append(bytes(row))
    return b"".join(rows)


def png(size):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(render(size), 9)) + chunk(b"IEND", b"")


if __name__ == "__main__":
    for name, size in [("32x32.png", 32), ("128x128.png", 128), ("128x128@2x.png", 256), ("icon.png", 512)]:
        with open(name, "wb") as f:
            f.write(png(size))
        print(name)
