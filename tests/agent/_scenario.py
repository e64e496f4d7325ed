"""A small world for the loop's scenario tests: a registered champion, its deployment, a retraining pipeline
in a file next to the policy, simulated traffic with labels, and a simulated clock.

Everything is real (the Store, the blob store, the prediction log, pipelines, the registry and its gate);
only time is simulated: ``World.clock`` is what the agent, the traffic and the labels read.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import loopml as lm
from loopml.agent import Agent, Decision, Traffic, load_policy
from loopml.monitoring import log_labels
from loopml.tracking import get_client

MODEL = "machine"
FEATURES = [f"s{i}" for i in range(6)]
TARGET = "failure"
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
HOUR = 3_600_000
DAY = 24 * HOUR

PIPELINE = '''
import loopml as lm
from loopml.tracking import get_client


@lm.step
def fit(data, C: float = 1.0, noise: float = 0.0, bias: float = 0.0, fail: bool = False):
    """A logistic regression; ``noise`` flips that share of the labels, ``bias`` that share of the failures
    to no failure (deliberately bad candidates), ``fail`` makes the step raise (a retraining that breaks)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    if fail:
        raise RuntimeError("the training data could not be read")
    y = data["failure"].to_numpy().copy()
    draw = np.random.default_rng(1).random(len(y))
    if noise:
        y[draw < noise] = 1 - y[draw < noise]
    if bias:
        y[(y == 1) & (draw < bias)] = 0
    return LogisticRegression(C=C, max_iter=1000).fit(data.drop(columns=["failure"]), y)


@lm.pipeline(experiment="machine-retrain")
def retrain(
    data: str = "machine-sensors@latest",
    C: float = 1.0,
    noise: float = 0.0,
    bias: float = 0.0,
    fail: bool = False,
):
    return fit(lm.data.ref(data), C, noise, bias, fail)
'''

POLICY = """
models:
  machine:
    target: failure
    triggers:
      - dataset: machine-sensors
      {extra_trigger}
    cooldown: 0s
    retrain:
      pipeline: pipeline.py:retrain
      params: {params}
      data:
        param: data
        base: machine-sensors@latest
        feedback: {{since: 30d}}
    gate:
      rules: {rules}
      min_rows: 60
      holdout: 0.3
    rollout:
      wait_for_performance: {wait}
      steps: {steps}
      min_requests: 40
      min_duration: 1h
      rollback:
        error_rate: {{max_increase: 0.02}}
        latency_p95_ms: null
        performance: {performance}
        min_requests: 40
    approval: {approval}
    notify: [{{type: log}}]
"""


_POOL: list[pd.DataFrame] = []


def make_rows(n: int, seed: int) -> pd.DataFrame:
    """``n`` rows drawn from one fixed population (the same task whatever ``n``)."""
    from sklearn.datasets import make_classification

    if not _POOL:
        x, y = make_classification(
            n_samples=20_000,
            n_features=len(FEATURES),
            n_informative=4,
            n_redundant=1,
            class_sep=1.0,
            flip_y=0.03,
            random_state=7,
        )
        frame = pd.DataFrame(x, columns=FEATURES)
        frame[TARGET] = y
        _POOL.append(frame)
    return _POOL[0].sample(n=n, random_state=seed).reset_index(drop=True)


@dataclass
class World:
    folder: Path
    now: int = T0
    decisions: list[Decision] = field(default_factory=list)
    rows: pd.DataFrame = field(default_factory=lambda: make_rows(4000, 0))
    cursor: int = 0
    held_labels: dict[str, Any] = field(default_factory=dict)

    def clock(self) -> int:
        return self.now

    def agent(self, holder: str = "agent-a", **kwargs: Any) -> Agent:
        return Agent(
            load_policy(self.folder / "loopml.yaml", check=True),
            clock=self.clock,
            holder=holder,
            on_decision=self.decisions.append,
            **kwargs,
        )

    def actions(self) -> list[str]:
        return [d.action for d in self.decisions if d.action not in ("waiting", "held")]

    def traffic(
        self, hours: float, per_hour: int = 120, *, traffic: Traffic | None = None, labels: bool = True
    ) -> None:
        """``hours`` of requests, labelled 10 minutes after each hour ends (``labels``: else kept in
        ``held_labels`` for later); the clock moves to the end."""
        traffic = traffic or Traffic(MODEL, seed=int(self.now // HOUR))
        for _ in range(int(hours)):
            batch = self.take(per_hour)
            times = [self.now + int(i * HOUR / per_hour) for i in range(per_hour)]
            ids = traffic.send(batch[FEATURES], times)
            self.now += HOUR
            truth = dict(zip(ids, batch[TARGET].tolist(), strict=True))
            if not labels:
                self.held_labels.update(truth)
                continue
            log_labels(get_client().store, MODEL, truth, at_ms=self.now + 10 * 60_000)
        self.now += 10 * 60_000

    def take(self, n: int) -> pd.DataFrame:
        if self.cursor + n > len(self.rows):
            self.cursor = 0
        out = self.rows.iloc[self.cursor : self.cursor + n].reset_index(drop=True)
        self.cursor += n
        return out

    def new_data_version(self, seed: int) -> None:
        lm.data.add("machine-sensors", make_rows(1500, seed), description=f"readings, batch {seed}")

    def audit(self) -> list[str]:
        events = get_client().store.audit.events(entity_type="model", entity=MODEL)
        return [e.action for e in events if e.action.startswith("loop.")]


def build_world(
    folder: Path,
    *,
    rules: str = '["accuracy >= baseline - 0.03"]',
    steps: str = "[25, 50]",
    params: str = "{}",
    performance: str = "null",
    approval: str = "false",
    extra_trigger: str = "",
    wait: str = "false",
) -> World:
    """The champion trained on the first data version, its deployment, the pipeline and the policy."""
    from sklearn.linear_model import LogisticRegression

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    (folder / "loopml.yaml").write_text(
        POLICY.format(
            rules=rules,
            steps=steps,
            params=params,
            performance=performance,
            approval=approval,
            extra_trigger=extra_trigger,
            wait=wait,
        )
    )
    data = make_rows(1500, 1)
    version = lm.data.add("machine-sensors", data)
    model = LogisticRegression(C=0.01, max_iter=1000).fit(data[FEATURES], data[TARGET])
    mv = lm.register_model(MODEL, model, input_example=data[FEATURES].head(), data=version)
    lm.set_alias(MODEL, "champion", mv.version)
    lm.deploy(MODEL, MODEL)
    world = World(folder)
    world.rows = make_rows(4000, 3)
    return world


def as_frame(values: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(values)


__all__ = ["DAY", "FEATURES", "HOUR", "MODEL", "T0", "TARGET", "World", "build_world", "np"]
