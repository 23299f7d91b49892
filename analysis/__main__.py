"""Command line of the analysis package: ``python -m analysis <command> ...``.

Commands (each a sub-parser, so other modules can add theirs):

``simulate --out DIR [--seed N]``
    Write the synthetic LISA trial in the real-trial directory layout (see ``data/README.md``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.trial import load_trial, simulate_trial


def _simulate(args: argparse.Namespace) -> int:
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
