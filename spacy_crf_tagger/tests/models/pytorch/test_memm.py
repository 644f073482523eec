"""The MEMM output layer against brute force: the probability of a sequence is the
product of local softmaxes given the previous tag, computed term by term here."""
import itertools
import math

import pytest
import torch

from spacy_crf_tagger.models.pytorch import crf
from spacy_crf_tagger.models.pytorch.output_layers import MEMMOutput, get_output_layer
from spacy_crf_tagger.tests.util import random_potentials

MEMM = get_output_layer("memm")


def local_log_prob(p, b, tags):
    """log prod_t p(y_t | y_{t-1}, x), each factor a softmax over the next tag."""
    E, _, A, start, _ = p
    total = 0.0
    for t, y in enumerate(tags):
        scores = E[b, t] + (start if t == 0 else A[tags[t - 1]])
        total += float(scores[y] - torch.logsumexp(scores, dim=0))
    return total


def all_sequences(p, b):
    K = p.emissions.shape[2]
    n = int(p.mask[b].sum())
    return [(tags, local_log_prob(p, b, tags)) for tags in itertools.product(range(K), repeat=n)]


@pytest.fixture
def potentials():
    return random_potentials(3, 4, 3, lengths=[4, 2, 3], seed=7)


def test_is_a_distribution_and_log_partition_is_zero(potentials):
    assert isinstance(MEMM, MEMMOutput)
    for b in range(3):
        assert math.fsum(math.exp(lp) for _, lp in all_sequences(potentials, b)) == pytest.approx(1.0)
    log_z = crf.log_partition(MEMM.as_crf(potentials))
    assert torch.allclose(log_z, torch.zeros_like(log_z), atol=1e-9)


def test_nll_is_the_teacher_forced_local_loss(potentials):
    gold = torch.tensor([[0, 2, 1, 1], [1, 0, -1, -1], [2, 2, 0, -1]])
    nll = MEMM.nll(potentials, gold)
    for b in range(3):
        n = int(potentials.mask[b].sum())
        assert float(nll[b]) == pytest.approx(-local_log_prob(potentials, b, gold[b, :n].tolist()))


def test_partial_labels_sum_over_completions(potentials):
    gold = torch.tensor([[0, -1, 1, -1], [-1, 0, -1, -1], [-1, -1, -1, -1]])
    nll = MEMM.nll(potentials, gold)
    for b in range(3):
        agree = [lp for tags, lp in all_sequences(potentials, b) if all(g < 0 or g == y for g, y in zip(gold[b].tolist(), tags))]
        assert float(nll[b]) == pytest.approx(-math.log(math.fsum(math.exp(lp) for lp in agree)))
    assert float(nll[2]) == pytest.approx(0.0, abs=1e-9)  # nothing known: probability 1


def test_gradient_equals_the_local_gradient(potentials):
    gold = torch.tensor([[0, 2, 1, 1], [1, 0, 0, 0], [2, 2, 0, 0]])
    leaves = [x.clone().requires_grad_() for x in (potentials.emissions, potentials.transitions, potentials.start)]
    p = potentials._replace(emissions=leaves[0], transitions=leaves[1], start=leaves[2])
    MEMM.nll(p, gold).sum().backward()
    direct = [x.clone().requires_grad_() for x in (potentials.emissions, potentials.transitions, potentials.start)]
    loss = 0.0
    for b in range(3):
        n = int(potentials.mask[b].sum())
        for t in range(n):
            prev = direct[2] if t == 0 else direct[1][gold[b, t - 1]]
            loss = loss - torch.log_softmax(direct[0][b, t] + prev, dim=0)[gold[b, t]]
    loss.backward()
    for a, d in zip(leaves, direct):
        assert torch.allclose(a.grad, d.grad, atol=1e-9)


def test_viterbi_kbest_and_marginals_equal_enumeration(potentials):
    best, log_p = MEMM.decode(potentials, log_prob=True)
    paths, kbest_lp = MEMM.kbest(potentials, 3)
    marginals = MEMM.marginals(potentials)
    for b in range(3):
        n = int(potentials.mask[b].sum())
        ranked = sorted(all_sequences(potentials, b), key=lambda x: -x[1])
        assert best[b, :n].tolist() == list(ranked[0][0])
        assert float(log_p[b]) == pytest.approx(ranked[0][1])
        for r in range(3):
            assert float(kbest_lp[b, r]) == pytest.approx(ranked[r][1])
        for t in range(n):
            for y in range(3):
                expected = math.fsum(math.exp(lp) for tags, lp in ranked if tags[t] == y)
                assert float(marginals[b, t, y]) == pytest.approx(expected)


def test_span_probability_equals_enumeration(potentials):
    best, _ = MEMM.decode(potentials)
    spans = torch.tensor([[0, 1, 2], [1, 0, 1], [2, 0, 0]])
    log_p = MEMM.span_log_probs(potentials, best, spans)
    for row, (b, i, j) in enumerate(spans.tolist()):
        want = best[b, i : j + 1].tolist()
        expected = math.fsum(math.exp(lp) for tags, lp in all_sequences(potentials, b) if list(tags[i : j + 1]) == want)
        assert float(log_p[row].exp()) == pytest.approx(expected)


def test_padding_values_do_not_matter(potentials):
    noisy = potentials.emissions.clone()
    noisy[~potentials.mask] = float("nan")
    gold = torch.tensor([[0, 2, 1, 1], [1, 0, -1, -1], [2, 2, 0, -1]])
    a = MEMM.nll(potentials, gold)
    b = MEMM.nll(potentials._replace(emissions=noisy), gold)
    assert torch.allclose(a, b)
    assert MEMM.decode(potentials)[0][potentials.mask].tolist() == MEMM.decode(potentials._replace(emissions=noisy))[0][potentials.mask].tolist()
