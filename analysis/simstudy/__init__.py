"""Simulation studies of the whole analysis: does it find the truth, and with what power?

* :mod:`~analysis.simstudy.fast` -- the fast path: the clock's measurement model, simulated
  predicted ages, the primary model by profiled REML, operating characteristics and power.
* :mod:`~analysis.simstudy.full` -- the full-pipeline study: the real pipeline per replicate, scenarios
  that break assumptions, a resumable dask runner and an audited artifact under ``results/``.

Command line: ``python -m analysis.simstudy --help`` (``full {run,summary,audit}`` or ``fast``).
"""

from analysis.simstudy.fast import *  # noqa: F401,F403
from analysis.simstudy.fast import __all__  # noqa: F401
