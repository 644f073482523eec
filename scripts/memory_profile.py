"""Peak memory and time of annotating one long document, at several lengths.

Each length runs in a fresh process, so the peak resident memory (ru_maxrss) is
that document's alone; the figure after loading the pipeline is printed beside it.

    python scripts/memory_profile.py training/sample-both/model-best metrics/memory.json --tokens 1000 10000 100000
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import spacy, torch
torch.set_num_threads(1)
nlp = spacy.load(sys.argv[1])
n = int(sys.argv[2])
words = ("Anna Kowalski flew from Nairobi to Paris to meet the team at Brightwater Labs .".split() * (n // 15 + 1))[:n]
from spacy.tokens import Doc
doc = Doc(nlp.vocab, words=words)
nlp(Doc(nlp.vocab, words=words[:20]))  # warm up
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
for _, proc in nlp.pipeline:
    doc = proc(doc)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"tokens": n, "loaded_mb": base / 1024, "peak_mb": peak / 1024,
                  "extra_mb": (peak - base) / 1024, "seconds": seconds, "entities": len(doc.ents)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("output", type=Path)
    parser.add_argument("--tokens", type=int, nargs="+", default=[1000, 10000, 100000])
    args = parser.parse_args()
    rows = []
    for n in args.tokens:
        out = subprocess.run([sys.executable, "-c", CHILD, args.model, str(n)], check=True, capture_output=True, text=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{n:>8} tokens: peak {row['peak_mb']:.0f} MB (loaded {row['loaded_mb']:.0f} MB, "
              f"+{row['extra_mb']:.0f} MB), {row['seconds']:.2f} s, {row['entities']} entities")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"model": args.model, "rows": rows}, indent=2), encoding="utf8")


if __name__ == "__main__":
    main()
