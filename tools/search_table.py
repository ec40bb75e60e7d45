#!/usr/bin/env python3
"""search_table.py FILE... - the table of the sweep benchmark: reads the JSON
lines of tools/bench_search and tools/optuna_peer.py (any number of files,
"-" for stdin; a line from a sweep through the mount has the same form) and
prints, per function and sampler, the median over seeds of the best value
after each number of trials, then how many seeds trainfs-tpe beat
trainfs-random, and whether the goal holds: trainfs-tpe no worse than
optuna-tpe at 50 and 100 trials (medians), and better than trainfs-random
in a majority of seeds (at 100 trials). Exit status 0 when it holds, 1 when
not, 2 on bad input. Only the standard library: the system python3 runs it.
"""
import json
import statistics
import sys


def load(paths):
    rows = []
    for path in paths:
        f = sys.stdin if path == "-" else open(path)
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                r["best"] = {int(k): float(v) for k, v in r["best"].items()}
                rows.append(r)
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise SystemExit("search_table: %s:%d: %s" % (path, n, e))
    return rows


def fmt(v):
    return "%.6g" % v


def main(paths):
    rows = load(paths or ["-"])
    if not rows:
        print("search_table: no results", file=sys.stderr)
        return 2
    functions = list(dict.fromkeys(r["function"] for r in rows))
    samplers = list(dict.fromkeys(r["sampler"] for r in rows))
    ats = sorted({k for r in rows for k in r["best"]})
    by = {}
    for r in rows:
        by.setdefault((r["function"], r["sampler"]), {})[r["seed"]] = r["best"]
    head = ["function", "sampler", "seeds"] + ["best@%d" % a for a in ats]
    table = [head]
    for fn in functions:
        for sp in samplers:
            runs = by.get((fn, sp))
            if not runs:
                continue
            line = [fn, sp, str(len(runs))]
            for a in ats:
                vals = [b[a] for b in runs.values() if a in b]
                line.append(fmt(statistics.median(vals)) if vals else "-")
            table.append(line)
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for r in table:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    ok = True
    print()
    for fn in functions:
        tpe, rnd = by.get((fn, "trainfs-tpe")), by.get((fn, "trainfs-random"))
        opt = by.get((fn, "optuna-tpe"))
        if not tpe:
            continue
        if rnd:
            last = max(ats)
            seeds = sorted(set(tpe) & set(rnd))
            wins = sum(tpe[s][last] < rnd[s][last] for s in seeds)
            good = 2 * wins > len(seeds)
            ok &= good
            print("%s: trainfs-tpe beats trainfs-random in %d of %d seeds at "
                  "%d trials%s" % (fn, wins, len(seeds), last,
                                   "" if good else "  (goal: a majority)"))
        if opt:
            for a in (50, 100):
                if a not in ats:
                    continue
                mt = statistics.median(b[a] for b in tpe.values())
                mo = statistics.median(b[a] for b in opt.values())
                good = mt <= mo
                ok &= good
                print("%s: median at %d trials, trainfs-tpe %s vs optuna-tpe "
                      "%s: %s" % (fn, a, fmt(mt), fmt(mo),
                                  "no worse" if good else "WORSE"))
    print("goal %s" % ("holds" if ok else "not met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
