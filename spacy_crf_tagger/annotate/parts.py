"""The output folder: one Parquet file per finished part, written atomically, and a
manifest that ties the folder to its input, so that a re-run resumes safely.

Layout::

    OUTPUT/_manifest.json         the job: input fingerprint, model, part size, state
    OUTPUT/part-00000.parquet     rows 0 .. part_size - 1, sorted by row
    OUTPUT/part-00001.parquet     ...
    OUTPUT/.lock                  held by the running job (two runs cannot mix)
    OUTPUT/.scratch/              the engine's temporary files

A part file appears only complete (written to ``.part-NNNNN.parquet.tmp``, then
renamed), so a part file that exists is finished, and an interrupted job re-run
with the same arguments annotates only the missing parts. The names starting with
``_`` and ``.`` are skipped by Parquet readers, so ``pyarrow.parquet.read_table(OUTPUT)``,
``pandas.read_parquet(OUTPUT)`` or ``ray.data.read_parquet(OUTPUT)`` read the rows.
"""
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Set, Union

from .io import count_parts, part_rows
from .records import output_schema, require_pyarrow

if TYPE_CHECKING:
    import pyarrow

MANIFEST = "_manifest.json"
LOCK = ".lock"
SCRATCH = ".scratch"
# Manifest entries that must match for a re-run to resume a folder.
RESUME_KEYS = ("schema", "input", "model", "part_size")


def part_name(index: int) -> str:
    """RETURNS (str): The file name of part ``index``."""
    return f"part-{index:05d}.parquet"


class OutputDir:
    """The output folder of one job (see the module docstring)."""

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def scratch(self) -> Path:
        """A folder for an engine's temporary files, emptied when a job starts."""
        return self.path / SCRATCH

    def read_manifest(self) -> Optional[Dict[str, Any]]:
        """RETURNS (Optional[Dict]): The manifest, or None if there is none."""
        if not self.manifest_path.exists():
            return None
        return json.loads(self.manifest_path.read_text(encoding="utf8"))

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's lock file for a job, so two runs cannot write to one
        folder at once. The lock goes with the process, so a killed run leaves none
        behind. (On platforms without ``fcntl`` there is no lock.)"""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        self._check_is_ours()
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / LOCK, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                owner = f.read().strip() or "unknown"
                raise ValueError(
                    f"Expected no other run writing to {self.path}, got one (process {owner}). "
                    "Wait for it to finish or stop it, then re-run; it resumes where that one stopped."
                ) from None
            f.seek(0)
            f.truncate()
            f.write(str(os.getpid()))
            f.flush()
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def prepare(self, job: Dict[str, Any]) -> Set[int]:
        """Create the folder or check that it belongs to this job; drop temporary
        files left by an interrupted run; record the job in the manifest.

        job (Dict[str, Any]): The values of ``RESUME_KEYS`` plus ``rows``.
        RETURNS (Set[int]): Indices of the parts already written.
        """
        self._check_is_ours()
        previous = self.read_manifest()
        if previous is not None:
            for key in RESUME_KEYS:
                if previous.get(key) != job[key]:
                    raise ValueError(
                        f"{self.path} holds the output of a different job, so it cannot be resumed: "
                        f"its {key!r} is {previous.get(key)!r}, this run's is {job[key]!r}. Re-run "
                        "with the original settings, or write to a new folder."
                    )
        self.path.mkdir(parents=True, exist_ok=True)
        for tmp in self.path.glob(".part-*.tmp"):
            tmp.unlink()
        shutil.rmtree(self.scratch, ignore_errors=True)
        n_parts = count_parts(job["rows"], job["part_size"])
        done = {i for i in range(n_parts) if self._is_finished(i, part_rows(i, job["rows"], job["part_size"]))}
        self._write_manifest({**job, "parts": n_parts, "complete": False})
        return done

    def write_part(self, index: int, table: "pyarrow.Table") -> Path:
        """Write one finished part atomically: a temporary file, flushed, then renamed.

        RETURNS (Path): The part file.
        """
        pq = require_pyarrow().parquet
        final = self.path / part_name(index)
        tmp = self.path / f".{part_name(index)}.tmp"
        pq.write_table(table, tmp)
        _fsync(tmp)
        os.replace(tmp, final)
        return final

    def finish(self, summary: Dict[str, Any]) -> None:
        """Mark the job complete in the manifest, with ``summary`` added."""
        manifest = self.read_manifest() or {}
        self._write_manifest({**manifest, **summary, "complete": True})

    def _check_is_ours(self) -> None:
        """Refuse a folder that holds files but no manifest: not written by this command."""
        if self.manifest_path.exists() or not self.path.exists():
            return
        if any(p.name not in (LOCK, SCRATCH) for p in self.path.iterdir()):
            raise ValueError(
                f"Expected a new or empty output folder, got {self.path}, which holds files but "
                f"no {MANIFEST} (so it was not written by this command). Choose another folder."
            )

    def _is_finished(self, index: int, rows: int) -> bool:
        path = self.path / part_name(index)
        if not path.exists():
            return False
        pq = require_pyarrow().parquet
        try:
            return pq.read_metadata(path).num_rows == rows
        except Exception:  # unreadable: annotate it again
            return False

    def _write_manifest(self, manifest: Dict[str, Any]) -> None:
        tmp = self.path / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf8")
        os.replace(tmp, self.manifest_path)


class PartCollector:
    """Gathers annotated rows that arrive in any order, with possible repeats (a
    retried batch), and writes each part once all its rows are in.

    out (OutputDir): Where parts go.
    rows (int): Input rows in all.
    part_size (int): Rows per part.
    pending (Set[int]): Parts to collect; rows of other parts are ignored.
    """

    def __init__(self, out: OutputDir, rows: int, part_size: int, pending: Set[int]):
        self.out = out
        self.rows = rows
        self.part_size = part_size
        self.pending = set(pending)
        self.written: List[int] = []
        self._seen: Dict[int, Set[int]] = {}
        self._chunks: Dict[int, List["pyarrow.Table"]] = {}
        self._schema = output_schema()

    def add(self, table: "pyarrow.Table") -> List[int]:
        """Take a batch of output rows; write the parts it completes.

        RETURNS (List[int]): Indices of the parts written.
        """
        pa = require_pyarrow()
        table = table.select(self._schema.names).cast(self._schema)
        keep: Dict[int, List[int]] = {}
        for i, row in enumerate(table.column("row").to_pylist()):
            index = row // self.part_size
            seen = self._seen.setdefault(index, set()) if index in self.pending else None
            if seen is None or row in seen:  # not wanted, or a repeat
                continue
            seen.add(row)
            keep.setdefault(index, []).append(i)
        done = []
        for index, positions in keep.items():
            self._chunks.setdefault(index, []).append(table.take(pa.array(positions, pa.int64())))
            if len(self._seen[index]) == part_rows(index, self.rows, self.part_size):
                self._write(index)
                done.append(index)
        return done

    def close(self) -> None:
        """Check that every pending part was written; raise a RuntimeError if not."""
        if self.pending:
            missing = sorted(self.pending)
            got = {i: len(self._seen.get(i, ())) for i in missing[:5]}
            raise RuntimeError(
                f"Expected every row back from the engine, but {len(missing)} part(s) are incomplete "
                f"(part: rows received {got}). Nothing incomplete was written; re-run the same "
                "command to annotate the missing parts."
            )

    def _write(self, index: int) -> None:
        pa = require_pyarrow()
        table = pa.concat_tables(self._chunks.pop(index))
        table = table.sort_by("row")
        self.out.write_part(index, table)
        self.pending.discard(index)
        self._seen.pop(index, None)
        self.written.append(index)


def read_output(path: Union[str, Path]) -> "pyarrow.Table":
    """Read a finished output folder into one table, rows in input order.

    path (Union[str, Path]): The output folder.
    RETURNS (pyarrow.Table): All rows, in the output schema.
    """
    pa = require_pyarrow()
    out = OutputDir(path)
    manifest = out.read_manifest()
    if manifest is None or not manifest.get("complete"):
        state = "has no manifest" if manifest is None else "is not complete"
        raise ValueError(
            f"Expected a finished output folder, got {out.path}, which {state}. Run (or re-run) "
            "`python -m spacy crf-annotate` to finish it."
        )
    tables = [pa.parquet.read_table(out.path / part_name(i)) for i in range(manifest["parts"])]
    if not tables:
        return output_schema().empty_table()
    return pa.concat_tables(tables)


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())

