"""Several processes adding versions of one dataset at once get distinct, gapless version numbers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import loopml as lm

WRITER = textwrap.dedent(
    """
    import sys
    import pandas as pd
    import loopml as lm
    worker = int(sys.argv[1])
    for i in range(5):
        lm.data.add("shared", pd.DataFrame({"worker": [worker], "i": [i]}))
        lm.data.add("shared", pd.DataFrame({"same": [1]}))  # identical content from every worker
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_concurrent_adds(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    env = {**os.environ, "LOOPML_HOME": str(tmp_path / "home")}
    if backend == "postgres":
        env["LOOPML_DATABASE_URL"] = request.getfixturevalue("postgres_schema_url")
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(w)], env=env, stderr=subprocess.PIPE, text=True)
        for w in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    lm.configure(home=tmp_path / "home", database_url=env.get("LOOPML_DATABASE_URL"))
    versions = lm.data.versions("shared")
    assert [v.version for v in versions] == list(range(1, 22))  # 20 distinct contents + the shared one
    assert len({v.digest for v in versions}) == 21
