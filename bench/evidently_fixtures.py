"""Agreement fixtures for loopml's drift tests: generated pairs of frames, and what Evidently says of them.

Run by hand with the Python of the Evidently virtualenv (Evidently 0.7 needs pandas < 3, loopml's own
venv has pandas 3), from the repository's root:

    bench/.venvs/evidently/bin/python bench/evidently_fixtures.py [--out DIR]

That venv is the one ``bench/drift.py`` sets up (``ensure_venv("evidently", ...)`` with
``evidently>=0.7,<0.8``, ``pandas<3`` and ``pyarrow``). The script writes, for every pair NAME, into
``tests/monitoring/fixtures/evidently/`` (or ``--out``):

- ``NAME.reference.parquet`` and ``NAME.current.parquet``: the two frames, generated with a seeded numpy
  generator, so a rerun writes the same values;
- ``NAME.json``: how the pair was asked for (columns by kind, tests chosen per column, drift share) and
  Evidently's answer: per column the test it chose, its threshold, the drift score and the verdict, and the
  dataset's verdict;

and a ``README.md`` that lists the pairs and what each one is there to test. ``tests/monitoring/
test_drift_evidently.py`` then asks ``lm.drift`` the same questions and requires the same answers.

How Evidently is asked. Evidently reads both frames back from the Parquet files just written (so it sees
exactly the bytes loopml will read). Every column's kind is what Evidently 0.7 infers from the current
data when a user gives it none (floats numerical; integers categorical up to 10 distinct values, numerical
above; strings categorical unless more than half are distinct; booleans categorical), text columns
declared, and booleans with nulls declared categorical (Evidently infers no type for them and would leave
them out; each JSON says which kinds were declared). Each pair runs through Evidently's
``DataDriftPreset`` twice with those kinds: the legacy report (``evidently.legacy``), whose result carries
everything per column (test, threshold, score, verdict) and the dataset verdict, and the 0.7 report
(``evidently.Report``), whose per-column results give the test, threshold and score and whose tests give
the verdicts. The fixtures record the legacy answer; the script stops if the 0.7 answer differs in
anything. For the percentile text test, whose threshold Evidently reports as the percentile (0.95), the
JSON also holds the AUC line Evidently computed from it (``auc_line``), caught on its way.

The pairs (see ``README.md`` once written): mixed frames of eight columns (a float, a skewed float
rounded so it has ties, an integer with many values, an integer with three values, a 0/1 integer, strings
of four categories, two string categories, booleans) at reference sizes 200, 800, 1,000, 1,001 and 3,000
rows (p-value tests at 1,000 rows and below, distances above), each size with no shift, shifts sized to
land near each test's threshold, a strong shift on exactly half the columns (the dataset verdict at a
share of exactly 0.5), nulls with values unseen in the reference, and constant reference columns (with
floats of few values, where the number of values picks the test); a reference of 1,001 rows with one null
(1,000 non-null values); tests chosen per column with their own thresholds and a drift share of its own;
and text pairs (generated sentences; a clear shift and none; references below and above 1,000 rows).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.spatial import distance

REPO_DIR = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_DIR / "tests" / "monitoring" / "fixtures" / "evidently"
SEED = 20_241_201
SIZE_LIMIT_BYTES = 2_000_000  # the whole folder stays well under this

KS_C_ALPHA = 1.358  # the two-sample KS critical value at 5 %: D_crit = c * sqrt((n + m) / (n m))
Z_CRIT = float(stats.norm.ppf(0.975))


# -- the mixed frames: eight columns, one of each kind a user's table has


@dataclass(frozen=True)
class Mixed:
    """Population parameters of the eight mixed columns (the reference's; a current frame moves some)."""

    f_normal: float = 10.0  # mean of a normal with sd 2, full precision
    f_skew: float = 0.0  # offset added to a lognormal(1, 0.5), values rounded to 3 decimals (ties)
    i_many: float = 60.0  # Poisson mean: integers with many distinct values
    i_small: tuple[float, ...] = (0.5, 0.3, 0.2)  # probabilities of 1, 2, 3
    i_binary: float = 0.3  # probability of 1 (else 0)
    c_low: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1)  # north, south, east, west
    c_binary: float = 0.6  # probability of "yes" (else "no")
    b_flag: float = 0.25  # probability of True


F_NORMAL_SD = 2.0
F_SKEW_SD = math.sqrt((math.exp(0.25) - 1) * math.exp(2 * 1 + 0.25))
I_MANY_SD = math.sqrt(60.0)
I_SMALL_VALUES = (1, 2, 3)
STEPS = np.array([0.5, 1.0, 1.5, 2.0, 2.5])  # floats with few values: numerical, whatever their count
C_LOW_VALUES = ("north", "south", "east", "west")
COLUMNS = ["f_normal", "f_skew", "i_many", "i_small", "i_binary", "c_low", "c_binary", "b_flag"]


def mixed_frame(rng: np.random.Generator, n: int, p: Mixed) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "f_normal": rng.normal(p.f_normal, F_NORMAL_SD, n),
            "f_skew": np.round(rng.lognormal(1.0, 0.5, n) + p.f_skew, 3),
            "i_many": rng.poisson(p.i_many, n).astype(np.int64),
            "i_small": rng.choice(np.array(I_SMALL_VALUES, dtype=np.int64), n, p=_norm(p.i_small)),
            "i_binary": (rng.random(n) < p.i_binary).astype(np.int64),
            "c_low": rng.choice(np.array(C_LOW_VALUES, dtype=object), n, p=_norm(p.c_low)),
            "c_binary": np.where(rng.random(n) < p.c_binary, "yes", "no").astype(object),
            "b_flag": rng.random(n) < p.b_flag,
        }
    )


def _norm(probs: Sequence[float]) -> np.ndarray[Any, Any]:
    a = np.asarray(probs, dtype=float)
    return a / a.sum()


# -- shifts sized against each test's threshold
#
# A shift of strength k moves a column so that, in the population, the statistic of the test Evidently
# picks for it lands at k times the threshold's boundary: k = 1 is on the line (the sample decides), 0 is
# no shift, 3 is far over. With at most 1,000 reference rows the tests are p-value tests (KS, chi-squared,
# z), so the size of shift that reaches p = 0.05 depends on both sizes; above, they are distances
# (Wasserstein over the reference's sd, Jensen-Shannon) with fixed thresholds.


def _ks_mean_shift_sd(k: float, n: int, m: int) -> float:
    """Mean shift, in sds, that makes the population KS distance of two normals k times D_crit."""
    d = min(0.999, k * KS_C_ALPHA * math.sqrt((n + m) / (n * m)))
    return 2.0 * float(stats.norm.ppf((1.0 + d) / 2.0))


def _numeric_shift(k: float, sd: float, n: int, m: int) -> float:
    if k == 0:
        return 0.0
    if n <= 1000:
        return _ks_mean_shift_sd(k, n, m) * sd
    return 0.1 * k * sd  # a pure location shift moves the Wasserstein distance by exactly that much


def _mix(p: Sequence[float], t: float) -> tuple[float, ...]:
    """p moved a share t of the way towards all the mass on its rarest category."""
    base = _norm(p)
    target = np.zeros_like(base)
    target[int(np.argmin(base))] = 1.0
    return tuple(float(x) for x in (1 - t) * base + t * target)


def _categorical_shift(k: float, p: Sequence[float], n: int, m: int) -> tuple[float, ...]:
    if k == 0:
        return tuple(p)
    base = _norm(p)
    if n > 1000:
        goal = 0.1 * k

        def stat(t: float) -> float:
            with np.errstate(invalid="ignore"):
                got = float(distance.jensenshannon(base, np.array(_mix(base, t))))
            return 0.0 if math.isnan(got) else got  # identical inputs: a rounding error under the root

    elif len(base) > 2:
        goal = k * float(stats.chi2.ppf(0.95, len(base) - 1))

        def stat(t: float) -> float:
            q = np.array(_mix(base, t))
            return float(m * np.sum((q - base) ** 2 / base))

    else:
        goal = k * Z_CRIT

        def stat(t: float) -> float:
            p1, p2 = base[0], _mix(base, t)[0]
            pooled = (n * p1 + m * p2) / (n + m)
            return abs(p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))

    if stat(1.0) <= goal:
        return _mix(base, 1.0)
    return _mix(base, float(optimize.brentq(lambda t: stat(t) - goal, 0.0, 1.0, xtol=1e-12)))


def shifted(strength: Mapping[str, float], n: int, m: int, base: Mixed | None = None) -> Mixed:
    """The current's parameters: each column moved by its strength (missing columns: not moved)."""
    p = base or Mixed()
    k = {c: strength.get(c, 0.0) for c in COLUMNS}
    binary_cur = _categorical_shift(k["c_binary"], (p.c_binary, 1 - p.c_binary), n, m)
    return Mixed(
        f_normal=p.f_normal + _numeric_shift(k["f_normal"], F_NORMAL_SD, n, m),
        f_skew=p.f_skew + _numeric_shift(k["f_skew"], F_SKEW_SD, n, m),
        i_many=p.i_many + _numeric_shift(k["i_many"], I_MANY_SD, n, m),
        i_small=_categorical_shift(k["i_small"], p.i_small, n, m),
        i_binary=_categorical_shift(k["i_binary"], (p.i_binary, 1 - p.i_binary), n, m)[0],
        c_low=_categorical_shift(k["c_low"], p.c_low, n, m),
        c_binary=binary_cur[0],
        b_flag=_categorical_shift(k["b_flag"], (p.b_flag, 1 - p.b_flag), n, m)[0],
    )


# -- the pairs


@dataclass
class Pair:
    name: str
    description: str
    reference: pd.DataFrame
    current: pd.DataFrame
    text: list[str] = field(default_factory=list)  # declared text columns
    tests: dict[str, str | tuple[str, float]] = field(default_factory=dict)  # per column: name[, threshold]
    drift_share: float = 0.5


SIZES = [(200, 150), (800, 600), (1000, 1200), (1001, 900), (3000, 1800)]
NEAR = [1.0, 0.85, 1.15, 0.9, 1.1, 1.0, 0.95, 1.05]  # strengths of the near-threshold pairs, by column
HALF = {"f_normal": 3.0, "i_small": 3.0, "c_low": 3.0, "b_flag": 3.0}  # strong shift on 4 of 8 columns


def _with_nulls(rng: np.random.Generator, df: pd.DataFrame, shares: Mapping[str, float]) -> pd.DataFrame:
    out = df.copy()
    for column, share in shares.items():
        mask = rng.random(len(out)) < share
        kind = out[column].dtype.kind
        # integers with nulls are floats, booleans with nulls objects, as a user's frames hold them
        values = out[column].astype(float if kind in "iuf" else object)
        out[column] = values.where(~mask, np.nan if kind in "iuf" else None)
    return out


def mixed_pairs(rng: np.random.Generator) -> list[Pair]:
    pairs = []
    for n, m in SIZES:
        regime = "p-value tests (reference <= 1,000 rows)" if n <= 1000 else "distances (reference > 1,000)"
        tag = f"ref{n}"

        ref = mixed_frame(rng, n, Mixed())
        cur = mixed_frame(rng, m, Mixed())
        pairs.append(Pair(f"{tag}_none", f"{n} vs {m} rows, no shift; {regime}", ref, cur))

        near = dict(zip(COLUMNS, NEAR[n % 8 :] + NEAR[: n % 8], strict=True))
        ref = mixed_frame(rng, n, Mixed())
        cur = mixed_frame(rng, m, shifted(near, n, m))
        pairs.append(
            Pair(
                f"{tag}_near",
                f"{n} vs {m} rows, every column shifted to about its threshold (strength 0.85-1.15: "
                f"verdicts fall either way); {regime}",
                ref,
                cur,
            )
        )

        ref = mixed_frame(rng, n, Mixed())
        cur = mixed_frame(rng, m, shifted(HALF, n, m))
        pairs.append(
            Pair(
                f"{tag}_half",
                f"{n} vs {m} rows, a strong shift on 4 of the 8 columns (f_normal, i_small, c_low, b_flag): "
                f"a drift share of exactly 0.5 when only those drift, which is dataset drift; {regime}",
                ref,
                cur,
            )
        )

        ref = _with_nulls(rng, mixed_frame(rng, n, Mixed()), {"f_skew": 0.05, "i_many": 0.1, "b_flag": 0.1})
        cur = mixed_frame(rng, m, shifted({"f_normal": 0.5, "i_many": 1.0, "c_low": 0.5}, n, m))
        cur["c_low"] = np.where(rng.random(m) < 0.05, "central", cur["c_low"]).astype(object)
        cur["c_binary"] = np.where(rng.random(m) < 0.04, "maybe", cur["c_binary"]).astype(object)
        new_small = rng.random(m) < 0.06
        cur["i_small"] = np.where(new_small, rng.integers(4, 7, m), cur["i_small"]).astype(np.int64)
        cur = _with_nulls(rng, cur, {"f_normal": 0.2, "i_many": 0.1, "c_low": 0.15, "b_flag": 0.1})
        ref["f_steps"] = rng.choice(STEPS, n)
        cur["f_steps"] = np.where(rng.random(m) < 0.06, 3.0, rng.choice(STEPS, m))
        pairs.append(
            Pair(
                f"{tag}_nulls_unseen",
                f"{n} vs {m} rows, nulls (f_normal, c_low in the current; i_many and b_flag in both, so "
                "they are float and object; f_skew in the reference) and values unseen in the reference: "
                "a fifth category in c_low, a third in c_binary (three values: not the z-test any more), "
                "i_small with 4, 5, 6 in the current (six values, an integer column still categorical: up "
                "to 10 values it is), and a ninth column, f_steps, floats with 5 values in the reference "
                f"and a sixth in the current (six values: the numerical test); {regime}",
                ref,
                cur,
            )
        )

        ref = mixed_frame(rng, n, Mixed())
        cur = mixed_frame(rng, m, Mixed())
        ref["f_normal"] = 10.0 + rng.normal(0.0, 0.0004, n)
        cur["f_normal"] = 10.00007 + rng.normal(0.0, 0.0004, m)
        ref["f_skew"] = 2.5
        cur["f_skew"] = np.where(rng.random(m) < 0.05, 2.5 + rng.integers(1, 8, m) * 0.0001, 2.5)
        ref["i_binary"] = np.int64(0)
        cur["i_binary"] = np.int64(0)
        ref["c_low"] = "north"
        cur["c_low"] = np.where(rng.random(m) < 0.1, "south", "north").astype(object)
        ref["f_steps"] = rng.choice(STEPS[:3], n)
        cur["f_steps"] = rng.choice(STEPS[:3], m, p=[0.25, 0.35, 0.4])
        ref["f_two"] = rng.choice(STEPS[:2], n)
        cur["f_two"] = rng.choice(STEPS[:2], m, p=[0.4, 0.6])
        pairs.append(
            Pair(
                f"{tag}_constant",
                f"{n} vs {m} rows, (nearly) constant reference columns: i_binary constant on both sides "
                "(one value), f_skew constant in the reference and 5 % of the current up to 0.0007 higher "
                "in 7 steps, f_normal with a standard deviation of 0.0004 and the current 0.00007 higher, "
                "c_low constant in the reference and 10 % of another value in the current; and two more "
                "columns of floats with few values, numerical whatever their count, so the number of "
                "values picks the test: f_steps with 3 (chi-squared, or Jensen-Shannon above 1,000 rows) "
                f"and f_two with 2 (the z-test, or Jensen-Shannon); {regime}"
                + (
                    ": f_skew's reference standard deviation of zero and f_normal's, under 0.001, are "
                    "replaced by the Wasserstein distance's floor of 0.001 (without it, both would drift)"
                    if n > 1000
                    else ""
                ),
                ref,
                cur,
            )
        )

    ref = mixed_frame(rng, 1001, Mixed())
    ref.loc[500, "f_normal"] = np.nan
    ref.loc[700, "c_low"] = None
    cur = mixed_frame(rng, 700, shifted(dict.fromkeys(COLUMNS, 1.0), 1000, 700))
    pairs.append(
        Pair(
            "ref1001_one_null",
            "1,001 reference rows with one null in f_normal and one in c_low: those two columns have 1,000 "
            "non-null values, so they get the p-value tests (KS, chi-squared) while the others get the "
            "distances; every column shifted to about the p-value tests' threshold",
            ref,
            cur,
        )
    )
    return pairs


def chosen_test_pairs(rng: np.random.Generator) -> list[Pair]:
    strong = dict(zip(COLUMNS, [1.5, 2.0, 1.0, 1.5, 2.0, 1.0, 1.5, 2.0], strict=True))
    ref = mixed_frame(rng, 800, Mixed())
    cur = mixed_frame(rng, 700, shifted(strong, 800, 700))
    small = Pair(
        "tests_ref800",
        "800 vs 700 rows, shifted; tests chosen per column: the binned tests (PSI, KL divergence, "
        "Hellinger, Jensen-Shannon) and Wasserstein on a small reference, with thresholds of their own "
        "and one default threshold (i_binary's PSI)",
        ref,
        cur,
        tests={
            "f_normal": ("psi", 0.2),
            "f_skew": ("wasserstein", 0.15),
            "i_many": ("hellinger", 0.1),
            "i_small": ("jensenshannon", 0.05),
            "i_binary": "psi",
            "c_low": ("hellinger", 0.05),
            "c_binary": ("kl_div", 0.05),
            "b_flag": ("jensenshannon", 0.1),
        },
    )
    ref = mixed_frame(rng, 3000, Mixed())
    cur = mixed_frame(rng, 2000, shifted(dict.fromkeys(COLUMNS, 0.3), 3000, 2000))
    large = Pair(
        "tests_ref3000",
        "3,000 vs 2,000 rows, slightly shifted; tests chosen per column: the p-value tests (KS, "
        "chi-squared, z), Wasserstein and the binned tests on a large reference, own thresholds, one "
        "default (f_skew's KL divergence); a drift share of 0.25",
        ref,
        cur,
        tests={
            "f_normal": ("ks", 0.01),
            "f_skew": "kl_div",
            "i_many": ("wasserstein", 0.05),
            "i_small": ("hellinger", 0.05),
            "i_binary": ("chisquare", 0.05),
            "c_low": ("psi", 0.02),
            "c_binary": ("z", 0.05),
            "b_flag": ("kl_div", 0.01),
        },
        drift_share=0.25,
    )
    return [small, large]


# -- text: short sentences from a small vocabulary

NOUNS = [
    "pump",
    "valve",
    "motor",
    "sensor",
    "bearing",
    "filter",
    "boiler",
    "turbine",
    "compressor",
    "gearbox",
    "conveyor",
    "spindle",
    "nozzle",
    "gasket",
    "piston",
    "cylinder",
    "belt",
    "shaft",
    "coupling",
    "manifold",
]
VERBS = ["runs", "stalls", "vibrates", "heats", "leaks", "hums", "clicks", "rattles", "cools", "drifts"]
ADJECTIVES = ["steady", "smooth", "quiet", "warm", "clean", "normal", "stable", "routine"]
SHIFTED_ADJECTIVES = ["rusty", "noisy", "cracked", "overheated", "corroded", "worn", "jammed", "burnt"]
PLACES = ["line", "hall", "bay", "yard", "dock", "floor"]


def sentences(rng: np.random.Generator, n: int, shift: bool) -> list[str]:
    adjectives = ADJECTIVES + SHIFTED_ADJECTIVES * 3 if shift else ADJECTIVES
    nouns = NOUNS[8:] if shift else NOUNS
    out = []
    for _ in range(n):
        words = [
            rng.choice(adjectives),
            rng.choice(nouns),
            rng.choice(VERBS),
            "near",
            rng.choice(PLACES),
            str(rng.integers(1, 9)),
        ]
        if rng.random() < 0.5:
            words += ["after", rng.choice(adjectives), rng.choice(nouns), "check"]
        out.append(" ".join(words))
    return out


def text_pairs(rng: np.random.Generator) -> list[Pair]:
    pairs = []
    for n, m, size in ((300, 250, "small"), (1500, 1200, "large")):
        test = (
            "the percentile test (AUC over a random classifier's 95th percentile)"
            if n <= 1000
            else ("the absolute test (AUC over 0.55)")
        )
        for shift in (False, True):
            ref = pd.DataFrame({"text": sentences(rng, n, False), "f_normal": rng.normal(10, 2, n)})
            cur = pd.DataFrame({"text": sentences(rng, m, shift), "f_normal": rng.normal(10, 2, m)})
            what = "a clear shift (other adjectives and a part of the nouns)" if shift else "no shift"
            pairs.append(
                Pair(
                    f"text_{size}_{'shift' if shift else 'none'}",
                    f"{n} vs {m} rows of generated sentences, {what}; {test}; and an unshifted float",
                    ref,
                    cur,
                    text=["text"],
                )
            )
    return pairs


# -- asking Evidently


def _test_names() -> dict[str, str]:
    """Evidently's label of each of its tests (what its results carry) -> the test's registered name."""
    from evidently.legacy.calculations.stattests import registry

    return {
        t.display_name: t.name
        for by_kind in registry._registered_stat_tests.values()
        for t in by_kind.values()
    }


KINDS = {"num": "numerical", "cat": "categorical", "text": "text"}
BOOLEANS_WITH_NULLS = (
    "declared categorical: Evidently 0.7 infers no type for booleans with nulls (an object column) and "
    "would leave the column out"
)


@dataclass(frozen=True)
class Kinds:
    """Each column's kind, as Evidently 0.7 infers it from the current data (text columns declared)."""

    numerical: list[str]
    categorical: list[str]
    text: list[str]
    declared: dict[str, str]  # column -> why its kind is declared rather than inferred


def infer_kinds(pair: Pair, current: pd.DataFrame) -> Kinds:
    from evidently.core.datasets import infer_column_type
    from evidently.legacy.core import ColumnType

    numerical, categorical, declared = [], [], {c: "declared text (text_columns)" for c in pair.text}
    for column in current.columns:
        if column in pair.text:
            continue
        inferred = infer_column_type(current[column])
        if inferred == ColumnType.Numerical:
            numerical.append(column)
        elif inferred == ColumnType.Categorical:
            categorical.append(column)
        elif set(current[column].dropna().map(type)) <= {bool}:
            categorical.append(column)
            declared[column] = BOOLEANS_WITH_NULLS
        else:
            raise SystemExit(f"{pair.name}: Evidently infers {inferred} for {column}: not a drift column")
    return Kinds(numerical, categorical, list(pair.text), declared)


class AucLines:
    """Catches the AUC line Evidently's percentile text test computes (the 95th percentile of a random
    classifier's AUC on its held-out rows), which its results do not carry."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    def __enter__(self) -> AucLines:
        from evidently.legacy.utils import data_drift_utils

        self._module = data_drift_utils
        self._original = data_drift_utils.roc_auc_random_classifier_percentile

        def catching(*args: Any, **kwargs: Any) -> Any:
            line = self._original(*args, **kwargs)
            self.seen.append(float(line))
            return line

        data_drift_utils.roc_auc_random_classifier_percentile = catching
        return self

    def __exit__(self, *exc: object) -> None:
        self._module.roc_auc_random_classifier_percentile = self._original


def legacy_answer(pair: Pair, kinds: Kinds, ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, Any]:
    from evidently.legacy.metric_preset import DataDriftPreset
    from evidently.legacy.pipeline.column_mapping import ColumnMapping
    from evidently.legacy.report import Report

    mapping = ColumnMapping(
        target=None,
        prediction=None,
        numerical_features=kinds.numerical,
        categorical_features=kinds.categorical,
        text_features=kinds.text or None,
    )
    methods, thresholds = _per_column(pair)
    preset = DataDriftPreset(
        drift_share=pair.drift_share,
        per_column_stattest=methods or None,
        per_column_stattest_threshold=thresholds or None,
    )
    report = Report(metrics=[preset])
    with AucLines() as lines:
        report.run(reference_data=ref, current_data=cur, column_mapping=mapping)
        metrics = report.as_dict()["metrics"]
    if len(kinds.text) > 1 or len(set(lines.seen)) > 1:
        raise SystemExit(f"{pair.name}: one text column per pair, please (AUC lines {lines.seen})")
    dataset = next(m["result"] for m in metrics if m["metric"] == "DatasetDriftMetric")
    table = next(m["result"] for m in metrics if m["metric"] == "DataDriftTable")
    auc_line = lines.seen[0] if lines.seen else None
    return {"dataset": dataset, "columns": table["drift_by_columns"], "auc_line": auc_line}


def v07_answer(pair: Pair, kinds: Kinds, ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, Any]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=kinds.numerical, categorical_columns=kinds.categorical, text_columns=kinds.text
    )
    methods, thresholds = _per_column(pair)
    preset = DataDriftPreset(
        drift_share=pair.drift_share,
        per_column_method=methods or None,
        per_column_threshold=thresholds or None,
    )
    snapshot = Report([preset], include_tests=True).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    got = snapshot.dict()
    columns: dict[str, dict[str, Any]] = {}
    count = None
    for metric in got["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            columns[config["column"]] = {
                "label": config["method"],
                "threshold": config["threshold"],
                "score": metric["value"],
            }
        elif config["type"].endswith("DriftedColumnsCount"):
            count = metric["value"]
    for test in got["tests"]:
        params = test["metric_config"]["params"]
        if params["type"].endswith("ValueDrift"):
            columns[params["column"]]["drifted"] = test["status"] == "FAIL"
    return {"columns": columns, "count": count}


def _per_column(pair: Pair) -> tuple[dict[str, str], dict[str, float]]:
    methods: dict[str, str] = {}
    thresholds: dict[str, float] = {}
    for column, chosen in pair.tests.items():
        if isinstance(chosen, tuple):
            methods[column], thresholds[column] = chosen
        else:
            methods[column] = chosen
    return methods, thresholds


def compare_apis(name: str, legacy: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Stop unless the 0.7 report says exactly what the legacy one says."""
    names = _test_names()
    problems = []
    for column, old in legacy["columns"].items():
        got = new["columns"].get(column)
        if got is None:
            problems.append(f"{column}: missing from the 0.7 report")
            continue
        pairs = (  # the 0.7 report names a test as it was asked for: by its label, or by its name
            ("test", names[old["stattest_name"]], names.get(got["label"], got["label"])),
            ("threshold", old["stattest_threshold"], got["threshold"]),
            ("score", old["drift_score"], got["score"]),
            ("verdict", old["drift_detected"], got.get("drifted")),
        )
        problems += [f"{column}: {what} {a!r} (legacy) vs {b!r} (0.7)" for what, a, b in pairs if a != b]
    if set(new["columns"]) != set(legacy["columns"]):
        problems.append(f"columns {sorted(legacy['columns'])} (legacy) vs {sorted(new['columns'])} (0.7)")
    count = new["count"] or {}
    dataset = legacy["dataset"]
    if count.get("count") != dataset["number_of_drifted_columns"]:
        problems.append(f"drifted columns {dataset['number_of_drifted_columns']} vs {count.get('count')}")
    if count.get("share") != dataset["share_of_drifted_columns"]:
        problems.append(f"drift share {dataset['share_of_drifted_columns']} vs {count.get('share')}")
    if problems:
        raise SystemExit(f"{name}: Evidently's two reports disagree:\n  " + "\n  ".join(problems))


def record(
    pair: Pair, kinds: Kinds, legacy: Mapping[str, Any], versions: Mapping[str, str]
) -> dict[str, Any]:
    names = _test_names()
    columns = {}
    for column in pair.reference.columns:
        got = legacy["columns"][column]
        entry = {
            "kind": KINDS[got["column_type"]],
            "test": names[got["stattest_name"]],
            "evidently_label": got["stattest_name"],
            "threshold": got["stattest_threshold"],
            "score": got["drift_score"],
            "drifted": got["drift_detected"],
        }
        if names[got["stattest_name"]] == "perc_text_content_drift":
            entry["auc_line"] = legacy["auc_line"]
        if column in kinds.declared:
            entry["kind_declared"] = kinds.declared[column]
        columns[column] = entry
    dataset = legacy["dataset"]
    return {
        "name": pair.name,
        "description": pair.description,
        "made_by": dict(versions),
        "reference_rows": len(pair.reference),
        "current_rows": len(pair.current),
        "text_columns": pair.text,
        "tests": {c: list(t) if isinstance(t, tuple) else t for c, t in pair.tests.items()},
        "drift_share": pair.drift_share,
        "columns": columns,
        "dataset": {
            "columns": dataset["number_of_columns"],
            "drifted_columns": dataset["number_of_drifted_columns"],
            "drift_share": dataset["share_of_drifted_columns"],
            "drifted": dataset["dataset_drift"],
        },
    }


# -- the run


def versions() -> dict[str, str]:
    out = {"api": "DataDriftPreset, evidently.legacy's report (the 0.7 report checked equal)"}
    for package in ("evidently", "pandas", "numpy", "scipy", "scikit-learn", "pyarrow"):
        out[package] = importlib.metadata.version(package)
    return out


def check_environment(found: Mapping[str, str]) -> None:
    if not found["evidently"].startswith("0.7.") or int(found["pandas"].split(".")[0]) >= 3:
        raise SystemExit(
            f"needs Evidently 0.7 with pandas < 3 (found Evidently {found['evidently']}, pandas "
            f"{found['pandas']}): run it with the Python of bench/.venvs/evidently"
        )


def summary_line(doc: Mapping[str, Any]) -> str:
    cells = []
    for column, got in doc["columns"].items():
        closeness = _closeness(got["test"], got["score"], got["threshold"])
        cells.append(f"{column}={got['test']}:{got['score']:.3g}{'*' if got['drifted'] else ''}({closeness})")
    d = doc["dataset"]
    return f"{doc['name']:<24} {d['drifted_columns']}/{d['columns']} {'DRIFT' if d['drifted'] else '-'}  " + (
        " ".join(cells)
    )


def _closeness(test: str, score: float, threshold: float) -> str:
    """How far from the line: score over threshold (p-values: threshold over score), as a ratio."""
    p_value = test in ("ks", "chisquare", "z")
    if score == 0 or threshold == 0:
        return "inf" if p_value else "0"
    return f"{(threshold / score if p_value else score / threshold):.2f}"


def write_readme(out: Path, docs: Sequence[Mapping[str, Any]]) -> None:
    lines = [
        "# Evidently agreement fixtures",
        "",
        "Written by `bench/evidently_fixtures.py` (run it with the Evidently venv's Python; do not edit by "
        "hand). Each pair NAME is `NAME.reference.parquet`, `NAME.current.parquet` and `NAME.json` (the "
        "question asked and Evidently's per-column answers). `tests/monitoring/test_drift_evidently.py` "
        "requires `lm.drift` to give the same answers.",
        "",
        f"Made by Evidently {docs[0]['made_by']['evidently']} (pandas {docs[0]['made_by']['pandas']}, scipy "
        f"{docs[0]['made_by']['scipy']}, scikit-learn {docs[0]['made_by']['scikit-learn']}).",
        "",
        "| Pair | Rows (ref / cur) | Drifted columns | What it tests |",
        "|---|---|---|---|",
    ]
    for d in docs:
        verdict = f"{d['dataset']['drifted_columns']} of {d['dataset']['columns']}"
        verdict += " (dataset drift)" if d["dataset"]["drifted"] else ""
        lines.append(
            f"| {d['name']} | {d['reference_rows']:,} / {d['current_rows']:,} | {verdict} | "
            f"{d['description']} |"
        )
    (out / "README.md").write_text("\n".join(lines) + "\n")


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Small files: no pandas or Arrow schema metadata (the column types say it all), no statistics."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(
        table, path, compression="zstd", compression_level=19, write_statistics=False, store_schema=False
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the fixtures")
    args = parser.parse_args(argv)
    if os.environ.get("PYTHONHASHSEED") != "0":
        # Evidently walks sets of category values, whose order follows string hashing: fix it, so the
        # same fixtures come out to the last bit on every run
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    found = versions()
    check_environment(found)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.parquet"), *out.glob("*.json")]:
        old.unlink()

    rng = np.random.default_rng(SEED)
    builders: list[Callable[[np.random.Generator], list[Pair]]] = [mixed_pairs, chosen_test_pairs, text_pairs]
    pairs = [pair for build in builders for pair in build(rng)]
    docs = []
    for pair in pairs:
        for side, frame in (("reference", pair.reference), ("current", pair.current)):
            write_parquet(frame, out / f"{pair.name}.{side}.parquet")
        # Evidently reads the files back, so it sees what loopml will read
        ref = pd.read_parquet(out / f"{pair.name}.reference.parquet")
        cur = pd.read_parquet(out / f"{pair.name}.current.parquet")
        kinds = infer_kinds(pair, cur)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its own deprecation and division warnings
            legacy = legacy_answer(pair, kinds, ref, cur)
            compare_apis(pair.name, legacy, v07_answer(pair, kinds, ref, cur))
        doc = record(pair, kinds, legacy, found)
        (out / f"{pair.name}.json").write_text(json.dumps(doc, indent=1) + "\n")
        docs.append(doc)
        print(summary_line(doc), flush=True)
    write_readme(out, docs)
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"{len(docs)} pairs in {out} ({size / 1e6:.2f} MB)")
    if size > SIZE_LIMIT_BYTES:
        raise SystemExit(f"the fixtures take {size:,} bytes: keep them under {SIZE_LIMIT_BYTES:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
