"""The trial's design: arms, control arm and visit months -- defined here once.

Every other module takes LISA's arms and visits from this module.
"""

from __future__ import annotations

__all__ = ["ARMS", "MONTHS", "CONTROL"]

#: Randomised arms, in the order of :attr:`TrialAssumptions.arm_sizes`.
ARMS = ("HRT", "MIT", "CON")
#: The control arm.
CONTROL = "CON"
#: Visit months: baseline, end of training, follow-up.
MONTHS = (0, 12, 24)
