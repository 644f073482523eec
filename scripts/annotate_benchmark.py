"""Documents per second of `spacy crf-annotate` with 1 and 2 workers: the local engine
(processes) and the Ray engine (actors on a local Ray instance), on the sample corpus's
texts repeated to --docs documents. Prints a table and writes the figures as JSON.

    python scripts/annotate_benchmark.py training/sample-both/model-best \\
        metrics/annotate-benchmark.json --docs 20000

Each run is a fresh job (new output folder) timed end to end: reading the input,
loading the pipeline (Ray: starting the actors), annotating, writing the parts. The
Ray instance is started once, before the Ray runs, and its start-up is reported apart.
Every worker uses one torch thread (--torch-threads for the single local process), so
1 and 2 workers compare like with like.
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).parent))
import torch  # noqa: E402
from corpus_texts import corpus_texts  # noqa: E402

from spacy_crf_tagger.annotate import AnnotateSettings, annotate  # noqa: E402

CONFIGS = [("local", 1), ("local", 2), ("ray", 1), ("ray", 2)]


def write_input(data_dir: Path, n_docs: int, path: Path) -> None:
    texts = [text for _, text in corpus_texts(data_dir)]
    with path.open("w", encoding="utf8") as f:
        for i in range(n_docs):
            f.write(json.dumps({"id": f"doc-{i}", "text": texts[i % len(texts)]}) + "\n")


def run(model: str, path: Path, out: Path, engine: str, workers: int, args: argparse.Namespace) -> Dict[str, Any]:
    settings = AnnotateSettings(
        workers=workers, batch_size=args.batch_size, part_size=args.part_size, rows_per_task=args.rows_per_task
    )
    summary = annotate(model, path, out, engine=engine, settings=settings)
    return {
        "engine": engine,
        "workers": workers,
        "docs": summary.annotated,
        "seconds": round(summary.seconds, 2),
        "first_batch_seconds": round(summary.first_batch_seconds, 2),
        "docs_per_second": round(summary.docs_per_second, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("output", type=Path)
    ap.add_argument("--data-dir", type=Path, default=Path("assets/sample"))
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--part-size", type=int, default=2500)
    ap.add_argument("--rows-per-task", type=int, default=500)
    ap.add_argument("--configs", default=",".join(f"{e}-{w}" for e, w in CONFIGS), help="e.g. local-1,ray-2")
    ap.add_argument("--torch-threads", type=int, default=1, help="torch threads of the single local process")
    args = ap.parse_args()
    torch.set_num_threads(args.torch_threads)
    configs = [(name.split("-")[0], int(name.split("-")[1])) for name in args.configs.split(",")]
    results: List[Dict[str, Any]] = []
    ray_start = None
    with tempfile.TemporaryDirectory(prefix="annotate-benchmark-") as tmp:
        path = Path(tmp) / "texts.jsonl"
        write_input(args.data_dir, args.docs, path)
        for i, (engine, workers) in enumerate(configs):
            if engine == "ray" and ray_start is None:
                import ray

                start = time.perf_counter()
                ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
                ray.data.DataContext.get_current().enable_progress_bars = False
                ray_start = round(time.perf_counter() - start, 2)
            result = run(args.model, path, Path(tmp) / f"out-{i}", engine, workers, args)
            results.append(result)
            print(
                f"{engine:5} workers={workers}: {result['docs_per_second']:7.1f} docs/s "
                f"({result['docs']} docs in {result['seconds']} s; first rows after "
                f"{result['first_batch_seconds']} s)",
                flush=True,
            )
    report = {
        "model": args.model,
        "docs": args.docs,
        "batch_size": args.batch_size,
        "part_size": args.part_size,
        "rows_per_task": args.rows_per_task,
        "torch_threads_per_worker": args.torch_threads,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "ray_init_seconds": ray_start,
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf8")
    print(f"Saved {args.output}")


if __name__ == "__main__":
    main()
