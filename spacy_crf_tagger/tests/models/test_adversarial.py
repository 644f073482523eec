"""Adversarial training (``adversarial`` > 0): each update also trains on the encoder's
input moved along the gradient of the loss, scaled per sequence."""
import numpy
import pytest
import torch
from thinc.api import set_dropout_rate, xp2torch

from spacy_crf_tagger.models.featurize import batch_char_ids
from spacy_crf_tagger.models.sequence_labeler import (
    LabelerOutput,
    _potentials,
    adversarial_perturbation,
    get_net,
)

from ..pipeline.util import TAGGED, small_model, tagged_examples, tagger_nlp, train

EPSILON = 0.5


def deterministic_tagger(epsilon: float = 0.0, **changes):
    """An initialised tagger without dropout or unknown-word replacement, so that two
    passes over the same batch see the same input; ``changes`` to the model block."""
    model = small_model(adversarial=epsilon, **changes, tok2vec={"width": 16, "rows": [500, 100, 100, 50], "unknown_rate": 0.0})
    model["char_cnn"] = {"embed_size": 8, "filters": 8, "dropout": 0.0}
    nlp = tagger_nlp(model)
    examples = tagged_examples(nlp)
    nlp.initialize(lambda: examples)
    tagger = nlp.get_pipe("crf_tagger")
    set_dropout_rate(tagger.model, 0.0)
    return tagger, examples


def test_perturbation_is_the_gradient_scaled_to_epsilon_per_token():
    torch.manual_seed(0)
    lengths = torch.tensor([5, 2, 3])
    grad = torch.randn(3, 5, 4)
    for row, n in enumerate(lengths.tolist()):
        grad[row, n:] = 0.0
    grad[2] = 0.0  # a sequence the loss does not depend on
    eta = adversarial_perturbation(grad, lengths, 0.7)
    for row in (0, 1):
        n = int(lengths[row])
        assert float(eta[row].norm()) == pytest.approx(0.7 * n**0.5, rel=1e-5)
        cosine = torch.nn.functional.cosine_similarity(eta[row].flatten(), grad[row].flatten(), dim=0)
        assert float(cosine) == pytest.approx(1.0, abs=1e-6)
        assert bool((eta[row, n:] == 0).all())
    assert bool((eta[2] == 0).all())
    assert not eta.requires_grad


def net_inputs(tagger, docs):
    """What the model's forward gives the network, rebuilt by hand."""
    model = tagger.model
    words = xp2torch(model.ops.pad(model.get_ref("tok2vec").predict(docs)))
    cfg = model.attrs["char_cnn"]
    ids, index = batch_char_ids(docs, cfg["max_chars"], cfg["rows"])
    lengths = torch.tensor([len(doc) for doc in docs])
    mask = torch.arange(words.shape[1])[None, :] < lengths[:, None]
    return (words, torch.from_numpy(ids), torch.from_numpy(index), lengths), mask


def loss_and_grads(tagger, examples, net, args, mask, perturbation, wrt):
    """The tagger's loss for the network's output, and its gradient for ``wrt``."""
    outputs = net(*args, perturbation=perturbation)
    lengths = [len(eg.predicted) for eg in examples]
    out = LabelerOutput(_potentials(outputs, mask), list(range(len(examples))), lengths)
    loss, d = tagger.get_loss(examples, out)
    d_outputs = [d.emissions, d.transitions, d.start, d.end]
    return loss, torch.autograd.grad(outputs, wrt, grad_outputs=d_outputs)


def test_adversarial_update_adds_the_loss_at_the_input_moved_along_its_gradient():
    tagger, examples = deterministic_tagger(EPSILON)
    docs = [eg.predicted for eg in examples]
    net = get_net(tagger.model)
    params = list(net.parameters())

    # By hand: the gradient at the encoder's input, the perturbation it gives, and the
    # parameters' gradient of the clean loss plus the perturbed one.
    args, mask = net_inputs(tagger, docs)
    words = args[0].requires_grad_()
    net.train()
    probe = torch.zeros(*words.shape[:2], net.input_width, requires_grad=True)
    clean_loss, grads = loss_and_grads(tagger, examples, net, args, mask, probe, params + [words, probe])
    eta = adversarial_perturbation(grads[-1], args[3], EPSILON)
    adv_loss, adv_grads = loss_and_grads(tagger, examples, net, args, mask, eta, params + [words])
    expected = [a + b for a, b in zip(grads[:-1], adv_grads)]
    # The word features' gradient, both passes, taken back through the tok2vec.
    tok2vec = tagger.model.get_ref("tok2vec")
    losses, expected_tok2vec = update_from_scratch(tagger, examples, params, expected[-1])
    assert losses["crf_tagger"] == pytest.approx(clean_loss, rel=1e-5)
    assert losses["crf_tagger_adversarial"] == pytest.approx(adv_loss, rel=1e-5)
    assert losses["crf_tagger_adversarial"] > losses["crf_tagger"]
    for param, want in zip(params, expected):
        torch.testing.assert_close(param.grad, want, rtol=1e-4, atol=1e-6)
    got_tok2vec = tok2vec_grads(tok2vec)
    assert got_tok2vec.keys() == expected_tok2vec.keys() and got_tok2vec
    for key, want in expected_tok2vec.items():
        numpy.testing.assert_allclose(got_tok2vec[key], want, rtol=1e-4, atol=1e-6)


def update_from_scratch(tagger, examples, params, d_words):
    """The Thinc tok2vec's gradients for the word features' gradient ``d_words`` (B, T,
    W), computed by hand; then one ``update`` (no optimiser) from zeroed gradients.
    RETURNS: The update's losses and those tok2vec gradients."""
    docs = [eg.predicted for eg in examples]
    tok2vec = tagger.model.get_ref("tok2vec")
    _, bp_feats = tok2vec.begin_update(docs)
    bp_feats([d_words[row, : len(doc)].numpy() for row, doc in enumerate(docs)])
    expected_tok2vec = tok2vec_grads(tok2vec, clear=True)
    for param in params:
        param.grad = None
    losses = {}
    tagger.update(examples, sgd=None, losses=losses)
    return losses, expected_tok2vec


def tok2vec_grads(tok2vec, clear: bool = False):
    """The Thinc layers' accumulated gradients, by (layer id, name); ``clear`` zeroes them."""
    grads = {}
    for node in tok2vec.walk():
        for name in node.grad_names:
            grads[(node.id, name)] = node.get_grad(name).copy()
            if clear:
                node.set_grad(name, node.ops.alloc(node.get_grad(name).shape))
    return grads


def test_a_small_perturbation_raises_the_loss_as_the_gradient_says():
    """To first order the loss grows by epsilon * sqrt(n) * |gradient| per sequence,
    the most any perturbation of that size can add: the direction is the gradient's."""
    tagger, examples = deterministic_tagger(1e-3)
    docs = [eg.predicted for eg in examples]
    net = get_net(tagger.model)
    args, mask = net_inputs(tagger, docs)
    net.train()
    probe = torch.zeros(*args[0].shape[:2], net.input_width, requires_grad=True)
    _, (grad,) = loss_and_grads(tagger, examples, net, args, mask, probe, [probe])
    predicted_rise = 1e-3 * sum(
        float(grad[row].norm()) * len(doc) ** 0.5 for row, doc in enumerate(docs)
    )
    losses = {}
    tagger.update(examples, sgd=None, losses=losses)
    rise = losses["crf_tagger_adversarial"] - losses["crf_tagger"]
    assert rise == pytest.approx(predicted_rise, rel=0.05)


def test_without_adversarial_the_update_runs_the_network_once():
    tagger, examples = deterministic_tagger(0.0)
    calls = []
    net = get_net(tagger.model)
    net.register_forward_hook(lambda *_: calls.append(1))
    losses = {}
    tagger.update(examples, sgd=None, losses=losses)
    assert len(calls) == 1 and set(losses) == {"crf_tagger"}


def test_adversarial_tagger_trains_and_reloads():
    nlp = tagger_nlp(small_model(adversarial=1.0))
    examples = tagged_examples(nlp)
    _, losses = train(nlp, examples, steps=80)
    assert losses["crf_tagger"] < 0.5
    texts = [text for text, _ in TAGGED]
    assert [[t.tag_ for t in doc] for doc in nlp.pipe(texts)] == [tags for _, tags in TAGGED]
    nlp2 = tagger_nlp(small_model(adversarial=1.0))
    nlp2.from_bytes(nlp.to_bytes())
    assert nlp2.get_pipe("crf_tagger").model.attrs["adversarial"] == 1.0


def test_negative_adversarial_says_what_it_expects():
    with pytest.raises(ValueError, match=r"Expected adversarial >= 0 .*got -0.1"):
        tagger_nlp(small_model(adversarial=-0.1))
