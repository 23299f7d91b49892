"""Reproducible re-analysis of the LISA resistance-training trial with fMRI brain-age clocks.

Modules follow the one-way data flow of ``design.md``::

    atlas  ->  open_data, trial  ->  connectome  ->  clock  ->  stats  ->  figures, report

Notebooks import only the public API of these modules.
"""

from analysis._version import __version__

__all__ = ["__version__"]
