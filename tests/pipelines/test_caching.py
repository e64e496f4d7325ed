"""What the cache key covers, and what turns the cache off."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import loopml as lm
from loopml.pipelines import pipeline, step
from loopml.pipelines._keys import source_digest
from loopml.tracking import get_client

from . import shapes


@pytest.fixture
def log(tmp_path: Path) -> str:
    return str(tmp_path / "calls.log")


def _function(source: str) -> object:
    namespace: dict[str, object] = {}
    path = Path.cwd() / f"mod_{abs(hash(source))}.py"
    path.write_text(textwrap.dedent(source))
    code = compile(path.read_text(), str(path), "exec")
    exec(code, namespace)
    return namespace["f"]


def test_formatting_comments_docstrings_and_decorators_do_not_change_the_source_digest() -> None:
    plain = _function("def f(x):\n    return x + 1\n")
    styled = _function(
        '''
        def f(x):  # a comment
            """A docstring."""

            return (x +
                    1)  # another
        '''
    )
    changed = _function("def f(x):\n    return x + 2\n")
    assert source_digest(plain) == source_digest(styled)  # type: ignore[arg-type]
    assert source_digest(plain) != source_digest(changed)  # type: ignore[arg-type]


def test_a_changed_parameter_reruns_only_the_steps_it_reaches(log: str) -> None:
    shapes.diamond.run({"log": log})
    Path(log).unlink()
    run = shapes.linear.run({"log": log, "n": 3})  # source and add(source, 1) are the diamond's: cached
    assert run.cached_steps == ["source", "add"] and shapes.calls(log) == ["add2"]
    Path(log).unlink()
    run = shapes.linear.run({"log": log, "n": 4})
    assert shapes.calls(log) == ["source", "add1", "add2"]
    Path(log).unlink()
    run = shapes.linear.run({"log": log, "n": 4})
    assert shapes.calls(log) == [] and len(run.cached_steps) == 3


def test_no_cache_runs_every_step_and_refreshes_the_cache(log: str) -> None:
    shapes.linear.run({"log": log})
    again = shapes.linear.run({"log": log}, cache=False)
    assert not again.cached_steps and shapes.calls(log) == ["source", "add1", "add2"] * 2
    third = shapes.linear.run({"log": log})
    assert all(s.reused_from == again.step(s.name).run_id for s in third.steps)


COUNTER: list[int] = []


@step(cache=False)
def uncached(x: int) -> int:
    COUNTER.append(x)
    return x


@step(cache_version="1")
def versioned(x: int) -> int:
    COUNTER.append(-x)
    return x


@pipeline
def options(x: int = 1) -> None:
    versioned(uncached(x))


def test_a_step_with_cache_off_always_runs_and_cache_version_is_part_of_the_key() -> None:
    COUNTER.clear()
    options()
    second = options()
    assert COUNTER == [1, -1, 1]  # uncached ran twice; versioned was cached (same input digest)
    assert not second.step("uncached").cached and second.step("versioned").cached
    versioned.cache_version = "2"
    third = options()
    assert not third.step("versioned").cached and COUNTER[-1] == -1


def test_a_cache_hit_whose_output_was_collected_runs_again(log: str) -> None:
    first = shapes.linear.run({"log": log})
    stored = first.step("add_2").output
    assert stored is not None
    get_client().artifacts.delete(stored.digest)
    Path(log).unlink()
    second = shapes.linear.run({"log": log})
    assert shapes.calls(log) == ["add2"] and second.step("add").cached
    assert second.output("add_2") == [3, 4, 5]


def test_dataset_references_resolve_once_and_new_data_reruns_the_step(log: str) -> None:
    import pandas as pd

    lm.data.add("nums", pd.DataFrame({"v": [1, 2, 3]}))
    run = reads.run()
    assert run.output("summed") == 6
    v1 = lm.data.get("nums:1")
    assert lm.get_run(run.id).tags["loopml.data"] == f'{{"nums@latest": "{v1.id}"}}'
    linked = get_client().store.datasets.run_datasets(run.step("summed").run_id or "")
    assert [(v.name, v.version, d) for v, d in linked] == [("nums", 1, "input")]
    assert reads.run().step("summed").cached
    lm.data.add("nums", pd.DataFrame({"v": [1, 2, 3, 4]}))
    third = reads.run()
    assert not third.step("summed").cached and third.output("summed") == 10


@step
def summed(df: pd.DataFrame) -> int:  # type: ignore[name-defined]  # noqa: F821
    return int(df["v"].sum())


@pipeline
def reads() -> None:
    summed(lm.data.ref("nums@latest"))
