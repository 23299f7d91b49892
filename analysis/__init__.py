"""Reproducible re-analysis of the LISA resistance-training trial with fMRI brain-age clocks.

Modules sit in layers and import only downwards (``docs/architecture.md``; a test checks)::

    _paths, _threads, report, stats  ->  atlas, open_data  ->  trial, extract  ->  connectome
      ->  clock  ->  trial_analysis, patterns, simstudy, figures  ->  __main__

Notebooks import only the public API of these modules.
"""

import warnings

from analysis._version import __version__

# pooch imports tqdm.auto, which warns in a Jupyter kernel without ipywidgets; the book never shows
# a download progress bar, so the warning would only put stderr on the pages.
warnings.filterwarnings("ignore", message="IProgress not found")

__all__ = ["__version__"]
