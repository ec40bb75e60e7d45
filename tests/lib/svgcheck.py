#!/usr/bin/env python3
"""svgcheck.py - checks a chart that core/plot.c drew, for the unit and
mount tests: the file parses as XML, its root is an SVG element, every
<g class="panel"> has one <rect class="area"> and every point of its series
paths, marker paths and circles lies inside that box, and no series lies
outside a panel.

    python3 svgcheck.py FILE [--series N] [--name NAME]...

Prints "series=N panels=P points=K names=a|b" and exits 0, or prints what
is wrong and exits 1.
"""
import re
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"
EPS = 0.06          # coordinates are written with one decimal


def fail(msg):
    print("svgcheck: " + msg)
    sys.exit(1)


def classes(el):
    return (el.get("class") or "").split()


def path_points(d):
    toks = re.findall(r"[A-Za-z]|-?[0-9.]+(?:e-?[0-9]+)?", d)
    pts, i = [], 0
    while i < len(toks):
        t = toks[i]
        if t not in ("M", "L"):
            fail("path command %r: only absolute M and L expected" % t)
        try:
            pts.append((float(toks[i + 1]), float(toks[i + 2])))
        except (IndexError, ValueError):
            fail("path data cut short: %r" % d[:80])
        i += 3
    return pts


def main():
    args = sys.argv[1:]
    if not args:
        fail("usage: svgcheck.py FILE [--series N] [--name NAME]...")
    path, want_series, want_names = args[0], None, []
    i = 1
    while i < len(args):
        if args[i] == "--series":
            want_series = int(args[i + 1])
        elif args[i] == "--name":
            want_names.append(args[i + 1])
        else:
            fail("unknown option " + args[i])
        i += 2
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        fail("not XML: %s" % e)
    if root.tag != NS + "svg":
        fail("root element is %s, not svg" % root.tag)
    npoints, names, inside = 0, [], set()
    panels = [g for g in root.iter(NS + "g") if "panel" in classes(g)]
    for g in panels:
        areas = [r for r in g.iter(NS + "rect") if "area" in classes(r)]
        if len(areas) != 1:
            fail("a panel with %d area boxes" % len(areas))
        a = areas[0]
        x0, y0 = float(a.get("x")), float(a.get("y"))
        x1, y1 = x0 + float(a.get("width")), y0 + float(a.get("height"))
        pts = []
        for p in g.iter(NS + "path"):
            c = classes(p)
            if "series" in c or "marker" in c:
                pts += path_points(p.get("d") or "")
            if "series" in c:
                inside.add(p)
                names.append(p.get("data-name") or "")
        for c in g.iter(NS + "circle"):
            pts.append((float(c.get("cx")), float(c.get("cy"))))
        for (x, y) in pts:
            if not (x0 - EPS <= x <= x1 + EPS and y0 - EPS <= y <= y1 + EPS):
                fail("point %g,%g outside the axes %g,%g-%g,%g"
                     % (x, y, x0, y0, x1, y1))
        npoints += len(pts)
    series = [p for p in root.iter(NS + "path") if "series" in classes(p)]
    for p in series:
        if p not in inside:
            fail("a series outside every panel")
    if want_series is not None and len(series) != want_series:
        fail("%d series paths, %d expected" % (len(series), want_series))
    for n in want_names:
        if n not in names:
            fail("no series named %r (have %r)" % (n, names))
    print("series=%d panels=%d points=%d names=%s"
          % (len(series), len(panels), npoints, "|".join(names)))


main()
