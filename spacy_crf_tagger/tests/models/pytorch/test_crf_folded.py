"""The folded dynamic programmes (long sequences, small batches) against the step-by-
step recursions and against brute-force enumeration."""
import pytest
import torch

from spacy_crf_tagger.models.pytorch import crf, crf_folded
from spacy_crf_tagger.tests.util import brute_log_partition, brute_marginals, enumerate_paths, random_potentials


@pytest.fixture
def always_fold(monkeypatch):
    monkeypatch.setattr(crf_folded, "FOLD_MIN_LENGTH", 2)
    monkeypatch.setattr(crf_folded, "FOLD_MAX_WORK", 10**9)


def constrained(p, seed=1):
    allowed = torch.rand(p.transitions.shape, generator=torch.Generator().manual_seed(seed)) > 0.3
    allowed.fill_diagonal_(True)  # keep every length reachable
    return p._replace(transitions=p.transitions.masked_fill(~allowed, crf.NEG))


def results(p):
    with torch.no_grad():
        return crf.forward_scores(p), crf.backward_scores(p), *crf.viterbi_decode(p)


def test_fold_length_folds_only_long_small_batches():
    assert crf_folded.fold_length(1, 10_000, 17) == 100
    assert crf_folded.fold_length(1, 10, 17) is None  # short: step by step
    assert crf_folded.fold_length(64, 10_000, 17) is None  # wide batch: step by step
    assert crf_folded.fold_length(1, 10_000, 50) is None  # many tags: step by step


def test_folded_equals_enumeration(always_fold):
    lengths = [5, 1, 3, 4]
    p = random_potentials(4, 5, 3, lengths, seed=5)
    log_z = crf.log_partition(p)
    marg = crf.marginals(p)
    tags, scores = crf.viterbi_decode(p)
    for b, n in enumerate(lengths):
        assert float(log_z[b]) == pytest.approx(brute_log_partition(p, b), abs=1e-9)
        assert torch.allclose(marg[b, :n], brute_marginals(p, b), atol=1e-9)
        best, best_score = max(enumerate_paths(p, b), key=lambda x: x[1])
        assert tuple(tags[b, :n].tolist()) == best
        assert float(scores[b]) == pytest.approx(best_score, abs=1e-9)
        # padding repeats the last tag, as in the step-by-step back-trace
        assert bool((tags[b, n:] == tags[b, n - 1]).all())


@pytest.mark.parametrize("T", [2, 9, 50, 130])
def test_folded_equals_step_by_step(monkeypatch, T):
    lengths = [T, max(1, T // 2), 1, max(1, T - 3)]
    p = constrained(random_potentials(4, T, 5, lengths, seed=T))
    p = p._replace(emissions=p.emissions * 5)
    monkeypatch.setattr(crf_folded, "FOLD_MIN_LENGTH", 10**9)
    alpha, beta, tags, scores = results(p)
    monkeypatch.setattr(crf_folded, "FOLD_MIN_LENGTH", 2)
    monkeypatch.setattr(crf_folded, "FOLD_MAX_WORK", 10**9)
    f_alpha, f_beta, f_tags, f_scores = results(p)
    mask = p.mask.unsqueeze(2)
    for a, b in ((alpha, f_alpha), (beta, f_beta)):
        # impossible tags are -inf in one and ~NEG in the other
        both_impossible = (a < crf.NEG / 2) & (b < crf.NEG / 2)
        assert bool((torch.isclose(a, b, rtol=1e-9, atol=1e-7) | both_impossible | ~mask).all())
    assert torch.equal(tags, f_tags)
    assert torch.allclose(scores, f_scores, atol=1e-7)


def test_folded_span_probabilities_match(monkeypatch):
    p = constrained(random_potentials(2, 70, 4, [70, 33], seed=3))
    with torch.no_grad():
        tags, _ = crf.viterbi_decode(p)
        spans = torch.tensor([[0, 0, 3], [0, 10, 10], [0, 60, 69], [1, 5, 32]])
        monkeypatch.setattr(crf_folded, "FOLD_MIN_LENGTH", 10**9)
        expected = crf.span_log_probs(p, tags, spans)
        monkeypatch.setattr(crf_folded, "FOLD_MIN_LENGTH", 2)
        monkeypatch.setattr(crf_folded, "FOLD_MAX_WORK", 10**9)
        assert torch.allclose(crf.span_log_probs(p, tags, spans), expected, atol=1e-8)


def test_folded_underflow_falls_back(always_fold):
    """A step where every tag underflows gives NaN in the folded product as in the
    step-by-step one, and forward_scores falls back to log space."""
    A = torch.zeros(3, 3, dtype=torch.float64)
    A[:, 2] = crf.NEG
    E = torch.zeros(1, 4, 3, dtype=torch.float64)
    E[0, 1] = torch.tensor([-2000.0, -2000.0, 0.0])
    p = random_potentials(1, 4, 3)._replace(emissions=E, transitions=A)
    assert bool(torch.isnan(crf._forward_scaled(p)).any())
    assert float(crf.log_partition(p)) == pytest.approx(brute_log_partition(p, 0))


def test_training_never_folds(always_fold):
    """Gradients flow through the log-space recursion, folded or not."""
    p = random_potentials(1, 6, 3, seed=2)
    E = p.emissions.clone().requires_grad_()
    nll = crf.negative_log_likelihood(p._replace(emissions=E), torch.tensor([[0, 1, 2, 0, 1, 2]]))
    (grad,) = torch.autograd.grad(nll.sum(), [E])
    assert bool(torch.isfinite(grad).all())
