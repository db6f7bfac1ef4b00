#!/usr/bin/env python3
"""Renders an HTML report in headless Chromium and checks what a reader would see.

    check_report.py report.html [--tables N] [--svgs N] [--text TEXT ...] [--color #RRGGBB ...]

Checks that the file is self-contained (no script, no external resource), that every relative
link resolves to a file beside it and every linked .svg parses as an SVG document, that the DOM
after rendering holds N <table> and N outermost <svg> elements and each TEXT, and that a
1200x2000 screenshot is not blank: enough ink, several distinct colours, and each COLOR (a plot
colour) on enough pixels. Exit 0: pass; 1: fail, with the reasons; 77: chromium not installed.
Python standard library only.
"""
import argparse
import collections
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser

SKIP = 77
WIDTH, HEIGHT = 1200, 2000
SVG_NS = "{http://www.w3.org/2000/svg}svg"


class Dom(HTMLParser):
    """Counts start tags (svg only when outermost) and gathers the text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = collections.Counter()
        self.svg_depth = 0
        self.text = []
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "svg":
            if self.svg_depth == 0:
                self.tags[tag] += 1
            self.svg_depth += 1
        else:
            self.tags[tag] += 1
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.hrefs.append(value)

    def handle_startendtag(self, tag, attrs):
        # <svg/> cannot hold a plot; count other self-closed tags as started and ended.
        if tag != "svg":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "svg" and self.svg_depth > 0:
            self.svg_depth -= 1

    def handle_data(self, data):
        self.text.append(data)

    def plain_text(self):
        return " ".join(" ".join(self.text).split())


def parse(html):
    dom = Dom()
    dom.feed(html)
    dom.close()
    return dom


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def add_bytes(x, y, n):
    """Byte-wise (x + y) mod 256 over two n-byte rows given as big integers, without carries
    between bytes: the low 7 bits add without overflowing a byte, the top bit is an xor."""
    low = int.from_bytes(b"\x7f" * n, "big")
    high = int.from_bytes(b"\x80" * n, "big")
    return ((x & low) + (y & low)) ^ ((x ^ y) & high)


def unfilter_row(kind, row, prev, bpp):
    n = len(row)
    if kind == 0:
        return bytes(row)
    if kind == 2:  # up: one wide add
        s = add_bytes(int.from_bytes(row, "big"), int.from_bytes(prev, "big"), n)
        return s.to_bytes(n, "big")
    if kind == 1:  # sub: a running sum per channel, by doubling shifts of the whole row
        s, k = int.from_bytes(row, "big"), bpp
        while k < n:
            s = add_bytes(s, s >> (8 * k), n)
            k *= 2
        return s.to_bytes(n, "big")
    out = bytearray(row)
    for i in range(n):
        a = out[i - bpp] if i >= bpp else 0
        if kind == 3:
            out[i] = (out[i] + ((a + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            c = prev[i - bpp] if i >= bpp else 0
            out[i] = (out[i] + paeth(a, prev[i], c)) & 0xFF
        else:
            raise ValueError("PNG filter type %d" % kind)
    return bytes(out)


def decode_png(path):
    """(width, height, channels, rows) of an 8-bit non-interlaced grey/RGB/RGBA PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s: not a PNG file" % path)
    pos, idat, header = 8, [], None
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("%s: no IHDR chunk" % path)
    width, height, depth, color, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace:
        raise ValueError("%s: PNG of depth %d, colour type %d, interlace %d not handled"
                         % (path, depth, color, interlace))
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise ValueError("%s: %d bytes of image data, expected %d"
                         % (path, len(raw), height * (stride + 1)))
    rows, prev = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        prev = unfilter_row(raw[start], raw[start + 1 : start + 1 + stride], prev, channels)
        rows.append(prev)
    return width, height, channels, rows


def colour_counts(rows, channels):
    """Pixels per RGB colour (alpha dropped, grey expanded)."""
    counts = collections.Counter()
    for row in rows:
        if channels >= 3:
            counts.update(zip(row[0::channels], row[1::channels], row[2::channels]))
        else:
            counts.update((g, g, g) for g in row[0::channels])
    return counts


def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(binary, profile, args, url):
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-extensions", "--hide-scrollbars", "--user-data-dir=" + profile] + args + [url]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)


def check_self_contained(html, failures):
    for pattern, what in ((r"<script\b", "a <script>"), (r"<link\b", "a <link>"),
                          (r"\ssrc\s*=", "a src= attribute"), (r"url\(", "a CSS url()"),
                          (r"@import", "a CSS @import")):
        if re.search(pattern, html, re.I):
            failures.append("the report is not self-contained: it has %s" % what)


def check_links(report, dom, failures):
    folder = os.path.dirname(os.path.abspath(report))
    for href in dom.hrefs:
        if href.startswith("#"):
            continue
        if re.match(r"^[a-z][a-z0-9+.-]*:", href, re.I) or href.startswith("//"):
            failures.append("external link %s" % href)
            continue
        path = os.path.join(folder, href)
        if not os.path.isfile(path):
            failures.append("link %s: no such file beside the report" % href)
        elif href.endswith(".svg"):
            try:
                root = ET.parse(path).getroot()
                if root.tag != SVG_NS:
                    failures.append("%s: root element %s, expected svg" % (href, root.tag))
            except ET.ParseError as e:
                failures.append("%s: not well-formed XML: %s" % (href, e))


def check_dom(dom, args, what, failures):
    if args.tables is not None and dom.tags["table"] != args.tables:
        failures.append("%s: %d <table> elements, expected %d"
                        % (what, dom.tags["table"], args.tables))
    if args.svgs is not None and dom.tags["svg"] != args.svgs:
        failures.append("%s: %d outermost <svg> elements, expected %d"
                        % (what, dom.tags["svg"], args.svgs))
    text = dom.plain_text()
    for wanted in args.text:
        if " ".join(wanted.split()) not in text:
            failures.append("%s: text %r not found" % (what, wanted))


def check_screenshot(png, args, failures):
    width, height, channels, rows = decode_png(png)
    if (width, height) != (WIDTH, HEIGHT):
        failures.append("screenshot is %dx%d, expected %dx%d" % (width, height, WIDTH, HEIGHT))
    counts = colour_counts(rows, channels)
    total = width * height
    background, n_background = counts.most_common(1)[0]
    ink = 1 - n_background / total
    print("screenshot: %dx%d, %d colours, %.1f%% ink on background %s"
          % (width, height, len(counts), 100 * ink, "#%02x%02x%02x" % background))
    if ink < args.min_ink:
        failures.append("screenshot nearly blank: %.2f%% of pixels differ from the background, "
                        "expected at least %.2f%%" % (100 * ink, 100 * args.min_ink))
    if len(counts) < args.min_colours:
        failures.append("screenshot has %d distinct colours, expected at least %d"
                        % (len(counts), args.min_colours))
    for colour in args.color:
        want = tuple(int(colour.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
        n = sum(c for rgb, c in counts.items()
                if max(abs(a - b) for a, b in zip(rgb, want)) <= 12)
        if n < args.min_colour_pixels:
            failures.append("screenshot: %d pixels of colour %s, expected at least %d"
                            % (n, colour, args.min_colour_pixels))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report")
    p.add_argument("--tables", type=int, help="expected <table> elements")
    p.add_argument("--svgs", type=int, help="expected outermost <svg> elements")
    p.add_argument("--text", action="append", default=[], help="text the page must show")
    p.add_argument("--color", action="append", default=[], help="#RRGGBB the screenshot shows")
    p.add_argument("--min-ink", type=float, default=0.01,
                   help="least fraction of pixels unlike the background")
    p.add_argument("--min-colours", type=int, default=8)
    p.add_argument("--min-colour-pixels", type=int, default=200)
    args = p.parse_args()

    binary = chromium_binary()
    if binary is None:
        print("skipped: chromium not installed")
        return SKIP
    try:
        with open(args.report, encoding="utf-8") as f:
            html = f.read()
    except (OSError, UnicodeDecodeError) as e:
        print("FAIL: %s" % e)
        return 1

    failures = []
    check_self_contained(html, failures)
    source = parse(html)
    check_links(args.report, source, failures)
    check_dom(source, args, "source", failures)

    url = "file://" + os.path.abspath(args.report)
    profile = tempfile.mkdtemp(prefix="check_report_")
    try:
        dom_run = run_chromium(binary, profile, ["--dump-dom"], url)
        png = os.path.join(profile, "screenshot.png")
        shot_run = run_chromium(binary, profile, ["--screenshot=" + png,
                                                  "--window-size=%d,%d" % (WIDTH, HEIGHT)], url)
        if dom_run.returncode != 0 or not dom_run.stdout.strip():
            failures.append("chromium --dump-dom failed (exit %d): %s" % (
                dom_run.returncode, dom_run.stderr.decode(errors="replace")[-500:]))
        else:
            check_dom(parse(dom_run.stdout.decode("utf-8", errors="replace")), args, "rendered",
                      failures)
        if not os.path.isfile(png):
            failures.append("chromium --screenshot wrote nothing (exit %d): %s" % (
                shot_run.returncode, shot_run.stderr.decode(errors="replace")[-500:]))
        else:
            check_screenshot(png, args, failures)
    except subprocess.TimeoutExpired as e:
        failures.append("chromium took over %d s: %s" % (e.timeout, " ".join(e.cmd[:2])))
    except ValueError as e:
        failures.append(str(e))
    finally:
        shutil.rmtree(profile, ignore_errors=True)

    for failure in failures:
        print("FAIL: %s" % failure)
    if failures:
        return 1
    print("ok: %s renders (%s)" % (args.report, ", ".join(
        "%s %s" % (k, getattr(args, k)) for k in ("tables", "svgs") if getattr(args, k) is not None)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
