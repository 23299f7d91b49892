"""Command line of the analysis package: ``python -m analysis <command> ...``.

Commands (each a sub-parser, so other modules can add theirs):

``simulate --out DIR [--seed N]``
    Write the synthetic LISA trial in the real-trial directory layout (see ``data/README.md``).
``extract --fmriprep DIR --atlas NAME|PATH.tsv --strategy NAME --out DIR [...]``
    Extract denoised ROI time series, ``atlas.tsv`` and ``qc.tsv`` from fMRIPrep outputs
    (see :mod:`analysis.extract`).

``clock fit --reference DIR --out FILE [--seed N] [--model ridge|svr|hgb] [--bias-correction METHOD]``
    Fit a tangent-space brain-age clock (ridge by default) on a reference-cohort directory and save it
    (see ``analysis.trial.reference`` and ``analysis.clock.persist``); use it with ``BRAINCLOCK_CLOCK=FILE``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis.clock.persist import fit_clock, load_clock, save_clock
from analysis.extract import ATLASES, DEFAULT_SPACE, STRATEGIES, ExtractionError, extract_fmriprep
from analysis.trial import load_trial, simulate_trial
from analysis.trial.reference import load_reference


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


def _key_values(text: str) -> dict[str, str]:
    """``"01=0,02=12"`` -> ``{"01": "0", "02": "12"}``."""
    pairs = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise argparse.ArgumentTypeError(f"expected LABEL=VALUE pairs separated by commas, got {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def _option_value(text: str):

    try:
        return json.loads(text)
    except ValueError:
        return text


def _extract(args: argparse.Namespace) -> int:

    participants = None
    if args.participants:
        participants = [p for item in args.participants for p in item.split(",") if p]
    options = {}
    for item in args.strategy_option or []:
        for key, value in _key_values(item).items():
            options[key] = _option_value(value)
    try:
        qc = extract_fmriprep(args.fmriprep, args.atlas, args.strategy, args.out, space=args.space,
                              task=args.task, sessions=args.sessions, participants=participants, run=args.run,
                              res=args.res, radius=args.radius, low_pass=args.low_pass,
                              high_pass=args.high_pass, strategy_kwargs=options, n_jobs=args.n_jobs,
                              overwrite=args.overwrite, progress=not args.no_progress)
    except ExtractionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"extracted {len(qc)} scans ({args.strategy}, atlas {args.atlas}) -> {args.out}")
    return 0


def _add_extract(commands) -> None:

    ext = commands.add_parser("extract", help="ROI time series, atlas.tsv and qc.tsv from fMRIPrep outputs")
    ext.add_argument("--fmriprep", required=True, help="fMRIPrep derivatives folder (holding sub-*/)")
    ext.add_argument("--atlas", required=True,
                     help=f"one of {', '.join(ATLASES)} or an atlas TSV (roi, x, y, z, network[, region])")
    ext.add_argument("--strategy", required=True, choices=STRATEGIES, help="nilearn denoising strategy")
    ext.add_argument("--out", required=True, help="output folder (atlas.tsv, qc.tsv, timeseries/)")
    ext.add_argument("--space", default=DEFAULT_SPACE, help=f"fMRIPrep MNI output space (default {DEFAULT_SPACE})")
    ext.add_argument("--task", default="rest", help="BIDS task label (default rest)")
    ext.add_argument("--sessions", type=_key_values, default=None,
                     help="fMRIPrep session label to output label, e.g. 01=0,02=12,03=24 (visit months)")
    ext.add_argument("--participants", nargs="+", default=None, help="subject labels to extract (default all)")
    ext.add_argument("--run", default=None, help="run label to use when a session has several runs")
    ext.add_argument("--res", default=None, help="res- label to use when several resolutions exist")
    ext.add_argument("--radius", type=float, default=5.0, help="sphere radius in mm (default 5)")
    ext.add_argument("--low-pass", type=float, default=None, help="low-pass cut-off in Hz (default none)")
    ext.add_argument("--high-pass", type=float, default=None, help="high-pass cut-off in Hz (default none)")
    ext.add_argument("--strategy-option", action="append", metavar="KEY=VALUE",
                     help="extra load_confounds_strategy argument, e.g. fd_threshold=0.3 (repeatable)")
    ext.add_argument("--n-jobs", type=int, default=1, help="scans extracted in parallel (default 1)")
    ext.add_argument("--overwrite", action="store_true", help="replace existing time-series files")
    ext.add_argument("--no-progress", action="store_true", help="no progress bar")
    ext.set_defaults(func=_extract)


def _clock_fit(args: argparse.Namespace) -> int:

    reference = load_reference(Path(args.reference))
    for note in reference.notes:
        print(f"note: {note}")
    clock = fit_clock(reference, model=args.model, bias_correction=args.bias_correction, seed=args.seed)
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
    _add_extract(commands)
    clock = commands.add_parser("clock", help="saved brain-age clocks").add_subparsers(dest="action", required=True)
    fit = clock.add_parser("fit", help="fit a tangent + ridge clock on a reference cohort and save it")
    fit.add_argument("--reference", required=True, help="reference-cohort directory (see analysis.trial.reference)")
    fit.add_argument("--out", required=True, help="output file, e.g. clock.brainclock.zip")
    fit.add_argument("--seed", type=int, default=0, help="random_state of the clock (default 0)")
    fit.add_argument("--model", default="ridge", choices=("ridge", "svr", "hgb"),
                     help="regression model (default ridge)")
    fit.add_argument("--bias-correction", default="beheshti", choices=("beheshti", "cole", "smith", "none"),
                     help="default correction of the gap (all are saved; default beheshti)")
    fit.set_defaults(func=_clock_fit)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
