"""The trial: its design, a documented synthetic simulator, and the real-trial data contract.

The book's default data are a synthetic trial that looks like LISA in every published respect
(:func:`simulate_trial`), generated from named, documented, overridable assumptions
(:class:`TrialAssumptions`). Real trial data in the documented directory layout go through the
same :class:`Trial` object (:func:`load_trial`); :func:`load_default_trial` picks real data when
``BRAINCLOCK_TRIAL_DIR`` is set.

Modules, each importing only those above it:

* :mod:`~analysis.trial.errors` -- :class:`TrialDataError`, raised for any broken directory;
* :mod:`~analysis.trial.design` -- :class:`TrialDesign` (``trial.json``): arms, control, visits;
* :mod:`~analysis.trial.assumptions` -- the simulator's assumptions with their sources;
* :mod:`~analysis.trial.io` -- the directory contract: columns, rules, readers and writers;
* :mod:`~analysis.trial.simulator` -- people, visits, latent brain age and time series;
* :mod:`~analysis.trial.core` -- the :class:`Trial` and :class:`Reference` objects;
* :mod:`~analysis.trial.reference` -- a reference cohort directory (``BRAINCLOCK_REFERENCE_DIR``);
* :mod:`~analysis.trial.tables` -- descriptive tables (flow, Table 1 with tableone, visits, strength);
* :mod:`~analysis.trial.cohort` -- the cohort page's results frames and the sentences reporting them.
"""

from analysis.trial import cohort
from analysis.trial.assumptions import TrialAssumptions
from analysis.trial.core import (
    NOT_AVAILABLE,
    Reference,
    Trial,
    load_default_trial,
    load_trial,
    simulate_reference,
    simulate_trial,
)
from analysis.trial.design import ARMS, CONTROL, LISA, MONTHS, Arm, TrialDesign, TrialDesignError, load_design
from analysis.trial.errors import TrialDataError
from analysis.trial.reference import (
    ReferenceCohort,
    atlas_digest,
    atlas_name,
    has_regions,
    load_reference,
    reference_from_env,
    region_mask,
    write_reference,
)
from analysis.trial.simulator import _STREAM_SCAN as SCAN_STREAM

# the simulator's signal model and streams, for batched re-implementations (analysis.simstudy.full)
from analysis.trial.simulator import KIND_TRIAL, SignalModel, stream
from analysis.trial.tables import (
    arm_visits,
    baseline_display,
    baseline_smd,
    baseline_table,
    flow_counts,
    missingness_patterns,
    strength_change_by_self_training,
    strength_summary,
    visit_summary,
)

__all__ = [
    "NOT_AVAILABLE", "ARMS", "Arm", "CONTROL", "LISA", "MONTHS", "TrialDesign", "TrialDesignError", "load_design",
    "ReferenceCohort", "atlas_digest", "atlas_name", "has_regions", "load_reference", "reference_from_env",
    "region_mask", "write_reference", "Trial", "Reference", "TrialAssumptions", "TrialDataError",
    "simulate_trial", "simulate_reference", "load_trial", "load_default_trial", "baseline_table",
    "flow_counts", "visit_summary", "strength_summary", "missingness_patterns",
    "arm_visits", "baseline_display", "baseline_smd", "strength_change_by_self_training", "cohort",
    "KIND_TRIAL", "SCAN_STREAM", "SignalModel", "stream",
]
