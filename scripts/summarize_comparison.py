"""Collect what scripts/compare_ner_trf.sh wrote for each run into one JSON object:
training steps and wall time, dev F1 of model-best, test precision/recall/F1 and
words per second.

    python scripts/summarize_comparison.py TAG RUN [RUN ...]
"""
import json
import re
import sys
from pathlib import Path

METRICS = Path("metrics")
TRAINING = Path("training")


def words_per_second(text: str) -> dict:
    """Mean and 95% interval from `spacy benchmark speed`'s output."""
    # e.g. "Mean: 1701.1 words/s (95% CI: -438.3 +470.8)"
    found = re.search(r"Mean: ([\d.]+) words/s \(95% CI: -([\d.]+) \+([\d.]+)\)", text)
    if found is None:
        raise SystemExit("Expected a 'Mean: N words/s (95% CI: -A +B)' line in the speed output.")
    mean, below, above = (float(x) for x in found.groups())
    return {"words_per_s": mean, "words_per_s_95ci": [round(mean - below, 1), round(mean + above, 1)]}


def repeat(text: str) -> dict:
    """words/s of a repeated measurement, with the machine's load average when it ended
    (an `uptime` line appended to the output), if there is one."""
    out = {"words_per_s": words_per_second(text)["words_per_s"]}
    load = re.search(r"load average: ([\d.]+)", text)
    if load is not None:
        out["load_1min_at_end"] = float(load.group(1))
    return out


def summarize(tag: str, run: str) -> dict:
    train = json.loads((METRICS / f"{tag}-{run}-train.json").read_text())
    meta = json.loads((TRAINING / f"{tag}-{run}" / "model-best" / "meta.json").read_text())
    test = json.loads((METRICS / f"{tag}-{run}-test.json").read_text())
    speed = words_per_second((METRICS / f"{tag}-{run}-speed.txt").read_text())
    # Repeated measurements (e.g. "-speed-rerun.txt"), which vary with the load of the machine.
    repeats = sorted(METRICS.glob(f"{tag}-{run}-speed-*.txt"))
    return {
        **train,
        "dev_ents_f": meta["performance"]["ents_f"],
        "test_ents_p": test["ents_p"],
        "test_ents_r": test["ents_r"],
        "test_ents_f": test["ents_f"],
        **speed,
        "words_per_s_repeats": {p.name: repeat(p.read_text()) for p in repeats},
    }


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    tag, runs = sys.argv[1], sys.argv[2:]
    print(json.dumps({run: summarize(tag, run) for run in runs}, indent=2))


if __name__ == "__main__":
    main()
