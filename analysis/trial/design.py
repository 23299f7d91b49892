"""The trial's design as data: arms, control, visits, primary and follow-up visits (``trial.json``).

Nothing about LISA's design is hard-coded elsewhere in the package: code asks a
:class:`TrialDesign` for the arms, the contrasts and the result keys. :data:`LISA` is the one
definition of LISA's design; a trial directory may carry its own ``trial.json``::

    {"arms": [{"label": "HRT", "description": "Heavy resistance training"},
              {"label": "MIT", "description": "Moderate intensity training"},
              {"label": "CON", "description": "Control (usual activity)"}],
     "control": "CON", "visits": [0, 12, 24], "primary_visit": 12,
     "followup_visits": [24], "inclusion_age": [62, 71]}

Visits are months since randomisation; the first visit is the baseline. ``followup_visits``
(visits after the intervention ended) and ``inclusion_age`` (``[low, high]`` years) may be
absent or empty. Every broken rule raises :class:`TrialDesignError` (a
:class:`~analysis.trial.TrialDataError`, so a ``ValueError``) naming the file, the key, the
rule and the value. Unknown keys are errors too (a misspelt key is never silently ignored).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from analysis.trial.errors import TrialDataError

__all__ = ["ARMS", "CONTROL", "DESIGN_FILE", "LISA", "MONTHS", "Arm", "TrialDesign", "TrialDesignError", "load_design"]

#: Name of the design file inside a trial directory.
DESIGN_FILE = "trial.json"
#: Pattern every result key must match.
RESULT_KEY_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")

_MISSING = object()
_KEYS = ("arms", "control", "visits", "primary_visit", "followup_visits", "inclusion_age")
_REQUIRED = ("arms", "control", "visits", "primary_visit")
_ARM_KEYS = ("label", "description")


class TrialDesignError(TrialDataError):
    """``trial.json`` breaks a rule; the message names the file, the key, the rule and the value."""

    def __init__(self, file: str, key: str | None, rule: str, *, value: Any = _MISSING, detail: str = ""):
        self.file, self.key, self.row, self.column, self.rule = file, key, None, key, rule
        self.value = None if value is _MISSING else value
        msg = f"file {file!r}" + (f", key {key!r}" if key is not None else "") + f": rule '{rule}' broken"
        if value is not _MISSING:
            msg += f" (value {value!r})"
        if detail:
            msg += f"; {detail}"
        ValueError.__init__(self, msg)


@dataclass(frozen=True)
class Arm:
    """One arm of the trial: a short label (e.g. ``"HRT"``) and a description."""

    label: str
    description: str = ""


def _slug(label: str) -> str:
    """Label as it appears in result keys: lower case, runs of other characters -> ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class TrialDesign:
    """Arms, control and visit schedule of a randomised trial.

    Parameters
    ----------
    arms : tuple of Arm
        Every arm, control included, in the order results are reported.
    control : str
        Label of the control arm.
    visits : tuple of int
        Visit months, strictly increasing; the first is the baseline.
    primary_visit : int
        The post-baseline visit of the primary comparison.
    followup_visits : tuple of int
        Post-baseline visits after the intervention ended (persistence), possibly empty.
    inclusion_age : tuple of (float, float) or None
        Protocol's inclusion age range ``(low, high)`` in years.
    file : str
        Name used in error messages (not part of the design; ignored by ``==``).

    Construction validates every rule (see the module docstring).
    """

    arms: tuple[Arm, ...]
    control: str
    visits: tuple[int, ...]
    primary_visit: int
    followup_visits: tuple[int, ...] = ()
    inclusion_age: tuple[float, float] | None = None
    file: str = field(default=DESIGN_FILE, compare=False, repr=False)

    def __post_init__(self) -> None:
        # normalise sequences to tuples so the frozen object is hashable and comparable
        object.__setattr__(self, "arms", tuple(self.arms))
        object.__setattr__(self, "visits", tuple(self.visits))
        object.__setattr__(self, "followup_visits", tuple(self.followup_visits or ()))
        if self.inclusion_age is not None:
            object.__setattr__(self, "inclusion_age", tuple(self.inclusion_age))
        self._validate()

    # -- validation --------------------------------------------------------------------------
    def _fail(self, key: str, rule: str, value: Any = _MISSING, detail: str = "") -> None:
        raise TrialDesignError(self.file, key, rule, value=value, detail=detail)

    def _validate(self) -> None:
        self._validate_arms()
        self._validate_visits()
        if self.inclusion_age is not None:
            age = self.inclusion_age
            if len(age) != 2 or not all(_is_number(v) for v in age) or not age[0] < age[1]:
                self._fail("inclusion_age", "two finite numbers [low, high] with low < high", list(age))

    def _validate_arms(self) -> None:
        for i, arm in enumerate(self.arms):
            if not isinstance(arm, Arm):
                self._fail(f"arms[{i}]", "must be an Arm", arm)
            if not isinstance(arm.label, str) or not arm.label.strip():
                self._fail(f"arms[{i}].label", "non-empty text", arm.label)
            if not isinstance(arm.description, str):
                self._fail(f"arms[{i}].description", "text", arm.description)
            if not _slug(arm.label):
                self._fail(f"arms[{i}].label", "must contain a letter or digit (used in result keys)", arm.label)
        if len(self.arms) < 2:
            self._fail("arms", "at least two arms", [a.label for a in self.arms])
        labels = self.labels
        for i, label in enumerate(labels):
            if label in labels[:i]:
                self._fail(f"arms[{i}].label", "arm labels must be unique", label)
        slugs: dict[str, str] = {}
        for label in labels:
            other = slugs.setdefault(_slug(label), label)
            if other != label:
                self._fail("arms", "arm labels must stay distinct in result keys (lower case, "
                           "non-alphanumeric characters -> '_')", [other, label],
                           detail=f"both become {_slug(label)!r}")
        if self.control not in labels:
            self._fail("control", f"must be one of the arm labels {labels}", self.control)

    def _validate_visits(self) -> None:
        visits = self.visits
        if not visits or not all(_is_int(v) for v in visits):
            self._fail("visits", "a non-empty list of whole numbers (months)", list(visits))
        if visits[0] < 0:
            self._fail("visits", "months must not be negative", list(visits))
        if any(b <= a for a, b in zip(visits, visits[1:])):
            self._fail("visits", "strictly increasing (the first visit is the baseline)", list(visits))
        post = visits[1:]
        if not post:
            self._fail("visits", "at least one visit after the baseline", list(visits))
        if not _is_int(self.primary_visit) or self.primary_visit not in post:
            self._fail("primary_visit", f"must be a post-baseline visit {list(post)}", self.primary_visit)
        follow = self.followup_visits
        for v in follow:
            if not _is_int(v) or v not in post:
                self._fail("followup_visits", f"every follow-up visit must be a post-baseline visit {list(post)}", v)
        if len(set(follow)) != len(follow) or list(follow) != sorted(follow):
            self._fail("followup_visits", "strictly increasing, without duplicates", list(follow))
        if self.primary_visit in follow:
            self._fail("primary_visit", "the primary visit must not be a follow-up visit", self.primary_visit,
                       detail=f"followup_visits = {list(follow)}")

    # -- views -------------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        """Arm labels in file order, control included."""
        return [a.label for a in self.arms]

    @property
    def descriptions(self) -> dict[str, str]:
        """Description of each arm, by label."""
        return {a.label: a.description for a in self.arms}

    @property
    def active_arms(self) -> list[str]:
        """Labels of the non-control arms, in file order."""
        return [label for label in self.labels if label != self.control]

    @property
    def baseline(self) -> int:
        """The baseline visit (the first)."""
        return self.visits[0]

    @property
    def post_baseline(self) -> list[int]:
        """Every visit after the baseline."""
        return list(self.visits[1:])

    def contrasts(self) -> list[tuple[str, str]]:
        """Ordered comparisons: each active arm vs control, then active arms pairwise.

        For LISA: ``[("HRT", "CON"), ("MIT", "CON"), ("HRT", "MIT")]``.
        """
        active = self.active_arms
        pairs = [(arm, self.control) for arm in active]
        pairs += [(a, b) for i, a in enumerate(active) for b in active[i + 1:]]
        return pairs

    def is_followup(self, month: int) -> bool:
        """Whether ``month`` is a follow-up visit (after the intervention ended)."""
        return month in self.followup_visits

    def result_key(self, arm: str, other: str, month: int, *, prefix: str = "") -> str:
        """Results-registry key of the comparison ``arm`` vs ``other`` at ``month``.

        ``arms.<arm>_vs_<other>_<month>m`` for post-baseline visits during the intervention,
        ``followup.<arm>_vs_<other>_<month>m`` for follow-up visits (labels lower-cased, other
        characters replaced by ``_``), e.g. ``result_key("HRT", "CON", 12) == "arms.hrt_vs_con_12m"``.
        ``prefix`` names the estimate, e.g. ``prefix="ancova"`` gives ``arms.ancova_hrt_vs_con_12m``.
        """
        if prefix and not re.fullmatch(r"[a-z0-9_]+", prefix):
            raise ValueError(f"prefix must be lower-case letters, digits or '_'; got {prefix!r}")
        for name, label in (("arm", arm), ("other", other)):
            if label not in self.labels:
                raise ValueError(f"{name} must be one of the arm labels {self.labels}; got {label!r}")
        if arm == other:
            raise ValueError(f"arm and other must differ; got {arm!r} twice")
        if not _is_int(month) or month not in self.post_baseline:
            raise ValueError(f"month must be a post-baseline visit {self.post_baseline}; got {month!r}")
        group = "followup" if self.is_followup(month) else "arms"
        key = f"{group}.{prefix + '_' if prefix else ''}{_slug(arm)}_vs_{_slug(other)}_{month}m"
        assert RESULT_KEY_PATTERN.match(key), key
        return key

    # -- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The ``trial.json`` content (``inclusion_age`` left out when not set)."""
        out: dict[str, Any] = {
            "arms": [{"label": a.label, "description": a.description} for a in self.arms],
            "control": self.control,
            "visits": list(self.visits),
            "primary_visit": self.primary_visit,
            "followup_visits": list(self.followup_visits),
        }
        if self.inclusion_age is not None:
            out["inclusion_age"] = list(self.inclusion_age)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, file: str = DESIGN_FILE) -> TrialDesign:
        """Validate a parsed ``trial.json``; ``file`` names it in error messages."""
        def fail(key, rule, value=_MISSING, detail=""):
            raise TrialDesignError(file, key, rule, value=value, detail=detail)

        if not isinstance(data, Mapping):
            fail(None, "a JSON object at the top level", type(data).__name__)
        for key in data:
            if key not in _KEYS:
                fail(key, f"unknown key (known: {list(_KEYS)})")
        for key in _REQUIRED:
            if key not in data:
                fail(key, "required key missing")
        raw_arms = data["arms"]
        if not isinstance(raw_arms, list):
            fail("arms", "a list of {\"label\", \"description\"} objects", raw_arms)
        arms = []
        for i, item in enumerate(raw_arms):
            if not isinstance(item, Mapping):
                fail(f"arms[{i}]", "an object with \"label\" and \"description\"", item)
            for key in item:
                if key not in _ARM_KEYS:
                    fail(f"arms[{i}].{key}", f"unknown key (known: {list(_ARM_KEYS)})")
            if "label" not in item:
                fail(f"arms[{i}].label", "required key missing")
            arms.append(Arm(item["label"], item.get("description", "")))
        visits = data["visits"]
        if not isinstance(visits, list):
            fail("visits", "a list of whole numbers (months)", visits)
        follow = data.get("followup_visits")
        follow = [] if follow is None else follow
        if not isinstance(follow, list):
            fail("followup_visits", "a list of visits (may be empty)", follow)
        age = data.get("inclusion_age")
        if age is not None and not isinstance(age, list):
            fail("inclusion_age", "two numbers [low, high]", age)
        return cls(tuple(arms), data["control"], tuple(visits), data["primary_visit"], tuple(follow),
                   tuple(age) if age else None, file=file)

    @classmethod
    def from_json(cls, path: str | Path) -> TrialDesign:
        """Read ``path`` (a ``trial.json`` file, or a trial directory holding one)."""
        path = Path(path)
        if path.is_dir():
            path = path / DESIGN_FILE
        if not path.is_file():
            raise TrialDesignError(path.name, None, "file must exist", detail=f"expected {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise TrialDesignError(path.name, None, "must be valid UTF-8 JSON", detail=str(err)) from None
        return cls.from_dict(data, file=path.name)

    def to_json(self, path: str | Path) -> Path:
        """Write ``trial.json`` to ``path`` (a file, or an existing directory); returns the file."""
        path = Path(path)
        if path.is_dir():
            path = path / DESIGN_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


def load_design(trial_dir: str | Path, *, default: TrialDesign | None = None) -> TrialDesign:
    """The design of a trial directory: its ``trial.json``, else ``default`` if given.

    Raises :class:`TrialDesignError` when the file is missing and no default is given.
    """
    path = Path(trial_dir) / DESIGN_FILE
    if not path.exists() and default is not None:
        return default
    return TrialDesign.from_json(path)


#: The LISA trial's design -- the one definition the rest of the package uses.
LISA = TrialDesign(
    arms=(Arm("HRT", "Heavy resistance training"), Arm("MIT", "Moderate intensity training"),
          Arm("CON", "Control (usual activity)")),
    control="CON",
    visits=(0, 12, 24),
    primary_visit=12,
    followup_visits=(24,),
    inclusion_age=(62, 71),
)

#: LISA's arm labels, control and visit months (the synthetic trial's design).
ARMS = tuple(LISA.labels)
CONTROL = LISA.control
MONTHS = tuple(LISA.visits)
