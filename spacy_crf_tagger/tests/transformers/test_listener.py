"""crf_tagger / crf_ner listening to a spacy-transformers `transformer` component: the
listener's width becomes the network's input width, the CRF loss fine-tunes the
transformer, and the pipeline round-trips through bytes and disk."""
import numpy
import pytest
import spacy
from spacy.util import load_model_from_config
from thinc.api import Adam

from ..tiny_bert import HIDDEN
from .util import SENTENCES, SMALL_ENCODER, changed_weights, examples, transformer_weights, trf_nlp

pytest.importorskip("spacy_transformers")

TEXTS = [text for text, _, _ in SENTENCES] + ["Tomas flew to Lima", ""]


def initialize(nlp):
    egs = examples(nlp)
    nlp.initialize(lambda: egs)
    return egs


def train(nlp, egs, name: str, steps: int = 12):
    """RETURNS (List[float]): The component's loss at each step."""
    optimizer = Adam(0.002)
    history = []
    for _ in range(steps):
        losses = {}
        nlp.update(egs, sgd=optimizer, losses=losses)
        history.append(losses[name])
    return history


def annotations(nlp, name):
    out = []
    for doc in nlp.pipe(TEXTS):
        if name == "crf_tagger":
            out.append(([t.tag_ for t in doc], None))
        else:
            group = doc.spans["crf_ner"]
            out.append(([(s.start, s.end, s.label_) for s in group], numpy.asarray(group.attrs["scores"])))
    return out


@pytest.mark.parametrize(
    "name,encoder",
    [("crf_ner", "bilstm"), ("crf_ner", None), ("crf_tagger", None)],
    ids=["ner-bilstm", "ner-no-encoder", "tagger-no-encoder"],
)
def test_listener_feeds_the_crf_and_the_loss_trains_the_transformer(tiny_bert, name, encoder):
    nlp = trf_nlp(tiny_bert, name, encoder=None if encoder is None else SMALL_ENCODER)
    egs = initialize(nlp)
    pipe = nlp.get_pipe(name)
    assert pipe.model.get_dim("nI") == HIDDEN == pipe.cfg["nI"]
    assert (pipe.model.attrs["encoder"] is None) == (encoder is None)
    before = transformer_weights(nlp)
    history = train(nlp, egs, name)
    assert history[-1] < history[0]
    changed = changed_weights(before, transformer_weights(nlp))
    # Every layer of the transformer learnt from the CRF loss.
    for key in ("embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight",
                "encoder.layer.1.output.dense.weight"):
        assert key in changed, sorted(changed)
    for tags_or_spans, scores in annotations(nlp, name):
        if name == "crf_tagger":
            assert all(tag in pipe.labels for tag in tags_or_spans)
        else:
            assert len(scores) == len(tags_or_spans)
            assert all(0.0 <= p <= 1.0 for p in scores)
            assert all(label in pipe.labels for _, _, label in tags_or_spans)


def test_frozen_transformer_gets_no_gradient(tiny_bert):
    nlp = trf_nlp(tiny_bert, "crf_ner", grad_factor=0.0)
    egs = initialize(nlp)
    before = transformer_weights(nlp)
    for _ in range(3):
        # No weight decay, so only a gradient could change the weights.
        nlp.update(egs, sgd=Adam(0.002, L2=0.0))
    assert changed_weights(before, transformer_weights(nlp)) == []


def test_pipeline_round_trips_through_bytes_and_disk(tiny_bert, tmp_path):
    nlp = trf_nlp(tiny_bert, "crf_ner")
    train(nlp, initialize(nlp), "crf_ner", steps=15)
    expected = annotations(nlp, "crf_ner")
    assert any(spans for spans, _ in expected), "the model found no entity to compare"

    nlp2 = load_model_from_config(nlp.config, auto_fill=True)
    nlp2.from_bytes(nlp.to_bytes())
    nlp.to_disk(tmp_path / "pipeline")
    nlp3 = spacy.load(tmp_path / "pipeline")
    for other in (nlp2, nlp3):
        assert other.get_pipe("crf_ner").labels == nlp.get_pipe("crf_ner").labels
        for (spans, scores), (spans2, scores2) in zip(expected, annotations(other, "crf_ner")):
            assert spans2 == spans
            numpy.testing.assert_allclose(scores2, scores, rtol=1e-4, atol=1e-5)


def test_listener_without_an_upstream_transformer_says_what_to_fix(tiny_bert):
    # A transformer after the listening component never connects to its listener.
    nlp = trf_nlp(tiny_bert, "crf_ner", transformer_first=False)
    egs = examples(nlp)
    with pytest.raises(ValueError, match="no upstream component has connected") as err:
        nlp.initialize(lambda: egs)
    assert "transformer-listener" in str(err.value) and "before this component" in str(err.value)
