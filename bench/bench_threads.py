"""Benchmark: CPU thread settings and oneDNN for ResNet50 saliency (``function``, batch 8).

Question: on this machine, do TensorFlow's intra-op / inter-op thread pool sizes
(``tf.config.threading``) or ``TF_ENABLE_ONEDNN_OPTS`` change the images/s of the
default timing cell, and should the command line set them?

Method:

* Each setting runs in a **fresh Python process** (thread pools and oneDNN are fixed
  when TensorFlow starts): ``TF_ENABLE_ONEDNN_OPTS`` is set in its environment, the
  thread counts with ``tf.config.threading.set_*_parallelism_threads`` before any op
  runs (0 = TensorFlow's default). The worker reports what TensorFlow then says it
  uses (``get_*_parallelism_threads``) and whether oneDNN is on
  (``IsMklEnabled``).
* ResNet50 with random weights (seed 0), raw RGB input, logit of the top-1 class,
  ``function`` variant, batch 8 of seeded random images; the first call (trace) and
  one warm-up call are not timed; then ``--calls`` timed calls, each ended by
  fetching the gradients to the host. images/s = 8 / median seconds per call.
* **Interleaved**: ``--rounds`` rounds, each running every setting once in an order
  shuffled with ``--seed``, so load from other processes that comes and goes falls on
  all settings alike. A setting's result is the median over rounds of its per-process
  images/s; each row also gives the range over rounds.
* Load is recorded: the 1-minute load average before each process and the worker's
  CPU seconds per wall second during its timed calls (``cpu/wall``). On a shared
  machine the numbers are ratios between settings measured side by side, not the
  machine's capability. ``img/cpu-s`` (images per CPU second of the process, images/s
  divided by cpu/wall) says how much work each setting needs and moves less with load
  than images/s; it does not show a setting's parallelism, which only a quiet run does.

Usage::

    python bench/bench_threads.py                                  # full grid, 3 rounds
    python bench/bench_threads.py --intra 0,1,2 --inter 0,1 --onednn 0,1 --rounds 2 \\
        --calls 5 --out bench/results/threads                       # short version
    python bench/bench_threads.py --summarise bench/results/threads/threads.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BATCH = 8
MODEL = "resnet50"
VARIANT = "function"


def worker(intra: int, inter: int, calls: int) -> dict:
    """Run in the fresh process: set the thread pools, time the cell, report."""
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    from saliency_core.harness.saliency_call import prepare_saliency_call
    from saliency_core.models.registry import load_model

    clf = load_model(MODEL, weights="random", seed=0)
    call, fn, _ = prepare_saliency_call(clf, variant=VARIANT, batch_size=BATCH, device="cpu", seed=0)
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    call()  # warm-up
    times = []
    cpu0 = time.process_time()
    for _ in range(calls):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    try:
        from tensorflow.python.util import _pywrap_util_port

        onednn = bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        onednn = None
    median = float(np.median(times))
    return {
        "intra_set": intra,
        "inter_set": inter,
        "intra_used": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_used": tf.config.threading.get_inter_op_parallelism_threads(),
        "onednn_env": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "onednn_enabled": onednn,
        "times": times,
        "median_s": median,
        "images_per_s": BATCH / median,
        "first_call_s": first,
        "cpu_per_wall": cpu / sum(times),
        "traces": fn.traces,
        "tensorflow": tf.__version__,
    }


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def _run_one(setting: tuple[int, int, int], calls: int) -> dict:
    intra, inter, onednn = setting
    env = {
        **os.environ,
        "TF_ENABLE_ONEDNN_OPTS": str(onednn),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "KERAS_BACKEND": "tensorflow",
    }
    load = os.getloadavg()[0]
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        "--intra",
        str(intra),
        "--inter",
        str(inter),
        "--calls",
        str(calls),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {
            "intra_set": intra,
            "inter_set": inter,
            "onednn_env": str(onednn),
            "error": proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"],
            "load_1min": load,
        }
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["load_1min"] = load
    return row


def summarise(runs: list[dict], settings: list[tuple[int, int, int]]) -> list[dict]:
    """One row per setting: median images/s over rounds, its range, the ratio to the
    first setting with intra 0 and inter 0 (TensorFlow's thread defaults, with the first
    oneDNN value given), and the median images per CPU second."""
    rows = []
    for intra, inter, onednn in settings:
        mine = [
            r
            for r in runs
            if (r.get("intra_set"), r.get("inter_set"), r.get("onednn_env")) == (intra, inter, str(onednn))
            and "error" not in r
        ]
        rates = [r["images_per_s"] for r in mine]
        per_cpu = [r["images_per_s"] / r["cpu_per_wall"] for r in mine if r["cpu_per_wall"]]
        rows.append(
            {
                "intra": intra,
                "inter": inter,
                "onednn": onednn,
                "onednn_enabled": mine[0]["onednn_enabled"] if mine else None,
                "images_per_s": statistics.median(rates) if rates else None,
                "min": min(rates) if rates else None,
                "max": max(rates) if rates else None,
                "cpu_per_wall": statistics.median(r["cpu_per_wall"] for r in mine) if mine else None,
                "rounds": len(rates),
                "images_per_cpu_s": statistics.median(per_cpu) if per_cpu else None,
            }
        )
    base = next((r for r in rows if r["intra"] == 0 and r["inter"] == 0 and r["images_per_s"]), None)
    for r in rows:
        r["vs_default"] = r["images_per_s"] / base["images_per_s"] if base and r["images_per_s"] else None
    return rows


def table(rows: list[dict]) -> str:
    head = (
        f"{'intra':>5} {'inter':>5} {'ONEDNN_OPTS':>11} {'oneDNN on':>9} {'images/s':>9} "
        f"{'range':>13} {'vs 0/0':>7} {'cpu/wall':>8} {'img/cpu-s':>9} {'rounds':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        rate = "-" if r["images_per_s"] is None else f"{r['images_per_s']:.2f}"
        span = "-" if r["min"] is None else f"{r['min']:.2f}-{r['max']:.2f}"
        vs = "-" if r["vs_default"] is None else f"{r['vs_default']:.2f}x"
        cpu = "-" if r["cpu_per_wall"] is None else f"{r['cpu_per_wall']:.2f}"
        eff = "-" if r.get("images_per_cpu_s") is None else f"{r['images_per_cpu_s']:.2f}"
        lines.append(
            f"{r['intra']:>5} {r['inter']:>5} {r['onednn']:>11} "
            f"{str(r['onednn_enabled']):>9} {rate:>9} {span:>13} {vs:>7} {cpu:>8} "
            f"{eff:>9} {r['rounds']:>6}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--intra", default="0,1,2", help="intra-op thread counts (0 = default)")
    parser.add_argument("--inter", default="0,1,2", help="inter-op thread counts (0 = default)")
    parser.add_argument("--onednn", default="0,1", help="TF_ENABLE_ONEDNN_OPTS values")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=8, help="timed calls per process")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-round order")
    parser.add_argument("--out", type=Path, default=None, help="directory for threads.json and threads.txt")
    parser.add_argument("--note", default="", help="a line saying how the machine was loaded")
    parser.add_argument(
        "--summarise",
        type=Path,
        default=None,
        metavar="JSON",
        help="print the summary of a threads.json written before (and rewrite "
        "it and threads.txt beside it); runs nothing",
    )
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(_ints(args.intra)[0], _ints(args.inter)[0], args.calls)))
        return 0
    if args.summarise:
        doc = json.loads(args.summarise.read_text(encoding="utf-8"))
        settings = [(s["intra"], s["inter"], s["onednn"]) for s in doc["summary"]]
        doc["summary"] = summarise(doc["runs"], settings)
        header = _header(doc)
        print(header + "\n" + table(doc["summary"]))
        (args.summarise.parent / "threads.txt").write_text(
            header + "\n" + table(doc["summary"]) + "\n", encoding="utf-8"
        )
        args.summarise.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        return 0

    import random

    settings = list(itertools.product(_ints(args.intra), _ints(args.inter), _ints(args.onednn)))
    rng = random.Random(args.seed)
    runs = []
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for round_ in range(args.rounds):
        order = settings[:]
        rng.shuffle(order)
        for setting in order:
            row = _run_one(setting, args.calls)
            row["round"] = round_
            runs.append(row)
            rate = row.get("images_per_s")
            print(
                f"round {round_} intra {setting[0]} inter {setting[1]} onednn {setting[2]}: "
                + (
                    f"{rate:.2f} images/s, cpu/wall {row['cpu_per_wall']:.2f}, load {row['load_1min']:.1f}"
                    if rate
                    else f"failed: {row.get('error')}"
                ),
                flush=True,
            )
    doc = {
        "note": args.note,
        "started": started,
        "model": MODEL,
        "variant": VARIANT,
        "batch": BATCH,
        "calls": args.calls,
        "rounds": args.rounds,
        "seed": args.seed,
        "cpu_count": os.cpu_count(),
        "summary": summarise(runs, settings),
        "runs": runs,
    }
    text = _header(doc) + "\n" + table(doc["summary"])
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "threads.txt").write_text(text + "\n", encoding="utf-8")
        (args.out / "threads.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return 0


def _header(doc: dict) -> str:
    return (
        f"{doc['model']} {doc['variant']} batch {doc['batch']}, {doc['calls']} timed calls "
        f"per process, {doc['rounds']} interleaved rounds, started {doc['started']}, "
        f"{doc['cpu_count']} logical CPUs" + (f"; {doc['note']}" if doc["note"] else "")
    )


if __name__ == "__main__":
    sys.exit(main())
