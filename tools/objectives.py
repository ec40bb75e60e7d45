#!/usr/bin/env python3
"""objectives.py - the test functions of the sweep benchmark, for Optuna's
peer (tools/optuna_peer.py) and for a tiny real job a sweep runs:

    python3 tools/objectives.py branin X1 X2          prints {"value": ...}
    python3 tools/objectives.py hartmann6 X1 ... X6   prints {"value": ...}
    python3 tools/objectives.py mixed5 OPT LAYERS LR DROPOUT WD
    python3 tools/objectives.py space branin          prints the sweep.json space

Both are minimised. tools/bench_search.c has the same functions in C; the
constants here and there must stay the same (tools/bench_search.sh checks
both at the known minima before it measures).
"""
import json
import math
import sys

# Branin-Hoo on [-5, 10] x [0, 15]; minimum 0.397887 at (-pi, 12.275),
# (pi, 2.275), (9.42478, 2.475).
BRANIN_MIN = 0.397887


def branin(x1, x2):
    a, b, c = 1.0, 5.1 / (4 * math.pi ** 2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x2 - b * x1 ** 2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


# Hartmann-6 on [0, 1]^6; minimum -3.32237 at
# (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573).
HARTMANN6_MIN = -3.32237
_H_ALPHA = (1.0, 1.2, 3.0, 3.2)
_H_A = ((10, 3, 17, 3.5, 1.7, 8),
        (0.05, 10, 17, 0.1, 8, 14),
        (3, 3.5, 1.7, 10, 17, 8),
        (17, 8, 0.05, 10, 0.1, 14))
_H_P = ((1312, 1696, 5569, 124, 8283, 5886),
        (2329, 4135, 8307, 3736, 1004, 9991),
        (2348, 1451, 3522, 2883, 3047, 6650),
        (4047, 8828, 8732, 5743, 1091, 381))


def hartmann6(*x):
    total = 0.0
    for alpha, a, p in zip(_H_ALPHA, _H_A, _H_P):
        total += alpha * math.exp(-sum(aj * (xj - pj * 1e-4) ** 2
                                       for aj, xj, pj in zip(a, x, p)))
    return -total


# mixed5, a tuning-like function of a choice, an int, a stepped float and
# two log-scale ones, the best lr depending on the optimizer; minimum 0 at
# opt=adam, layers=4, lr=0.001, dropout=0.1, wd=0.0001.
MIXED5_MIN = 0.0
_M_OPT = {"sgd": (0.6, -2.0), "adam": (0.0, -3.0), "lion": (0.3, -3.5)}


def mixed5(opt, layers, lr, dropout, wd):
    penalty, best_lr = _M_OPT[opt]
    return (penalty + 0.15 * abs(layers - 4) +
            0.3 * (math.log10(lr) - best_lr) ** 2 +
            2.0 * (dropout - 0.1) ** 2 + 0.05 * (math.log10(wd) + 4) ** 2)


FUNCTIONS = {
    # name: (function, sweep.json space in parameter order, known minimum)
    "branin": (branin, {"x1": {"uniform": [-5, 10]},
                        "x2": {"uniform": [0, 15]}}, BRANIN_MIN),
    "hartmann6": (hartmann6, {"x%d" % i: {"uniform": [0, 1]}
                              for i in range(1, 7)}, HARTMANN6_MIN),
    "mixed5": (mixed5, {"opt": {"choice": ["sgd", "adam", "lion"]},
                        "layers": {"int": [1, 8]},
                        "lr": {"loguniform": [1e-5, 0.1]},
                        "dropout": {"uniform": [0, 0.5], "step": 0.05},
                        "wd": {"loguniform": [1e-6, 0.01]}}, MIXED5_MIN),
}


def parse_args(space, args):
    """The command line's values as the function takes them: a choice's
    value as written (it must be listed), the others as numbers."""
    x = []
    for (name, d), v in zip(space.items(), args):
        if "choice" in d:
            if v not in [str(c) for c in d["choice"]]:
                raise ValueError("%s must be one of %s" % (name, d["choice"]))
            x.append(v)
        else:
            x.append(float(v))
    return x


def main(argv):
    if len(argv) == 2 and argv[0] == "space" and argv[1] in FUNCTIONS:
        print(json.dumps(FUNCTIONS[argv[1]][1]))
        return 0
    if not argv or argv[0] not in FUNCTIONS:
        print("usage: objectives.py {branin|hartmann6|mixed5} X... | space NAME",
              file=sys.stderr)
        return 2
    fn, space, _ = FUNCTIONS[argv[0]]
    if len(argv) - 1 != len(space):
        print("objectives.py: %s takes %d values" % (argv[0], len(space)),
              file=sys.stderr)
        return 2
    try:
        x = parse_args(space, argv[1:])
    except ValueError as e:
        print("objectives.py: %s" % e, file=sys.stderr)
        return 2
    print(json.dumps({"value": fn(*x)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
