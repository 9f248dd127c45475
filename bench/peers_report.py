"""Markdown tables of ``bench_peers.py``'s report (its JSON dict)."""

from __future__ import annotations

__all__ = ["job_tables", "single_tables"]

_JOB_ROWS = ("targets", "maps", "deletion", "insertion", "mprt", "random-logit")


def _f(value, spec=".2f") -> str:
    return "-" if value is None else format(value, spec)


def _table(headers, rows) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return out + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def single_tables(report: dict) -> list[str]:
    if not report["single"]:
        return []
    rounds = report["args"]["rounds"]
    out = [
        "## (a) Single saliency calls",
        "",
        f"Vanilla gradient, max over channels of |gradient of the logit|; images/s from the "
        f"median of {rounds} interleaved rounds; `vs function` = this project's `function` "
        "images/s ÷ the row's (above 1: the row is slower); `cpu/wall` = process CPU seconds per "
        "wall second (about the cores kept busy); `rel L2` = per-image ‖map − eager map‖ / "
        "‖eager map‖ (max, median over images), next to the noise floor (eager map of the "
        "images moved by one float32 ulp vs eager).",
        "",
    ]
    for case in report["single"]:
        roof = case.get("roof_gflops")  # runs before the roof was recorded have none
        rows = [
            [
                name,
                _f(r["images_per_s"]),
                _f(r["median_s"], ".3f"),
                _f(r["first_call_s"], ".1f"),
                _f(r["function_speedup"]) + "×",
                _f(r["cpu_per_wall"]),
                f"{r['rel_l2_max']:.1e} ({r['rel_l2_median']:.1e})",
            ]
            + ([_f(100 * r["roof_fraction"], ".1f")] if roof else [])
            for name, r in case["rows"].items()
        ]
        roof_text = (
            f"; {case['saliency_gflop_per_image']:.2f} GFLOP per saliency image, roof "
            f"{roof:.0f} GFLOP/s (numpy float32 matmul, the best of 25 products before "
            "and after these rounds)"
            if roof
            else ""
        )
        out += [
            f"**{case['model']}, batch {case['batch']}** (noise floor rel L2 "
            f"{case['noise_floor_rel_l2']:.1e}{roof_text})",
            "",
        ]
        out += _table(
            [
                "implementation",
                "images/s",
                "median s",
                "first call s",
                "vs function",
                "cpu/wall",
                "rel L2 max (median)",
            ]
            + (["% of roof"] if roof else []),
            rows,
        )
        out += [f"- {k} FAILED: `{v}`" for k, v in case["errors"].items()] + [""]
    return out


def _seconds(rec, metric):
    entry = rec.get(metric)
    if not entry:
        return None, ""
    scaled = entry.get("seconds_at_curve_steps")
    if scaled is not None and abs(scaled - entry["seconds"]) > 1e-9:
        return scaled, f"{scaled:.1f} ({entry['seconds']:.1f} measured)"
    return entry["seconds"], f"{entry['seconds']:.1f}"


def job_tables(report: dict) -> list[str]:
    if not report["jobs"]:
        return []
    a = report["args"]
    settings = a.get("metric_setting") or []
    variant = a.get("variant", "function")
    out = [
        "## (b) The check job",
        "",
        f"{a['images']} photo crops, batch {a['batch_size']}, seed {a['seed']}; ours: "
        f"`run_checks` (variant {variant}"
        + (
            " (chosen by measuring function against xla first: the `variant auto` row)"
            if variant == "auto"
            else ""
        )
        + f", {a['curve_steps']} curve steps, all four similarity measures"
        + "".join(f", `{s}`" for s in settings)
        + f", temporary results store); peers' curves ran {a['peer_curve_steps']} steps and "
        f"their seconds are scaled linearly to {a['curve_steps']} (measured in brackets). "
        "`ours/peer` < 1: ours took less time. Ours' first metric (deletion) includes computing "
        "the maps and the top-1 targets, which the peers' rows list apart. Values: same "
        "protocol for deletion/insertion "
        "(compared at the peer's points), different protocols for mprt and random-logit "
        "(see below).",
        "",
    ]
    for job in report["jobs"]:
        ours, names = job["ours"], list(job["peers"])
        headers = (
            ["step", "ours s"]
            + [f"{p} s" for p in names]
            + [f"ours/{p}" for p in names]
            + ["ours value"]
            + [f"{p} value" for p in names]
        )
        rows = []
        choice = ours.get("variant") or {}
        if choice.get("seconds"):
            rows.append(
                [f"variant auto -> {choice['variant']}", f"{choice['seconds']:.1f}"]
                + ["-"] * (2 * len(names) + 1 + len(names))
            )
        for metric in _JOB_ROWS:
            mine = ours.get(metric, {})
            row = [metric, _f(mine.get("seconds"), ".1f") if mine else "(in metrics)"]
            secs = [_seconds(job["peers"][p], metric) for p in names]
            row += [text or "-" for _, text in secs]
            row += [_f(mine.get("seconds") / s) if mine.get("seconds") and s else "-" for s, _ in secs]
            row += [_f(mine.get("value"), ".4f") if mine else "-"]
            row += [_f(job["peers"][p].get(metric, {}).get("value"), ".4f") for p in names]
            rows.append(row)
        total = [job["peers"][p]["total_s"] for p in names]
        rows.append(
            ["**job total**", f"{ours['total_s']:.1f}"]
            + [f"{t:.1f} ({job['peers'][p]['total_s_measured']:.1f} measured)" for t, p in zip(total, names)]
            + [f"**{ours['total_s'] / t:.2f}**" for t in total]
            + [""] * (1 + len(names))
        )
        mprt_s = [(job["peers"][p].get("mprt") or {}).get("seconds", 0.0) for p in names]
        ours_rest = ours["total_s"] - (ours.get("mprt") or {}).get("seconds", 0.0)
        rows.append(
            ["job without mprt", f"{ours_rest:.1f}"]
            + [f"{t - m:.1f}" for t, m in zip(total, mprt_s)]
            + [f"{ours_rest / (t - m):.2f}" for t, m in zip(total, mprt_s)]
            + [""] * (1 + len(names))
        )
        out += [f"**{job['model']}**, {job['images']} images", ""] + _table(headers, rows)
        for p in names:
            for metric in ("deletion", "insertion"):
                rec = job["peers"][p].get(metric, {})
                if "max_abs_diff_mean_curve" in rec:
                    out.append(
                        f"- {p} {metric}: ours at its points {rec['ours_value_at_peer_points']:.4f} "
                        f"vs {rec['value']:.4f}; mean curves differ by at most "
                        f"{rec['max_abs_diff_mean_curve']:.1e}"
                    )
                if "max_abs_diff_curves" in rec:
                    out.append(
                        f"- {p} {metric} ({rec.get('metric')}): per-image curves at our points "
                        f"differ from ours by at most {rec['max_abs_diff_curves']:.1e}"
                    )
            mprt = job["peers"][p].get("mprt")
            if mprt:
                ours_n = ours.get("mprt", {}).get("saliency_images")
                ours_s = ours.get("mprt", {}).get("seconds")
                per = (
                    f"; {mprt['seconds'] / mprt['saliency_images']:.3f} s per saliency image, ours "
                    f"{ours_s / ours_n:.3f}"
                    if ours_n and ours_s and mprt.get("saliency_images")
                    else ""
                )
                out.append(
                    f"- {p} mprt: {mprt.get('saliency_images')} saliency images computed "
                    f"(ours: {ours_n}, images × maps per image){per}"
                )
                d = mprt.get("randomized_maps")
                if d:
                    out.append(
                        f"- {p} mprt, randomized model (diagnostic, untimed): "
                        f"{d['constant']} of {d['images']} maps constant, {d['not_finite']} "
                        f"not finite; logits finite: {d['logits_finite']}"
                    )
        out += [f"- {k} FAILED: `{v}`" for k, v in job["errors"].items()]
        for m, v in ours.items():
            if isinstance(v, dict) and v.get("status") == "failed":
                out.append(f"- ours {m} FAILED: `{v['reason']}`")
        out.append("")
    return out
