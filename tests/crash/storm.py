#!/usr/bin/env python3
"""storm.py - kill -9 of the daemon at random moments while runs are being
submitted, then an account of every run.

W writer processes submit N runs in total (N/W each) through the mount, the
way a shell does: mkdir the run, write config.json, close it.  A run counts
as acknowledged only when close() returned 0.  While they write, the daemon
is killed with SIGKILL ROUNDS times, each time at a random moment within a
slice of the submissions, its dead mount removed, and started again.  A
writer whose call fails (ENOTCONN, or ENOENT once the dead mount is gone)
waits until the mount is back, re-does a failed mkdir, and abandons a failed
config.json: it goes on with its next run.

Each job appends "RUN_ID EXP/RUN ATTEMPT SHA256" to a file outside the
mount (named in config.json's "env", so that a job's environment needs
nothing from the daemon's), writes out.bin to its output directory and
keeps a copy of it outside the mount.

After the last restart every run must reach a final state; then:
  lost          acknowledged, but absent, never started, or not final
  duplicated    a name listed twice, or one name under two run ids
  started twice a run id with more than one start
  half          unacknowledged, yet neither absent nor "created" without a
                start, nor whole (see below)
  corrupt bytes bytes of out.bin, read back through the mount, that differ
                from what the job wrote: by a reader of random completed
                runs during the storm (a read cut by a kill is dropped, a
                whole one counts), and for a sample of runs at the end
An unacknowledged run whose config.json is byte for byte the one sent, that
ran once and ended, is whole: its commit landed and the daemon was killed
before it could answer close().  No daemon can rule that out (the answer
can only follow the commit), and the writer can tell by reading the run
back, so it is counted ("ack lost"), not a failure.

All randomness (kill points, pauses, the runs read back) comes from --seed,
printed first, so that a replay aims at the same moments; the machine's
timing is not replayed.  Every check is printed as "PASS: ..." or "FAIL: ...", and the
table is written to --report as markdown.
"""

import argparse
import errno
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time

EXP = "storm"
CHILDREN = []      # writer and reader pids, ended if the storm must stop


def log(msg):
    print(msg, flush=True)


class Daemon:
    def __init__(self, args):
        self.a = args
        self.proc = None
        self.mnt = os.path.join(args.work, "mnt")

    def start(self, deadline_s=60):
        t0 = time.monotonic()
        err = open(os.path.join(self.a.work, "daemon.log"), "ab")
        self.proc = subprocess.Popen(
            [self.a.trainfs, "-f", "--state", os.path.join(self.a.work, "state"),
             "--config", os.path.join(self.a.work, "daemon.json"), self.mnt],
            stdout=err, stderr=err, stdin=subprocess.DEVNULL)
        err.close()
        while not os.path.ismount(self.mnt):
            if self.proc.poll() is not None:
                tail = open(os.path.join(self.a.work, "daemon.log"),
                            "rb").read().decode(errors="replace")
                raise RuntimeError("the daemon exited with %s before "
                                   "mounting: %s" % (
                                       self.proc.returncode,
                                       " / ".join(tail.splitlines()[-2:])))
            if time.monotonic() - t0 > deadline_s:
                raise RuntimeError("daemon did not mount in %d s" % deadline_s)
            time.sleep(0.02)
        return time.monotonic() - t0

    def died(self, failures):
        """When the daemon ended although nobody killed it, records that
        with its exit status and the end of its log, and starts it again,
        so that the storm can go on. Returns 1 then, else 0."""
        if self.proc is None or self.proc.poll() is None:
            return 0
        tail = open(os.path.join(self.a.work, "daemon.log"), "rb").read()
        tail = [l for l in tail.decode(errors="replace").splitlines()
                if " trainfs info: " not in l][-3:]
        failures.append("the daemon died by itself (exit status %s): %s"
                        % (self.proc.returncode, " / ".join(tail)))
        log("storm: the daemon died by itself (exit status %s): %s"
            % (self.proc.returncode, " / ".join(tail)))
        self.proc = None
        unmount(self.mnt)
        self.start()
        return 1

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        unmount(self.mnt)

    def stop(self):
        if os.path.ismount(self.mnt):
            unmount(self.mnt)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log("FAIL: daemon still running 20 s after the unmount")
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def unmount(mnt):
    """fusermount3 -u, or a lazy umount when that fails; an unmount that
    takes over 30 s is a failure of the daemon's shutdown."""
    try:
        if subprocess.call(["fusermount3", "-u", mnt],
                           stderr=subprocess.DEVNULL, timeout=30) != 0:
            subprocess.call(["umount", "-l", mnt], stderr=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        subprocess.call(["umount", "-l", mnt], stderr=subprocess.DEVNULL)
        raise RuntimeError("fusermount3 -u took over 30 s")


def config_for(args, name):
    """The bytes a writer sends for run name; the checker compares them."""
    # A job lasts 0 to 0.4 s, so that some run while the daemon dies; one
    # in 20 writes a bigger out.bin, so that some downloads are cut by a
    # kill and resumed after the restart.
    size = args.artifact_bytes * (32 if int(name[-4:]) % 20 == 0 else 1)
    job = ('sleep 0.%d; echo "$TRAINFS_RUN_ID $TRAINFS_RUN $TRAINFS_ATTEMPT '
           '$(head -c %d /dev/urandom | tee "$TRAINFS_OUTPUT_DIR/out.bin" '
           '| tee "$KEEP/$TRAINFS_RUN_ID.bin" | sha256sum | cut -c1-64)" '
           '>> "$STARTS"' % (sum(name.encode()) % 5, size))
    cfg = {"command": ["sh", "-c", job],
           "env": {"STARTS": os.path.join(args.work, "starts"),
                   "KEEP": os.path.join(args.work, "keep")},
           "resources": {"cpus": 1},
           "tags": {"storm": name}}
    return (json.dumps(cfg) + "\n").encode()


def wait_mounted(mnt, limit_s=120):
    exp = os.path.join(mnt, "experiments", EXP)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            if os.path.ismount(mnt) and os.path.isdir(exp):
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError("the mount did not come back in %d s" % limit_s)


def writer(args, k, names):
    """Submits names in order, a random pause of up to PACE s apart, so
    that jobs run, end and are read while the daemon is being killed; one
    line per run to acks.K: "ack NAME" or "fail NAME ERRNO"."""
    rng = random.Random(args.seed + 10 + k)
    out = open(os.path.join(args.work, "acks.%d" % k), "a", buffering=1)
    runs = os.path.join(args.work, "mnt", "experiments", EXP, "runs")
    for name in names:
        d = os.path.join(runs, name)
        while True:
            try:
                os.mkdir(d)
                break
            except FileExistsError:
                break      # an earlier mkdir landed but its reply was lost
            except OSError:
                wait_mounted(os.path.join(args.work, "mnt"))
        time.sleep(rng.uniform(0.0, 2 * args.pace))
        data = config_for(args, name)
        fd = -1
        try:
            fd = os.open(os.path.join(d, "config.json"),
                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            n = os.write(fd, data)
            if n != len(data):
                raise OSError(errno.EIO, "short write")
            f, fd = fd, -1
            os.close(f)
            out.write("ack %s\n" % name)
        except OSError as e:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
            out.write("fail %s %s\n" % (name, errno.errorcode.get(e.errno, e.errno)))
            wait_mounted(os.path.join(args.work, "mnt"))
    out.close()


def compare(want, got):
    """Bytes of got that are not want's, counting a length difference."""
    return abs(len(want) - len(got)) + sum(1 for a, b in zip(want, got)
                                           if a != b)


def reader(args, seed):
    """While the storm goes on, reads out.bin of random completed runs
    through the mount; a read cut by a kill is dropped, a whole one is
    compared with the job's own copy: one line "NAME BYTES CORRUPT" a read
    to reads."""
    rng = random.Random(seed)
    out = open(os.path.join(args.work, "reads"), "a", buffering=1)
    runs = os.path.join(args.work, "mnt", "experiments", EXP, "runs")
    stop = os.path.join(args.work, "stop-reader")
    while not os.path.exists(stop):
        # a start line is written once out.bin is whole
        started = [w[1].split("/", 1)[-1] for w in
                   (line.split() for line in
                    read_file(os.path.join(args.work, "starts"))
                    .decode().splitlines()) if len(w) == 4]
        if not started:
            time.sleep(0.05)
            continue
        n = rng.choice(started)
        st = read_file(os.path.join(runs, n, "status.json"))
        try:
            doc = json.loads(st) if st else {}
        except ValueError:
            doc = {}
        if doc.get("state") != "completed":
            time.sleep(0.01)
            continue
        with open(os.path.join(args.work, "reading"), "w") as f:
            f.write(n)
        got = read_file(os.path.join(runs, n, "artifacts", "out.bin"))
        want = read_file(os.path.join(args.work, "keep",
                                      doc.get("run_id", "") + ".bin"))
        if got is None or want is None:
            time.sleep(0.01)
            continue
        out.write("%s %d %d\n" % (n, len(got), compare(want, got)))
    out.close()


def read_acks(args):
    acked, failed = set(), set()
    for k in range(args.writers):
        try:
            lines = open(os.path.join(args.work, "acks.%d" % k)).read().splitlines()
        except FileNotFoundError:
            continue
        for line in lines:
            w = line.split()
            if len(w) >= 2:
                (acked if w[0] == "ack" else failed).add(w[1])
    return acked, failed


def read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def other_sections(path):
    """What other suites wrote to the report after this one's text: their
    "## " sections (tests/crash/c_slurm.sh's), kept when it is rewritten."""
    old = read_file(path)
    if not old:
        return ""
    old = old.decode(errors="replace")
    i = old.find("\n## ")
    return old[i:] if i >= 0 else ""


def on_alarm(signum, frame):
    raise RuntimeError("the storm took over %d s" % STORM_LIMIT_S)


STORM_LIMIT_S = 300


def main():
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(STORM_LIMIT_S)
    try:
        return storm()
    except RuntimeError as e:
        # the daemon could not be started again: no account is possible
        for p in CHILDREN:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        work = sys.argv[sys.argv.index("--work") + 1]
        tail = read_file(os.path.join(work, "daemon.log")) or b""
        tail = " / ".join(tail.decode(errors="replace").splitlines()[-3:])
        log("FAIL: storm: the storm could not go on: %s" % e)
        log("storm: the daemon's log ends: %s" % tail)
        report = sys.argv[sys.argv.index("--report") + 1]
        keep = other_sections(report)
        with open(report, "w") as f:
            f.write("# Reliability\n\nThe crash suite's storm "
                    "(`tests/crash/c_storm.sh`) did not finish: %s.\n"
                    "The daemon's log ends: %s\n" % (e, tail))
            f.write(keep)
        log("0 passed, 1 failed")
        return 1


def storm():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainfs", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--sample", type=int, default=50)
    ap.add_argument("--artifact-bytes", type=int, default=65536)
    ap.add_argument("--settle-s", type=int, default=150)
    ap.add_argument("--pace", type=float, default=0.04,
                    help="mean pause between a writer's runs, seconds")
    ap.add_argument("--report", required=True)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    log("storm: seed %d (replay: CRASH_SEED=%d), %d runs, %d writers, %d rounds"
        % (args.seed, args.seed, args.runs, args.writers, args.rounds))
    t_start = time.monotonic()
    os.makedirs(os.path.join(args.work, "keep"), exist_ok=True)
    os.makedirs(os.path.join(args.work, "mnt"), exist_ok=True)
    open(os.path.join(args.work, "starts"), "a").close()
    open(os.path.join(args.work, "reads"), "a").close()
    with open(os.path.join(args.work, "daemon.json"), "w") as f:
        json.dump({"poll_interval_ms": 100, "kill_grace_s": 1,
                   "retry_backoff_s": 1,
                   "providers": {"local": {"type": "local", "slots": {
                       "cpus": 8, "max_jobs": 8}}}}, f)
    d = Daemon(args)
    d.start()
    os.mkdir(os.path.join(d.mnt, "experiments", EXP))

    names = ["w%d-%04d" % (k, i) for k in range(args.writers)
             for i in range(args.runs // args.writers)]
    pids = []
    for k in range(args.writers):
        pid = os.fork()
        if pid == 0:
            signal.alarm(0)
            code = 0
            try:
                writer(args, k, [n for n in names if n.startswith("w%d-" % k)])
            except BaseException as e:
                sys.stderr.write("writer %d: %r\n" % (k, e))
                code = 1
            os._exit(code)
        pids.append(pid)
        CHILDREN.append(pid)

    exited = dict.fromkeys(pids)

    def writers_done():
        for p in pids:
            if exited[p] is None:
                q, st = os.waitpid(p, os.WNOHANG)
                if q == p:
                    exited[p] = st
        return all(v is not None for v in exited.values())

    rpid = os.fork()
    if rpid == 0:
        signal.alarm(0)
        code = 0
        try:
            reader(args, args.seed + 1)
        except BaseException as e:
            sys.stderr.write("reader: %r\n" % (e,))
            code = 1
        os._exit(code)
    CHILDREN.append(rpid)

    # Round r kills once a random number of runs, within the r-th of
    # ROUNDS+1 equal slices, were tried, and a random fraction of a
    # submission later, so that every kill falls among the submissions and
    # some fall inside one (a commit, a reply).
    failures = []
    restart_s = []
    lost_at_restart = set()
    slice_ = len(names) / (args.rounds + 1)
    self_deaths = 0
    stuck = False
    for r in range(1, args.rounds + 1):
        goal = int(slice_ * (r - 1 + rng.random())) + 1
        progress, last = -1, time.monotonic()
        while True:
            acked, failed = read_acks(args)
            if len(acked) + len(failed) >= goal:
                break
            if len(acked) + len(failed) != progress:
                progress, last = len(acked) + len(failed), time.monotonic()
            elif time.monotonic() - last > 60:
                failures.append("round %d: no submission for 60 s" % r)
                stuck = True
                break
            if writers_done():
                failures.append("round %d: the writers were done before "
                                "the kill" % r)
                break
            self_deaths += d.died(failures)
            time.sleep(0.001)
        if stuck:
            break
        time.sleep(rng.uniform(0.0, 0.005))
        d.kill9()
        time.sleep(rng.uniform(0.0, 0.2))
        restart_s.append(d.start())
        # every run acknowledged so far is listed, once, after the restart
        # (one readdir, so that the writers are not left alone meanwhile;
        # the configs' bytes are compared at the end)
        acked, _ = read_acks(args)
        listing = os.listdir(os.path.join(d.mnt, "experiments", EXP, "runs"))
        missing = sorted(acked - set(listing))
        twice_listed = sorted(set(n for n in listing if listing.count(n) > 1))
        lost_at_restart.update(missing)
        log("storm: round %2d: killed at %d tried, restart %.2f s, "
            "%d acknowledged, %d missing" % (r, goal, restart_s[-1],
                                             len(acked), len(missing)))
        if missing:
            failures.append("round %d: acknowledged runs missing after the "
                            "restart: %s" % (r, " ".join(missing[:5])))
        if twice_listed:
            failures.append("round %d: runs listed twice after the restart: "
                            "%s" % (r, " ".join(twice_listed[:5])))
    while not stuck and not writers_done():
        self_deaths += d.died(failures)
        time.sleep(0.05)
    for p in pids:
        if stuck and exited[p] is None:
            os.kill(p, signal.SIGKILL)
        if exited[p] is None:
            exited[p] = os.waitpid(p, 0)[1]
        if exited[p] != 0:
            failures.append("a writer died (status %d)" % exited[p])
    open(os.path.join(args.work, "stop-reader"), "w").close()
    for _ in range(300):
        q, st = os.waitpid(rpid, os.WNOHANG)
        if q == rpid:
            break
        time.sleep(0.1)
    else:
        # a read that never returns: the reader cannot see the stop
        failures.append("a read of %s/artifacts/out.bin was still not "
                        "answered 30 s after the storm" % read_file(
                            os.path.join(args.work, "reading")).decode())
        os.kill(rpid, signal.SIGKILL)
        _, st = os.waitpid(rpid, 0)
        st = 0
    if st != 0:
        failures.append("the reader died (status %d)" % st)
    nreads = corrupt = 0
    for line in read_file(os.path.join(args.work, "reads")).decode().splitlines():
        w = line.split()
        nreads += 1
        corrupt += int(w[2])
        if int(w[2]):
            failures.append("%s: %s corrupt bytes served during the storm"
                            % (w[0], w[2]))
    log("storm: %d artifact reads during the storm, %d corrupt bytes"
        % (nreads, corrupt))
    t_submitted = time.monotonic()

    acked, failed = read_acks(args)
    runs = os.path.join(d.mnt, "experiments", EXP, "runs")
    listing = os.listdir(runs)
    present = set(listing)

    def state(n):
        s = read_file(os.path.join(runs, n, "status"))
        return s.decode().strip() if s is not None else "absent"

    final = ("completed", "failed", "stopped")
    deadline = time.monotonic() + args.settle_s
    while True:
        states = {n: state(n) for n in present}
        pending = [n for n, s in states.items()
                   if s not in final and s != "created"]
        if not pending or time.monotonic() > deadline:
            break
        self_deaths += d.died(failures)
        time.sleep(0.5)
    t_settled = time.monotonic()

    starts = {}          # run id -> list of (name, attempt, sha)
    names_of = {}        # name -> set of run ids
    for line in open(os.path.join(args.work, "starts")).read().splitlines():
        w = line.split()
        if len(w) != 4:
            failures.append("a torn start line: %r" % line)
            continue
        rid, run, attempt, sha = w
        n = run.split("/", 1)[1] if "/" in run else run
        starts.setdefault(rid, []).append((n, attempt, sha))
        names_of.setdefault(n, set()).add(rid)

    def run_id(n):
        s = read_file(os.path.join(runs, n, "status.json"))
        try:
            return json.loads(s)["run_id"] if s else None
        except ValueError:
            return None

    ids = {n: run_id(n) for n in present}

    def why(n):
        s = read_file(os.path.join(runs, n, "status.json"))
        try:
            return json.loads(s).get("reason", "") if s else ""
        except ValueError:
            return ""
    lost, dup, twice, half, ack_lost = [], [], [], [], []
    dup += sorted(n for n in present if listing.count(n) > 1)
    dup += sorted(n for n, r in names_of.items() if len(r) > 1)
    twice = sorted(r for r, v in starts.items() if len(v) > 1)
    for n in sorted(acked):
        nstart = len(starts.get(ids.get(n), []))
        if (n not in present or states.get(n) not in final or nstart == 0
                or read_file(os.path.join(runs, n, "config.json"))
                != config_for(args, n)):
            lost.append("%s (%s, %d starts)" % (n, states.get(n, "absent"), nstart))
    # the job cannot fail, so an ending other than "completed" is the
    # daemon's doing (a supervisor taken for lost, a start given up)
    not_completed = ["%s %s" % (n, states[n]) + (" (%s)" % why(n))
                     for n in sorted(acked)
                     if states.get(n) in final and states[n] != "completed"]
    for n in sorted(set(names) - acked):
        if n not in present:
            if n in names_of:
                half.append("%s absent but started" % n)
            continue
        nstart = len(starts.get(ids.get(n), [])) + (0 if ids.get(n) else
                                                     len(names_of.get(n, ())))
        st = states.get(n)
        if st == "created" and nstart == 0:
            continue
        if (st in final and nstart == 1 and
                read_file(os.path.join(runs, n, "config.json"))
                == config_for(args, n)):
            ack_lost.append(n)
            continue
        half.append("%s (%s, %d starts)" % (n, st, nstart))
    stray = sorted(set(names_of) - set(names))
    half += ["%s started but never submitted" % n for n in stray]

    # corrupt bytes: out.bin of a sample of runs, read through the mount,
    # against the job's own copy
    done = [n for n in sorted(acked) if states.get(n) == "completed"
            and ids.get(n)]
    sample = rng.sample(done, min(args.sample, len(done)))
    unreadable = []
    for n in sample:
        want = read_file(os.path.join(args.work, "keep", ids[n] + ".bin"))
        got = None
        for _ in range(100):   # the manifest may still be on its way
            got = read_file(os.path.join(runs, n, "artifacts", "out.bin"))
            if got is not None:
                break
            time.sleep(0.1)
        if want is None or got is None:
            unreadable.append(n)
            continue
        corrupt += compare(want, got)
        # the bytes served must also be the ones the job hashed and the
        # ones the manifest names
        sha = [s for (_, _, s) in starts.get(ids[n], [])]
        try:
            xattr = os.getxattr(os.path.join(runs, n, "artifacts", "out.bin"),
                                "user.sha256").decode()
        except OSError as e:
            xattr = "(%s)" % errno.errorcode.get(e.errno, e.errno)
        if sha[:1] != [hashlib.sha256(got).hexdigest()] or xattr != sha[0]:
            failures.append("%s: out.bin hashes to %s, the job said %s, "
                            "user.sha256 says %s" % (
                                n, hashlib.sha256(got).hexdigest(),
                                sha[:1], xattr))
    self_deaths += d.died(failures)
    d.stop()
    t_end = time.monotonic()

    checks = [
        ("every acknowledged run exists, with its config, after each restart",
         not lost_at_restart, " ".join(sorted(lost_at_restart)[:5])),
        ("no run left unfinished %d s after the last restart" % args.settle_s,
         not pending, " ".join(sorted(pending)[:5])),
        ("no acknowledged run lost", not lost, "; ".join(lost[:5])),
        ("every acknowledged run that ended completed", not not_completed,
         "; ".join(not_completed[:5])),
        ("no run duplicated", not dup, " ".join(dup[:5])),
        ("no run started twice", not twice,
         "; ".join("%s: %s" % (r, starts[r]) for r in twice[:3])),
        ("nothing unacknowledged half-exists", not half, "; ".join(half[:5])),
        ("every sampled artifact reads back", not unreadable,
         " ".join(unreadable[:5])),
        ("no corrupt byte served", corrupt == 0, "%d bytes" % corrupt),
        ("the storm ran without other trouble", not failures,
         "; ".join(failures[:5])),
    ]
    npass = nfail = 0
    for what, good, detail in checks:
        if good:
            npass += 1
            log("PASS: storm: %s" % what)
        else:
            nfail += 1
            log("FAIL: storm: %s: %s" % (what, detail))

    log("storm: %d acknowledged, %d not (%d of them whole: ack lost), "
        "%d states %s" % (len(acked), len(set(names) - acked), len(ack_lost),
                          len(states), sorted(set(states.values()))))
    log("storm: submissions %.1f s, settling %.1f s, total %.1f s, restarts "
        "%.2f s on average, %.2f s at most"
        % (t_submitted - t_start, t_settled - t_submitted, t_end - t_start,
           sum(restart_s) / len(restart_s) if restart_s else 0,
           max(restart_s) if restart_s else 0))
    keep = other_sections(args.report)
    with open(args.report, "w") as f:
        f.write("""# Reliability

Written by the crash suite (`tests/crash/c_storm.sh`, run by `make test`;
the driver is `tests/crash/storm.py`).  %d runs are submitted by %d
parallel writers through the mount while the daemon is killed with SIGKILL
%d times at random moments and started again; a run is acknowledged when
its writer's close() of config.json returned 0.  Jobs record each start
outside the mount.  Goal: zero in every column but the first two.

| rounds | runs acknowledged | lost | duplicated | started twice | corrupt bytes served |
|---|---|---|---|---|---|
| %d | %d | %d | %d | %d | %d |

- lost: acknowledged, yet absent after a restart or at the end, never
  started, not in a final state, or with a config.json not the one sent.
- duplicated: a name listed twice, or one name under two run ids.
- started twice: a run id whose job started more than once.
- corrupt bytes served: bytes of `artifacts/out.bin` (%d bytes of random
  data, 32 times that for one run in 20) that differ from the job's own
  copy: %d whole reads of random completed runs by a reader during the
  storm (reads cut by a kill are dropped), and %d runs sampled at random at
  the end, each also checked against the SHA-256 the job computed and
  `user.sha256`.
- Also checked: nothing unacknowledged half-exists (%d cases; an
  unacknowledged run is absent, or "created" without a start, or whole:
  %d runs were committed and ran once but their writer never heard, because
  the daemon died between the commit and its answer to close()); %d sampled
  artifacts could not be read; the daemon ended by itself %d times (not
  counting the kills).

Seed %d (replay with `CRASH_SEED=%d sh tests/crash/c_storm.sh`); %.0f s in
all (submissions %.0f s, settling %.0f s), %.2f s per restart on average,
on %s.
""" % (args.runs, args.writers, args.rounds, args.rounds, len(acked),
       len(set(x.split()[0] for x in lost) | lost_at_restart), len(dup), len(twice), corrupt,
       args.artifact_bytes, nreads, len(sample), len(half), len(ack_lost),
       len(unreadable), self_deaths, args.seed, args.seed,
       t_end - t_start, t_submitted - t_start, t_settled - t_submitted,
       sum(restart_s) / len(restart_s) if restart_s else 0,
       time.strftime("%Y-%m-%d", time.gmtime())))
        f.write("\nThe checks, %d passed, %d failed:\n\n" % (npass, nfail))
        for what, good, detail in checks:
            f.write("- %s: %s%s\n" % ("PASS" if good else "FAIL", what,
                                       "" if good else " (%s)" % detail))
        f.write(keep)
    log("%d passed, %d failed" % (npass, nfail))
    return 0 if nfail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
