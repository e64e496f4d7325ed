"""Turning what a user hands to ``lm.data.add`` into Parquet in the blob store, read in record batches.

A Parquet file is stored as it is (not re-encoded); a folder of Parquet files as a manifest of them;
a CSV file is converted batch by batch; a DataFrame or an Arrow table is written once. Every source is
checked before anything is stored, so a bad one leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from loopml.artifacts import ArtifactStore, Blob
from loopml.data._profile import Profile, ProfileBuilder
from loopml.data.checks import Check, CheckReport, CheckRunner
from loopml.errors import BlobNotFoundError, IntegrityError, InvalidArgumentError, NotFoundError

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv")
BATCH_ROWS = 64 * 1024


@dataclass(frozen=True)
class Ingested:
    blob: Blob
    num_rows: int
    schema: dict[str, Any]
    profile: Profile
    report: CheckReport | None  # None when no checks were declared


Progress = Callable[[int, "int | None"], None]  # (rows read, total rows when known)


class Scan:
    """One pass over record batches that profiles the data (and so infers the schema), runs the declared
    checks and reports progress."""

    def __init__(
        self,
        schema: pa.Schema,
        checks: Sequence[Check],
        progress: Progress | None = None,
        total_rows: int | None = None,
        expected_rows: int | None = None,
    ) -> None:
        self.builder = ProfileBuilder(schema, expected_rows if total_rows is None else total_rows)
        self.runner = CheckRunner(checks, schema) if checks else None
        self.progress = progress
        self.total_rows = total_rows

        self.num_rows = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def update(self, batch: pa.RecordBatch) -> None:
        """Small batches (a folder of small files) are gathered up to ``BATCH_ROWS`` rows first: the
        sketches cost per call, not only per row."""
        self.num_rows += batch.num_rows
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= BATCH_ROWS:
            self._flush()
        if self.progress is not None:
            self.progress(self.num_rows, self.total_rows)

    def finish(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending, self._pending_rows = self._pending, [], 0
        batches = (
            pending if len(pending) == 1 else pa.Table.from_batches(pending).combine_chunks().to_batches()
        )
        for batch in batches:
            self.builder.update(batch)
            if self.runner is not None:
                self.runner.update(batch)


@dataclass(frozen=True)
class _Context:
    artifacts: ArtifactStore
    checks: Sequence[Check]
    gate: Callable[[CheckReport], None]  # raises to stop before anything is stored
    progress: Progress | None = None

    def scan(
        self, schema: pa.Schema, total_rows: int | None = None, expected_rows: int | None = None
    ) -> Scan:
        return Scan(schema, self.checks, self.progress, total_rows, expected_rows)

    def store(self, scan: Scan, put: Callable[[], Blob]) -> Ingested:
        scan.finish()
        report = scan.runner.finish() if scan.runner is not None else None
        if report is not None:
            self.gate(report)
        profile = scan.builder.result()
        return Ingested(put(), scan.num_rows, scan.builder.schema(), profile, report)


def ingest(
    source: Any,
    artifacts: ArtifactStore,
    checks: Sequence[Check] = (),
    gate: Callable[[CheckReport], None] = lambda report: None,
    progress: Progress | None = None,
) -> Ingested:
    """Check ``source``, store it as Parquet, and describe its schema.

    ``gate`` sees the checks' report after the data was read and before anything is stored.
    """
    ctx = _Context(artifacts, checks, gate, progress)
    if isinstance(source, pa.Table):
        return _ingest_table(source, ctx)
    if _is_dataframe(source):
        return _ingest_table(frame_to_table(source), ctx)
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.exists():
            raise NotFoundError(f"No file or folder at {str(source)!r}.")
        if path.is_dir():
            return _ingest_folder(path, ctx)
        name = path.name.lower()
        if name.endswith(PARQUET_SUFFIXES):
            return _ingest_parquet_file(path, ctx)
        if name.endswith(CSV_SUFFIXES):
            return _ingest_csv(path, ctx)
        raise InvalidArgumentError(
            f"{path.name}: loopml reads .parquet and .csv files; convert it or pass a DataFrame."
        )
    raise InvalidArgumentError(
        f"Cannot add a {type(source).__name__}: pass a pandas DataFrame, a PyArrow table, a .parquet or .csv "
        "file, or a folder of Parquet files."
    )


def _is_dataframe(source: Any) -> bool:
    return type(source).__name__ == "DataFrame" and type(source).__module__.startswith("pandas")


def check_columns(names: list[Any], where: str) -> None:
    if not names:
        raise InvalidArgumentError(f"{where} has no columns; loopml versions data with at least one column.")
    odd = [n for n in names if not isinstance(n, str)]
    if odd:
        raise InvalidArgumentError(
            f"{where} has column names that are not strings: {odd[:5]!r}. Rename them, for example "
            "df.columns = df.columns.map(str)."
        )
    seen: set[str] = set()
    dupes = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if dupes:
        raise InvalidArgumentError(
            f"{where} has duplicate column names: {dupes}. Give each column its own name."
        )


def frame_to_table(frame: Any, preserve_index: bool | None = None) -> pa.Table:
    """``frame`` as an Arrow table; a column of mixed value types is named in the error."""
    check_columns(list(frame.columns), "The DataFrame")
    try:
        return pa.Table.from_pandas(frame, preserve_index=preserve_index)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        for column in frame.columns:
            try:
                pa.array(frame[column], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                kinds = sorted({type(v).__name__ for v in frame[column].dropna().head(10_000)})
                raise InvalidArgumentError(
                    f"Column {column!r} mixes value types ({', '.join(kinds)}); Parquet needs one type per "
                    f"column. Convert it, for example df[{column!r}] = df[{column!r}].astype(str)."
                ) from exc
        raise InvalidArgumentError(f"The DataFrame cannot be stored as Parquet: {exc}") from exc


def _check_rows(num_rows: int, where: str) -> None:
    if num_rows == 0:
        raise InvalidArgumentError(f"{where} has no rows; loopml does not version empty data.")


def _ingest_table(table: pa.Table, ctx: _Context) -> Ingested:
    check_columns(table.column_names, "The table")
    _check_rows(table.num_rows, "The table")
    scan = ctx.scan(table.schema, table.num_rows)
    for batch in table.to_batches(BATCH_ROWS):
        scan.update(batch)
    with tempfile.TemporaryDirectory(prefix="loopml-data-") as tmp:
        path = Path(tmp) / "data.parquet"

        def put() -> Blob:
            pq.write_table(table, path, compression="zstd")
            return ctx.artifacts.put_file(path)

        return ctx.store(scan, put)


def _open_parquet(path: Path) -> pq.ParquetFile:
    try:
        # pre-buffering reads ahead whole row groups: twice the time and four times the memory here
        return pq.ParquetFile(path, pre_buffer=False)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidArgumentError(
            f"{path.name} is not a readable Parquet file (is it truncated?): {exc}"
        ) from exc


def _scan_parquet(files: list[Path], ctx: _Context) -> Scan:
    """Read every file in record batches: proves each is whole, and profiles it on the way.

    The files of a folder are opened, and small ones read, by two threads a few files ahead of the scan
    (Parquet decoding releases the GIL); a large file is streamed batch by batch, never whole in memory.
    """
    scan: Scan | None = None
    schema: pa.Schema | None = None
    for path, reader, batches in _read_ahead(files):
        if schema is None:
            schema = reader.schema_arrow
            check_columns(schema.names, path.name)
            # opening every footer first to count rows would read 10,000 footers twice: a folder's count is
            # estimated from its first file, which sets the profile's sampling rate (it adapts if wrong)
            rows = reader.metadata.num_rows
            scan = ctx.scan(schema, rows if len(files) == 1 else None, rows * len(files))
        elif not reader.schema_arrow.equals(schema):
            raise InvalidArgumentError(
                f"{path.name} has another schema than {files[0].name}; a folder holds files of one schema."
            )
        assert scan is not None
        for batch in batches if batches is not None else prefetch(_stream(path, reader)):
            scan.update(batch)
    assert scan is not None
    return scan


_SMALL_FILE_ROWS = BATCH_ROWS  # files up to this many rows are read whole by the read-ahead threads
_READ_AHEAD = 8


def _read_ahead(files: list[Path]) -> Iterator[tuple[Path, pq.ParquetFile, list[pa.RecordBatch] | None]]:
    if len(files) == 1:
        yield files[0], _open_parquet(files[0]), None
        return
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    def read(path: Path) -> tuple[pq.ParquetFile, list[pa.RecordBatch] | None]:
        reader = _open_parquet(path)
        if reader.metadata.num_rows > _SMALL_FILE_ROWS:
            return reader, None
        return reader, list(
            _stream(path, reader, threads=False)
        )  # the read-ahead threads are the parallelism

    pending = iter(files)
    window: deque[tuple[Path, Future[tuple[pq.ParquetFile, list[pa.RecordBatch] | None]]]] = deque()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="loopml-read") as pool:
        try:
            for path in files[:_READ_AHEAD]:
                window.append((path, pool.submit(read, path)))
                next(pending)
            while window:
                path, future = window.popleft()
                following = next(pending, None)
                if following is not None:
                    window.append((following, pool.submit(read, following)))
                reader, batches = future.result()
                yield path, reader, batches
        finally:
            for _, future in window:
                future.cancel()


def prefetch(batches: Iterator[pa.RecordBatch], depth: int = 3) -> Iterator[pa.RecordBatch]:
    """Decode the next few batches in a thread while the caller profiles this one (decoding releases the
    GIL); at most ``depth`` batches wait in memory. Errors reach the caller in order."""
    import queue
    import threading

    ready: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                ready.put(("batch", batch))
            ready.put(("end", None))
        except BaseException as exc:  # handed over to the consumer, raised there
            ready.put(("error", exc))

    worker = threading.Thread(target=produce, name="loopml-decode", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = ready.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)
        worker.join()


def _stream(path: Path, reader: pq.ParquetFile, threads: bool = True) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader.iter_batches(batch_size=BATCH_ROWS, use_threads=threads)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidArgumentError(f"{path.name} cannot be read to the end (is it corrupt?): {exc}") from exc


def _ingest_parquet_file(path: Path, ctx: _Context) -> Ingested:
    # the file is copied into the store while it is read; kept only if it proves whole and passes
    staged = ctx.artifacts.stage_file(path)
    try:
        scan = _scan_parquet([path], ctx)
        _check_rows(scan.num_rows, path.name)
        return ctx.store(scan, staged.commit)
    except BaseException:
        staged.discard()
        raise


def _ingest_folder(folder: Path, ctx: _Context) -> Ingested:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    others = [
        p.relative_to(folder).as_posix() for p in files if not p.name.lower().endswith(PARQUET_SUFFIXES)
    ]
    if others:
        raise InvalidArgumentError(
            f"{folder.name} holds files that are not Parquet: {others[:5]}; a dataset folder holds only "
            "Parquet files. Move the others out."
        )
    if not files:
        raise InvalidArgumentError(f"{folder.name} holds no Parquet files.")
    staged = ctx.artifacts.stage_dir(folder)  # the files are copied into the store while they are read
    try:
        scan = _scan_parquet(files, ctx)
        _check_rows(scan.num_rows, folder.name)
        return ctx.store(scan, staged.commit)
    except BaseException:
        staged.discard()
        raise


def _csv_batches(path: Path) -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pacsv

    options = pacsv.ParseOptions(delimiter="\t") if path.name.lower().endswith(".tsv") else None
    try:
        reader = pacsv.open_csv(path, parse_options=options)
        yield from reader
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidArgumentError(f"{path.name} is not a readable CSV file: {exc}") from exc


def _ingest_csv(path: Path, ctx: _Context) -> Ingested:
    batches = _csv_batches(path)
    with tempfile.TemporaryDirectory(prefix="loopml-data-") as tmp:
        out = Path(tmp) / "data.parquet"
        writer: pq.ParquetWriter | None = None
        scan: Scan | None = None
        try:
            for batch in batches:
                if writer is None:
                    check_columns(batch.schema.names, path.name)
                    writer = pq.ParquetWriter(out, batch.schema, compression="zstd")
                    scan = ctx.scan(batch.schema)
                writer.write_batch(batch)
                assert scan is not None
                scan.update(batch)
        finally:
            if writer is not None:
                writer.close()
        _check_rows(0 if scan is None else scan.num_rows, path.name)
        assert scan is not None
        return ctx.store(scan, lambda: ctx.artifacts.put_file(out))


@contextlib.contextmanager
def read_stored(
    artifacts: ArtifactStore, digest: str, kind: str
) -> Iterator[tuple[pa.Schema, Iterator[pa.RecordBatch]]]:
    """The schema and record batches of a stored version, verified against its digest first."""
    with tempfile.TemporaryDirectory(prefix="loopml-read-") as tmp:
        files = parquet_files(artifacts, digest, kind, Path(tmp))
        schema = _open_parquet(files[0]).schema_arrow
        yield schema, (b for f in files for b in _open_parquet(f).iter_batches(batch_size=BATCH_ROWS))


def parquet_files(artifacts: ArtifactStore, digest: str, kind: str, tmp: Path) -> list[Path]:
    """Local, verified paths of a version's Parquet files (copied into ``tmp`` if the store is remote)."""
    if kind == "dir":
        entries = artifacts.read_manifest(digest)
        return [_verified_local(artifacts, e.digest, tmp) for _, e in sorted(entries.items())]
    return [_verified_local(artifacts, digest, tmp)]


def _verified_local(artifacts: ArtifactStore, digest: str, tmp: Path) -> Path:
    path = artifacts.local_path(digest)
    if path is not None:
        if not artifacts.exists(digest):
            raise BlobNotFoundError(f"The data blob {digest} is missing; run `loopml doctor`.")
        if not artifacts.verify(digest):
            raise IntegrityError(f"The data blob {digest} does not match its digest; run `loopml doctor`.")
        return path
    return artifacts.get_file(digest, tmp / f"{digest}.parquet")
