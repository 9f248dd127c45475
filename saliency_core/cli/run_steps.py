"""What ``saliency-bench run`` does after timing, each step ``step(args, store, run_id)``:
the variants' agreement with eager, example saliency maps, sanity checks with the
gate, and the report.

A suite asks for the maps and checks with a ``[checks]`` table (the ``quick``
suite has one); its keys and defaults are
:data:`~saliency_core.harness.suite_checks.CHECKS_DEFAULTS`. Every step reads
the run's stored config, so ``--resume`` repeats only what is missing.
"""

from __future__ import annotations

import sys
from typing import Any

from .check_progress import CheckProgress

__all__ = ["record_agreement", "record_maps", "run_suite_checks", "write_report"]


def _checks_config(store, run_id) -> dict | None:
    """The run's ``[checks]`` settings (checked when its suite was read), or None."""
    from ..harness.suites import checks_settings

    return checks_settings((store.get_run(run_id).config or {}).get("suite"))


def _setup(store, run_id):
    """``(cfg, seed, classifier, data, settings)`` for a run whose suite has ``[checks]``,
    or None when it has none."""
    from ..checks.settings import CheckSettings, with_curve_steps
    from ..data.check_data import load_check_data, load_check_model

    cfg = _checks_config(store, run_id)
    if cfg is None:
        return None
    seed = store.get_run(run_id).seed or 0
    classifier = load_check_model(cfg["model"])
    data = load_check_data(cfg["data"], classifier, images=cfg["images"])
    settings = with_curve_steps(
        CheckSettings(method_options=cfg["method_options"], metric_settings=cfg.get("metric_settings", {})),
        classifier.input_shape,
        cfg["curve_steps"],
    )
    return cfg, seed, classifier, data, settings


def record_agreement(args, store, run_id) -> None:
    """For a suite with ``[agreement]``: each model's variants against eager on each of
    the suite's devices, on the first bundled photos (``agreement`` cells, key ``{model,
    variant, device}``), as computed and with the units near a ReLU / max-pooling kink
    pinned (:func:`variant_agreement`), judged against float32's noise floor, measured
    once per model and device and recorded in each cell."""
    from ..agreement import NoiseFloorError, variant_agreement
    from ..data.photos import load_photos
    from ..devices import DeviceUnavailableError, check_device
    from ..harness.model_cells import default_loader
    from ..models.weights import RANDOM_WEIGHTS
    from ..harness.suites import agreement_settings
    from ..kinks import KinkAnalysisError

    suite = (store.get_run(run_id).config or {}).get("suite") or {}
    cfg = agreement_settings(suite)
    if cfg is None:
        return
    loaded = load_photos()
    photos = loaded.images[: cfg["images"]], loaded.names[: cfg["images"]]
    for model in suite["models"]:
        keys = [
            {"model": model, "variant": v, "device": d}
            for d in suite.get("devices", ["cpu"])
            for v in cfg["variants"]
        ]
        todo = [k for k in keys if not store.has_cell(run_id, "agreement", k)]
        if not todo:
            continue
        try:
            classifier = default_loader(
                model, weights=suite.get("weights", RANDOM_WEIGHTS), image_size=suite.get("image_size")
            )
            images = classifier.prepare(photos[0])
        except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
            for key in todo:
                store.record_cell(
                    run_id, "agreement", key, status="failed", reason=f"{type(exc).__name__}: {exc}"
                )
            continue
        # device -> float32's noise floor on these images, measured once for the variants
        floors: dict[str, Any] = {}
        for key in todo:
            try:
                check_device(key["device"])  # no silent fall-back to the CPU
                a = variant_agreement(
                    classifier,
                    images,
                    key["variant"],
                    batch_size=len(images),
                    kink_tol=cfg["kink_tol"],
                    device=key["device"],
                    noise_floor=floors.get(key["device"]),
                )
                floors[key["device"]] = a.noise_floor
            except (KinkAnalysisError, NoiseFloorError, DeviceUnavailableError) as exc:
                store.record_cell(run_id, "agreement", key, status="failed", reason=str(exc))
                print(f"agreement: {model} {key['variant']}: not analysed ({exc})", file=sys.stderr)
                continue
            store.record_cell(
                run_id,
                "agreement",
                key,
                status="ok",
                metrics={
                    "rel_l2": a.rel_l2,
                    "logits_rel_l2": a.logits_rel_l2,
                    "flips": len(a.flips),
                    "kink_layers": a.kink_layers,
                    "kink_units": a.kink_units,
                    "max_flip_margin": a.max_flip_margin,
                    "pinned_units": a.pinned_units,
                    "pinned_rel_l2": a.pinned_rel_l2,
                    "kink_tol": a.kink_tol,
                    "top1_mismatch": a.top1_mismatch,
                    "images": list(photos[1]),
                    "pinning_moved": a.pinning_moved,
                    "noise_floor": a.noise_floor.as_metrics(),
                    "factor": a.factor,
                    "agrees": a.agrees,
                    "reasons": a.reasons,
                },
            )
            kinks = (
                f"{len(a.flips)} unit(s) flipped at a kink, {a.pinned_rel_l2:.1e} pinned"
                if a.kink_layers
                else "no ReLU or max-pool kinks"
            )
            print(
                f"agreement: {model} {key['variant']} vs eager on {key['device']}: {a.rel_l2:.1e} as "
                f"computed, {kinks} "
                f"(float32's floor {a.noise_floor.pinned_rel_l2:.1e}): "
                + ("agrees" if a.agrees else "DOES NOT AGREE: " + "; ".join(a.reasons)),
                file=sys.stderr,
            )


def record_maps(args, store, run_id) -> None:
    """Store example maps (``maps`` cells: the input image and its map) for the report."""
    import numpy as np

    from ..explainer import Explainer

    setup = _setup(store, run_id)
    if setup is None:
        return
    cfg, seed, classifier, data, settings = setup
    explainer = Explainer(
        classifier, variant=cfg["variant"], batch_size=cfg["batch_size"], precision=cfg["precision"]
    )
    for method in cfg["map_methods"]:
        todo = [
            i
            for i, name in enumerate(data.names)
            if not store.has_cell(run_id, "maps", {"model": classifier.name, "method": method, "image": name})
        ]
        if not todo:
            continue
        result = explainer.explain(
            data.images[todo],
            method=method,
            reduce="max_abs",
            options=settings.method_options.get(method),
            seed=seed,
        )
        for j, i in enumerate(todo):
            target = int(result.targets[j])
            logits = result.logits[j].astype(np.float64)
            probability = float(np.exp(logits[target] - logits.max()) / np.exp(logits - logits.max()).sum())
            store.record_cell(
                run_id,
                "maps",
                {"model": classifier.name, "method": method, "image": data.names[i]},
                status="ok",
                metrics={
                    "target": target,
                    "class_name": classifier.class_name(target),
                    "probability": probability,
                    "variant": cfg["variant"],
                    "precision": cfg["precision"],
                    "score": "logit",
                    "reduce": "max_abs",
                    "options": result.options,
                },
                artifacts={
                    "image": np.clip(data.images[i], 0, 255).astype(np.uint8),
                    "map": result.maps[j].astype(np.float32),
                },
            )
    print(
        f"maps: {len(cfg['map_methods'])} method(s) x {len(data.names)} image(s) of "
        f"{classifier.name} recorded",
        file=sys.stderr,
    )


def run_suite_checks(args, store, run_id) -> None:
    """Sanity checks of the suite's model, then the gate, recorded in the same run."""
    from ..checks.policy import load_policy
    from ..checks.gate_run import gate_lines, run_gate
    from ..checks.check_runner import run_checks

    setup = _setup(store, run_id)
    if setup is None:
        return
    cfg, seed, classifier, data, settings = setup
    policy = load_policy(cfg["policy"])
    common = dict(
        seed=seed,
        store=store,
        run_id=run_id,
        variant=cfg["variant"],
        batch_size=cfg["batch_size"],
        settings=settings,
        sequence=data.sequence,
        precision=cfg["precision"],
    )
    with CheckProgress() as progress:
        run_checks(
            classifier,
            data.images,
            methods=cfg["methods"],
            metrics=cfg["metrics"],
            data_name=data.name,
            masks=data.masks,
            image_names=data.names,
            progress=progress,
            **common,
        )
        result, _ = run_gate(policy, classifier, data, method=cfg["gate_method"], progress=progress, **common)
    print("\n".join(gate_lines(result, policy, model=classifier.name, data=data.name)))
    args.gate_exit = result.exit_code


def write_report(args, store, run_id) -> None:
    """Render the run's HTML and Markdown report beside the store and print its path."""
    from pathlib import Path

    from ..report import render_report

    paths = render_report(store, run_id, Path(store.path).parent / run_id)
    print(f"report: {paths.get('html') or paths.get('md')}")
