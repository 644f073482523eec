"""The auxiliary language-modelling objective (``language_model`` > 0, Rei 2017): the
encoder's forward states predict the next word, its backward states the previous one."""
import numpy
import pytest
import spacy
import torch

from spacy_crf_tagger.models.language_model import (
    VOCAB_ATTR,
    count_language_model_words,
    language_model_targets,
)
from spacy_crf_tagger.models.pytorch.net import LanguageModelHead, SequenceLabelerNet
from spacy_crf_tagger.models.sequence_labeler import LabelerOutput, _potentials, get_net

from ..pipeline.util import LISTENER, SHARED_TOK2VEC, TAGGED, small_model, tagged_examples, tagger_nlp, train
from .test_adversarial import deterministic_tagger, net_inputs, tok2vec_grads, update_from_scratch

WEIGHT = 0.3
ENCODER = {"cell": "lstm", "hidden_size": 6, "depth": 1, "bidirectional": True, "dropout": 0.0}


def test_targets_are_the_next_and_the_previous_word_class():
    nlp = spacy.blank("en")
    docs = [nlp.make_doc("the cat saw the dog"), nlp.make_doc("a cat")]
    norm = nlp.vocab.strings.add
    vocab = numpy.sort(numpy.array([norm("the"), norm("cat"), norm("dog")], dtype="uint64"))
    cls = {word: int(numpy.searchsorted(vocab, norm(word))) for word in ("the", "cat", "dog")}
    other = len(vocab)
    targets = language_model_targets(docs, vocab, directions=2)
    assert targets.shape == (2, 2, 5) and targets.dtype == numpy.int64
    assert targets[0, 0].tolist() == [cls["cat"], other, cls["the"], cls["dog"], -1]
    assert targets[1, 0].tolist() == [-1, cls["the"], cls["cat"], other, cls["the"]]
    # The second Doc: "a" is outside the vocabulary; padding after its two tokens.
    assert targets[0, 1].tolist() == [cls["cat"], -1, -1, -1, -1]
    assert targets[1, 1].tolist() == [-1, other, -1, -1, -1]
    assert language_model_targets(docs, vocab, directions=1).shape == (1, 2, 5)


def test_the_vocabulary_is_the_most_frequent_words():
    nlp = tagger_nlp(small_model(language_model=0.1, language_model_words=2))
    docs = [nlp.make_doc(text) for text in ("b a b c", "c b a", "d")]
    model = nlp.get_pipe("crf_tagger").model
    assert count_language_model_words(model, docs)
    # b: 3, a: 2, c: 2 (a tie, broken by hash), d: 1.
    hashes = {w: nlp.vocab.strings[w] for w in "abcd"}
    tie_winner = min(hashes["a"], hashes["c"])
    assert model.attrs[VOCAB_ATTR].tolist() == sorted([hashes["b"], tie_winner])
    off = tagger_nlp(small_model()).get_pipe("crf_tagger").model
    assert not count_language_model_words(off, docs) and len(off.attrs[VOCAB_ATTR]) == 0


def test_head_loss_is_the_summed_cross_entropy_of_each_direction():
    torch.manual_seed(0)
    head = LanguageModelHead(hidden_size=4, bidirectional=True, n_words=5, width=3)
    states = torch.randn(6, 8)
    targets = torch.tensor([[1, 5, -1, 0, 2, -1], [-1, 3, 3, 4, -1, 5]])
    want = 0.0
    with torch.no_grad():
        for d in range(2):
            for n in range(6):
                if targets[d, n] >= 0:
                    h = torch.tanh(head.hidden[d](states[n, d * 4 : (d + 1) * 4]))
                    want += float(-torch.log_softmax(head.output[d](h), dim=0)[targets[d, n]])
        assert float(head(states, targets)) == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("direction", [0, 1])
def test_a_prediction_never_sees_the_word_it_predicts(direction):
    """The forward state at t reads only tokens <= t, the backward state only tokens >= t."""
    torch.manual_seed(0)
    net = SequenceLabelerNet(5, 3, None, ENCODER, dropout=0.0, use_transitions=True, language_model_words=4)
    T, t = 6, 2
    words = torch.randn(1, T, 5, requires_grad=True)
    targets = torch.full((2, 1, T), -1)
    targets[direction, 0, t] = 1
    loss = net(words, None, None, torch.tensor([T]), lm_targets=targets)[-1]
    (grad,) = torch.autograd.grad(loss, words)
    norms = grad[0].norm(dim=1)
    seen = range(0, t + 1) if direction == 0 else range(t, T)
    for position in range(T):
        assert (float(norms[position]) > 0) == (position in seen), position


def test_padding_and_packing_give_the_same_loss():
    torch.manual_seed(0)
    net = SequenceLabelerNet(5, 3, None, ENCODER, dropout=0.0, use_transitions=True, language_model_words=4)
    words = torch.randn(2, 4, 5)
    targets = torch.randint(0, 5, (2, 2, 4))
    targets[:, 1, 3] = -1  # the second sequence has 3 tokens
    with torch.no_grad():
        together = net(words, None, None, torch.tensor([4, 3]), lm_targets=targets)[-1]
        alone = sum(
            net(words[b : b + 1, :n], None, None, torch.tensor([n]), lm_targets=targets[:, b : b + 1, :n])[-1]
            for b, n in enumerate([4, 3])
        )
    assert float(together) == pytest.approx(float(alone), rel=1e-5)


def test_update_adds_the_weighted_language_model_loss():
    tagger, examples = deterministic_tagger(language_model=WEIGHT)
    docs = [eg.predicted for eg in examples]
    net = get_net(tagger.model)
    params = list(net.parameters())
    vocab = tagger.model.attrs[VOCAB_ATTR]
    assert len(vocab) == len({t.norm for doc in docs for t in doc})

    # By hand: the tagger's loss plus WEIGHT times the language model's.
    args, mask = net_inputs(tagger, docs)
    words = args[0].requires_grad_()
    net.train()
    targets = torch.from_numpy(language_model_targets(docs, vocab, directions=2))
    *outputs, lm_loss = net(*args, lm_targets=targets)
    out = LabelerOutput(_potentials(outputs, mask), list(range(len(docs))), [len(d) for d in docs])
    loss, d = tagger.get_loss(examples, out)
    d_outputs = [d.emissions, d.transitions, d.start, d.end]
    expected = torch.autograd.grad(
        [*outputs, lm_loss], params + [words], grad_outputs=d_outputs + [torch.tensor(WEIGHT)], allow_unused=True
    )
    tok2vec = tagger.model.get_ref("tok2vec")
    losses, expected_tok2vec = update_from_scratch(tagger, examples, params, expected[-1])
    assert losses["crf_tagger"] == pytest.approx(loss, rel=1e-5)
    assert losses["crf_tagger_language_model"] == pytest.approx(float(lm_loss.detach()), rel=1e-5)
    for (name, param), want in zip(net.named_parameters(), expected):
        torch.testing.assert_close(param.grad, want, rtol=1e-4, atol=1e-6, msg=name)
    for name, param in net.language_model.named_parameters():
        assert float(param.grad.abs().sum()) > 0, name
    for key, want in expected_tok2vec.items():
        numpy.testing.assert_allclose(tok2vec_grads(tok2vec)[key], want, rtol=1e-4, atol=1e-6)


def test_prediction_does_not_run_the_language_model():
    tagger, examples = deterministic_tagger(language_model=WEIGHT)
    calls = []
    get_net(tagger.model).language_model.register_forward_hook(lambda *_: calls.append(1))
    tagger.predict([eg.predicted for eg in examples])
    assert calls == []
    tagger.update(examples, sgd=None, losses={})
    assert calls == [1]


def test_tagger_with_the_objective_trains_and_reloads(tmp_path):
    nlp = tagger_nlp(small_model(language_model=0.1))
    examples = tagged_examples(nlp)
    _, losses = train(nlp, examples, steps=60)
    assert losses["crf_tagger"] < 0.5 and losses["crf_tagger_language_model"] > 0
    texts = [text for text, _ in TAGGED]
    assert [[t.tag_ for t in doc] for doc in nlp.pipe(texts)] == [tags for _, tags in TAGGED]
    nlp.to_disk(tmp_path)
    loaded = spacy.load(tmp_path)
    assert [[t.tag_ for t in doc] for doc in loaded.pipe(texts)] == [tags for _, tags in TAGGED]
    vocab = loaded.get_pipe("crf_tagger").model.attrs[VOCAB_ATTR]
    assert vocab.tolist() == nlp.get_pipe("crf_tagger").model.attrs[VOCAB_ATTR].tolist()
    # Its weights include the head: a config without the objective is refused, saying why.
    without = tagger_nlp(small_model())
    with pytest.raises(ValueError, match=r"language_model_words: saved 7500, config None"):
        without.get_pipe("crf_tagger").from_disk(tmp_path / "crf_tagger")


def test_the_objective_combines_with_adversarial_training():
    nlp = tagger_nlp(small_model(language_model=0.1, adversarial=0.5))
    examples = tagged_examples(nlp)
    _, losses = train(nlp, examples, steps=60)
    assert losses["crf_tagger"] < 0.5
    assert losses["crf_tagger_language_model"] > 0 and losses["crf_tagger_adversarial"] > 0
    texts = [text for text, _ in TAGGED]
    assert [[t.tag_ for t in doc] for doc in nlp.pipe(texts)] == [tags for _, tags in TAGGED]


def test_a_pipeline_saved_without_the_objective_loads_as_before():
    nlp = tagger_nlp()
    nlp.initialize(lambda: tagged_examples(nlp))
    saved = nlp.get_pipe("crf_tagger")._saved_cfg()
    assert "language_model_words" not in saved["net"]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"language_model": -0.1}, r"Expected language_model >= 0 .*got -0.1"),
        ({"language_model": 0.1, "language_model_words": 0}, r"Expected language_model_words >= 1 .*got 0"),
        ({"language_model": 0.1, "encoder": {"hidden_size": 8, "depth": 2}}, r"encoder of depth 1.*got depth 2"),
        ({"language_model": 0.1, "encoder": None}, r"encoder of depth 1.*got no encoder"),
    ],
)
def test_bad_settings_say_what_they_expect(changes, message):
    with pytest.raises(ValueError, match=message):
        tagger_nlp(small_model(**changes))


def test_a_listener_is_refused_because_it_sees_the_next_word():
    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec", config={"model": SHARED_TOK2VEC})
    with pytest.raises(ValueError, match=r"word features of each token alone, got .*tok2vec-listener"):
        nlp.add_pipe("crf_tagger", config={"model": small_model(tok2vec=LISTENER, language_model=0.1)})


@pytest.mark.parametrize("window, refused", [(1, True), (0, False)])
def test_word_features_over_a_window_are_refused(window, refused):
    tok2vec = {"@architectures": "spacy-crf-tagger.LexicalFeatures.v1", "width": 8, "attrs": ["NORM"], "rows": [50], "window": window}
    model = small_model(tok2vec=tok2vec, language_model=0.1)
    if refused:
        with pytest.raises(ValueError, match=r"got features that see the neighbouring words \(expand_window"):
            tagger_nlp(model)
    else:
        assert tagger_nlp(model).get_pipe("crf_tagger").model.attrs["language_model"] == 0.1

