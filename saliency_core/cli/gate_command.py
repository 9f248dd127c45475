"""``gate``: one method against a policy; prints each rule's verdict and exits 0 pass,
1 fail, 3 inconclusive, 2 error."""

from __future__ import annotations

import dataclasses
import sys

from .check_progress import CheckProgress
from .check_resume import kept_on_error, resumed, run_config
from .check_setup import check_args, choose_variant, open_executor, prepare, trained_networks
from .errors import CliError
from .runs import open_store, store_run, write_json


def cmd_gate(args) -> int:
    """Evaluate one method against a policy; exit 0 pass, 1 fail, 2 error."""
    from ..checks.policy import PolicyError, load_policy
    from ..checks.gate_run import gate_lines, run_gate
    from ..checks.check_runner import check_needs
    from ..checks.settings import primary_method
    from ..methods.base import METHODS

    try:
        policy = load_policy(args.policy)
        method = METHODS.canonical(args.method) if args.method else primary_method()
    except (PolicyError, ValueError) as exc:
        raise CliError(str(exc)) from None
    with open_store(args.store) as store, open_executor(args) as executor:
        resume, args = resumed(args, store, "gate")
        classifier, data, settings = prepare(args)
        networks = trained_networks(args, classifier, data, policy.metrics)
        try:
            check_needs(
                policy.metrics,
                has_masks=data.masks is not None,
                has_networks=networks is not None,
                sequence=data.sequence,
            )
        except ValueError as exc:
            raise CliError(f"{exc}; {data.name!r} cannot give it") from None
        choose_variant(args, classifier)
        args.method = method
        config = run_config(
            args,
            classifier,
            data,
            settings,
            command="gate",
            method=method,
            policy={
                "name": policy.name,
                "source": policy.source,
                "rules": [dataclasses.asdict(r) for r in policy.rules],
            },
        )
        with (
            store_run(store, "gate", config, args.seed, run_id=resume) as run_id,
            kept_on_error(run_id, "gate"),
            CheckProgress() as progress,
        ):
            result, report = run_gate(
                policy,
                classifier,
                data,
                method=method,
                seed=args.seed,
                store=store,
                run_id=run_id,
                progress=progress,
                **check_args(args, settings, networks, data, executor),
            )
    print("\n".join(gate_lines(result, policy, model=classifier.name, data=data.name)))
    write_json(
        args.json,
        {
            "gate": {
                "policy": policy.name,
                "source": policy.source,
                "model": classifier.name,
                "data": data.name,
                **result.as_dict(),
            },
            "checks": report.as_dict(),
            "run_id": run_id,
        },
    )
    if result.errors:
        print(
            f"saliency-bench: error: {len(result.errors)} rule(s) could not be measured: "
            + "; ".join(f"{r.rule.name}: {r.error}" for r in result.errors),
            file=sys.stderr,
        )
    return result.exit_code
