"""The single-machine engine, no Ray needed: ``nlp.pipe`` in this process, or in
``workers`` processes (see ``pool`` for why these are not ``nlp.pipe(n_process=N)``)."""
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, List

from spacy.language import Language

from .io import InputPart
from .loading import load_pipeline
from .pool import RowT, annotate_in_pool
from .records import Record, confidence_keys, doc_to_record, records_to_table
from .settings import AnnotateSettings

if TYPE_CHECKING:
    import pyarrow


def annotate_local(
    model: str, parts: Iterable[InputPart], settings: AnnotateSettings, scratch: Path
) -> Iterator["pyarrow.Table"]:
    """Annotate the parts on this machine; rows come back in input order.

    With ``settings.workers == 1`` the pipeline runs in this process (on the GPU
    ``settings.gpu_id`` if >= 0). With more, each worker process loads it once and
    runs ``nlp.pipe`` on chunks of ``settings.rows_per_task`` rows, with
    ``cpu_count // workers`` torch threads; if a worker dies, the job stops with a
    RuntimeError and a re-run resumes.

    model (str): A resolved pipeline folder or package name.
    parts (Iterable[InputPart]): The parts to annotate.
    settings (AnnotateSettings): ``batch_size``, ``workers``, ``rows_per_task`` and
        ``gpu_id`` apply.
    scratch (Path): Folder for temporary files of the worker processes.
    YIELDS (pyarrow.Table): Output rows, a batch at a time.
    """
    rows = (row for part in parts for row in zip(part.rows, part.ids, part.texts))
    if settings.workers > 1:
        yield from annotate_in_pool(
            model, rows, settings.workers, settings.batch_size, settings.rows_per_task, scratch
        )
        return
    nlp = load_pipeline(model, settings.gpu_id)
    keys = confidence_keys(nlp)
    yield from _annotate_here(nlp, keys, rows, settings.batch_size)


def _annotate_here(nlp: Language, keys: List[str], rows: Iterable[RowT], batch_size: int) -> Iterator["pyarrow.Table"]:
    stream = ((text, (row, doc_id)) for row, doc_id, text in rows)
    records: List[Record] = []
    for doc, (row, doc_id) in nlp.pipe(stream, as_tuples=True, batch_size=batch_size):
        records.append(doc_to_record(doc, row, doc_id, keys))
        if len(records) >= batch_size:
            yield records_to_table(records)
            records = []
    if records:
        yield records_to_table(records)
