#!/usr/bin/env python3
"""optuna_peer.py - Optuna's TPE, the peer of trainfs's sweeps, on the
functions of tools/objectives.py. Run it with the Python of tools/venv.sh:

    build/venv/bin/python tools/optuna_peer.py [--trials 100] [--seeds 0-9]
        [--functions branin,hartmann6,mixed5] [--at 20,50,100]

prints one JSON line per function and seed, the form tools/bench_search
prints and tools/search_table.py reads:

    {"function": "branin", "sampler": "optuna-tpe", "seed": 0,
     "trials": 100, "best": {"20": 0.52, "50": 0.40, "100": 0.398}}

"best" is the lowest value found within the first N trials. The sampler is
TPESampler(seed=s) with Optuna's defaults, as an Optuna user would run it.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import objectives  # noqa: E402

import optuna  # noqa: E402


def seeds_arg(text):
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def suggest(trial, name, d):
    """A parameter of a sweep.json space as Optuna's suggest_* call."""
    step = d.get("step")
    if "choice" in d or "grid" in d:
        return trial.suggest_categorical(name, d.get("choice", d.get("grid")))
    if "int" in d:
        return trial.suggest_int(name, d["int"][0], d["int"][1], step=step or 1)
    if "loguniform" in d:
        return trial.suggest_float(name, *d["loguniform"], log=True)
    return trial.suggest_float(name, *d["uniform"], step=step)


def run(name, seed, trials, at):
    fn, space, _ = objectives.FUNCTIONS[name]

    def objective(trial):
        return fn(*[suggest(trial, p, d) for p, d in space.items()])

    study = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    elapsed = time.perf_counter() - t0
    values = [t.value for t in study.trials]
    best = {str(n): min(values[:n]) for n in at if n <= len(values)}
    return {"function": name, "sampler": "optuna-tpe", "seed": seed,
            "trials": trials, "best": best, "seconds": round(elapsed, 3)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seeds", type=seeds_arg, default=seeds_arg("0-9"))
    ap.add_argument("--functions", default="branin,hartmann6,mixed5")
    ap.add_argument("--at", default="20,50,100")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    at = [int(n) for n in args.at.split(",")]
    for name in args.functions.split(","):
        if name not in objectives.FUNCTIONS:
            ap.error("unknown function %r" % name)
        for seed in args.seeds:
            print(json.dumps(run(name, seed, args.trials, at)), flush=True)


if __name__ == "__main__":
    main()
