"""The Dosenbach 2010 160-ROI atlas (bundled with nilearn, works offline), its networks and regions.

The atlas is the coordinate system of the synthetic trial and the default of the connectivity
analyses. Real data may use any atlas of at least ten ROIs (``atlas.tsv``: ``roi, x, y, z,
network`` and an optional ``region``); code asks the atlas table, never the ROI count, which
ROIs are prefrontal (its ``region`` column).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from nilearn import datasets

#: Region-name prefixes of the Dosenbach atlas that lie in prefrontal cortex.
PREFRONTAL_PREFIXES = (
    "vmPFC", "aPFC", "vent aPFC", "dlPFC", "vlPFC", "mPFC", "vPFC", "dFC", "vFC", "mFC",
    "sup frontal", "frontal", "ACC", "dACC", "pre-SMA",
)

#: Region label of the prefrontal ROIs (``atlas.tsv``'s optional ``region`` column).
PREFRONTAL = "prefrontal"
#: Region label of every other ROI of the bundled Dosenbach atlas.
OTHER_REGION = "other"
ATLAS_COLUMNS = ["roi", "x", "y", "z", "network", "region"]


def _prefrontal_by_name(atlas: pd.DataFrame) -> np.ndarray:
    """Dosenbach names with a prefrontal prefix that lie anterior (y > 0 mm)."""
    base = atlas["roi"].str.rsplit(" ", n=1).str[0]
    return (base.isin(PREFRONTAL_PREFIXES) & (atlas["y"] > 0)).to_numpy()


@lru_cache(maxsize=1)
def _dosenbach() -> pd.DataFrame:
    bunch = datasets.fetch_coords_dosenbach_2010(ordered_regions=False)
    table = bunch.rois.reset_index(drop=True).astype(float)
    table.insert(0, "roi", list(bunch.labels))
    table["network"] = list(bunch.networks)
    table["region"] = np.where(_prefrontal_by_name(table), PREFRONTAL, OTHER_REGION)
    return table[ATLAS_COLUMNS]


def dosenbach_atlas() -> pd.DataFrame:
    """The 160 Dosenbach 2010 ROIs as a tidy table.

    Returns
    -------
    pandas.DataFrame
        Columns ``roi`` (unique name, e.g. ``"vmPFC 1"``), ``x``, ``y``, ``z`` (MNI mm) and
        ``network`` (one of six: cerebellum, cingulo-opercular, default, fronto-parietal,
        occipital, sensorimotor) and ``region`` (``"prefrontal"`` for the ROIs of
        :data:`PREFRONTAL_PREFIXES` lying anterior, y > 0 mm; ``"other"`` otherwise). A fresh
        copy on every call.
    """
    return _dosenbach().copy()


def network_labels(atlas: pd.DataFrame | None = None) -> np.ndarray:
    """Network label per ROI, in atlas order."""
    atlas = dosenbach_atlas() if atlas is None else atlas
    return atlas["network"].to_numpy()


def prefrontal_mask(atlas: pd.DataFrame | None = None) -> np.ndarray:
    """Boolean mask of prefrontal ROIs.

    The atlas's ``region`` column when it has one (``region == "prefrontal"``); otherwise the
    Dosenbach naming rule (a prefrontal/frontal name prefix and anterior, y > 0 mm).
    """
    atlas = dosenbach_atlas() if atlas is None else atlas
    if "region" in atlas.columns:
        return (atlas["region"] == PREFRONTAL).to_numpy()
    return _prefrontal_by_name(atlas)
