"""The Dosenbach 2010 160-ROI atlas (bundled with nilearn, works offline) and its networks.

The atlas is the common coordinate system of the synthetic trial, the real-trial contract
(``atlas.tsv``) and the connectivity analyses.
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

ATLAS_COLUMNS = ["roi", "x", "y", "z", "network"]


@lru_cache(maxsize=1)
def _dosenbach() -> pd.DataFrame:
    bunch = datasets.fetch_coords_dosenbach_2010(ordered_regions=False)
    table = bunch.rois.reset_index(drop=True).astype(float)
    table.insert(0, "roi", list(bunch.labels))
    table["network"] = list(bunch.networks)
    return table[ATLAS_COLUMNS]


def dosenbach_atlas() -> pd.DataFrame:
    """The 160 Dosenbach 2010 ROIs as a tidy table.

    Returns
    -------
    pandas.DataFrame
        Columns ``roi`` (unique name, e.g. ``"vmPFC 1"``), ``x``, ``y``, ``z`` (MNI mm) and
        ``network`` (one of six: cerebellum, cingulo-opercular, default, fronto-parietal,
        occipital, sensorimotor). A fresh copy on every call.
    """
    return _dosenbach().copy()


def network_labels(atlas: pd.DataFrame | None = None) -> np.ndarray:
    """Network label per ROI, in atlas order."""
    atlas = dosenbach_atlas() if atlas is None else atlas
    return atlas["network"].to_numpy()


def prefrontal_mask(atlas: pd.DataFrame | None = None) -> np.ndarray:
    """Boolean mask of prefrontal ROIs: named prefrontal/frontal and anterior (y > 0 mm)."""
    atlas = dosenbach_atlas() if atlas is None else atlas
    base = atlas["roi"].str.rsplit(" ", n=1).str[0]
    return (base.isin(PREFRONTAL_PREFIXES) & (atlas["y"] > 0)).to_numpy()
