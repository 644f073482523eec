"""The scale-out engine: Ray Data ``map_batches`` over a pool of actors, each of which
loads the pipeline once and runs ``nlp.pipe`` on the batches it is given.

Ray is optional (``pip install "spacy-crf-tagger[ray]"``) and imported only here,
inside the functions that need it.

The driver (the process running this code) reads the input, puts the pending rows
into Ray's object store in blocks of ``rows_per_task`` rows (one block per task, so
that all actors get work), and gathers the annotated rows back to write the parts, so
the actors need neither the input nor the output folder: on a cluster only the
driver's machine sees the files. Ray Data restarts actors that die and retries the
batches they held (its defaults for actor pools: ``max_restarts=-1``,
``max_task_retries=-1``); rows that come back twice are dropped by the driver
(``PartCollector``), so the output has exactly one row per input row.
"""
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, Optional, Type

import torch

from .io import InputPart
from .loading import is_folder, load_packed, load_pipeline, pack_folder
from .records import confidence_keys, doc_to_record, records_to_table
from .settings import AnnotateSettings

if TYPE_CHECKING:
    import pyarrow

RAY_MISSING = (
    "The Ray engine needs Ray Data, which is not installed. Install it with: "
    'pip install "spacy-crf-tagger[ray]" -- or annotate on this machine with --engine local.'
)


def require_ray() -> Any:
    """RETURNS (module): ``ray`` with ``ray.data``, or an ImportError saying what to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as err:
        raise ImportError(RAY_MISSING) from err
    return ray


class PipelineAnnotator:
    """The Ray Data worker: one instance per actor, alive for the whole job.

    model (Dict[str, Any]): ``{"package": name}``, or ``{"archive": ObjectRef}`` of
        a pipeline folder packed by ``loading.pack_folder``.
    batch_size (int): Documents per ``nlp.pipe`` batch.
    threads (int): Torch threads (the CPUs reserved for the actor).
    use_gpu (bool): Run on the GPU Ray assigned to the actor.
    """

    def __init__(self, model: Dict[str, Any], batch_size: int, threads: int = 1, use_gpu: bool = False):
        import spacy

        torch.set_num_threads(max(1, threads))
        if use_gpu:
            spacy.require_gpu(0)  # Ray makes the actor's GPU the only visible one
        if "archive" in model:
            archive = model["archive"]
            if not isinstance(archive, bytes):
                archive = require_ray().get(archive)
            self.nlp = load_packed(archive)
        else:
            self.nlp = load_pipeline(model["package"])
        self.keys = confidence_keys(self.nlp)
        self.batch_size = batch_size

    def __call__(self, batch: "pyarrow.Table") -> "pyarrow.Table":
        """Annotate a batch with columns ``row``, ``id``, ``text``.

        RETURNS (pyarrow.Table): One output row per input row, in the output schema.
        """
        rows = batch.column("row").to_pylist()
        ids = batch.column("id").to_pylist()
        docs = self.nlp.pipe(batch.column("text").to_pylist(), batch_size=self.batch_size)
        return records_to_table(
            doc_to_record(doc, row, doc_id, self.keys) for doc, row, doc_id in zip(docs, rows, ids)
        )


def annotate_ray(
    model: str,
    parts: Iterable[InputPart],
    settings: AnnotateSettings,
    *,
    worker_cls: Type[PipelineAnnotator] = PipelineAnnotator,
    worker_kwargs: Optional[Dict[str, Any]] = None,
) -> Iterator["pyarrow.Table"]:
    """Annotate the parts on a Ray cluster; rows come back in any order.

    Joins ``settings.address`` (a local Ray instance when None) unless Ray is
    already initialised, and shuts down only what it started.

    model (str): A resolved pipeline folder or package name.
    parts (Iterable[InputPart]): The parts to annotate.
    settings (AnnotateSettings): ``workers`` (actors), ``cpus_per_actor``,
        ``gpus_per_actor``, ``batch_size``, ``rows_per_task`` and ``address`` apply.
    worker_cls (Type[PipelineAnnotator]): The actor class; subclass it to add work
        per batch (logging, metrics).
    worker_kwargs (Optional[Dict[str, Any]]): Extra arguments for ``worker_cls``.
    YIELDS (pyarrow.Table): Output rows, one batch at a time.
    """
    ray = require_ray()
    started = _connect(ray, settings.address)
    try:
        source = {"archive": ray.put(pack_folder(model))} if is_folder(model) else {"package": model}
        # one block per task, so that every actor gets work, however few the parts
        blocks = [ray.put(table) for part in parts for table in part.to_tables(settings.rows_per_task)]
        if not blocks:
            return
        kwargs = {
            "model": source,
            "batch_size": settings.batch_size,
            "threads": max(1, int(settings.cpus_per_actor)),
            "use_gpu": settings.gpus_per_actor > 0,
            **(worker_kwargs or {}),
        }
        dataset = ray.data.from_arrow_refs(blocks).map_batches(
            worker_cls,
            fn_constructor_kwargs=kwargs,
            batch_size=settings.rows_per_task,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=settings.workers),
            num_cpus=settings.cpus_per_actor,
            num_gpus=settings.gpus_per_actor,
        )
        yield from dataset.iter_batches(batch_size=None, batch_format="pyarrow")
    finally:
        if started:
            ray.shutdown()


def _connect(ray: Any, address: Optional[str]) -> bool:
    """Initialise Ray unless it is; RETURNS (bool): whether this call started it."""
    if ray.is_initialized():
        return False
    if not address:  # a new instance, even if a cluster runs on this machine
        ray.init(address="local", include_dashboard=False)
        return True
    try:
        ray.init(address=address)
    except ConnectionError as err:
        raise ConnectionError(
            f"Expected a running Ray cluster at {address!r}, could not connect ({err}). Pass 'auto' "
            "on a machine of the cluster, the head's 'HOST:PORT' (6379 by default), or "
            "'ray://HOST:10001' for Ray Client (pip install \"ray[client]\"); leave out --address "
            "to start a local Ray instance."
        ) from err
    return True
