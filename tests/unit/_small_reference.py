"""A small synthetic reference cohort (few people, few ROIs, short scans) for fast tests."""

from __future__ import annotations

import numpy as np

from analysis.atlas import dosenbach_atlas
from analysis.trial import Reference, TrialAssumptions
from analysis.trial import simulator as sim


def small_reference(n: int = 60, n_rois: int = 12, n_volumes: int = 60, seed: int = 0) -> Reference:
    """``n`` synthetic adults on ``n_rois`` Dosenbach ROIs spread over the six networks."""
    atlas = dosenbach_atlas()
    atlas = atlas.iloc[np.linspace(0, len(atlas) - 1, n_rois).round().astype(int)].reset_index(drop=True)
    a = TrialAssumptions(n_volumes=n_volumes)
    table = sim.simulate_reference_table(seed, a, n)
    model = sim.SignalModel(a, atlas)
    return Reference(table.drop(columns="brain_age"), table[["participant_id", "age", "brain_age"]].copy(),
                     atlas, model, seed=seed)
