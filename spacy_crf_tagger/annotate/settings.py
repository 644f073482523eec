"""Settings of an annotation job, shared by the local and the Ray engine."""
from dataclasses import dataclass
from typing import Optional

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class AnnotateSettings:
    """How to read the input, cut it into parts and run the pipeline.

    text_field (str): Input field (JSONL key or Parquet column) holding the text.
    id_field (str): Input field holding a document id. Rows without it get their
        row index (as a string) as id.
    batch_size (int): Documents per ``nlp.pipe`` batch.
    part_size (int): Input rows per output part (``part-NNNNN.parquet``). A part
        is the unit of resumption: a re-run skips the parts already written.
    workers (int): Local engine: processes; Ray engine: actors. Each loads the
        pipeline once and runs ``nlp.pipe`` on the rows it is sent.
    gpu_id (int): Local engine: GPU to run on, -1 for the CPU.
    address (Optional[str]): Ray engine: the cluster to join, e.g. "auto" or
        "ray://head:10001"; None or "" starts a local Ray instance.
    cpus_per_actor (float): Ray engine: CPUs reserved per actor (and torch
        threads it uses).
    gpus_per_actor (float): Ray engine: GPUs per actor (fractions share a GPU).
    rows_per_task (int): Rows sent to a worker at a time (Ray: per ``map_batches``
        call); it runs ``nlp.pipe`` over them in batches of ``batch_size``.
    """

    text_field: str = "text"
    id_field: str = "id"
    batch_size: int = 64
    part_size: int = 10_000
    workers: int = 1
    gpu_id: int = -1
    address: Optional[str] = None
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    rows_per_task: int = 1024

    def validate(self, engine: str) -> None:
        """Raise a ValueError naming the first setting that cannot work."""
        if engine not in ENGINES:
            raise ValueError(f"Expected the engine to be one of {list(ENGINES)}, got {engine!r}.")
        for name in ("batch_size", "part_size", "workers", "rows_per_task"):
            _check_positive(name, getattr(self, name))
        if not self.text_field:
            raise ValueError("Expected the name of the input field holding the text, got ''.")
        if self.cpus_per_actor <= 0:
            raise ValueError(
                f"Expected cpus_per_actor > 0, got {self.cpus_per_actor}: every actor needs "
                "some CPU (e.g. 1, or 0.5 to pack two per core)."
            )
        if self.gpus_per_actor < 0:
            raise ValueError(f"Expected gpus_per_actor >= 0 (0 for the CPU), got {self.gpus_per_actor}.")
        if engine == "local" and self.workers > 1 and self.gpu_id >= 0:
            raise ValueError(
                f"Expected one worker on the GPU, got workers={self.workers} with gpu_id="
                f"{self.gpu_id}: nlp.pipe cannot share a GPU between processes. Use "
                "--workers 1 with a GPU, or the Ray engine with --gpus-per-actor."
            )


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"Expected {name} to be a whole number >= 1, got {value!r}.")
