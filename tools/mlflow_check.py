#!/usr/bin/env python3
"""mlflow_check.py - reads an MLflow tracking server back through its own
REST API (urllib only: no MLflow client) and compares it with a trainfs
run's files, for tests/fs/t_mlflow.sh and tools/bench_mlflow.sh.

  mlflow_check.py run URI EXP RUN RUNDIR    params, tags, status, every
                                            metric point (step, time,
                                            value, count) and artifacts
  mlflow_check.py children URI EXP NAME     "STATUS child child ..." of the
                                            parent run NAME in EXP
  mlflow_check.py points URI EXP RUN        metric points the server holds
  mlflow_check.py tag URI EXP RUN KEY       the value of a tag of the run

Prints one line per mismatch ("BAD ...") and exits 1 when there is any.
"""

import json
import math
import os
import sys
import urllib.parse
import urllib.request

STATUS = {"completed": "FINISHED", "failed": "FAILED", "stopped": "KILLED"}


def call(uri, path, body=None, raw=False):
    req = urllib.request.Request(uri + path)
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        data = r.read()
    return data if raw else json.loads(data or b"{}")


def exp_id(uri, name):
    q = urllib.parse.urlencode({"experiment_name": name})
    return call(uri, "/api/2.0/mlflow/experiments/get-by-name?" + q)[
        "experiment"]["experiment_id"]


def runs(uri, eid, filt=""):
    out, token = [], None
    while True:
        body = {"experiment_ids": [eid], "max_results": 1000,
                "run_view_type": "ALL", "filter": filt}
        if token:
            body["page_token"] = token
        d = call(uri, "/api/2.0/mlflow/runs/search", body)
        out += d.get("runs", [])
        token = d.get("next_page_token")
        if not token:
            return out


def tags(run):
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def find(uri, exp, name, key="mlflow.runName"):
    eid = exp_id(uri, exp)
    found = [r for r in runs(uri, eid) if tags(r).get(key) == name]
    return found


def history(uri, rid, key):
    out, token = [], None
    while True:
        q = {"run_id": rid, "metric_key": key, "max_results": 25000}
        if token:
            q["page_token"] = token
        d = call(uri, "/api/2.0/mlflow/metrics/get-history?" +
                 urllib.parse.urlencode(q))
        out += d.get("metrics", [])
        token = d.get("next_page_token")
        if not token:
            return out


def run_points(uri, run):
    rid = run["info"]["run_id"]
    keys = {m["key"] for m in run["data"].get("metrics", [])}
    return {k: history(uri, rid, k) for k in keys}


def same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b)) or \
        abs(a - b) <= 1e-12 * max(abs(a), abs(b))


def check_run(uri, exp, name, rundir):
    bad = []
    found = find(uri, exp, exp + "/" + name, "trainfs.run")
    if len(found) != 1:
        return ["BAD %d MLflow runs for %s/%s" % (len(found), exp, name)]
    run = found[0]
    t = tags(run)
    cfg = json.load(open(os.path.join(rundir, "config.json")))
    st = json.load(open(os.path.join(rundir, "status.json")))
    state = open(os.path.join(rundir, "status")).read().split()[0]
    want = STATUS.get(state, "RUNNING")
    if run["info"]["status"] != want:
        bad.append("BAD status %s, want %s" % (run["info"]["status"], want))
    if state in STATUS and not run["info"].get("end_time"):
        bad.append("BAD no end_time")
    if t.get("trainfs.state") != state:
        bad.append("BAD tag trainfs.state %r, want %r" %
                   (t.get("trainfs.state"), state))
    if t.get("mlflow.runName") != name:
        bad.append("BAD runName %r" % t.get("mlflow.runName"))
    for k in ("uuid", "id", "run_id"):
        if k in st and t.get("trainfs.run_id") != st[k]:
            bad.append("BAD trainfs.run_id %r, status.json %r" %
                       (t.get("trainfs.run_id"), st[k]))
    for k, v in cfg.get("tags", {}).items():
        if t.get(k) != v:
            bad.append("BAD tag %s %r, want %r" % (k, t.get(k), v))
    params = {p["key"]: p["value"] for p in run["data"].get("params", [])}
    for k, v in cfg.get("params", {}).items():
        sv = v if isinstance(v, str) else json.dumps(v)
        if params.get(k) != sv:
            bad.append("BAD param %s %r, want %r" % (k, params.get(k), sv))
    # every point of metrics.jsonl, once, with its step and time
    mine = {}
    for line in open(os.path.join(rundir, "metrics.jsonl")):
        p = json.loads(line)
        mine.setdefault(p["key"], []).append(
            (round(p["step"]), round(p["time"] * 1000), p["value"]))
    theirs = run_points(uri, run)
    if set(mine) != set(theirs):
        bad.append("BAD metric keys %s, want %s" %
                   (sorted(theirs), sorted(mine)))
    for k, pts in mine.items():
        got = sorted((m["step"], m["timestamp"], m["value"])
                     for m in theirs.get(k, []))
        # MLflow keys a point by (key, step, timestamp, value): two equal
        # points of trainfs (a log and an eval line at one step) are one
        pts = sorted(set(pts))
        if len(got) != len(pts):
            bad.append("BAD %s: %d points, want %d" % (k, len(got), len(pts)))
            continue
        for g, w in zip(got, pts):
            if g[0] != w[0] or g[1] != w[1] or not same(g[2], w[2]):
                bad.append("BAD %s point %r, want %r" % (k, g, w))
                break
    # artifacts: the bytes of the mount's files, through the proxy
    adir = os.path.join(rundir, "artifacts")
    au = run["info"]["artifact_uri"]
    base = au[len("mlflow-artifacts:"):].lstrip("/")
    for root, _, files in os.walk(adir):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), adir)
            want = open(os.path.join(root, f), "rb").read()
            try:
                got = call(uri, "/api/2.0/mlflow-artifacts/artifacts/" +
                           urllib.parse.quote(base + "/" + rel), raw=True)
            except Exception as e:
                got = None
                bad.append("BAD artifact %s: %s" % (rel, e))
            if got is not None and got != want:
                bad.append("BAD artifact %s: %d bytes differ" % (rel, len(want)))
    return bad


def main():
    cmd, uri = sys.argv[1], sys.argv[2]
    if cmd == "run":
        bad = check_run(uri, *sys.argv[3:6])
        for b in bad:
            print(b)
        print("points %d" % sum(
            1 for _ in open(os.path.join(sys.argv[5], "metrics.jsonl"))))
        sys.exit(1 if bad else 0)
    if cmd == "children":
        exp, name = sys.argv[3:5]
        eid = exp_id(uri, exp)
        rs = runs(uri, eid)
        parents = [r for r in rs if tags(r).get("mlflow.runName") == name]
        if len(parents) != 1:
            print("BAD %d parents named %s" % (len(parents), name))
            sys.exit(1)
        pid = parents[0]["info"]["run_id"]
        kids = []
        for e in call(uri, "/api/2.0/mlflow/experiments/search",
                      {"max_results": 1000}).get("experiments", []):
            kids += [tags(r)["mlflow.runName"]
                     for r in runs(uri, e["experiment_id"])
                     if tags(r).get("mlflow.parentRunId") == pid]
        print(parents[0]["info"]["status"], *sorted(kids))
        return
    if cmd == "points":
        found = find(uri, sys.argv[3], sys.argv[3] + "/" + sys.argv[4],
                     "trainfs.run")
        print(sum(len(v) for r in found
                  for v in run_points(uri, r).values()))
        return
    if cmd == "tag":
        found = find(uri, sys.argv[3], sys.argv[3] + "/" + sys.argv[4],
                     "trainfs.run")
        print(tags(found[0]).get(sys.argv[5], "") if found else "")
        return
    sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
