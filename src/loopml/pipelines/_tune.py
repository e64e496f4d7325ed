"""Tuning studies on Optuna: ``lm.tune(objective, space, n_trials=50)``.

    def objective(params: dict[str, Any]) -> float:
        model = train(**params)
        return validation_loss(model)

    result = lm.tune(objective, {"lr": log_uniform(1e-4, 1e-1), "depth": (2, 12)}, n_trials=50)
    model = train(**result.best_params)

Optuna samples and prunes; loopml records. The study is one run, each trial a child run of it with the
trial's params and metrics, its state (complete, pruned, failed) as a tag, and the error of a failed trial.
The coordinating process asks Optuna for trials, creates and ends their runs and tells Optuna the outcome;
with ``n_jobs > 1`` a pool of spawned processes runs the objective. Workers receive references (the
objective's module and name, a run id, the settings, the path of the study's Optuna journal), never live
objects, and share the study through Optuna's ``JournalStorage``, so pruning sees every trial's reports.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import math
import numbers
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar

from loopml.config import Settings
from loopml.errors import InvalidArgumentError, StudyFailedError
from loopml.store import RunStatus
from loopml.tracking._client import describe_error

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import (
        BaseDistribution,
        CategoricalChoiceType,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    from loopml.tracking import ActiveRun, TrackingClient

Direction = Literal["minimize", "maximize"]
TrialState = Literal["COMPLETE", "PRUNED", "FAIL"]
_D = TypeVar("_D")
Objective = Callable[..., Any]  # (params) or (params, trial) -> a number or a dict of numbers

_SPACE_HELP = (
    "write (low, high) with two ints for an integer range, (low, high) with floats for a float range, "
    "a list of choices such as ['adam', 'sgd'], or a distribution: loopml.pipelines.log_uniform(1e-4, 1e-1), "
    "int_range(1, 64, log=True), uniform(0.0, 1.0, step=0.1), choice([...]) or any optuna.distributions "
    "object"
)


# -- search-space helpers -------------------------------------------------------------------------------


def uniform(low: float, high: float, *, step: float | None = None) -> FloatDistribution:
    """A float drawn between ``low`` and ``high`` (inclusive), on a grid of ``step`` if given."""
    from optuna.distributions import FloatDistribution

    return _build(FloatDistribution, float(low), float(high), step=None if step is None else float(step))


def log_uniform(low: float, high: float) -> FloatDistribution:
    """A positive float drawn on a log scale between ``low`` and ``high``: learning rates, regularization."""
    from optuna.distributions import FloatDistribution

    return _build(FloatDistribution, float(low), float(high), log=True)


def int_range(low: int, high: int, *, step: int = 1, log: bool = False) -> IntDistribution:
    """An integer between ``low`` and ``high`` (inclusive), every ``step``, or on a log scale."""
    from optuna.distributions import IntDistribution

    for name, value in (("low", low), ("high", high), ("step", step)):
        if not _is_int(value):
            raise InvalidArgumentError(f"int_range: {name}={value!r} must be an integer.")
    return _build(IntDistribution, low, high, step=step, log=log)


def choice(options: Sequence[CategoricalChoiceType]) -> CategoricalDistribution:
    """One of ``options`` (None, bools, numbers or strings)."""
    from optuna.distributions import CategoricalDistribution

    options = list(options)
    if not options:
        raise InvalidArgumentError("choice() needs at least one option.")
    bad = [o for o in options if o is not None and not isinstance(o, bool | int | float | str)]
    if bad:
        raise InvalidArgumentError(
            f"choice(): option {bad[0]!r} is a {type(bad[0]).__name__}; options must be None, bools, numbers "
            "or strings. Choose among names and map them to objects inside the objective."
        )
    return CategoricalDistribution(options)


def _build(cls: Callable[..., _D], *args: Any, **kwargs: Any) -> _D:
    try:
        return cls(*args, **kwargs)
    except ValueError as exc:  # Optuna's own check: low > high, log with low <= 0, log with a step
        raise InvalidArgumentError(f"{getattr(cls, '__name__', cls)}: {exc}") from None


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def search_space(space: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """``space`` with every shorthand turned into its Optuna distribution; a bad entry says what to write."""
    from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

    if not isinstance(space, Mapping) or not space:
        raise InvalidArgumentError(
            f"space must be a non-empty dict of parameter name -> range; {_SPACE_HELP}. "
            "Example: {'lr': log_uniform(1e-4, 1e-1), 'depth': (2, 12), 'optimizer': ['adam', 'sgd']}."
        )
    out: dict[str, BaseDistribution] = {}
    for name, entry in space.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"space key {name!r} must be a non-empty string (the parameter name).")
        where = f"space[{name!r}]"
        if isinstance(entry, BaseDistribution):
            out[name] = entry
        elif isinstance(entry, tuple) and len(entry) == 2 and all(_is_number(v) for v in entry):
            low, high = entry
            if low > high:
                raise InvalidArgumentError(
                    f"{where} = {entry!r}: low is above high; write ({high!r}, {low!r})."
                )
            if _is_int(low) and _is_int(high):
                out[name] = _build(IntDistribution, int(low), int(high))
            else:
                out[name] = _build(FloatDistribution, float(low), float(high))
        elif isinstance(entry, list):
            try:
                out[name] = choice(entry)
            except InvalidArgumentError as exc:
                raise InvalidArgumentError(f"{where}: {exc}") from None
        else:
            hint = ""
            if isinstance(entry, tuple) and len(entry) == 3:
                hint = " For a log scale write log_uniform(low, high) or int_range(low, high, log=True)."
            elif isinstance(entry, tuple | set | range):
                hint = " For a set of choices write a list."
            raise InvalidArgumentError(f"{where} = {entry!r} is not a search range: {_SPACE_HELP}.{hint}")
    return out


# -- results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialResult:
    """One trial: its number, state, sampled params, value (None if it failed), run and metrics."""

    number: int
    state: TrialState
    params: dict[str, Any]
    value: float | None
    run_id: str
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class TuneResult:
    """What ``lm.tune`` found; ``best_params`` feed straight into training: ``train(**best_params)``."""

    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    best_run_id: str
    study_run_id: str
    direction: Direction
    metric: str
    trials: list[TrialResult]
    optuna_study: optuna.Study = field(repr=False, compare=False)

    def counts(self) -> dict[TrialState, int]:
        """How many trials completed, were pruned, failed."""
        counts: dict[TrialState, int] = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
        for trial in self.trials:
            counts[trial.state] += 1
        return counts

    def __str__(self) -> str:
        c = self.counts()
        return (
            f"best {self.metric}={self.best_value:.6g} at trial {self.best_trial} (run {self.best_run_id}) "
            f"with {self.best_params}; {len(self.trials)} trials: {c['COMPLETE']} complete, "
            f"{c['PRUNED']} pruned, {c['FAIL']} failed"
        )


# -- the handle an objective may take as its second argument ---------------------------------------------


class TrialHandle:
    """Passed to an objective that takes two arguments: report intermediate values and ask about pruning.

    ``report(value, step)`` records the value with Optuna (for the pruner) and as the trial run's metric at
    that step; ``should_prune()`` asks the study's pruner; ``prune()`` stops the trial (it raises
    ``optuna.TrialPruned``, which an objective may also raise itself).
    """

    def __init__(self, trial: optuna.Trial, run_id: str, client: TrackingClient, metric: str) -> None:
        self.optuna_trial = trial
        self.run_id = run_id
        self.metric = metric
        self._client = client
        self.last_step: int | None = None

    @property
    def number(self) -> int:
        return self.optuna_trial.number

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.optuna_trial.params)

    def report(self, value: float, step: int) -> None:
        if not _is_int(step) or step < 0:
            raise InvalidArgumentError(f"report(value, step): step={step!r} must be a non-negative integer.")
        if not _is_number(value) and not hasattr(value, "__float__"):
            raise InvalidArgumentError(f"report(value, step): value={value!r} must be a number.")
        number = float(value)
        self.optuna_trial.report(number, int(step))
        self._client.log_metric(self.run_id, self.metric, number, int(step))
        self.last_step = int(step) if self.last_step is None else max(self.last_step, int(step))

    def should_prune(self) -> bool:
        return bool(self.optuna_trial.should_prune())

    def prune(self) -> NoReturn:
        import optuna

        raise optuna.TrialPruned(f"pruned at step {self.last_step}")


# -- one trial, in this process or a worker ----------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    """What a worker needs to run one trial: references and values only."""

    number: int
    trial_id: int
    run_id: str
    metric: str
    wants_handle: bool
    objective: tuple[str, str] | None = None  # (module, qualname); None when run in the coordinating process
    settings: Settings | None = None
    journal: str | None = None
    study_name: str | None = None
    pruner: Any = None


@dataclass(frozen=True)
class _Outcome:
    state: Literal["COMPLETE", "PRUNED", "FAIL", "MISUSE"]
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    last_step: int | None = None


def _describe(exc: BaseException) -> str:
    return describe_error(exc, exc.__traceback__)


@contextlib.contextmanager
def _attached(run: ActiveRun) -> Iterator[None]:
    """Make ``run`` the active run of this thread, so ``lm.log_metric`` inside the objective lands in it."""
    from loopml.tracking import attached_run

    with attached_run(
        run.id, name=run.name, experiment=run.experiment, parent_id=run.parent_id, client=run.client
    ):
        yield


def _execute(objective: Objective, trial: optuna.Trial, task: _Task, run: ActiveRun) -> _Outcome:
    import optuna

    handle = TrialHandle(trial, task.run_id, run.client, task.metric)
    try:
        with _attached(run):
            params = dict(trial.params)
            returned = objective(params, handle) if task.wants_handle else objective(params)
    except optuna.TrialPruned:
        return _Outcome("PRUNED", last_step=handle.last_step)
    except Exception as exc:
        return _Outcome("FAIL", error=_describe(exc), last_step=handle.last_step)
    finally:
        run.client.flush()
    return _outcome_of(returned, task.metric, handle.last_step, named=task.metric != "value")


def _outcome_of(returned: Any, metric: str, last_step: int | None, *, named: bool) -> _Outcome:
    if isinstance(returned, Mapping):
        if not named:
            return _Outcome(
                "MISUSE",
                error=f"The objective returned a dict of metrics ({', '.join(map(str, returned))}): pass "
                f"metric='<one of them>' to lm.tune to say which one to optimize.",
            )
        bad = [k for k, v in returned.items() if not isinstance(k, str) or not _as_float_ok(v)]
        if bad:
            return _Outcome(
                "MISUSE",
                error=f"The objective returned {bad[0]!r}: {returned[bad[0]]!r}; metrics must be numbers.",
            )
        if metric not in returned:
            return _Outcome(
                "MISUSE",
                error=f"The objective returned the metrics {', '.join(returned)} but not {metric!r}, the one "
                f"lm.tune(metric={metric!r}) optimizes: return it too, or name another metric.",
            )
        metrics = {k: float(v) for k, v in returned.items()}
    elif _as_float_ok(returned):
        metrics = {metric: float(returned)}
    else:
        return _Outcome(
            "MISUSE",
            error=f"The objective returned {returned!r} ({type(returned).__name__}); it must return a "
            "number or a dict of numbers (then pass metric= to lm.tune).",
        )
    value = metrics[metric]
    if math.isnan(value):
        return _Outcome("FAIL", metrics=metrics, error=f"The objective returned NaN for {metric!r}.")
    return _Outcome("COMPLETE", value, metrics, last_step=last_step)


def _as_float_ok(value: object) -> bool:
    if isinstance(value, bool | str | bytes) or value is None:
        return False
    try:
        float(value)  # type: ignore[arg-type]  # numbers, numpy scalars, 0-d arrays
    except (TypeError, ValueError):
        return False
    return True


# -- worker side -------------------------------------------------------------------------------------------

_worker_studies: dict[tuple[str, str], optuna.Study] = {}


def _run_task(task: _Task) -> _Outcome:
    """Entry point of a worker process: resolve the references, run the trial, send back its outcome."""
    import optuna

    from loopml import tracking

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    assert task.settings is not None and task.objective is not None
    assert task.journal is not None and task.study_name is not None
    if tracking.get_settings() != task.settings:  # a reused worker never keeps stale settings
        s = task.settings
        tracking.configure(
            home=s.home,
            database_url=s.database_url,
            artifact_root=s.artifact_root,
            flush_interval=s.flush_interval,
        )
    client = tracking.get_client()
    objective = _resolve(*task.objective)
    key = (task.journal, task.study_name)
    study = _worker_studies.get(key)
    if study is None:
        study = _worker_studies[key] = optuna.load_study(
            study_name=task.study_name,
            storage=_journal_storage(task.journal),
            sampler=optuna.samplers.RandomSampler(),  # never asked: the coordinator samples
            pruner=task.pruner,
        )
    trial = optuna.trial.Trial(study, task.trial_id)
    run = tracking.ActiveRun(client, client.store.runs.get_run(task.run_id))
    return _execute(objective, trial, task, run)


def _resolve(module: str, qualname: str) -> Objective:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def _journal_storage(path: str) -> optuna.storages.JournalStorage:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))


# -- the coordinator -------------------------------------------------------------------------------------


def _objective_ref(objective: Objective) -> tuple[str, str]:
    """(module, qualname) of a top-level function, which a spawned worker can import; else a clear error."""
    name = getattr(objective, "__qualname__", None) or repr(objective)
    advice = (
        f"With n_jobs > 1 the objective runs in other processes, which import it by name, so it must be a "
        f"function defined at the top level of a module; {name!r} is not (a lambda, a nested function, a "
        f"bound method or another callable). Move it to module level, or use n_jobs=1."
    )
    if not inspect.isfunction(objective) or "<" in objective.__qualname__:
        raise InvalidArgumentError(advice)
    module = objective.__module__
    if module == "__main__" and not getattr(sys.modules.get("__main__"), "__file__", None):
        raise InvalidArgumentError(
            f"The objective {name!r} was defined interactively; with n_jobs > 1 worker processes import it, "
            "so put it in a module (a .py file) and import it from there, or use n_jobs=1."
        )
    try:
        resolved = _resolve(module, objective.__qualname__)
    except (ImportError, AttributeError):
        resolved = None
    if resolved is not objective:
        raise InvalidArgumentError(advice)
    return module, objective.__qualname__


def _wants_handle(objective: Objective) -> bool:
    if not callable(objective):
        raise InvalidArgumentError(
            f"objective must be a function of the params dict, got {type(objective).__name__}."
        )
    try:
        parameters = list(inspect.signature(objective).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature: give them the params only
        return False
    kinds = inspect.Parameter
    if any(p.kind is kinds.VAR_POSITIONAL for p in parameters):
        return True
    positional = [p for p in parameters if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
    if not positional:
        raise InvalidArgumentError(
            "objective must take the params dict as its first argument: def objective(params): ... "
            "(and optionally a trial handle second, for pruning: def objective(params, trial): ...)."
        )
    return len(positional) >= 2


@contextlib.contextmanager
def _optuna_quiet(verbose: bool) -> Iterator[None]:
    import optuna

    before = optuna.logging.get_verbosity()
    if not verbose:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


@dataclass
class _Pending:
    task: _Task
    trial: optuna.Trial
    run: ActiveRun
    params: dict[str, Any]


class _Coordinator:
    def __init__(
        self,
        study: optuna.Study,
        study_run: ActiveRun,
        space: dict[str, BaseDistribution],
        metric: str,
        wants_handle: bool,
    ) -> None:
        self.study = study
        self.study_run = study_run
        self.client: TrackingClient = study_run.client
        self.space = space
        self.metric = metric
        self.wants_handle = wants_handle
        self.results: list[TrialResult] = []

    def start(self, objective_ref: tuple[str, str] | None = None, **worker: Any) -> _Pending:
        """Ask Optuna for the next trial and open its run, a child of the study run."""
        from loopml.tracking import ActiveRun

        trial = self.study.ask(fixed_distributions=self.space)
        params = dict(trial.params)
        run = ActiveRun(
            self.client,
            self.client.create_run(
                self.study_run.experiment,
                f"trial-{trial.number}",
                self.study_run.id,
                {"loopml.kind": "trial", "loopml.trial_number": trial.number},
            ),
        )
        self.client.log_params(run.id, params)
        task = _Task(
            trial.number, trial._trial_id, run.id, self.metric, self.wants_handle, objective_ref, **worker
        )
        return _Pending(task, trial, run, params)

    def finish(self, pending: _Pending, outcome: _Outcome) -> None:
        """Record the outcome in the trial's run and tell Optuna; a misuse of the API stops the study."""
        from optuna.trial import TrialState as OptunaState

        run, number = pending.run, pending.task.number
        if outcome.metrics:
            run.log_metrics(outcome.metrics, step=outcome.last_step)
        state = "FAIL" if outcome.state == "MISUSE" else outcome.state
        tags: dict[str, Any] = {"loopml.trial_state": state}
        if state == "PRUNED":
            tags["loopml.pruned"] = "true"
        run.set_tags(tags)
        if state == "COMPLETE":
            frozen = self.study.tell(pending.trial, outcome.value)
        else:
            frozen = self.study.tell(pending.trial, state=getattr(OptunaState, state))
        run.ended = True
        self.client.end_run(
            run.id, RunStatus.FAILED if state == "FAIL" else RunStatus.FINISHED, outcome.error
        )
        value = frozen.value if state != "FAIL" else None  # a pruned trial's value: its last report
        self.results.append(
            TrialResult(number, state, pending.params, value, run.id, dict(outcome.metrics), outcome.error)
        )
        if outcome.state == "MISUSE":
            raise InvalidArgumentError(
                outcome.error or "The objective returned something lm.tune cannot use."
            )

    def abandon(self, pending: _Pending, status: RunStatus, why: str) -> None:
        """End a trial that did not run to its end (interrupted, or the study stopped)."""
        from optuna.trial import TrialState as OptunaState

        with contextlib.suppress(Exception):
            self.study.tell(pending.trial, state=OptunaState.FAIL, skip_if_finished=True)
        with contextlib.suppress(Exception):
            pending.run.set_tags({"loopml.trial_state": "FAIL"})
            pending.run.ended = True
            self.client.end_run(pending.run.id, status, why)

    def run_serial(self, objective: Objective, n_trials: int, deadline: float) -> None:
        for number in range(n_trials):
            if number and time.monotonic() >= deadline:  # like Optuna: a timeout still runs one trial
                break
            pending = self.start()
            try:
                outcome = _execute(objective, pending.trial, pending.task, pending.run)
            except BaseException as exc:  # KeyboardInterrupt and the like: the trial ends with the study
                self.abandon(pending, RunStatus.KILLED, _describe(exc))
                raise
            self.finish(pending, outcome)

    def run_parallel(
        self, objective_ref: tuple[str, str], n_trials: int, n_jobs: int, deadline: float, **worker: Any
    ) -> None:
        import multiprocessing
        from concurrent.futures.process import BrokenProcessPool

        pool = ProcessPoolExecutor(max_workers=n_jobs, mp_context=multiprocessing.get_context("spawn"))
        inflight: dict[Future[_Outcome], _Pending] = {}
        asked = 0
        clean = False
        try:
            while True:
                while (
                    len(inflight) < n_jobs and asked < n_trials and (not asked or time.monotonic() < deadline)
                ):
                    pending = self.start(objective_ref, **worker)
                    asked += 1
                    inflight[pool.submit(_run_task, pending.task)] = pending
                if not inflight:
                    break
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: inflight[f].task.number):
                    pending = inflight.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        inflight[future] = pending
                        raise StudyFailedError(
                            f"A tuning worker process died while running trial {pending.task.number}, so the "
                            f"study stopped (its trials so far are in run {self.study_run.id}). Workers are "
                            "spawned and import the main module: if the script calling lm.tune has no "
                            "`if __name__ == '__main__':` guard, add one. Otherwise the worker ran out of "
                            "memory or was killed."
                        ) from None
                    except Exception as exc:  # the worker could not even start the trial
                        outcome = _Outcome(
                            "FAIL", error="The worker could not run the trial: " + _describe(exc)
                        )
                    self.finish(pending, outcome)
            clean = True
        finally:
            pool.shutdown(wait=clean, cancel_futures=True)
            for pending in inflight.values():
                self.abandon(pending, RunStatus.KILLED, "The study stopped before this trial ended.")


def tune(
    objective: Objective,
    space: Mapping[str, Any],
    *,
    n_trials: int = 20,
    direction: Direction = "minimize",
    metric: str | None = None,
    n_jobs: int = 1,
    seed: int | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    timeout: float | None = None,
    experiment: str | None = None,
    name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    verbose: bool = False,
) -> TuneResult:
    """Search ``space`` for the params that minimize (or maximize) what ``objective`` returns.

    ``objective(params)`` gets a dict with one value per entry of ``space`` and returns a number, or a dict of
    metrics with ``metric=`` naming the one to optimize. An objective taking a second argument gets a
    :class:`TrialHandle` to ``report(value, step)`` and ask ``should_prune()``. Each trial is a child run of
    the study run (itself a child of the active run, if any); a trial that raises ends ``FAILED`` and the
    study goes on. ``seed`` seeds the default sampler (Optuna's TPE); ``pruner`` defaults to Optuna's
    ``MedianPruner``. ``n_jobs > 1`` runs trials in that many spawned processes (``-1``: one per CPU); the
    objective must then be a top-level function of an importable module.
    """
    import os

    import optuna

    from loopml import tracking

    # check everything before anything is recorded
    distributions = search_space(space)
    wants_handle = _wants_handle(objective)
    if not _is_int(n_trials) or n_trials < 1:
        raise InvalidArgumentError(f"n_trials={n_trials!r} must be a positive integer.")
    if direction not in ("minimize", "maximize"):
        raise InvalidArgumentError(f"direction={direction!r} must be 'minimize' or 'maximize'.")
    if metric is not None and (not isinstance(metric, str) or not metric):
        raise InvalidArgumentError(f"metric={metric!r} must be the name of a metric the objective returns.")
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    if not _is_int(n_jobs) or n_jobs < 1:
        raise InvalidArgumentError(f"n_jobs={n_jobs!r} must be a positive integer (or -1 for one per CPU).")
    if timeout is not None and (not _is_number(timeout) or not timeout > 0):
        raise InvalidArgumentError(f"timeout={timeout!r} must be a positive number of seconds.")
    if sampler is not None and seed is not None:
        raise InvalidArgumentError(
            "seed= seeds the default sampler; with your own sampler, seed it yourself: "
            "sampler=optuna.samplers.TPESampler(seed=...)."
        )
    if sampler is not None and not isinstance(sampler, optuna.samplers.BaseSampler):
        raise InvalidArgumentError(f"sampler={sampler!r} must be an optuna.samplers sampler.")
    if pruner is not None and not isinstance(pruner, optuna.pruners.BasePruner):
        raise InvalidArgumentError(f"pruner={pruner!r} must be an optuna.pruners pruner.")
    objective_ref = _objective_ref(objective) if n_jobs > 1 else None
    metric_key = metric or "value"
    if sampler is None:
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=n_jobs > 1)
    pruner = optuna.pruners.MedianPruner() if pruner is None else pruner
    objective_name = f"{getattr(objective, '__module__', '?')}.{getattr(objective, '__qualname__', '?')}"

    study_tags = {
        "loopml.kind": "study",
        "loopml.study.objective": objective_name,
        "loopml.study.direction": direction,
        "loopml.study.metric": metric_key,
        "loopml.study.n_trials": n_trials,
        "loopml.study.n_jobs": n_jobs,
        "loopml.study.sampler": type(sampler).__name__,
        "loopml.study.pruner": type(pruner).__name__,
        **(tags or {}),
    }
    run_name = name or f"tune-{getattr(objective, '__name__', 'objective')}"
    with _optuna_quiet(verbose), tracking.start_run(experiment, run_name, tags=study_tags) as study_run:
        from optuna.distributions import distribution_to_json

        study_run.log_dict(
            {k: json.loads(distribution_to_json(d)) for k, d in distributions.items()}, "tune/space.json"
        )
        storage: Any = None
        worker: dict[str, Any] = {}
        if n_jobs > 1:
            settings = tracking.get_settings()
            folder = Path(settings.home) / "studies"
            folder.mkdir(parents=True, exist_ok=True)
            journal = str(folder / f"{study_run.id}.journal")
            storage = _journal_storage(journal)
            worker = {"settings": settings, "journal": journal, "study_name": study_run.id, "pruner": pruner}
        study = optuna.create_study(
            storage=storage,
            study_name=study_run.id,
            direction=direction,
            sampler=sampler,
            pruner=pruner,
        )
        coordinator = _Coordinator(study, study_run, distributions, metric_key, wants_handle)
        deadline = math.inf if timeout is None else time.monotonic() + float(timeout)
        if objective_ref is None:
            coordinator.run_serial(objective, n_trials, deadline)
        else:
            coordinator.run_parallel(objective_ref, n_trials, n_jobs, deadline, **worker)
        return _summarize(coordinator, study_run, direction, metric_key)


def _summarize(
    coordinator: _Coordinator, study_run: ActiveRun, direction: Direction, metric: str
) -> TuneResult:
    trials = sorted(coordinator.results, key=lambda t: t.number)
    counts = {s: sum(t.state == s for t in trials) for s in ("COMPLETE", "PRUNED", "FAIL")}
    study_run.log_metrics(
        {
            "trials_complete": counts["COMPLETE"],
            "trials_pruned": counts["PRUNED"],
            "trials_failed": counts["FAIL"],
        }
    )
    complete = [t for t in trials if t.state == "COMPLETE"]
    if not complete:
        first_error = next((t.error for t in trials if t.error), None)
        detail = f" The first error (trial run {trials[0].run_id}):\n{first_error}" if first_error else ""
        raise StudyFailedError(
            f"No trial of the study completed ({counts['FAIL']} failed, {counts['PRUNED']} pruned): fix the "
            f"objective, or loosen the pruner.{detail}"
        )
    study = coordinator.study
    best = study.best_trial
    best_run = next(t for t in trials if t.number == best.number)
    assert best.value is not None
    study_run.log_params(best.params)
    study_run.log_metrics({"best_value": best.value, f"best_{metric}": best.value})
    study_run.set_tags({"loopml.study.best_trial": best.number, "loopml.study.best_run_id": best_run.run_id})
    return TuneResult(
        best_params=dict(best.params),
        best_value=float(best.value),
        best_trial=best.number,
        best_run_id=best_run.run_id,
        study_run_id=study_run.id,
        direction=direction,
        metric=metric,
        trials=trials,
        optuna_study=study,
    )


__all__ = [
    "StudyFailedError",
    "TrialHandle",
    "TrialResult",
    "TuneResult",
    "choice",
    "int_range",
    "log_uniform",
    "search_space",
    "tune",
    "uniform",
]
