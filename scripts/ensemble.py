"""Test scores of several trained pipelines pooled into one: their scores
(emissions, transitions, start and end) are averaged and decoded by their own output
layer, a log-linear pool (product of experts). Each model alone is scored too, the way
`spacy benchmark accuracy` scores it (spaCy's Corpus makes the Examples).

    python scripts/ensemble.py TEST.spacy OUTPUT.json MODEL MODEL [MODEL ...] [--component crf_ner]

A diagnostic of what N models together reach, at N times the cost; not a component.
The models must label with the same tags and the same output layer (e.g. seeds or
variants of one config on one corpus). What the mean of the scores pools depends on
the layer, as each normalises in its own place:
    crf      the sequence distributions: log p(y | x) is linear in the scores;
    memm     each token's distribution given the previous tag, renormalised per step;
    softmax  each token's distribution (the argmax of the mean log-probabilities).
"""
import argparse
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import spacy
import torch
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Corpus, Example

from spacy_crf_tagger.models.sequence_labeler import LabelerOutput
from spacy_crf_tagger.pipeline.base import CRFPipe

Batch = Tuple[List[Doc], LabelerOutput]
POOLED = ("emissions", "transitions", "start", "end")


def find_component(nlp: Language, name: Optional[str]) -> str:
    """The CRF component to pool: ``name``, or the pipeline's only CRF component."""
    crf = [n for n, pipe in nlp.pipeline if isinstance(pipe, CRFPipe)]
    if name is None and len(crf) == 1:
        return crf[0]
    if name in crf:
        return name
    raise ValueError(
        f"Expected {'the component ' + repr(name) if name else 'one crf_tagger or crf_ner component'} "
        f"in the pipeline, got CRF components {crf}. Name one with --component."
    )


def model_outputs(nlp: Language, component: str, examples: List[Example], batch_size: int) -> List[Batch]:
    """Run the pipes before ``component`` over the Examples' predicted Docs, then its
    model, in fixed batches (the same for every model, so their outputs line up)."""
    docs = [eg.predicted for eg in examples]
    for name, pipe in nlp.pipeline:
        if name == component:
            break
        docs = list(pipe.pipe(docs, batch_size=batch_size))
    model = nlp.get_pipe(component).model
    batches = []
    with torch.no_grad():
        for i in range(0, len(docs), batch_size):
            batches.append((docs[i : i + batch_size], model.predict(docs[i : i + batch_size])))
    return batches


def pool(outputs: Sequence[LabelerOutput]) -> LabelerOutput:
    """The mean of the models' scores, for the same Docs."""
    first = outputs[0]
    if any(out.lengths != first.lengths or out.doc_index != first.doc_index for out in outputs):
        raise ValueError("Expected outputs for the same Docs, got batches of different lengths.")
    if first.potentials is None:
        return first
    pots = [out.potentials for out in outputs]
    mean = {f: torch.stack([getattr(p, f) for p in pots]).mean(0) for f in POOLED}
    return LabelerOutput(first.potentials._replace(**mean), first.doc_index, first.lengths)


def score(pipe: CRFPipe, examples: List[Example], batches: List[Batch]) -> Dict[str, float]:
    """Annotate the batches' Docs (the Examples' predicted Docs) and score them."""
    for docs, out in batches:
        pipe.set_annotations(docs, pipe.decode(out))
    return {k: v for k, v in pipe.score(examples).items() if isinstance(v, float)}


def pooled_scores(corpus: Path, models: Sequence[str], component: Optional[str] = None, batch_size: int = 64) -> Dict:
    """Scores of each model alone and of their log-linear pool on ``corpus``."""
    nlps = [spacy.load(m) for m in models]
    names = [find_component(nlp, component) for nlp in nlps]
    pipes = [nlp.get_pipe(n) for nlp, n in zip(nlps, names)]
    for model, pipe in zip(models[1:], pipes[1:]):
        if pipe.output_layer.name != pipes[0].output_layer.name:
            raise ValueError(
                f"Expected every model to use the output layer of {models[0]} ({pipes[0].output_layer.name!r}), "
                f"got {pipe.output_layer.name!r} in {model}. Pool models of one output layer."
            )
        if pipe.tag_names != pipes[0].tag_names:
            raise ValueError(
                f"Expected every model to use the tags of {models[0]} ({len(pipes[0].tag_names)} tags), "
                f"got {len(pipe.tag_names)} different ones in {model}. Pool models trained on one corpus."
            )
    # Each model reads its own Docs: static vectors live in the model's vocab.
    examples = [list(Corpus(corpus)(nlp)) for nlp in nlps]
    outputs = [model_outputs(nlp, n, egs, batch_size) for nlp, n, egs in zip(nlps, names, examples)]
    alone = [{"model": m, "scores": score(pipe, egs, outs)} for m, pipe, egs, outs in zip(models, pipes, examples, outputs)]
    pooled = [pool([outs[b][1] for outs in outputs]) for b in range(len(outputs[0]))]
    # Fresh Examples for the pool: the first model's Docs already carry its own tags.
    fresh = list(Corpus(corpus)(nlps[0]))
    docs = [eg.predicted for eg in fresh]
    together = score(pipes[0], fresh, [(docs[b * batch_size : (b + 1) * batch_size], out) for b, out in enumerate(pooled)])
    return {"corpus": str(corpus), "component": names[0], "models": alone, "pooled": together}


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--component", default=None, help="the CRF component (default: the pipeline's only one)")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args(argv)
    result = pooled_scores(args.corpus, args.models, args.component, args.batch_size)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
