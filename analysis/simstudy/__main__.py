"""``python -m analysis.simstudy``: run a simulation study from the command line.

* ``python -m analysis.simstudy full {run,summary,audit} ...`` -- the full-pipeline study
  (:mod:`analysis.simstudy.full`: dask runner, resumable artifact under ``results/``);
* ``python -m analysis.simstudy fast [...]`` -- the fast path (:mod:`analysis.simstudy.fast`);
  without a subcommand the arguments go to the fast path, as before.
"""

import sys

from analysis.simstudy import fast, full

USAGE = """usage: python -m analysis.simstudy {full,fast} ...

  full {run,summary,audit}   the full-pipeline simulation study (python -m analysis.simstudy full --help)
  fast [options]             the fast path (python -m analysis.simstudy fast --help); also the default
"""


def main(argv: list[str]) -> int:
    if argv[:1] == ["full"]:
        return full.main(argv[1:])
    if argv[:1] == ["fast"]:
        return fast.main(argv[1:])
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    return fast.main(argv)


if __name__ == "__main__":  # importing the module (its tests) runs nothing
    sys.exit(main(sys.argv[1:]))
