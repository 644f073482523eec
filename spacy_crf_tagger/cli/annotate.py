"""`python -m spacy crf-annotate`: annotate a large corpus into resumable Parquet parts,
on this machine (``nlp.pipe``) or on a Ray cluster (Ray Data)."""
from pathlib import Path
from typing import Optional

from spacy.cli._util import Arg, Opt, app
from wasabi import msg

from ..annotate.settings import AnnotateSettings

HELP = """Annotate a corpus (JSONL or Parquet, a file or a folder) with a spaCy pipeline
and write one row per document -- id, text, entities with confidences, token tags --
as Parquet parts to OUTPUT. Re-running the same command after an interruption
annotates only the missing parts. --engine local runs nlp.pipe in --workers
processes on this machine; --engine ray runs Ray Data with --workers actors, on a
local Ray instance or on the cluster at --address
(pip install "spacy-crf-tagger[ray]")."""


@app.command("crf-annotate", help=HELP)
def annotate_cli(
    # fmt: off
    model: str = Arg(..., help="Pipeline folder (e.g. training/.../model-best) or installed package name"),
    input_path: Path = Arg(..., help="JSONL (.jsonl) or Parquet (.parquet) file, or a folder of them", show_default=False),
    output_dir: Path = Arg(..., help="Output folder for part-NNNNN.parquet and _manifest.json", show_default=False),
    engine: str = Opt("local", "--engine", "-e", help="local (nlp.pipe) or ray (Ray Data)"),
    workers: int = Opt(1, "--workers", "--actors", "--n-process", "-w", help="local: processes; ray: actors (each loads the pipeline once)"),
    batch_size: int = Opt(64, "--batch-size", "-b", help="Documents per nlp.pipe batch"),
    part_size: int = Opt(10_000, "--part-size", help="Input rows per output part (the unit a re-run skips)"),
    text_field: str = Opt("text", "--text-field", help="Input field holding the text"),
    id_field: str = Opt("id", "--id-field", help="Input field holding the document id (else the row index)"),
    gpu_id: int = Opt(-1, "--gpu-id", "-g", help="local: GPU id, -1 for the CPU"),
    address: Optional[str] = Opt(None, "--address", help="ray: cluster address ('auto', 'ray://head:10001'); default: start a local Ray instance"),
    cpus_per_actor: float = Opt(1.0, "--cpus-per-actor", help="ray: CPUs per actor"),
    gpus_per_actor: float = Opt(0.0, "--gpus-per-actor", help="ray: GPUs per actor (0.5 puts two actors on a GPU)"),
    rows_per_task: int = Opt(1024, "--rows-per-task", help="Rows sent to a worker at a time (ray: per map_batches call)"),
    # fmt: on
) -> None:
    """Run the job and report what it did; exit with 1 and the reason on an error."""
    from ..annotate import annotate

    settings = AnnotateSettings(
        text_field=text_field,
        id_field=id_field,
        batch_size=batch_size,
        part_size=part_size,
        workers=workers,
        gpu_id=gpu_id,
        address=address,
        cpus_per_actor=cpus_per_actor,
        gpus_per_actor=gpus_per_actor,
        rows_per_task=rows_per_task,
    )
    try:
        summary = annotate(model, input_path, output_dir, engine=engine, settings=settings)
    except (ImportError, ValueError, OSError, RuntimeError) as err:
        msg.fail(str(err), exits=1)
    if summary.skipped:
        msg.info(f"Skipped {summary.skipped} of {summary.parts} part(s), finished by an earlier run.")
    msg.good(
        f"Annotated {summary.annotated} document(s) in {summary.written} part(s) in "
        f"{summary.seconds:.1f} s ({summary.docs_per_second:.0f} docs/s, start-up and first "
        f"batch {summary.first_batch_seconds:.1f} s); {summary.rows} row(s) in {summary.output}"
    )
