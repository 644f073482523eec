"""One annotation job: check everything, skip finished parts, run an engine, write parts."""
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, Optional, Type, Union

from .io import InputPart, count_parts, iter_parts, open_input, part_rows
from .loading import model_fingerprint, resolve_model
from .parts import OutputDir, PartCollector
from .records import SCHEMA_VERSION, require_pyarrow
from .settings import AnnotateSettings

if TYPE_CHECKING:
    import pyarrow


@dataclass(frozen=True)
class AnnotateSummary:
    """What a job did.

    rows (int): Input rows (= output rows once complete).
    parts (int): Parts in all.
    skipped (int): Parts found finished and left as they were.
    written (int): Parts annotated and written by this run.
    annotated (int): Documents annotated by this run.
    seconds (float): Wall time of this run, loading included.
    first_batch_seconds (float): Wall time until the first annotated rows came back
        (reading the input, loading the pipeline or starting the actors, and the
        first batch); 0 if nothing was annotated.
    output (Path): The output folder.
    """

    rows: int
    parts: int
    skipped: int
    written: int
    annotated: int
    seconds: float
    first_batch_seconds: float
    output: Path

    @property
    def docs_per_second(self) -> float:
        return self.annotated / self.seconds if self.seconds > 0 else 0.0


def annotate(
    model: Union[str, Path],
    input_path: Union[str, Path],
    output_dir: Union[str, Path],
    *,
    engine: str = "local",
    settings: Optional[AnnotateSettings] = None,
    worker_cls: Optional[Type[Any]] = None,
    worker_kwargs: Optional[Dict[str, Any]] = None,
) -> AnnotateSummary:
    """Annotate a corpus with a spaCy pipeline into resumable Parquet parts.

    model (Union[str, Path]): A pipeline folder or an installed package name.
    input_path (Union[str, Path]): A JSONL or Parquet file, or a folder of them.
    output_dir (Union[str, Path]): The output folder (see ``parts``). If it holds an
        interrupted run of the same job, only the missing parts are annotated.
    engine (str): "local" (``nlp.pipe`` in this process, or in ``workers``
        processes) or "ray" (Ray Data ``map_batches`` over ``workers`` actors).
    settings (Optional[AnnotateSettings]): Fields, sizes, workers, Ray settings.
    worker_cls (Optional[Type]): Ray engine only: the actor class, a subclass of
        ``ray_engine.PipelineAnnotator``.
    worker_kwargs (Optional[Dict[str, Any]]): Ray engine only: extra arguments for it.
    RETURNS (AnnotateSummary): What was done.
    """
    start = time.perf_counter()
    settings = settings or AnnotateSettings()
    settings.validate(engine)
    if engine == "ray":
        from .ray_engine import require_ray

        require_ray()  # before any work, so a missing extra fails at once
    elif worker_cls is not None or worker_kwargs is not None:
        raise ValueError("Expected worker_cls and worker_kwargs only with engine='ray', got engine='local'.")
    require_pyarrow()
    resolved = resolve_model(model)
    source = open_input(input_path, settings.text_field, settings.id_field)
    out = OutputDir(output_dir)
    job = {
        "schema": SCHEMA_VERSION,
        "input": source.fingerprint(),
        "model": model_fingerprint(resolved),
        "part_size": settings.part_size,
        "rows": source.rows,
    }
    with out.locked():
        done = out.prepare(job)
        n_parts = count_parts(source.rows, settings.part_size)
        pending = set(range(n_parts)) - done
        collector = PartCollector(out, source.rows, settings.part_size, pending)
        first_batch: Optional[float] = None
        if pending:
            parts = iter_parts(source, settings.part_size, skip=done)
            for batch in _engine(engine, resolved, parts, settings, out.scratch, worker_cls, worker_kwargs):
                first_batch = first_batch or time.perf_counter() - start
                collector.add(batch)
        collector.close()
        out.finish({"rows_written": source.rows, "engine": engine})
    seconds = time.perf_counter() - start
    return AnnotateSummary(
        rows=source.rows,
        parts=n_parts,
        skipped=len(done),
        written=len(collector.written),
        annotated=sum(part_rows(i, source.rows, settings.part_size) for i in collector.written),
        seconds=seconds,
        first_batch_seconds=first_batch or 0.0,
        output=out.path,
    )


def _engine(
    engine: str,
    model: str,
    parts: Iterator[InputPart],
    settings: AnnotateSettings,
    scratch: Path,
    worker_cls: Optional[Type[Any]],
    worker_kwargs: Optional[Dict[str, Any]],
) -> Iterator["pyarrow.Table"]:
    """Start the engine; RETURNS its stream of output row batches."""
    if engine == "ray":
        from .ray_engine import PipelineAnnotator, annotate_ray

        worker = worker_cls or PipelineAnnotator
        return annotate_ray(model, parts, settings, worker_cls=worker, worker_kwargs=worker_kwargs)
    from .local import annotate_local

    return annotate_local(model, parts, settings, scratch)
