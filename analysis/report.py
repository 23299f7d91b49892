"""Results registry, glue for the prose, figures and downloadable tables.

A notebook records each headline number once with :func:`record`. The call

* glues three strings for the prose (``key``, ``key_ci``, ``key_full``) through myst-nb, so
  the text of the book never holds a hand-typed result, and
* attaches the record (value, CI, unit, description) to the cell output, from where the book
  build collects every record of every executed notebook into ``_build/results.json``
  (see :func:`collect_results`). Results therefore travel with the executed outputs and can
  never be stale with respect to them.

``tests/expected/results.json`` holds the accepted values; :func:`compare_results` reports the
keys that moved beyond their tolerance.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis._format import MINUS, format_number  # noqa: F401  (report.format_number is public)

#: Key of the output metadata that carries a result record.
RESULT_METADATA_KEY = "brainclock_result"

#: Data kinds a page can run on, with the banner text shown to readers.
DATA_KINDS = {
    "synthetic": (
        "warning",
        "Synthetic data",
        "This page runs on the <b>synthetic LISA trial</b>: simulated people from a documented, "
        "seeded simulator calibrated to published numbers. Its results illustrate and test the "
        "method; they are not findings about real people.",
    ),
    "real-trial": (
        "important",
        "Real trial data",
        "This page runs on <b>real trial data</b> read from the directory named by "
        "<code>BRAINCLOCK_TRIAL_DIR</code>. Only aggregate results are shown.",
    ),
    "open-data": (
        "note",
        "Real open data",
        "This page uses <b>real, openly published data</b> (see the data and provenance page) to "
        "check that the methods behave on real measurements.",
    ),
}

#: Kind of data named by the page's most recent :func:`data_banner`; labels CSV downloads.
_page_data_kind: str | None = None

_KEY_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_MINUS = MINUS


@dataclass(frozen=True)
class Result:
    """One headline number of the book."""

    key: str
    value: float
    ci_low: float | None
    ci_high: float | None
    unit: str
    description: str
    decimals: int
    #: What the interval is, as the prose says it (``key_full``): a confidence interval unless stated.
    interval: str = "95% CI"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _ipython_display_(self) -> None:
        """Show nothing: a recorded result reaches the page through its glued text only.

        Without this, a cell ending in ``report.record(...)`` would print the record's repr.
        """


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ValueError(
            f"result key {key!r} is invalid: use lowercase '<topic>.<name>' with letters, digits, "
            "underscores and at least one dot, e.g. 'cohort.n_randomised'"
        )


def _as_float(name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    return out


def make_result(
    key: str,
    value: float,
    *,
    ci: tuple[float, float] | None = None,
    unit: str = "",
    description: str = "",
    decimals: int = 2,
    interval: str = "95% CI",
) -> Result:
    """Validate and build a :class:`Result` (without displaying anything)."""
    _check_key(key)
    val = _as_float("value", value)
    if not math.isfinite(val):
        raise ValueError(f"result {key!r}: value must be finite, got {value!r}")
    low = high = None
    if ci is not None:
        if len(ci) != 2:
            raise ValueError(f"result {key!r}: ci must be (low, high), got {ci!r}")
        low, high = (_as_float("ci", c) for c in ci)
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise ValueError(f"result {key!r}: ci must be finite with low <= high, got {ci!r}")
    if not isinstance(decimals, int) or decimals < 0:
        raise ValueError(f"decimals must be a non-negative int, got {decimals!r}")
    if not isinstance(interval, str) or not interval.strip():
        raise ValueError(f"result {key!r}: interval must name the interval (e.g. '95% CI'), got {interval!r}")
    return Result(key, val, low, high, unit, description, decimals, interval)


def glue_strings(result: Result) -> dict[str, str]:
    """The strings glued for a result: ``key``, ``key_ci`` and ``key_full``."""
    d = result.decimals
    value = format_number(result.value, d)
    unit = f" {result.unit}" if result.unit else ""
    out = {result.key: value}
    if result.ci_low is not None:
        ci = f"{format_number(result.ci_low, d)} to {format_number(result.ci_high, d)}"
        out[f"{result.key}_ci"] = ci
        out[f"{result.key}_full"] = f"{value}{unit} ({result.interval} {ci})"
    else:
        out[f"{result.key}_ci"] = "n/a"
        out[f"{result.key}_full"] = f"{value}{unit}"
    return out


def _glue_text(name: str, text: str, metadata: Mapping[str, Any] | None = None) -> None:
    """Glue a plain string without displaying it (as ``myst_nb.glue(..., display=False)``)."""
    from IPython.display import display
    from myst_nb.ext.glue import GLUE_PREFIX

    meta = {"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}}
    if metadata:
        meta.update(metadata)
    display({GLUE_PREFIX + "text/plain": repr(text)}, raw=True, metadata=meta)


def record(
    key: str,
    value: float,
    *,
    ci: tuple[float, float] | None = None,
    unit: str = "",
    description: str = "",
    decimals: int = 2,
    interval: str = "95% CI",
) -> Result:
    """Register a headline number and glue it for the prose.

    Parameters
    ----------
    key : str
        ``<topic>.<name>``, lowercase, e.g. ``"arms.hrt_vs_con_12m"``.
    value : float
        The estimate.
    ci : (float, float), optional
        95% confidence interval.
    unit : str
        Unit shown in ``key_full`` (e.g. ``"y"``, ``"Nm"``, ``"people"``).
    description : str
        One short sentence saying what the number is.
    decimals : int
        Decimals used in the glued text (0 for counts).
    interval : str, default="95% CI"
        What ``ci`` is, as ``key_full`` names it (e.g. ``"95% Monte Carlo interval"`` for a
        simulated rate's Monte Carlo error).

    Returns
    -------
    Result
        The validated record. Glued names: ``key`` (value), ``key_ci`` (``"a to b"``) and
        ``key_full`` (``"v unit (95% CI a to b)"``, with ``interval`` in place of "95% CI").
    """
    result = make_result(key, value, ci=ci, unit=unit, description=description, decimals=decimals,
                         interval=interval)
    strings = glue_strings(result)
    for i, (name, text) in enumerate(strings.items()):
        meta = {RESULT_METADATA_KEY: result.to_dict()} if i == 0 else None
        _glue_text(name, text, meta)
    return result


#: Columns of a results frame for :func:`record_frame` (``ci_low``/``ci_high``/``unit``/
#: ``decimals``/``description`` optional).
RESULT_FRAME_COLUMNS = ("key", "value", "ci_low", "ci_high", "unit", "decimals", "description", "interval")


class RecordedResults(list):
    """The :class:`Result` records of :func:`record_frame`; like a Result, displays nothing on a page."""

    def _ipython_display_(self) -> None:
        return None


def record_frame(results: pd.DataFrame) -> RecordedResults:
    """Record every row of a results frame (one row per headline number) with :func:`record`.

    Package functions that produce several numbers for a page return such a frame, so a notebook
    records them in one call instead of a loop. Columns: ``key`` and ``value`` (required),
    ``ci_low`` and ``ci_high`` (both or neither; NaN for no interval), ``unit``, ``decimals``,
    ``description``, ``interval`` (what the interval is; default "95% CI").
    """
    if not isinstance(results, pd.DataFrame):
        raise TypeError(f"results must be a DataFrame, got {type(results).__name__}")
    missing = [c for c in ("key", "value") if c not in results.columns]
    unknown = [c for c in results.columns if c not in RESULT_FRAME_COLUMNS]
    if missing or unknown:
        raise ValueError(f"results frame: missing columns {missing}, unknown columns {unknown}; "
                         f"allowed {list(RESULT_FRAME_COLUMNS)}")
    out = RecordedResults()
    for row in results.to_dict("records"):
        low, high = row.get("ci_low", np.nan), row.get("ci_high", np.nan)
        ci = None if low is None or high is None or pd.isna(low) or pd.isna(high) else (float(low), float(high))
        decimals = row.get("decimals", 2)
        interval = row.get("interval")  # NaN where the frame joins rows that name no interval
        out.append(record(str(row["key"]), row["value"], ci=ci, unit=str(row.get("unit", "") or ""),
                          description=str(row.get("description", "") or ""),
                          decimals=2 if pd.isna(decimals) else int(decimals),
                          interval="95% CI" if interval is None or pd.isna(interval) or not str(interval).strip()
                          else str(interval)))
    return out


def glue_text(name: str, text: str) -> None:
    """Glue a non-numeric string (e.g. a data-source label) for the prose."""
    if not isinstance(text, str):
        raise TypeError(f"glue_text({name!r}) needs a str, got {type(text).__name__}")
    _glue_text(name, text)


@dataclass(frozen=True)
class ClockLabel:
    """What a page says about the brain-age clock it used (built by :mod:`analysis.clock.apply`).

    Attributes
    ----------
    kind : str
        Where the clock came from: ``"synthetic"`` (trained on the synthetic reference cohort),
        ``"real"`` (trained on a real reference cohort, ``BRAINCLOCK_REFERENCE_DIR``), ``"saved"``
        (a saved clock file, ``BRAINCLOCK_CLOCK``) or ``"given"`` (a fitted clock passed in).
    training_kind : str
        The clock's training data kind: ``"synthetic"``, ``"real"`` or ``"unknown"``.
    phrase : str
        Short text for a banner title, e.g. "clock trained on the synthetic reference cohort".
    description : str
        One sentence with the training cohort: n, age range, sites, data kind.
    """

    kind: str
    training_kind: str
    phrase: str
    description: str

    def __post_init__(self) -> None:
        if self.kind not in CLOCK_KINDS:
            raise ValueError(f"kind must be one of {list(CLOCK_KINDS)}, got {self.kind!r}")
        if self.training_kind not in ("synthetic", "real", "unknown"):
            raise ValueError(f"training_kind must be 'synthetic', 'real' or 'unknown', got {self.training_kind!r}")


#: Where a page's brain-age clock can come from (see :class:`ClockLabel`).
CLOCK_KINDS = ("synthetic", "real", "saved", "given")


def data_banner(kind: str, *, clock: ClockLabel | None = None, glue_as: str | None = None) -> None:
    """Show a banner saying which kind of data the page runs on, and which clock it used.

    Parameters
    ----------
    kind : {"synthetic", "real-trial" (or "real"), "open-data"}
        The data kind of the page (for a trial page: the trial's ``source``).
    clock : ClockLabel, optional
        The brain-age clock the page uses (e.g. ``TrialAnalysisData.clock_label``); its
        training data kind is then stated separately in the banner's title, e.g. "Real trial
        data · clock trained on a real reference cohort (n=…, ages …)", and its description
        below the text.
    glue_as : str, optional
        Also glue the data kind's title (e.g. "Synthetic data") under this name, so other pages
        (the landing page) can say which data a pasted result came from.
    """
    if kind == "real":
        kind = "real-trial"
    if kind not in DATA_KINDS:
        raise ValueError(f"kind must be one of {sorted(DATA_KINDS)}, got {kind!r}")
    if clock is not None and not isinstance(clock, ClockLabel):
        raise TypeError(f"clock must be a ClockLabel (e.g. TrialAnalysisData.clock_label); got {type(clock).__name__}")
    from IPython.display import HTML, display

    global _page_data_kind
    _page_data_kind = kind
    level, title, text = DATA_KINDS[kind]
    if glue_as is not None:
        _glue_text(glue_as, title)
    classes = f"admonition {level} data-banner data-{kind}"
    clock_html = ""
    if clock is not None:
        title = f"{title} \u00b7 {clock.phrase}"
        classes += f" clock-{clock.kind} clock-trained-{clock.training_kind}"
        clock_html = f'<p class="clock-source">Brain-age clock: {html.escape(clock.description)}</p>'
    display(HTML(f'<div class="{classes}"><p class="admonition-title">{html.escape(title)}</p>'
                 f"<p>{text}</p>{clock_html}</div>"))


def clock_banner(clock: ClockLabel) -> None:
    """Show which brain-age clock a page uses: its source and training cohort (n, ages, sites, kind).

    For pages whose data banner is shown separately (e.g. a page with several data kinds).
    """
    if not isinstance(clock, ClockLabel):
        raise TypeError(f"clock must be a ClockLabel (e.g. TrialAnalysisData.clock_label); got {type(clock).__name__}")
    from IPython.display import HTML, display

    display(HTML(f'<div class="admonition note clock-banner clock-{clock.kind} clock-trained-{clock.training_kind}">'
                 f'<p class="admonition-title">Brain-age clock: {html.escape(clock.phrase)}</p>'
                 f"<p>{html.escape(clock.description)}</p></div>"))


def figure(name: str, fig: Any, *, alt: str) -> None:
    """Glue a matplotlib figure for a ``{glue:figure}`` directive, with alt text, and close it."""
    from IPython.display import Image

    if not alt or not alt.strip():
        raise ValueError(f"figure {name!r} needs alt text describing what it shows")

    buf = io.BytesIO()
    # The alt text travels inside the PNG ("Description" text chunk); the book's Sphinx
    # extension copies it to the <img alt=...> of the page.
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Description": alt.strip()})
    plt.close(fig)
    from myst_nb import glue

    glue(name, Image(data=buf.getvalue(), format="png", alt=alt), display=False)


def csv_data_uri(df: pd.DataFrame, *, index: bool = True) -> str:
    """The table as a ``data:text/csv`` URI (so the download travels with the page)."""
    payload = df.to_csv(index=index).encode("utf-8")
    return "data:text/csv;base64," + base64.b64encode(payload).decode("ascii")


def table(
    df: pd.DataFrame,
    name: str,
    *,
    caption: str = "",
    index: bool = True,
    decimals: int = 2,
    data: str | Sequence[str] | None = None,
) -> None:
    """Display a table with a caption and a *Download CSV* link.

    The downloaded file is named ``<data kind>-<name>.csv`` (e.g. ``synthetic-arms-effects.csv``) so
    a table keeps its label once it leaves the page. ``data`` names the kind (or kinds, for a table
    mixing them); by default it is the kind of the page's most recent :func:`data_banner`.
    """
    from IPython.display import HTML, display

    if not re.fullmatch(r"[a-z0-9_\-]+", name):
        raise ValueError(f"table name {name!r}: use lowercase letters, digits, '-' and '_'")
    kinds = [data] if isinstance(data, str) else list(data) if data is not None else (
        [_page_data_kind] if _page_data_kind else [])
    kinds = ["real-trial" if k == "real" else k for k in kinds]
    unknown = [k for k in kinds if k not in DATA_KINDS]
    if unknown:
        raise ValueError(f"table {name!r}: data kind {unknown} is not one of {sorted(DATA_KINDS)}")
    filename = "-".join(["+".join(kinds), name] if kinds else [name]) + ".csv"
    shown = df.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: format_number(v, decimals))
    # Numbers right-aligned, text left-aligned: each cell carries a class by its column's type.
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
               for c in df.columns]
    kinds = pd.DataFrame([["num" if k else "text" for k in numeric]] * len(shown),
                         index=shown.index, columns=shown.columns)
    styler = shown.style.set_uuid(name.replace("-", "_")).set_td_classes(kinds)
    styler = styler.set_table_attributes('class="dataframe brainclock-table"')
    if not index:
        styler = styler.hide(axis="index")
    body = styler.to_html(escape="html")
    cap = f"<p class='table-caption'>{html.escape(caption)}</p>" if caption else ""
    link = (
        f"<p class='table-download'><a download='{filename}' href='{csv_data_uri(df, index=index)}'>"
        f"Download CSV ({filename})</a></p>"
    )
    display(HTML(f"<div class='brainclock-table-wrap' id='table-{name}'>{cap}{body}{link}</div>"))


# --- collecting and comparing results ------------------------------------------------------


def results_from_notebook(nb: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every result record in an executed notebook (nbformat dict), in cell order."""
    found = []
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) or []:
            meta = output.get("metadata", {}) or {}
            if RESULT_METADATA_KEY in meta:
                found.append(dict(meta[RESULT_METADATA_KEY]))
    return found


def collect_notebooks(notebooks: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Merge the records of executed notebooks, given as ``(name, notebook)`` pairs.

    Raises
    ------
    ValueError
        If one key is recorded twice (a result is registered once, by one notebook).
    """
    registry: dict[str, dict[str, Any]] = {}
    for name, nb in notebooks:
        for rec in results_from_notebook(nb):
            key = rec["key"]
            if key in registry:
                raise ValueError(
                    f"result {key!r} recorded twice: in {registry[key]['notebook']} and in {name}"
                )
            registry[key] = {**rec, "notebook": name}
    return dict(sorted(registry.items()))


def collect_results(paths: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """:func:`collect_notebooks` over executed ``.ipynb`` files."""
    return collect_notebooks(
        (Path(p).stem, json.loads(Path(p).read_text(encoding="utf-8"))) for p in sorted(paths)
    )


def default_tolerance(expected: Mapping[str, Any]) -> float:
    """Absolute tolerance for a result: half a unit of its last shown decimal, at least 1e-9."""
    return max(0.5 * 10 ** (-int(expected.get("decimals", 2))), 1e-9)


def compare_results(
    actual: Mapping[str, Mapping[str, Any]],
    expected: Mapping[str, Mapping[str, Any]],
    tolerances: Mapping[str, float] | None = None,
) -> list[str]:
    """Readable differences between two registries; an empty list means they agree.

    A key's tolerance is ``tolerances[key]`` if given, else ``expected[key]["tolerance"]``,
    else half a unit in the last decimal shown in the prose (:func:`default_tolerance`). The value
    and both CI bounds are compared.
    """
    tolerances = dict(tolerances or {})
    problems = []
    for key in sorted(set(expected) - set(actual)):
        problems.append(f"{key}: expected {expected[key]['value']!r} but the build recorded nothing")
    for key in sorted(set(actual) - set(expected)):
        problems.append(
            f"{key}: new result {actual[key]['value']!r} not in tests/expected/results.json "
            "(run `make expected` to accept)"
        )
    for key in sorted(set(actual) & set(expected)):
        exp, act = expected[key], actual[key]
        tol = tolerances.get(key, exp.get("tolerance", default_tolerance(exp)))
        for field in ("value", "ci_low", "ci_high"):
            e, a = exp.get(field), act.get(field)
            if e is None and a is None:
                continue
            if e is None or a is None or not np.isclose(a, e, rtol=0, atol=tol):
                problems.append(f"{key}.{field}: expected {e!r}, got {a!r} (tolerance {tol:g})")
    return problems
