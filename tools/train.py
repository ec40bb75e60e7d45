#!/usr/bin/env python3
"""train.py - the example trainer that `make demo` runs through trainfs.

It trains a real, if tiny, model with nothing but the Python standard library,
so that the demo and the behaviour tests exercise every path a real job does:
a 2-H-1 multi-layer perceptron (tanh hidden layer, sigmoid output, binary
cross-entropy) learns two interleaved moons by mini-batch SGD with momentum
and hand-written backpropagation.  It talks to trainfs the way real trainers
do: it prints Hugging Face Trainer-style dict lines to stdout (the daemon
parses them out of the log), appends JSON lines to $TRAINFS_METRICS when that
is set, and writes model.json and model.bin to $TRAINFS_OUTPUT_DIR.  It stops
cleanly on SIGTERM with exit status 143, because that is how trainfs cancels
a run.

One step convention for both channels: a metric's step is the global step,
the number of optimizer steps taken so far.  The log's dicts carry it as
"step" (their "epoch" is then a metric of its own, not the step), and the
$TRAINFS_METRICS lines carry the same number.  The two channels never report
the same key, so that no key has two histories that disagree: the log has
what HF's Trainer prints (loss, learning_rate, eval_*, and train_loss, the
mean over the whole run, in the summary line), $TRAINFS_METRICS has
batch_loss, the loss of every single step.

Everything random comes from one random.Random(--seed), so two runs with the
same argv print the same numbers, which the tests rely on.
"""

import argparse
import json
import math
import os
import random
import signal
import struct
import sys
import time

# Layout of model.bin, also described in model.json so that a reader needs no
# code from here: a little-endian header, then float32 weights.
BIN_MAGIC = b"TFSM"
BIN_VERSION = 1
BIN_HEADER = "<4sIIII"  # magic, version, n_in, n_hidden, n_out

# First-layer init range.  Wider than Xavier on purpose: the default budget is
# 3 epochs of 15 steps, and with Xavier's narrow range every tanh unit starts
# almost linear near the origin, so that budget ends near a straight boundary
# that misclassifies the moons' tips (final eval accuracy median 0.88, as low
# as 0.80, over seeds 0-29).  Spreading the units' slopes and offsets across
# the standardized inputs (about +-2 sd) gives a nonlinear basis from the
# first step (median 0.94, lowest 0.89, over seeds 0-49).
INIT_W1 = 3.0
INIT_B1 = 2.0
# Output weights start small so that the first loss is near chance level,
# ln 2, as a fresh classifier's should be, not a confident guess.
INIT_W2 = 0.1


class Terminated(Exception):
    """Raised from the SIGTERM handler so that a sleep or a step unwinds at
    once instead of finishing the epoch first."""


def on_sigterm(signum, frame):
    # Further TERMs must not interrupt the clean exit; trainfs sends KILL
    # after its grace period if we are too slow.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="train a tiny MLP on two moons (trainfs example)")
    p.add_argument("--lr", type=float, default=0.1,
                   help="learning rate (default 0.1)")
    p.add_argument("--epochs", type=int, default=3,
                   help="passes over the training set (default 3)")
    p.add_argument("--hidden", type=int, default=16,
                   help="hidden units (default 16)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed for data, split, init and shuffling "
                        "(default 0)")
    p.add_argument("--batch-size", type=int, default=32,
                   help="mini-batch size (default 32)")
    p.add_argument("--samples", type=int, default=600,
                   help="size of the synthetic data set (default 600)")
    p.add_argument("--sleep", type=float, default=0.0,
                   help="seconds to sleep after each epoch, to make a run "
                        "last (default 0)")
    p.add_argument("--momentum", type=float, default=0.9,
                   help="SGD momentum, 0 for plain SGD (default 0.9)")
    p.add_argument("--noise", type=float, default=0.1,
                   help="standard deviation of the noise added to the "
                        "moons (default 0.1)")
    p.add_argument("--eval-fraction", type=float, default=0.2,
                   help="share of samples held out for evaluation "
                        "(default 0.2)")
    p.add_argument("--logging-steps", type=int, default=5,
                   help="print a loss line every N steps (default 5)")
    a = p.parse_args(argv)
    if a.epochs < 0 or a.hidden < 1 or a.batch_size < 1 or a.samples < 10:
        p.error("need --epochs >= 0, --hidden >= 1, --batch-size >= 1 "
                "and --samples >= 10")
    if not 0.0 < a.eval_fraction < 1.0:
        p.error("--eval-fraction must be between 0 and 1")
    if not 0.0 <= a.momentum < 1.0:
        p.error("--momentum must be in [0, 1)")
    if a.logging_steps < 1 or not a.sleep >= 0 or not math.isfinite(a.lr):
        p.error("need --logging-steps >= 1, --sleep >= 0 and a finite --lr")
    return a


def make_moons(n, noise, rng):
    """Two interleaving half circles, labels 0 and 1, shuffled."""
    data = []
    for i in range(n):
        label = i % 2
        t = math.pi * rng.random()
        if label == 0:
            x, y = math.cos(t), math.sin(t)
        else:
            x, y = 1.0 - math.cos(t), 0.5 - math.sin(t)
        data.append(([x + rng.gauss(0.0, noise), y + rng.gauss(0.0, noise)],
                     label))
    rng.shuffle(data)
    return data


def standardize(train, evals):
    """Scales features by the training set's mean and deviation only, so
    that nothing of the evaluation set leaks into training.  Centred,
    unit-scale inputs let one learning rate suit every weight."""
    dim = len(train[0][0])
    mean = [sum(x[d] for x, _ in train) / len(train) for d in range(dim)]
    std = []
    for d in range(dim):
        var = sum((x[d] - mean[d]) ** 2 for x, _ in train) / len(train)
        std.append(math.sqrt(var) or 1.0)

    def scale(rows):
        return [([(x[d] - mean[d]) / std[d] for d in range(dim)], y)
                for x, y in rows]
    return scale(train), scale(evals), mean, std


class MLP:
    """n_in -> n_hidden (tanh) -> 1 (sigmoid), trained on binary
    cross-entropy by SGD with heavy-ball momentum."""

    def __init__(self, n_in, n_hidden, rng):
        self.w1 = [[rng.uniform(-INIT_W1, INIT_W1) for _ in range(n_in)]
                   for _ in range(n_hidden)]
        self.b1 = [rng.uniform(-INIT_B1, INIT_B1) for _ in range(n_hidden)]
        self.w2 = [rng.uniform(-INIT_W2, INIT_W2) for _ in range(n_hidden)]
        self.b2 = 0.0
        # Momentum buffers, shaped like the weights.
        self.v_w1 = [[0.0] * n_in for _ in range(n_hidden)]
        self.v_b1 = [0.0] * n_hidden
        self.v_w2 = [0.0] * n_hidden
        self.v_b2 = 0.0

    def forward(self, x):
        """Returns (hidden activations, output logit)."""
        h = [math.tanh(sum(w * xi for w, xi in zip(row, x)) + bias)
             for row, bias in zip(self.w1, self.b1)]
        z = sum(w * hi for w, hi in zip(self.w2, h)) + self.b2
        return h, z

    @staticmethod
    def bce(z, y):
        """Binary cross-entropy from the logit, in the form that neither
        overflows exp() nor takes log(0) for a large |z|."""
        return max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z)))

    @staticmethod
    def sigmoid(z):
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    def step(self, batch, lr, momentum):
        """One SGD step on the batch's mean loss; returns that loss."""
        n_hidden = len(self.b1)
        n_in = len(self.w1[0])
        gw1 = [[0.0] * n_in for _ in range(n_hidden)]
        gb1 = [0.0] * n_hidden
        gw2 = [0.0] * n_hidden
        gb2 = 0.0
        total = 0.0
        for x, y in batch:
            h, z = self.forward(x)
            total += self.bce(z, y)
            dz = self.sigmoid(z) - y            # d loss / d logit
            gb2 += dz
            for j in range(n_hidden):
                gw2[j] += dz * h[j]
                dh = dz * self.w2[j] * (1.0 - h[j] * h[j])
                gb1[j] += dh
                grow = gw1[j]
                for i in range(n_in):
                    grow[i] += dh * x[i]
        # v = m*v + g; w -= lr*v, as torch.optim.SGD does, so --lr and
        # --momentum mean what they mean there.
        inv = 1.0 / len(batch)
        m = momentum
        for j in range(n_hidden):
            self.v_w2[j] = m * self.v_w2[j] + gw2[j] * inv
            self.w2[j] -= lr * self.v_w2[j]
            self.v_b1[j] = m * self.v_b1[j] + gb1[j] * inv
            self.b1[j] -= lr * self.v_b1[j]
            row, grow, vrow = self.w1[j], gw1[j], self.v_w1[j]
            for i in range(n_in):
                vrow[i] = m * vrow[i] + grow[i] * inv
                row[i] -= lr * vrow[i]
        self.v_b2 = m * self.v_b2 + gb2 * inv
        self.b2 -= lr * self.v_b2
        return total * inv

    def evaluate(self, rows):
        """Returns (mean loss, accuracy) over rows."""
        loss = 0.0
        right = 0
        for x, y in rows:
            _, z = self.forward(x)
            loss += self.bce(z, y)
            right += int((z >= 0.0) == (y == 1))
        return loss / len(rows), right / len(rows)

    def flat(self):
        """Weights in model.bin order: w1 row-major, b1, w2, b2."""
        out = [w for row in self.w1 for w in row]
        return out + list(self.b1) + list(self.w2) + [self.b2]


class Metrics:
    """Appends {"step","key","value"} JSON lines to $TRAINFS_METRICS.  Each
    line is flushed at once: trainfs reads the file while we run, and a
    buffered file would show nothing until exit."""

    def __init__(self, path):
        self.f = open(path, "a", encoding="utf-8") if path else None

    def put(self, step, key, value):
        if self.f is None:
            return
        self.f.write(json.dumps({"step": step, "key": key, "value": value})
                     + "\n")
        self.f.flush()

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None


def write_model(outdir, model, args, arch, norm, final):
    """Writes model.bin, then model.json, each through a temporary name and
    a rename, so that whoever sees model.json finds both files whole."""
    os.makedirs(outdir, exist_ok=True)
    n_in = len(model.w1[0])
    n_hidden = len(model.b1)
    weights = model.flat()
    blob = struct.pack(BIN_HEADER, BIN_MAGIC, BIN_VERSION, n_in, n_hidden, 1)
    blob += struct.pack("<%df" % len(weights), *weights)
    tmp = os.path.join(outdir, ".model.bin.tmp")
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, os.path.join(outdir, "model.bin"))

    doc = {
        "format": "trainfs-example-mlp",
        "architecture": arch,
        "params": vars(args),
        "input_normalization": {"mean": norm[0], "std": norm[1]},
        "weights": {"w1": model.w1, "b1": model.b1,
                    "w2": model.w2, "b2": model.b2},
        "metrics": final,
        "model_bin": {
            "version": BIN_VERSION,
            "bytes": len(blob),
            "header": "struct %s: magic %s, version, n_in, n_hidden, n_out"
                      % (BIN_HEADER, BIN_MAGIC.decode()),
            "body": "little-endian float32: w1[n_hidden][n_in], "
                    "b1[n_hidden], w2[n_hidden], b2",
        },
    }
    tmp = os.path.join(outdir, ".model.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, os.path.join(outdir, "model.json"))


def show_trainfs_env(args):
    """Params arrive through argv; the TRAINFS_PARAM_* copies are printed
    only so that a log shows the two agree.  Plain text, never a dict, so
    that the daemon does not take these lines for metrics."""
    for name in ("TRAINFS_RUN", "TRAINFS_RUN_ID"):
        if os.environ.get(name):
            print("%s=%s" % (name, os.environ[name]), flush=True)
    prefix = "TRAINFS_PARAM_"
    params = sorted((k[len(prefix):], v) for k, v in os.environ.items()
                    if k.startswith(prefix))
    if params:
        print("trainfs params: " + " ".join("%s=%s" % kv for kv in params),
              flush=True)
    print("args: " + " ".join("%s=%s" % kv
                              for kv in sorted(vars(args).items())),
          flush=True)


def train(args, metrics):
    """Trains, evaluates after each epoch, writes the model.  Returns the
    exit status."""
    rng = random.Random(args.seed)
    data = make_moons(args.samples, args.noise, rng)
    n_eval = max(1, round(len(data) * args.eval_fraction))
    train_rows, eval_rows, mean, std = standardize(data[n_eval:],
                                                   data[:n_eval])
    model = MLP(2, args.hidden, rng)
    print("data: two moons, %d train, %d eval, noise %g"
          % (len(train_rows), len(eval_rows), args.noise), flush=True)

    steps_per_epoch = math.ceil(len(train_rows) / args.batch_size)
    step = 0
    window = []             # batch losses since the last printed line
    total_loss = 0.0
    final = {}
    start = time.monotonic()
    for epoch in range(args.epochs):
        rng.shuffle(train_rows)
        for b in range(0, len(train_rows), args.batch_size):
            loss = model.step(train_rows[b:b + args.batch_size],
                              args.lr, args.momentum)
            step += 1
            if not math.isfinite(loss):
                print("loss is %r at step %d (--lr too high?), stopping"
                      % (loss, step), flush=True)
                return 1
            window.append(loss)
            total_loss += loss
            metrics.put(step, "batch_loss", loss)
            if step % args.logging_steps == 0:
                # Like HF's Trainer: the mean since the last line, not
                # the last batch's loss, so the curve is not mostly noise.
                mean_loss = sum(window) / len(window)
                window = []
                print({"loss": round(mean_loss, 4),
                       "learning_rate": args.lr,
                       "epoch": round(step / steps_per_epoch, 2),
                       "step": step}, flush=True)
        eval_loss, eval_acc = model.evaluate(eval_rows)
        print({"eval_loss": round(eval_loss, 4),
               "eval_accuracy": round(eval_acc, 4),
               "epoch": float(epoch + 1), "step": step}, flush=True)
        final = {"eval_loss": eval_loss, "eval_accuracy": eval_acc}
        if args.sleep > 0:
            time.sleep(args.sleep)
    runtime = time.monotonic() - start

    train_loss = total_loss / step if step else 0.0
    final.update({"train_loss": train_loss, "global_step": step,
                  "epoch": float(args.epochs)})
    outdir = os.environ.get("TRAINFS_OUTPUT_DIR") or "./out"
    arch = {"type": "mlp", "layers": [2, args.hidden, 1],
            "hidden_activation": "tanh", "output_activation": "sigmoid",
            "loss": "binary_cross_entropy"}
    write_model(outdir, model, args, arch, (mean, std), final)
    print("wrote %s and %s" % (os.path.join(outdir, "model.json"),
                               os.path.join(outdir, "model.bin")),
          flush=True)

    def per_s(n):
        return round(n / runtime, 3) if runtime > 0 else 0.0
    print({"train_runtime": round(runtime, 4),
           "train_samples_per_second": per_s(len(train_rows) * args.epochs),
           "train_steps_per_second": per_s(step),
           "train_loss": round(train_loss, 4),
           "epoch": float(args.epochs), "step": step}, flush=True)
    return 0


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    metrics = None
    try:
        show_trainfs_env(args)
        metrics = Metrics(os.environ.get("TRAINFS_METRICS"))
        return train(args, metrics)
    except Terminated:
        # 143 = 128 + SIGTERM, what a shell reports for a child killed by
        # TERM, so a cancelled run looks the same whether or not the job
        # caught the signal.
        print("received SIGTERM, stopping", flush=True)
        return 143
    finally:
        if metrics is not None:
            metrics.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
