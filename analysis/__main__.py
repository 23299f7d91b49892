"""Command line of the analysis package: ``python -m analysis <command> ...``.

Commands (each a sub-parser, so other modules can add theirs):

``simulate --out DIR [--seed N]``
    Write the synthetic LISA trial in the real-trial directory layout (see ``data/README.md``).

``clock fit --reference DIR --out FILE [--seed N] [--bias-correction METHOD]``
    Fit a tangent + ridge brain-age clock on a reference-cohort directory and save it
    (see ``analysis.reference`` and ``analysis.clock_io``); use it with ``BRAINCLOCK_CLOCK=FILE``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _simulate(args: argparse.Namespace) -> int:
    from analysis.trial import load_trial, simulate_trial

    overrides = {}
    if args.n_volumes is not None:
        overrides["n_volumes"] = args.n_volumes
    trial = simulate_trial(seed=args.seed, **overrides)
    out = trial.write(Path(args.out))
    if args.check:
        load_trial(out)
    n_scans = int(trial.visits["mri_usable"].sum())
    print(f"wrote synthetic trial (seed {args.seed}): {len(trial.participants)} participants, "
          f"{len(trial.visits)} visits, {n_scans} time series -> {out}")
    return 0


def _clock_fit(args: argparse.Namespace) -> int:
    from analysis.clock_io import fit_clock, load_clock, save_clock
    from analysis.reference import load_reference

    reference = load_reference(Path(args.reference))
    for note in reference.notes:
        print(f"note: {note}")
    clock = fit_clock(reference, bias_correction=args.bias_correction, seed=args.seed)
    out = save_clock(clock, Path(args.out), atlas=reference.atlas, training=reference)
    print(f"wrote {load_clock(out, atlas=reference.atlas).describe()} -> {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per task."""
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sim = commands.add_parser("simulate", help="write the synthetic trial in the real-trial layout")
    sim.add_argument("--out", required=True, help="output directory (created)")
    sim.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    sim.add_argument("--n-volumes", type=int, default=None, help="volumes per scan (default: the assumption)")
    sim.add_argument("--check", action="store_true", help="read the directory back with load_trial")
    sim.set_defaults(func=_simulate)
    clock = commands.add_parser("clock", help="saved brain-age clocks").add_subparsers(dest="action", required=True)
    fit = clock.add_parser("fit", help="fit a tangent + ridge clock on a reference cohort and save it")
    fit.add_argument("--reference", required=True, help="reference-cohort directory (see analysis.reference)")
    fit.add_argument("--out", required=True, help="output file, e.g. clock.brainclock.zip")
    fit.add_argument("--seed", type=int, default=0, help="random_state of the clock (default 0)")
    fit.add_argument("--bias-correction", default="beheshti", choices=("beheshti", "cole", "smith", "none"),
                     help="default correction of the gap (all are saved; default beheshti)")
    fit.set_defaults(func=_clock_fit)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
