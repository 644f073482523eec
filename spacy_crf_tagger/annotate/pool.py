"""Worker processes for the local engine: each loads the pipeline once and runs
``nlp.pipe`` on the chunks of rows it is sent, like the Ray engine's actors.

Why not ``nlp.pipe(n_process=N)``: when one of its workers dies (the out-of-memory
killer, a segfault, ``kill -9``), the other workers still hold that worker's pipe
open, so spaCy's parent process waits for it forever, and at exit it blocks again
on the feeder thread of the dead worker's queue. A ``ProcessPoolExecutor`` notices
the death, stops its workers and raises ``BrokenProcessPool``, so the job stops
with an error, keeps the parts already written, and a re-run resumes. For that to
hold, a worker must not die half-way through sending a result (the executor would
wait for the rest forever), so workers write each result to a spool file and send
back only its small path, which goes down the pipe in one write.

Workers are forked (where the platform can) with ``PR_SET_PDEATHSIG`` set (Linux),
so they die with the parent rather than outlive an interrupted job.
"""
import ctypes
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Deque, Iterable, Iterator, List, Optional, Tuple

import torch

from .loading import load_pipeline
from .records import confidence_keys, doc_to_record, records_to_table, require_pyarrow

if TYPE_CHECKING:
    import pyarrow

PR_SET_PDEATHSIG = 1
RowT = Tuple[int, Optional[str], str]

_worker_nlp: Any = None
_worker_keys: List[str] = []
_worker_spool = ""


def annotate_in_pool(
    model: str, rows: Iterable[RowT], workers: int, batch_size: int, chunk_size: int, scratch: Path
) -> Iterator["pyarrow.Table"]:
    """Annotate rows in ``workers`` processes; results come back in input order.

    model (str): A resolved pipeline folder or package name.
    rows (Iterable[Tuple[int, Optional[str], str]]): (row, id, text) triples.
    workers (int): Worker processes.
    batch_size (int): Documents per ``nlp.pipe`` batch in a worker.
    chunk_size (int): Rows sent to a worker at a time.
    scratch (Path): Folder for the spool files (the output folder's ``.scratch``, so
        that a run killed outright leaves nothing behind a re-run does not clear).
    YIELDS (pyarrow.Table): Output rows, one chunk at a time.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    threads = max(1, (os.cpu_count() or 1) // workers)
    scratch.mkdir(parents=True, exist_ok=True)
    spool = tempfile.mkdtemp(prefix="spool-", dir=scratch)
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(model, threads, spool)
    )
    in_flight: Deque["Future[str]"] = deque()
    rows = iter(rows)
    try:
        while True:
            chunk = list(islice(rows, chunk_size))
            if chunk:
                in_flight.append(pool.submit(_annotate_chunk, chunk, batch_size))
            if in_flight and (not chunk or len(in_flight) >= 2 * workers):
                yield _read_spooled(in_flight.popleft().result())
            if not chunk and not in_flight:
                break
    except BrokenProcessPool as err:
        raise RuntimeError(
            f"A worker process stopped unexpectedly ({err}), so the job stopped; the parts "
            "written so far are kept. Re-run the same command to annotate the rest (if it "
            "was killed for lack of memory, with fewer --workers or a smaller --batch-size)."
        ) from err
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(spool, ignore_errors=True)


def _start_worker(model: str, threads: int, spool: str) -> None:
    global _worker_nlp, _worker_keys, _worker_spool
    _die_with_parent()
    torch.set_num_threads(threads)
    _worker_nlp = load_pipeline(model)
    _worker_keys = confidence_keys(_worker_nlp)
    _worker_spool = spool


def _annotate_chunk(chunk: List[RowT], batch_size: int) -> str:
    """Annotate a chunk; RETURNS (str): the spool file holding its output rows."""
    docs = _worker_nlp.pipe([text for _, _, text in chunk], batch_size=batch_size)
    table = records_to_table(
        doc_to_record(doc, row, doc_id, _worker_keys) for doc, (row, doc_id, _) in zip(docs, chunk)
    )
    path = os.path.join(_worker_spool, f"chunk-{os.getpid()}-{chunk[0][0]}.arrow")
    pa = require_pyarrow()
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return path


def _read_spooled(path: str) -> "pyarrow.Table":
    pa = require_pyarrow()
    with pa.OSFile(path, "rb") as source:
        table = pa.ipc.open_file(source).read_all()
    os.unlink(path)
    return table


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (elsewhere: no-op)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # pragma: no cover - no prctl: workers may outlive the parent
        pass
