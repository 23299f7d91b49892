"""Reproducible re-analysis of the LISA resistance-training trial with fMRI brain-age clocks.

Modules follow the one-way data flow of ``design.md``::

    atlas  ->  open_data, trial  ->  connectome  ->  clock  ->  stats  ->  figures, report

Notebooks import only the public API of these modules.
"""

__version__ = "0.1.0"
