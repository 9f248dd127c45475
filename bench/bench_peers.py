"""Benchmark: saliency-bench against peer libraries, same models, images and protocol, one run.

Peers (installed only in a separate venv, never dependencies; see
``bench/requirements-peers.txt`` and ``tox -e bench-peers``): xplique, PAIR saliency
(``saliency``), tf-keras-vis and Quantus. Protocol choices and the differences that
remain are printed with the results (``peer_adapters.PROTOCOLS``).

(a) **Single saliency calls.** ResNet50 (random weights, seed 0) at each ``--batches``
size on photo crops: this project's ``function`` and ``xla`` variants
(``Explainer.explain``, vanilla gradient, max-abs maps, targets found in the same pass)
against xplique ``Saliency``, PAIR ``GradientSaliency`` (one image per call, its API)
and tf-keras-vis ``Saliency`` (peers are handed the target classes). Each round calls
every implementation once (order rotated per round); images/s from the median over
rounds; the first (tracing / compiling) call is timed apart. Maps agreement: per-image
relative L2 distance to this project's eager map, next to the noise floor measured in
the same run (eager map of the images moved by one float32 ulp vs eager map).

(b) **The check job.** Deletion, insertion, cascading model randomization and random
logit on ``--images`` photo crops for ResNet50 (random weights) and the pretrained
EfficientNet-Lite0: ``run_checks`` (variant ``function``, ``--curve-steps`` steps, a
temporary results store, as ``saliency-bench check`` does) against xplique's and
Quantus's own metrics. To keep a full run under about 20 minutes on 2 cores, the
peers' curves run ``--peer-curve-steps`` steps (default 14: every 4th point of ours)
and their time is scaled linearly to ``--curve-steps`` (labelled "extrapolated");
``--peer-curve-steps 56`` measures them in full. The curve values are compared at the
peer's points with ours (same maps ranking, substrate and score: they should agree).

Usage (inside the peers venv)::

    /work/peers-venv/bin/python bench/bench_peers.py                      # full: 64 images
    /work/peers-venv/bin/python bench/bench_peers.py --images 8 --batches 8 --rounds 2 \\
        --label smoke-8-images --note "machine shared with other jobs"
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import peer_adapters as peers  # bench/ is on sys.path: run as a script, or collected by pytest

SCHEMA_VERSION = 1
MODELS = ("resnet50", "efficientnet-lite0")
CHECK_METRICS = ("deletion", "insertion", "mprt-cascading", "random-logit")


# --- data and models ---------------------------------------------------------------


def photo_crops(classifier, n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """``n`` images from the bundled photos: each photo whole (the model's centre crop),
    then square windows of 3/4 and 1/2 of its short side at seeded positions, cycling
    over the photos; each prepared (resized, centre-cropped) for ``classifier``."""
    from saliency_core.data.photos import load_photos

    photos = load_photos()
    rng = np.random.default_rng(seed)
    crops, names = [], []
    for k in range(n):
        i, round_ = k % len(photos), k // len(photos)
        image = photos.images[i]
        if round_ == 0:
            crop, name = image, photos.names[i]
        else:
            h, w = image.shape[:2]
            side = int(min(h, w) * (0.75 if round_ % 2 else 0.5))
            top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            crop, name = image[top : top + side, left : left + side], f"{photos.names[i]}-crop{round_}"
        crops.append(crop)
        names.append(name)
    return classifier.prepare(crops), names


def load(name: str):
    from saliency_core.models.registry import load_model

    return load_model(name, weights="random") if name == "resnet50" else load_model(name)


# --- (a) single calls ---------------------------------------------------------------------


def _rel_l2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)


def single_calls(args, clf, images, report) -> None:
    from saliency_core import Explainer

    from saliency_core.harness.flops import count_flops, measure_roof

    model, factor = clf.model, peers.chain_factor(clf.preprocessing)
    flops = count_flops(clf).saliency  # the same gradient for every row
    for batch in args.batches:
        roof = measure_roof()  # numpy fp32 matmul, best of 20; re-sampled after the rounds
        x = images[:batch]
        x_norm = clf.preprocessing.normalize_numpy(x)
        eager = Explainer(clf, variant="eager", batch_size=batch)
        ref = eager.explain(x, method="gradient", reduce="max_abs")
        targets = ref.targets
        moved = eager.explain(
            np.nextafter(x, np.float32(np.inf)), targets=targets, method="gradient", reduce="max_abs"
        ).maps
        floor = float(_rel_l2(moved, ref.maps).max())
        calls, errors = {}, {}
        for variant in ("function", "xla"):
            ex = Explainer(clf, variant=variant, batch_size=batch)
            calls[f"saliency-bench {variant}"] = lambda ex=ex, x=x: (
                ex.explain(x, method="gradient", reduce="max_abs").maps
            )
        for peer in ("xplique", "pair", "tf-keras-vis"):
            if peer not in args.peers:
                continue
            try:
                fn = peers.single_call(peer, model, batch)
            except Exception as exc:  # a peer that does not install or import
                errors[peer] = f"{type(exc).__name__}: {exc}"
                continue
            calls[peer] = lambda fn=fn, x=x_norm, t=targets: fn(x, t) * factor
        rows = {}
        for name, call in list(calls.items()):
            start = time.perf_counter()
            try:
                maps = np.asarray(call())
            except Exception as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
                del calls[name]
                continue
            rel = _rel_l2(maps, ref.maps)
            rows[name] = {
                "first_call_s": time.perf_counter() - start,
                "times_s": [],
                "cpu_s": [],
                "rel_l2_max": float(rel.max()),
                "rel_l2_median": float(np.median(rel)),
            }
        names = list(calls)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                wall, cpu = time.perf_counter(), time.process_time()
                calls[name]()
                rows[name]["times_s"].append(time.perf_counter() - wall)
                rows[name]["cpu_s"].append(time.process_time() - cpu)
        roof = max(roof, measure_roof(repeats=5))
        for row in rows.values():
            row["median_s"] = statistics.median(row["times_s"])
            row["images_per_s"] = batch / row["median_s"]
            row["cpu_per_wall"] = sum(row["cpu_s"]) / sum(row["times_s"])
            row["roof_fraction"] = flops * row["images_per_s"] / (roof * 1e9)
        base = rows.get("saliency-bench function", {}).get("images_per_s")
        for row in rows.values():
            row["function_speedup"] = base / row["images_per_s"] if base else None
        report["single"].append(
            {
                "model": clf.name,
                "batch": batch,
                "noise_floor_rel_l2": floor,
                "saliency_gflop_per_image": flops / 1e9,
                "roof_gflops": roof,
                "rows": rows,
                "errors": errors,
            }
        )
        print(
            f"[single] batch {batch}: "
            + ", ".join(f"{n} {r['images_per_s']:.2f} img/s" for n, r in rows.items()),
            flush=True,
        )


# --- (b) check jobs ----------------------------------------------------------------------


def ours_job(args, clf, images) -> dict:
    import dataclasses

    from saliency_core.checks import CheckSettings, run_checks
    from saliency_core.store import ResultStore

    from saliency_core.metrics.base import parse_metric_settings

    h, w = clf.input_shape[:2]
    pixels = max(1, round(h * w / args.curve_steps))
    base = CheckSettings(metric_settings=parse_metric_settings(args.metric_setting))
    settings = dataclasses.replace(
        base,
        deletion=dataclasses.replace(base.deletion, pixels_per_step=pixels),
        insertion=dataclasses.replace(base.insertion, pixels_per_step=pixels),
    )
    choice = {"variant": args.variant, "seconds": 0.0}
    if args.variant == "auto":  # as `saliency-bench check --variant auto` does, timed into the job
        from saliency_core.harness.autovariant import CHECK_CALLS, choose_variant

        start = time.perf_counter()
        chosen = choose_variant(clf, batch_size=args.batch_size, calls=CHECK_CALLS, use_cache=False)
        choice = {
            "variant": chosen.variant,
            "seconds": time.perf_counter() - start,
            "reason": f"{chosen.source}: {chosen.reason}",
        }
        print(f"[job] {clf.name}: variant auto -> {chosen.variant} ({chosen.reason})", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultStore(Path(tmp) / "results.sqlite")
        run_id = store.start_run("bench-peers", config={"model": clf.name}, seed=args.seed)
        start = time.perf_counter()
        report = run_checks(
            clf,
            images,
            methods=["gradient"],
            metrics=list(CHECK_METRICS),
            seed=args.seed,
            data_name="photo-crops",
            store=store,
            run_id=run_id,
            variant=choice["variant"],
            batch_size=args.batch_size,
            settings=settings,
        )
        total = time.perf_counter() - start + choice["seconds"]
        out = {"total_s": total, "variant": choice}
        for cell in store.cells(run_id, kind="check"):
            r = report.get("gradient", cell.key["metric"])
            entry = {"seconds": r.seconds, "value": r.value, "status": r.status, "reason": r.reason}
            if r.metric in ("deletion", "insertion") and r.ok:
                entry["curves"] = store.artifact(cell.id, "curves").tolist()
            if r.metric == "mprt-cascading" and r.ok:
                entry["steps"] = len(cell.metrics.get("layers", []))
                entry["saliency_images"] = len(images) * (entry["steps"] + 1)
            out[r.metric.replace("-cascading", "")] = entry
        store.close()
    return out


def _ours_at(curves: list, every: int, offset: int = 0) -> np.ndarray:
    return np.asarray(curves)[:, offset::every]


def compare_values(ours: dict, peer: str, rec: dict, args) -> None:
    """Add ours-vs-peer curve differences at the peer's points (same protocol there)."""
    every = args.curve_steps // args.peer_curve_steps
    for metric in ("deletion", "insertion"):
        if metric not in rec or "curves" not in ours.get(metric, {}):
            continue
        mine = _ours_at(ours[metric]["curves"], every)
        if peer == "xplique":
            mean = mine.mean(axis=0)
            rec[metric]["ours_value_at_peer_points"] = float(np.mean(mean[:-1] + mean[1:]) * 0.5)
            rec[metric]["max_abs_diff_mean_curve"] = float(np.abs(mean - rec[metric]["mean_curve"]).max())
        else:  # Quantus: every third of its points is one of ours, without the clean point
            theirs = np.asarray(rec[metric]["curves"])[:, 2::3]
            rec[metric]["max_abs_diff_curves"] = float(np.abs(mine[:, 1:] - theirs).max())
            rec[metric].pop("curves")


def jobs(args, clf, images, report) -> None:
    entry = {"model": clf.name, "images": len(images), "ours": None, "peers": {}, "errors": {}}
    print(f"[job] {clf.name}: saliency-bench run_checks ...", flush=True)
    entry["ours"] = ours_job(args, clf, images)
    x_norm = clf.preprocessing.normalize_numpy(images)
    scale = (args.curve_steps + 1) / (args.peer_curve_steps + 1)
    for peer, run in (("xplique", peers.xplique_job), ("quantus", peers.quantus_job)):
        if peer not in args.peers:
            continue
        print(f"[job] {clf.name}: {peer} ...", flush=True)
        kwargs = dict(batch=args.batch_size, steps=args.peer_curve_steps, seed=args.seed)
        if peer == "quantus":
            kwargs["all_layers"] = args.quantus_all_layers
        try:
            rec = run(clf.model, x_norm, **kwargs)
        except Exception as exc:
            entry["errors"][peer] = f"{type(exc).__name__}: {exc}"
            print(f"[job] {peer} failed: {entry['errors'][peer]}", flush=True)
            continue
        s = args.curve_steps / args.peer_curve_steps if peer == "quantus" else scale
        for metric in ("deletion", "insertion"):
            if metric in rec:
                rec[metric]["seconds_at_curve_steps"] = rec[metric]["seconds"] * s
        rec["total_s_measured"] = sum(v["seconds"] for v in rec.values() if isinstance(v, dict))
        rec["total_s"] = sum(
            v.get("seconds_at_curve_steps", v["seconds"]) for v in rec.values() if isinstance(v, dict)
        )
        compare_values(entry["ours"], peer, rec, args)
        entry["peers"][peer] = rec
    for curve in ("deletion", "insertion"):
        entry["ours"].get(curve, {}).pop("curves", None)
    report["jobs"].append(entry)


# --- output ------------------------------------------------------------------------------


def cpu_flags() -> dict:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    flags = set(line.split(":", 1)[-1].split())
    return {
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx": sorted(f for f in flags if f.startswith("amx")),
    }


def machine(args) -> dict:
    from saliency_core.store.machine import commit_info, machine_info

    info = machine_info(detect_gpus=False)
    return {
        "cpu_model": info["cpu_model"],
        "cpu_count": info["cpu_count"],
        "cpu_usable": info["cpu_usable"],
        "cpu_flags": cpu_flags(),
        "load_average_start": os.getloadavg(),
        "python": info["python_version"],
        "tensorflow": info["tensorflow"],
        "keras": info["keras"],
        "numpy": info["numpy"],
        # oneDNN is off unless set on AVX2 CPUs; the CLI turns it on, this script leaves it
        # as found, for every side alike
        "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "onednn_enabled": info.get("onednn_enabled"),
        "saliency_bench": info["saliency_bench"],
        "peers": peers.peer_versions(),
        "commit": {
            k: v
            for k, v in commit_info(Path(__file__).resolve().parent).items()
            if k in ("id", "branch", "dirty")
        },
        "note": args.note,
    }


def _load(values) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def markdown(report: dict) -> str:
    from peers_report import job_tables, single_tables

    m, a = report["machine"], report["args"]
    commit = m["commit"] or {}
    lines = [
        f"# saliency-bench vs peers ({a['label']})",
        "",
        f"**{m['note']}**" if m["note"] else "",
        "",
        f"Machine: {m['cpu_model']}, {m['cpu_usable']} usable CPUs, flags {m['cpu_flags']}; "
        f"load average (1, 5, 15 min) at start {_load(m['load_average_start'])}, at end "
        f"{_load(report['load_average_end'])}. "
        f"TensorFlow {m['tensorflow']}, Keras {m['keras']}, NumPy {m['numpy']}"
        + (f", oneDNN {'on' if m['onednn_enabled'] else 'off'}" if "onednn_enabled" in m else "")
        + "; "
        f"peers {m['peers']}. Commit {commit.get('id', '?')[:10]} ({commit.get('branch')}"
        f"{', dirty' if commit.get('dirty') else ''}). Wall time {report['wall_s']:.0f} s.",
        "",
        "Command: `" + report["command"] + "`",
        "",
    ]
    lines += single_tables(report) + job_tables(report)
    lines += ["## Protocol differences", ""]
    for peer, notes in report.get("protocols", peers.PROTOCOLS).items():  # as run
        lines += [f"- **{peer}**"] + [f"  - {n}" for n in notes]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=64, help="photo crops in the check job")
    p.add_argument("--batch-size", type=int, default=8, help="batch of the check jobs (all sides)")
    p.add_argument(
        "--batches",
        type=lambda s: [int(v) for v in s.split(",")],
        default=[8, 32],
        help="batch sizes of the single-call comparison (comma-separated)",
    )
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds of single calls")
    p.add_argument("--curve-steps", type=int, default=56, help="our curves' steps (check's default)")
    p.add_argument(
        "--peer-curve-steps",
        type=int,
        default=14,
        help="peers' curve steps (must divide --curve-steps; time scaled to it)",
    )
    p.add_argument("--models", type=lambda s: s.split(","), default=list(MODELS))
    p.add_argument("--peers", type=lambda s: s.split(","), default=list(peers.PEERS))
    p.add_argument("--parts", type=lambda s: s.split(","), default=["single", "job"])
    p.add_argument(
        "--quantus-all-layers",
        action="store_true",
        help="Quantus MPRT with maps after every layer (its default; ~100 passes)",
    )
    p.add_argument(
        "--variant",
        choices=("function", "xla", "auto"),
        default="function",
        help="our check job's variant; auto measures function against xla first, timed into the job",
    )
    p.add_argument(
        "--metric-setting",
        action="append",
        default=[],
        metavar="METRIC.SETTING=VALUE",
        help="our check job's metric settings, as `saliency-bench check` takes them (repeatable), "
        "e.g. mprt-cascading.layerwise=false",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "peers")
    p.add_argument("--label", default=None, help="file name stem (default: images-N)")
    p.add_argument("--note", default="", help="written above the tables (e.g. machine load)")
    p.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="only write the Markdown of an earlier run's JSON beside it",
    )
    args = p.parse_args(argv)
    if args.render:
        args.render.with_suffix(".md").write_text(markdown(json.loads(args.render.read_text())))
        return 0
    if args.curve_steps % args.peer_curve_steps:
        p.error("--peer-curve-steps must divide --curve-steps")
    if 50176 % args.peer_curve_steps:
        p.error("--peer-curve-steps must divide 224*224 (Quantus's features_in_step)")
    args.label = args.label or f"images-{args.images}"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.perf_counter()
    command = shlex.join(["bench/bench_peers.py", *(sys.argv[1:] if argv is None else argv)])
    report = {
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine(args),
        "protocols": peers.PROTOCOLS,
        "single": [],
        "jobs": [],
    }
    for name in args.models:
        clf = load(name)
        if "single" in args.parts and name == "resnet50":
            images, _ = photo_crops(clf, max(args.batches), args.seed)
            single_calls(args, clf, images, report)
        if "job" in args.parts:
            images, report["image_names"] = photo_crops(clf, args.images, args.seed)
            jobs(args, clf, images, report)
    report["wall_s"] = time.perf_counter() - start
    report["load_average_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.label}.json").write_text(json.dumps(report, indent=1, default=float))
    text = markdown(report)
    (args.out / f"{args.label}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
