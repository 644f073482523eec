"""The CRF dynamic programmes against brute-force enumeration on tiny sizes."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_crf_tagger.models.pytorch import crf
from spacy_crf_tagger.models.pytorch.crf import CRFPotentials, LinearChainCRF
from spacy_crf_tagger.tests.util import (
    brute_log_partition,
    brute_marginals,
    brute_partial_nll,
    enumerate_paths,
    random_potentials,
)

LENGTHS = [4, 1, 3, 2]  # B = 4, T = 4: padding in three rows, a length-1 sequence
K = 3


def assert_close(a, b, tol=1e-8):
    assert torch.allclose(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64), atol=tol, rtol=1e-6), (a, b)


def test_log_partition_equals_enumeration():
    p = random_potentials(4, 4, K, LENGTHS)
    log_z = crf.log_partition(p)
    for b in range(4):
        assert_close(log_z[b], brute_log_partition(p, b))


def test_full_label_nll_equals_enumeration():
    p = random_potentials(4, 4, K, LENGTHS, seed=1)
    gold = torch.tensor([[0, 2, 1, 1], [2, -1, -1, -1], [1, 1, 0, -1], [0, 0, -1, -1]])
    nll = crf.negative_log_likelihood(p, gold)
    for b in range(4):
        n = LENGTHS[b]
        tags = tuple(gold[b, :n].tolist())
        score = dict(enumerate_paths(p, b))[tags]
        assert_close(nll[b], brute_log_partition(p, b) - score)
    # the direct sequence score agrees with the enumerated one
    scores = crf.sequence_score(p, gold.clamp(min=0))
    for b in range(4):
        assert_close(scores[b], dict(enumerate_paths(p, b))[tuple(gold[b, : LENGTHS[b]].tolist())])


def test_partial_label_nll_marginalises_missing_tags():
    p = random_potentials(4, 4, K, LENGTHS, seed=2)
    gold = torch.tensor([[0, -1, 1, -1], [-1, -1, -1, -1], [-1, 2, -1, -1], [1, -1, -1, -1]])
    nll = crf.negative_log_likelihood(p, gold)
    for b in range(4):
        assert_close(nll[b], brute_partial_nll(p, b, gold[b, : LENGTHS[b]].tolist()))
    # nothing known -> nothing to learn
    assert_close(nll[1], 0.0)


def test_nll_gradients_equal_enumerated_expectations():
    """d(-log p(y))/dE[t, k] = p(y_t = k) - [y_t = k]: the marginals minus the gold."""
    p = random_potentials(2, 3, K, [3, 2], seed=3)
    E = p.emissions.clone().requires_grad_()
    gold = torch.tensor([[1, 0, 2], [2, 2, -1]])
    nll = crf.negative_log_likelihood(CRFPotentials(E, *p[1:]), gold).sum()
    (grad,) = torch.autograd.grad(nll, [E])
    for b, n in enumerate([3, 2]):
        expected = brute_marginals(p, b)
        expected[torch.arange(n), gold[b, :n]] -= 1.0
        assert_close(grad[b, :n], expected)
        assert_close(grad[b, n:], torch.zeros_like(grad[b, n:]))


def test_gradcheck_all_potentials():
    p = random_potentials(2, 3, K, [3, 2], seed=4)
    gold = torch.tensor([[1, -1, 2], [0, 2, -1]])
    inputs = tuple(x.clone().requires_grad_() for x in (p.emissions, p.transitions, p.start, p.end))

    def fn(E, A, s, e):
        return crf.negative_log_likelihood(CRFPotentials(E, p.mask, A, s, e), gold)

    assert torch.autograd.gradcheck(fn, inputs)
    assert torch.autograd.gradcheck(
        lambda E, A, s, e: crf.marginals(CRFPotentials(E, p.mask, A, s, e)), inputs
    )


def test_viterbi_equals_enumeration():
    p = random_potentials(4, 4, K, LENGTHS, seed=5)
    tags, scores = crf.viterbi_decode(p)
    for b in range(4):
        best_tags, best_score = max(enumerate_paths(p, b), key=lambda x: x[1])
        assert tuple(tags[b, : LENGTHS[b]].tolist()) == best_tags
        assert_close(scores[b], best_score)


def test_marginals_equal_enumeration_and_sum_to_one():
    p = random_potentials(4, 4, K, LENGTHS, seed=6)
    probs = crf.marginals(p)
    for b in range(4):
        n = LENGTHS[b]
        assert_close(probs[b, :n], brute_marginals(p, b))
        assert_close(probs[b, :n].sum(dim=1), torch.ones(n))
        assert_close(probs[b, n:], torch.zeros_like(probs[b, n:]))


def test_masked_equals_truncated_and_batched_equals_one_by_one():
    p = random_potentials(4, 5, K, [5, 2, 4, 1], seed=7)
    log_z = crf.log_partition(p)
    tags, _ = crf.viterbi_decode(p)
    probs = crf.marginals(p)
    for b, n in enumerate([5, 2, 4, 1]):
        single = CRFPotentials(
            p.emissions[b : b + 1, :n], p.mask[b : b + 1, :n], p.transitions, p.start, p.end
        )
        assert_close(log_z[b], crf.log_partition(single)[0])
        assert tags[b, :n].tolist() == crf.viterbi_decode(single)[0][0].tolist()
        assert_close(probs[b, :n], crf.marginals(single)[0])


def test_viterbi_over_unsorted_lengths_repeats_the_last_tag_on_padding():
    # Lengths in no order, and a padded step no sequence reaches: the decoder sorts
    # the batch internally and must hand every row back in place.
    lengths = [2, 5, 1, 4, 5, 3]
    p = random_potentials(6, 6, K, lengths, seed=12)
    tags, scores = crf.viterbi_decode(p)
    for b, n in enumerate(lengths):
        best_tags, best_score = max(enumerate_paths(p, b), key=lambda x: x[1])
        assert tuple(tags[b, :n].tolist()) == best_tags
        assert_close(scores[b], best_score)
        assert tags[b, n:].tolist() == [best_tags[-1]] * (6 - n)


def test_padding_values_do_not_matter():
    p = random_potentials(2, 4, K, [2, 4], seed=8)
    noisy = p.emissions.clone()
    noisy[0, 2:] = 1000.0
    q = CRFPotentials(noisy, *p[1:])
    assert_close(crf.log_partition(p), crf.log_partition(q))
    assert crf.viterbi_decode(p)[0][0, :2].tolist() == crf.viterbi_decode(q)[0][0, :2].tolist()


def test_half_precision_inputs_run_in_float32():
    p = random_potentials(2, 3, K, seed=9, dtype=torch.float32)
    half = CRFPotentials(p.emissions.half(), p.mask, p.transitions.half(), p.start.half(), p.end.half())
    assert crf.log_partition(half).dtype == torch.float32


@settings(max_examples=25, deadline=None)
@given(
    B=st.integers(1, 3),
    T=st.integers(1, 4),
    K=st.integers(1, 3),
    seed=st.integers(0, 10_000),
    data=st.data(),
)
def test_property_log_partition_and_viterbi(B, T, K, seed, data):
    lengths = data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B))
    p = random_potentials(B, T, K, lengths, seed=seed)
    log_z = crf.log_partition(p)
    tags, scores = crf.viterbi_decode(p)
    for b in range(B):
        assert_close(log_z[b], brute_log_partition(p, b))
        best = max(s for _, s in enumerate_paths(p, b))
        assert_close(scores[b], best)
        assert scores[b] <= log_z[b] + 1e-9


def test_constraints_exclude_transitions_in_training_and_decoding():
    layer = LinearChainCRF(3)
    allowed = torch.ones(3, 3, dtype=torch.bool)
    allowed[0, 2] = False  # tag 2 may never follow tag 0
    start = torch.tensor([True, True, False])  # no sequence starts with tag 2
    layer.set_constraints(allowed, start, torch.ones(3, dtype=torch.bool))
    with torch.no_grad():
        A, s, e = layer()
    g = torch.Generator().manual_seed(0)
    E = torch.randn(8, 5, 3, generator=g) * 5
    E[:, :, 2] += 10.0  # the emissions push hard for tag 2 everywhere
    p = CRFPotentials(E, torch.ones(8, 5, dtype=torch.bool), A, s, e)
    tags, _ = crf.viterbi_decode(p)
    assert (tags[:, 0] != 2).all()
    assert not ((tags[:, :-1] == 0) & (tags[:, 1:] == 2)).any()
    probs = crf.marginals(p)
    assert float(probs[:, 0, 2].max()) < 1e-6
    # constraints are buffers: they travel with the state dict
    state = layer.state_dict()
    assert "allowed" in state and not bool(state["allowed"][0, 2])


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda p: p._replace(emissions=p.emissions[0]), "Expected emissions of shape (batch, length, tags), got (3, 3)"),
        (lambda p: p._replace(mask=p.mask[:, :2]), "Expected a mask of shape (2, 3) to match the emissions, got (2, 2)"),
        (lambda p: p._replace(transitions=p.transitions[:2]), "Expected transitions of shape (3, 3) for 3 tags, got (2, 3)"),
        (lambda p: p._replace(end=p.end[:1]), "Expected end scores of shape (3,), got (1,)"),
        (lambda p: p._replace(mask=torch.zeros_like(p.mask)), "Expected every sequence to have at least one token"),
    ],
)
def test_error_messages(change, message):
    p = random_potentials(2, 3, 3)
    with pytest.raises(ValueError) as err:
        crf.log_partition(change(p))
    assert message in str(err.value)


def test_gold_errors():
    p = random_potentials(2, 3, 3)
    with pytest.raises(ValueError, match=r"Expected gold tags of shape \(2, 3\), got \(2, 2\)"):
        crf.negative_log_likelihood(p, torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"Expected gold tag ids in \[-1, 2\]"):
        crf.negative_log_likelihood(p, torch.full((2, 3), 3))
    with pytest.raises(ValueError, match="Expected at least one tag, got n_tags=0"):
        LinearChainCRF(0)


def brute_span_prob(p, b, tags, i, j, exclude_next=-1):
    n = int(p.mask[b].sum())
    log_z = brute_log_partition(p, b)
    want = tuple(tags[i : j + 1])
    return sum(
        math.exp(s - log_z)
        for path, s in enumerate_paths(p, b)
        if path[i : j + 1] == want and (exclude_next < 0 or j + 1 >= n or path[j + 1] != exclude_next)
    )


def test_span_probabilities_equal_enumeration():
    p = random_potentials(3, 4, K, [4, 2, 1], seed=11)
    best, _ = crf.viterbi_decode(p)
    spans = torch.tensor([[0, 0, 0], [0, 1, 2], [0, 0, 3], [0, 3, 3], [1, 0, 1], [1, 1, 1], [2, 0, 0]])
    exclude = torch.tensor([1, -1, 2, 0, -1, 2, 1])
    for excl in (None, exclude):
        probs = crf.span_log_probs(p, best, spans, excl).exp()
        for s, (b, i, j) in enumerate(spans.tolist()):
            e = -1 if excl is None else int(excl[s])
            expected = brute_span_prob(p, b, best[b].tolist(), i, j, e)
            assert_close(probs[s], expected)
            assert 0.0 <= float(probs[s]) <= 1.0
    # the whole best path as one span: its probability is the Viterbi path's
    whole = crf.span_log_probs(p, best, torch.tensor([[0, 0, 3]]))
    _, best_score = crf.viterbi_decode(p)
    assert_close(whole[0], best_score[0] - crf.log_partition(p)[0])


@pytest.mark.parametrize("k", [1, 3, 7])
def test_kbest_equals_top_k_of_enumeration(k):
    p = random_potentials(3, 4, K, [4, 2, 1], seed=12)
    tags, scores = crf.kbest_viterbi(p, k)
    assert tags.shape == (3, k, 4) and scores.shape == (3, k)
    for b, n in enumerate([4, 2, 1]):
        ranked = sorted(enumerate_paths(p, b), key=lambda x: -x[1])[:k]
        for r, (path, score) in enumerate(ranked):
            assert tuple(tags[b, r, :n].tolist()) == path
            assert_close(scores[b, r], score)
        # fewer than k sequences exist: the rest score -inf
        assert torch.isinf(scores[b, len(ranked):]).all()
    # the best entry is the Viterbi path
    vt, vs = crf.viterbi_decode(p)
    assert_close(scores[:, 0], vs)


def test_kbest_respects_constraints():
    layer = LinearChainCRF(3)
    allowed = torch.ones(3, 3, dtype=torch.bool)
    allowed[0, 2] = False
    layer.set_constraints(allowed, torch.tensor([True, True, False]), torch.ones(3, dtype=torch.bool))
    with torch.no_grad():
        A, s, e = layer()
    E = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(1))
    tags, scores = crf.kbest_viterbi(CRFPotentials(E, torch.ones(2, 4, dtype=torch.bool), A, s, e), 10)
    valid = torch.isfinite(scores)
    assert valid.any(dim=1).all()
    t = tags[valid]
    assert (t[:, 0] != 2).all() and not ((t[:, :-1] == 0) & (t[:, 1:] == 2)).any()
    with pytest.raises(ValueError, match="Expected k >= 1, got 0"):
        crf.kbest_viterbi(CRFPotentials(E, torch.ones(2, 4, dtype=torch.bool), A, s, e), 0)


def test_best_path_probability_equals_its_kbest_entry():
    from spacy_crf_tagger.models.pytorch.output_layers import get_output_layer

    p = random_potentials(3, 4, K, [4, 2, 1], seed=13)
    layer = get_output_layer("crf")
    tags, log_p = layer.decode(p, log_prob=True)
    ktags, klog_p = layer.kbest(p, 3)
    assert_close(log_p, klog_p[:, 0])
    assert (ktags[:, 0] == tags).all()
    probs = klog_p.exp()
    assert ((probs >= 0) & (probs <= 1)).all() and (probs.sum(dim=1) <= 1 + 1e-9).all()
    for b, n in enumerate([4, 2, 1]):
        assert_close(log_p[b].exp(), max(math.exp(s - brute_log_partition(p, b)) for _, s in enumerate_paths(p, b)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scaled_and_log_space_recursions_agree(dtype):
    """Inference uses rescaled matrix products, training the log-space recursion."""
    p = random_potentials(4, 7, 5, lengths=[7, 3, 1, 5], seed=3, dtype=dtype)
    allowed = torch.rand(5, 5, generator=torch.Generator().manual_seed(1)) > 0.3
    p = p._replace(transitions=p.transitions.masked_fill(~allowed, crf.NEG), emissions=p.emissions * 20)
    tol = 1e-4 if dtype == torch.float32 else 1e-9
    for scaled, log_space in ((crf._forward_scaled, crf._forward_log), (crf._backward_scaled, crf._backward_log)):
        a, b = scaled(p), log_space(p)
        assert a.dtype == dtype
        close = torch.isclose(a, b, rtol=tol, atol=tol) | ((a < crf.NEG / 2) & (b < crf.NEG / 2))
        assert bool(close.all())


def test_scaled_recursion_falls_back_when_a_whole_step_underflows():
    p = random_potentials(1, 3, 3, seed=0)
    # Tag 2 is the only one with a sensible emission at step 1 but cannot follow anything.
    A = torch.zeros(3, 3, dtype=torch.float64)
    A[:, 2] = crf.NEG
    E = torch.zeros(1, 3, 3, dtype=torch.float64)
    E[0, 1] = torch.tensor([-2000.0, -2000.0, 0.0])
    p = p._replace(emissions=E, transitions=A)
    assert bool(torch.isnan(crf._forward_scaled(p)).any())
    assert bool(torch.isfinite(crf.forward_scores(p)).all())
    assert float(crf.log_partition(p)) == pytest.approx(brute_log_partition(p, 0))
