"""The same results on a CUDA GPU as on the CPU; skipped where there is none.

CI has no GPU, so these run where one is: ``pytest -m gpu`` (see the README). Each
test trains or decodes on the GPU, then checks against the CPU: the CRF's dynamic
programmes to float32 tolerance, and whole pipelines through ``to_bytes``.
"""
import pytest
import spacy
import torch
from thinc.api import NumpyOps, get_current_ops, set_current_ops
from thinc.util import has_cupy_gpu

from spacy_crf_tagger.models.pytorch import crf
from spacy_crf_tagger.models.sequence_labeler import get_net
from spacy_crf_tagger.tests.util import random_potentials

from .pipeline.util import ENTITIES, TAGGED, entity_examples, small_model, tagged_examples, tagger_nlp, train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not (torch.cuda.is_available() and has_cupy_gpu),
        reason="needs a CUDA GPU with torch and cupy (CI has none)",
    ),
]

@pytest.fixture
def on_gpu():
    """spaCy/Thinc on the GPU for the test, the CPU again after it."""
    before = get_current_ops()
    spacy.require_gpu(0)
    yield
    spacy.require_cpu()
    set_current_ops(before if isinstance(before, NumpyOps) else NumpyOps())


def _cuda(p: crf.CRFPotentials) -> crf.CRFPotentials:
    return crf.CRFPotentials(*(x.cuda() for x in p))


def test_crf_dynamic_programmes_agree_with_the_cpu():
    lengths = [7, 1, 4, 7, 2, 5]
    p = random_potentials(6, 7, 5, lengths, seed=3, dtype=torch.float32)
    gold = torch.randint(0, 5, (6, 7), generator=torch.Generator().manual_seed(0))
    gold[~p.mask] = -1
    gold[2, 1] = -1  # a missing tag: marginalised
    emissions_cpu = p.emissions.clone().requires_grad_(True)
    emissions_gpu = p.emissions.cuda().requires_grad_(True)
    nll_cpu = crf.negative_log_likelihood(p._replace(emissions=emissions_cpu), gold)
    nll_gpu = crf.negative_log_likelihood(_cuda(p)._replace(emissions=emissions_gpu), gold.cuda())
    nll_cpu.sum().backward()
    nll_gpu.sum().backward()
    assert nll_gpu.device.type == "cuda" and nll_gpu.dtype == torch.float32
    torch.testing.assert_close(nll_gpu.cpu(), nll_cpu, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(emissions_gpu.grad.cpu(), emissions_cpu.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(crf.marginals(_cuda(p)).cpu(), crf.marginals(p), atol=1e-5, rtol=1e-5)
    tags_cpu, scores_cpu = crf.viterbi_decode(p)
    tags_gpu, scores_gpu = crf.viterbi_decode(_cuda(p))
    assert torch.equal(tags_gpu.cpu(), tags_cpu)
    torch.testing.assert_close(scores_gpu.cpu(), scores_cpu, atol=1e-4, rtol=1e-5)


def test_crf_runs_in_float32_under_autocast():
    p = _cuda(random_potentials(3, 6, 4, [6, 2, 5], dtype=torch.float32))
    with torch.autocast(device_type="cuda", dtype=torch.float16):
        log_z = crf.log_partition(p._replace(emissions=p.emissions.half()))
    assert log_z.dtype == torch.float32
    torch.testing.assert_close(log_z, crf.log_partition(p), atol=1e-2, rtol=1e-3)


@pytest.mark.parametrize("mixed_precision", [False, True])
def test_crf_tagger_trains_on_the_gpu_and_predicts_the_same_on_the_cpu(on_gpu, mixed_precision):
    nlp = spacy.blank("en")
    nlp.add_pipe("crf_tagger", config={"model": small_model(mixed_precision=mixed_precision)})
    examples = tagged_examples(nlp)
    optimizer, first = train(nlp, examples, steps=1)
    for _ in range(59):
        losses = {}
        nlp.update(examples, sgd=optimizer, losses=losses)
    assert losses["crf_tagger"] < first["crf_tagger"] / 10
    texts = [text for text, _ in TAGGED]
    tags_gpu = [[t.tag_ for t in doc] for doc in nlp.pipe(texts)]
    assert tags_gpu == [tags for _, tags in TAGGED]
    data = nlp.to_bytes()
    config = nlp.config
    spacy.require_cpu()
    set_current_ops(NumpyOps())
    cpu_nlp = spacy.util.load_model_from_config(config, auto_fill=True).from_bytes(data)
    assert [[t.tag_ for t in doc] for doc in cpu_nlp.pipe(texts)] == tags_gpu


def test_lstm_weights_stay_in_cudnns_single_buffer(on_gpu, recwarn):
    """``AveragingPyTorchShim.finish_update`` writes in place: after training, the
    LSTM's weights are still views of the one buffer that ``flatten_parameters`` made
    when the network moved to the GPU, and cuDNN does not warn that they are "not part
    of single contiguous chunk of memory"."""
    nlp = tagger_nlp()
    train(nlp, tagged_examples(nlp), steps=3)
    list(nlp.pipe([text for text, _ in TAGGED]))
    rnn = get_net(nlp.get_pipe("crf_tagger").model).encoder.rnn
    assert len({p.untyped_storage().data_ptr() for p in rnn.parameters()}) == 1
    assert not [w for w in recwarn if "contiguous chunk" in str(w.message)]


def test_crf_ner_trains_on_the_gpu_with_constraints(on_gpu):
    nlp = spacy.blank("en")
    nlp.add_pipe("crf_ner", config={"model": small_model()})
    examples = entity_examples(nlp)
    train(nlp, examples, steps=60)
    docs = list(nlp.pipe([text for text, _ in ENTITIES]))
    predicted = [[(e.text, e.label_) for e in doc.ents] for doc in docs]
    assert predicted == [[(e.text, e.label_) for e in eg.reference.ents] for eg in examples]
    scores = nlp.evaluate(examples)
    assert scores["ents_f"] == 1.0


def test_adversarial_training_runs_on_the_gpu(on_gpu):
    nlp = tagger_nlp(small_model(adversarial=1.0))
    examples = tagged_examples(nlp)
    _, losses = train(nlp, examples, steps=60)
    assert losses["crf_tagger"] < 0.5 and losses["crf_tagger_adversarial"] > 0.0
    assert [[t.tag_ for t in doc] for doc in nlp.pipe([text for text, _ in TAGGED])] == [tags for _, tags in TAGGED]


def test_adversarial_with_mixed_precision_says_to_turn_one_off(on_gpu):
    nlp = tagger_nlp(small_model(adversarial=1.0, mixed_precision=True))
    examples = tagged_examples(nlp)
    with pytest.raises(ValueError, match="adversarial = 1.0 and mixed_precision = true cannot be combined"):
        nlp.initialize(lambda: examples)


@pytest.mark.parametrize("mixed_precision", [False, True])
def test_language_model_objective_trains_on_the_gpu(on_gpu, mixed_precision):
    nlp = tagger_nlp(small_model(language_model=0.1, mixed_precision=mixed_precision))
    examples = tagged_examples(nlp)
    _, losses = train(nlp, examples, steps=60)
    assert losses["crf_tagger"] < 0.5 and losses["crf_tagger_language_model"] > 0.0
    assert [[t.tag_ for t in doc] for doc in nlp.pipe([text for text, _ in TAGGED])] == [tags for _, tags in TAGGED]
