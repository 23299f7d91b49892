"""``python -m analysis.simstudy``: run a simulation study from the command line."""

import sys

from analysis.simstudy.fast import main

sys.exit(main())
