"""``check``: compute each metric for each method, record each result, print a table per
method."""

from __future__ import annotations


from .check_progress import CheckProgress
from .check_resume import kept_on_error, resumed, run_config
from .check_setup import check_args, choose_variant, open_executor, prepare, trained_networks
from .errors import CliError
from .runs import open_store, store_run, write_json


def _split(text: str) -> list[str]:
    return [v.strip() for v in str(text).split(",") if v.strip()]


def _print_report(report, classifier, data, args) -> None:
    from ..checks.check_runner import chance_baseline
    from ..harness.text_table import print_table

    unit = "frames" if data.sequence else "images"
    count = (
        len(data.images)
        if not data.streamed
        else next((len(r.config.get("images", [])) for r in report.results if r.ok), "?")
    )
    print(
        f"model {classifier.name} (weights: {classifier.weights}); data {data.name}, "
        f"{count} {unit}; seed {args.seed}, variant {args.variant}, {args.precision}; "
        f"run {report.run_id}"
    )
    for method in report.methods:
        headers, rows = report.table(method, control=chance_baseline())
        print()
        print_table(headers, rows, title=f"{method}")
        for r in report.results:
            note = r.config.get("note") if r.method == method and r.ok else None
            if note:
                print(f"{r.metric}: {note}")


def cmd_check(args) -> int:
    """Run the metrics for every method; print a table per method."""
    from ..checks.check_runner import check_needs, run_checks, selected_metrics
    from ..checks.settings import default_check_methods
    from ..methods.base import METHODS

    try:
        methods = (
            [METHODS.canonical(m) for m in _split(args.methods)] if args.methods else default_check_methods()
        )
        metrics = None if args.metrics is None else selected_metrics(_split(args.metrics), has_masks=False)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    with open_store(args.store) as store, open_executor(args) as executor:
        resume, args = resumed(args, store, "check")
        if resume:
            methods = list(args.methods)
            metrics = list(args.metrics)
        classifier, data, settings = prepare(args)
        metrics = metrics or selected_metrics(None, has_masks=data.masks is not None, sequence=data.sequence)
        networks = trained_networks(args, classifier, data, metrics)
        try:
            check_needs(
                metrics,
                has_masks=data.masks is not None,
                has_networks=networks is not None,
                sequence=data.sequence,
            )
        except ValueError as exc:
            raise CliError(f"{exc}; {data.name!r} cannot give it") from None
        choose_variant(args, classifier)
        args.methods, args.metrics = methods, metrics
        config = run_config(
            args, classifier, data, settings, command="check", methods=methods, metrics=metrics
        )
        with (
            store_run(store, "check", config, args.seed, run_id=resume) as run_id,
            kept_on_error(run_id, "check"),
            CheckProgress() as progress,
        ):
            report = run_checks(
                classifier,
                data.images,
                methods=methods,
                metrics=metrics,
                seed=args.seed,
                data_name=data.name,
                store=store,
                run_id=run_id,
                masks=data.masks,
                image_names=data.names,
                progress=progress,
                **check_args(args, settings, networks, data, executor),
            )
    _print_report(report, classifier, data, args)
    write_json(args.json, report.as_dict())
    if report.failed:
        raise CliError(
            f"{len(report.failed)} check(s) could not be computed: "
            + "; ".join(f"{r.method} {r.metric} ({r.reason})" for r in report.failed)
            + f"; finished chunks are kept: 'saliency-bench check --resume {report.run_id}' "
            "computes the rest"
        )
    return 0
