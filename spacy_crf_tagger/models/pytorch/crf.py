"""Linear-chain conditional random field: forward algorithm, Viterbi, forward-backward.

For emissions ``E`` (T, K), transitions ``A`` (K, K), start scores ``s`` (K) and end
scores ``e`` (K), a tag sequence ``y`` of length T scores

    score(y) = s[y_0] + sum_t E[t, y_t] + sum_{t>0} A[y_{t-1}, y_t] + e[y_{T-1}]

and ``p(y | x) = exp(score(y)) / Z`` where ``Z`` sums over all K**T sequences
(global normalisation, Lafferty et al. 2001).

Every function is batched over sequences (B) and tags (K). Sequences of different
lengths are right-padded to T and described by a boolean ``mask`` (B, T) whose True
entries come first in each row; every sequence has at least one token. The only
Python loops run over time steps; nothing leaves the device of the inputs. Inputs
in half precision are upcast: the dynamic programmes always run in float32 or wider.
"""
from typing import NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from .crf_folded import fold_length, scaled_prefix_products, viterbi_folded

# "Impossible" in log space. Finite, so that a logsumexp over only impossible
# entries (e.g. a forbidden tag under a partial-label constraint) keeps a
# defined gradient; exp(NEG) underflows to exactly 0 in float32.
NEG = -1.0e4


class CRFPotentials(NamedTuple):
    """The scores a linear-chain CRF is defined by, for a padded batch.

    emissions (Tensor): Shape (B, T, K).
    mask (Tensor): Shape (B, T), bool; True for real tokens.
    transitions (Tensor): Shape (K, K); ``transitions[i, j]`` scores tag i -> tag j.
    start (Tensor): Shape (K,).
    end (Tensor): Shape (K,).
    """

    emissions: Tensor
    mask: Tensor
    transitions: Tensor
    start: Tensor
    end: Tensor


def _wide(x: Tensor) -> Tensor:
    return x if x.dtype == torch.float64 else x.float()


def validate(p: CRFPotentials) -> CRFPotentials:
    """Check shapes and upcast to at least float32.

    RETURNS (CRFPotentials): The potentials in float32 (or float64).
    """
    if p.emissions.dim() != 3:
        raise ValueError(
            f"Expected emissions of shape (batch, length, tags), got {tuple(p.emissions.shape)}."
        )
    B, T, K = p.emissions.shape
    if tuple(p.mask.shape) != (B, T):
        raise ValueError(
            f"Expected a mask of shape {(B, T)} to match the emissions, got {tuple(p.mask.shape)}."
        )
    if tuple(p.transitions.shape) != (K, K):
        raise ValueError(
            f"Expected transitions of shape {(K, K)} for {K} tags, got {tuple(p.transitions.shape)}."
        )
    for name, x in (("start", p.start), ("end", p.end)):
        if tuple(x.shape) != (K,):
            raise ValueError(f"Expected {name} scores of shape {(K,)}, got {tuple(x.shape)}.")
    if T == 0 or B == 0:
        raise ValueError(
            f"Expected a non-empty batch of non-empty sequences, got emissions of shape {(B, T, K)}."
        )
    if not bool(p.mask[:, 0].all()):
        raise ValueError(
            "Expected every sequence to have at least one token (mask[:, 0] all True). "
            "Remove empty sequences before calling the CRF."
        )
    return CRFPotentials(
        _wide(p.emissions),
        p.mask.bool(),
        _wide(p.transitions),
        _wide(p.start),
        _wide(p.end),
    )


def _forbid(p: CRFPotentials) -> CRFPotentials:
    """For decoding: make transitions scored NEG (forbidden by a constraint) exactly
    impossible, so no decoded sequence can contain one, whatever the emissions."""
    ninf = float("-inf")
    return p._replace(
        transitions=p.transitions.masked_fill(p.transitions <= NEG, ninf),
        start=p.start.masked_fill(p.start <= NEG, ninf),
        end=p.end.masked_fill(p.end <= NEG, ninf),
    )


def _needs_grad(p: CRFPotentials) -> bool:
    return torch.is_grad_enabled() and any(x.requires_grad for x in (p.emissions, p.transitions, p.start, p.end))


def forward_scores(p: CRFPotentials) -> Tensor:
    """Forward algorithm.

    Where no gradient is needed (decoding, confidences) it runs as rescaled matrix
    products in float64 (``_forward_scaled``), about twice as fast on a CPU as the
    log-space recursion that training differentiates through.

    RETURNS (Tensor): alpha, shape (B, T, K): log of the summed scores of all
        prefixes ending in tag k at step t, emission at t included. Padded steps
        repeat the value of the last real step.
    """
    if _needs_grad(p):
        return _forward_log(p)
    alpha = _forward_scaled(p)
    # Every tag of a step underflowed (emission ranges of hundreds of nats): redo it in log space.
    return _forward_log(p) if bool(torch.isnan(alpha).any()) else alpha


def backward_scores(p: CRFPotentials) -> Tensor:
    """Backward algorithm (rescaled matrix products where no gradient is needed).

    RETURNS (Tensor): beta, shape (B, T, K): log of the summed scores of all
        suffixes after step t given tag k at t (emission at t excluded, end
        score included). Padded steps hold the end scores.
    """
    if _needs_grad(p):
        return _backward_log(p)
    beta = _backward_scaled(p)
    return _backward_log(p) if bool(torch.isnan(beta).any()) else beta


def _forward_log(p: CRFPotentials) -> Tensor:
    E, mask, A, start, _ = p
    alpha = start + E[:, 0]  # shape: (B, K)
    alphas = [alpha]
    for t in range(1, E.shape[1]):
        # shape: (B, K_prev, 1) + (1, K_prev, K) -> logsumexp over K_prev -> (B, K)
        nxt = torch.logsumexp(alpha.unsqueeze(2) + A.unsqueeze(0), dim=1) + E[:, t]
        alpha = torch.where(mask[:, t].unsqueeze(1), nxt, alpha)
        alphas.append(alpha)
    return torch.stack(alphas, dim=1)


def _backward_log(p: CRFPotentials) -> Tensor:
    E, mask, A, _, end = p
    T = E.shape[1]
    beta = end.expand(E.shape[0], -1)  # shape: (B, K)
    betas = [beta]
    for t in range(T - 2, -1, -1):
        # shape: (1, K, K_next) + (B, 1, K_next) -> logsumexp over K_next -> (B, K)
        nxt = torch.logsumexp(A.unsqueeze(0) + (E[:, t + 1] + beta).unsqueeze(1), dim=2)
        beta = torch.where(mask[:, t + 1].unsqueeze(1), nxt, end.expand_as(nxt))
        betas.append(beta)
    betas.reverse()
    return torch.stack(betas, dim=1)


def _exp_shifted(x: Tensor, dim=None) -> Tuple[Tensor, Tensor]:
    """exp(x - max) in float64, and the max (finite: -inf entries become 0)."""
    x = x.double()
    top = x.max() if dim is None else x.max(dim=dim, keepdim=True).values
    return torch.exp(x - top), top


def _forward_scaled(p: CRFPotentials) -> Tensor:
    """The forward algorithm in probability space: each step is one (B, K) x (K, K)
    product, renormalised to sum to 1, and the log of the scale kept aside
    (Rabiner 1989). Exact up to float64 underflow of terms more than ~700 nats below
    the best one, which the log-space recursion would give as ~0 anyway; where a
    whole step underflows the result holds NaN and the caller falls back.

    The loop runs over padding too (four tensor operations a step, no masking: the
    per-step overhead is what a CPU spends here); padded steps are then overwritten
    with the last real step."""
    E, mask, A, start, _ = p
    B, T, K = E.shape
    exp_a, a_top = _exp_shifted(A)
    exp_e, e_top = _exp_shifted(E, dim=2)  # shapes: (B, T, K), (B, T, 1)
    exp_s, s_top = _exp_shifted(start)
    h = exp_s * exp_e[:, 0]
    norm = h.sum(dim=1, keepdim=True)
    h = h / norm
    first_scale = torch.log(norm) + e_top[:, 0] + s_top  # shape: (B, 1)
    piece = fold_length(B, T, K)
    if piece is not None:
        alpha = scaled_prefix_products(h, first_scale, exp_a, exp_e, e_top + a_top, mask, piece, False)
        return alpha.to(E.dtype)
    hs, norms = [h], []
    for emission in exp_e.unbind(1)[1:]:
        v = (h @ exp_a) * emission
        norm = v.sum(dim=1, keepdim=True)
        h = v / norm
        hs.append(h)
        norms.append(norm)
    alpha = torch.log(torch.stack(hs, dim=1)) + _log_scales(first_scale, norms, a_top + e_top[:, 1:])
    last = (mask.sum(dim=1) - 1).view(B, 1, 1).expand(B, 1, K)
    alpha = torch.where(mask.unsqueeze(2), alpha, alpha.gather(1, last))
    return alpha.to(E.dtype)


def _log_scales(first: Tensor, norms: list, step_tops: Tensor) -> Tensor:
    """Running log-scale of a rescaled recursion, shape (B, T, 1): ``first`` (B, 1),
    then the cumulative sum of each step's log-normaliser and shifts (B, T - 1, 1)."""
    if not norms:
        return first.unsqueeze(1)
    steps = torch.log(torch.stack(norms, dim=1)) + step_tops
    return torch.cat([first.unsqueeze(1), first.unsqueeze(1) + steps.cumsum(dim=1)], dim=1)


def _backward_scaled(p: CRFPotentials) -> Tensor:
    """The backward algorithm in probability space, as ``_forward_scaled``. Each
    sequence is reversed within its own length first, so that every recursion
    starts from the end scores at step 0 and no step needs a mask."""
    E, mask, A, _, end = p
    B, T, K = E.shape
    exp_a, a_top = _exp_shifted(A)
    exp_a_t = exp_a.t()
    exp_e, e_top = _exp_shifted(E, dim=2)
    exp_end, end_top = _exp_shifted(end)
    total = exp_end.sum()
    g = (exp_end / total).expand(B, -1)
    first_scale = (torch.log(total) + end_top).expand(B, 1)
    piece = fold_length(B, T, K)
    if piece is not None:
        # The backward recursion is the forward one over reversed, transposed steps:
        # reversed step r (1 <= r < T) is original step T - r.
        def reverse(x: Tensor) -> Tensor:
            return torch.roll(x.flip(1), 1, dims=1)

        beta = scaled_prefix_products(
            g, first_scale, exp_a_t, reverse(exp_e), reverse(e_top + a_top), reverse(mask), piece, True
        )
        return beta.flip(1).to(E.dtype)
    # Position r of the reversed row holds step len - 1 - r (padding: step 0, unused).
    lengths = mask.sum(dim=1, keepdim=True)
    source = (lengths - 1 - torch.arange(T, device=E.device)).clamp(min=0)  # shape: (B, T)
    exp_e = exp_e.gather(1, source.unsqueeze(2).expand(B, T, K))
    e_top = e_top.gather(1, source.unsqueeze(2))
    gs, norms = [g], []
    for emission in exp_e.unbind(1)[:-1]:  # reversed step r uses position r - 1
        v = (g * emission) @ exp_a_t
        norm = v.sum(dim=1, keepdim=True)
        g = v / norm
        gs.append(g)
        norms.append(norm)
    reversed_beta = torch.log(torch.stack(gs, dim=1)) + _log_scales(first_scale, norms, a_top + e_top[:, :-1])
    # beta at step t is reversed position len - 1 - t; padded steps (t >= len) get
    # position 0, the end scores.
    beta = reversed_beta.gather(1, source.unsqueeze(2).expand(B, T, K))
    return beta.to(E.dtype)


def log_partition(p: CRFPotentials) -> Tensor:
    """log Z for each sequence.

    RETURNS (Tensor): Shape (B,).
    """
    p = validate(p)
    alpha = forward_scores(p)
    return torch.logsumexp(alpha[:, -1] + p.end, dim=1)


def constrain_to_gold(emissions: Tensor, gold: Tensor) -> Tensor:
    """Make every tag but the gold one impossible where the gold tag is known.

    emissions (Tensor): Shape (B, T, K).
    gold (Tensor): Shape (B, T), long; -1 where the gold tag is missing.
    RETURNS (Tensor): Shape (B, T, K).
    """
    K = emissions.shape[2]
    known = (gold >= 0).unsqueeze(2)
    is_gold = torch.arange(K, device=gold.device) == gold.unsqueeze(2)
    return emissions.masked_fill(known & ~is_gold, NEG)


def negative_log_likelihood(p: CRFPotentials, gold: Tensor) -> Tensor:
    """-log p(gold | x), with missing gold tags (-1) marginalised out.

    The likelihood of a partially labelled sequence is the summed probability of
    every complete sequence that agrees with the known tags, so the loss is
    ``log Z - log Z_gold`` where ``Z_gold`` runs the forward algorithm with the
    known positions clamped. With every tag known this is the usual CRF loss;
    with none known it is 0.

    gold (Tensor): Shape (B, T), long; -1 for missing tags (padding included).
    RETURNS (Tensor): Shape (B,).
    """
    p = validate(p)
    if tuple(gold.shape) != tuple(p.mask.shape):
        raise ValueError(
            f"Expected gold tags of shape {tuple(p.mask.shape)}, got {tuple(gold.shape)}."
        )
    K = p.emissions.shape[2]
    if bool((gold >= K).any()) or bool((gold < -1).any()):
        raise ValueError(f"Expected gold tag ids in [-1, {K - 1}], got values outside it.")
    B = gold.shape[0]
    # One forward pass over the free and the clamped copies of the batch.
    both = CRFPotentials(
        torch.cat([p.emissions, constrain_to_gold(p.emissions, gold)]),
        torch.cat([p.mask, p.mask]),
        p.transitions,
        p.start,
        p.end,
    )
    alpha = forward_scores(both)
    log_z = torch.logsumexp(alpha[:, -1] + p.end, dim=1)  # shape: (2B,)
    return log_z[:B] - log_z[B:]


def marginals(p: CRFPotentials) -> Tensor:
    """Posterior probability of each tag at each position (forward-backward).

    RETURNS (Tensor): Shape (B, T, K); rows sum to 1 on real tokens, 0 on padding.
    """
    p = validate(p)
    alpha = forward_scores(p)
    beta = backward_scores(p)
    log_z = torch.logsumexp(alpha[:, -1] + p.end, dim=1)
    probs = torch.exp(alpha + beta - log_z[:, None, None])
    return probs * p.mask.unsqueeze(2)


def viterbi_decode(p: CRFPotentials) -> Tuple[Tensor, Tensor]:
    """Best tag sequence for each sequence, with its score.

    The sequences are sorted longest first, so that those still running at a step
    are a prefix of the batch and each step works on real tokens only, as packed
    sequences do. The forward pass keeps only the best scores (a contiguous max,
    without indices); the back-trace recomputes the one back-pointer it follows
    per step from them, with the same additions, so it agrees with that max.

    RETURNS (Tuple[Tensor, Tensor]): tags, shape (B, T), long (padding positions
        repeat the last tag; mask them), and scores, shape (B,).
    """
    p = _forbid(validate(p))
    E, mask, A, start, end = p
    B, T, K = E.shape
    piece = fold_length(B, T, K)
    if piece is not None:
        return viterbi_folded(E, mask, A, start, end, piece)
    length_of = mask.sum(dim=1)
    lengths = length_of.tolist()
    # running[t]: how many sequences have a token at step t (running[T] = 0).
    running = [B] + [0] * T
    for n in lengths:
        running[n] -= 1
    for t in range(1, T + 1):
        running[t] += running[t - 1]
    order = None
    if any(a < b for a, b in zip(lengths, lengths[1:])):
        order = torch.argsort(length_of, descending=True, stable=True)
        E = E[order]
    E = E.transpose(0, 1)  # shape: (T, B, K)
    to_from = A.t().contiguous()  # shape: (K, K_prev)
    score = start + E[0]  # shape: (B, K)
    history = [score]
    final = torch.empty_like(score)  # each sequence's scores at its last token
    for t in range(1, T + 1):
        n, ended = running[t], running[t - 1]
        if n < ended:  # sequences n .. ended - 1 ended at step t - 1
            final[n:ended] = score[n:ended]
        if t < T:
            # shape: (n, 1, K_prev) + (K, K_prev) -> max over K_prev -> (n, K)
            score = (score[:n].unsqueeze(1) + to_from).amax(dim=2) + E[t, :n]
            history.append(score)
    best_score, last = (final + end).max(dim=1)
    path = [last]
    for t in range(T - 1, 0, -1):
        n = running[t]
        # The previous tag of each running sequence, given its tag at t.
        prev = (history[t - 1][:n] + to_from[last[:n]]).argmax(dim=1)
        last = prev if n == B else torch.cat([prev, last[n:]])
        path.append(last)
    path.reverse()
    tags = torch.stack(path, dim=1)
    if order is None:
        return tags, best_score
    unsort = torch.empty_like(order)
    unsort[order] = torch.arange(B, device=order.device)
    return tags[unsort], best_score[unsort]


def sequence_score(p: CRFPotentials, tags: Tensor) -> Tensor:
    """Unnormalised score of given tag sequences.

    tags (Tensor): Shape (B, T), long; padding positions are ignored.
    RETURNS (Tensor): Shape (B,).
    """
    p = validate(p)
    E, mask, A, start, end = p
    tags = tags.masked_fill(~mask, 0)
    lengths = mask.sum(dim=1)
    emit = E.gather(2, tags.unsqueeze(2)).squeeze(2)  # shape: (B, T)
    trans = A[tags[:, :-1], tags[:, 1:]]  # shape: (B, T - 1)
    last = tags.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)
    return (
        start[tags[:, 0]]
        + (emit * mask).sum(dim=1)
        + (trans * mask[:, 1:]).sum(dim=1)
        + end[last]
    )


class LinearChainCRF(torch.nn.Module):
    """Transition, start and end scores of a linear-chain CRF over ``n_tags`` tags,
    with an optional structural constraint: transitions that are not allowed (e.g.
    ``O -> I-PER`` in BIO) get the score NEG in training and decoding alike. The
    constraint masks are buffers, so they are saved with the weights.

    n_tags (int): The number of tags, K.
    """

    def __init__(self, n_tags: int):
        super().__init__()
        if n_tags < 1:
            raise ValueError(f"Expected at least one tag, got n_tags={n_tags}.")
        self.n_tags = n_tags
        self.transitions = torch.nn.Parameter(torch.zeros(n_tags, n_tags))
        self.start = torch.nn.Parameter(torch.zeros(n_tags))
        self.end = torch.nn.Parameter(torch.zeros(n_tags))
        self.register_buffer("allowed", torch.ones(n_tags, n_tags, dtype=torch.bool))
        self.register_buffer("allowed_start", torch.ones(n_tags, dtype=torch.bool))
        self.register_buffer("allowed_end", torch.ones(n_tags, dtype=torch.bool))

    def set_constraints(self, allowed: Tensor, allowed_start: Tensor, allowed_end: Tensor) -> None:
        """Restrict the transitions.

        allowed (Tensor): Shape (K, K), bool; ``allowed[i, j]``: may tag j follow tag i.
        allowed_start (Tensor): Shape (K,), bool; may a sequence start with the tag.
        allowed_end (Tensor): Shape (K,), bool; may a sequence end with the tag.
        """
        K = self.n_tags
        for name, x, shape in (
            ("allowed", allowed, (K, K)),
            ("allowed_start", allowed_start, (K,)),
            ("allowed_end", allowed_end, (K,)),
        ):
            if tuple(x.shape) != shape:
                raise ValueError(f"Expected {name} of shape {shape}, got {tuple(x.shape)}.")
            getattr(self, name).copy_(x.bool())

    def forward(self) -> Tuple[Tensor, Tensor, Tensor]:
        """RETURNS (Tuple[Tensor, Tensor, Tensor]): transitions (K, K), start (K,) and
        end (K,) scores, with disallowed entries set to NEG."""
        return (
            self.transitions.masked_fill(~self.allowed, NEG),
            self.start.masked_fill(~self.allowed_start, NEG),
            self.end.masked_fill(~self.allowed_end, NEG),
        )

    def extra_repr(self) -> str:
        return f"n_tags={self.n_tags}"


def span_log_probs(
    p: CRFPotentials, tags: Tensor, spans: Tensor, exclude_next: Optional[Tensor] = None
) -> Tensor:
    """Exact log-probability that a stretch of a sequence carries given tags.

    For span (b, i, j) this is log p(y_i..y_j = tags[b, i..j] | x), summed over all
    tags outside the span, from the forward and backward scores:

        alpha[i-1] . A[:, y_i]  +  path score inside  +  beta[j, y_j]  -  log Z

    With ``exclude_next[s] = k >= 0`` the tag after the span must also differ from
    k (in BIO, an entity ends only where no ``I-X`` follows).

    tags (Tensor): Shape (B, T), long.
    spans (Tensor): Shape (S, 3), long: sequence, first and last position (inclusive).
    exclude_next (Optional[Tensor]): Shape (S,), long, -1 for no exclusion.
    RETURNS (Tensor): Shape (S,).
    """
    p = validate(p)
    E, mask, A, start, end = p
    B, T, K = E.shape
    if spans.numel() == 0:
        return E.new_zeros((0,))
    alpha = forward_scores(p)
    beta = backward_scores(p)
    log_z = torch.logsumexp(alpha[:, -1] + end, dim=1)
    tags = tags.masked_fill(~mask, 0)
    emit = E.gather(2, tags.unsqueeze(2)).squeeze(2)  # shape: (B, T)
    trans = torch.zeros_like(emit)
    trans[:, 1:] = A[tags[:, :-1], tags[:, 1:]]
    cum = (emit + trans).cumsum(dim=1)
    b, i, j = spans[:, 0], spans[:, 1], spans[:, 2]
    y_i, y_j = tags[b, i], tags[b, j]
    # Path score from position i (its emission, not the transition into it) to j.
    inside = cum[b, j] - cum[b, i] + emit[b, i]
    # Everything before the span: start score, or the forward scores at i - 1.
    before = torch.logsumexp(alpha[b, (i - 1).clamp(min=0)] + A[:, y_i].t(), dim=1)
    entry = torch.where(i == 0, start[y_i], before)
    # Everything after it: the end score, or the sum over the next tag.
    nxt = (j + 1).clamp(max=T - 1)
    cont = A[y_j] + E[b, nxt] + beta[b, nxt]  # shape: (S, K)
    if exclude_next is not None:
        banned = (torch.arange(K, device=E.device) == exclude_next.unsqueeze(1)) & (
            exclude_next.unsqueeze(1) >= 0
        )
        cont = cont.masked_fill(banned, float("-inf"))
    lengths = mask.sum(dim=1)
    after = torch.where(j + 1 < lengths[b], torch.logsumexp(cont, dim=1), end[y_j])
    return entry + inside + after - log_z[b]


def kbest_viterbi(p: CRFPotentials, k: int) -> Tuple[Tensor, Tensor]:
    """The k best tag sequences of each sequence, best first (k-best Viterbi).

    Each tag keeps its k best prefixes; at every step the K * k candidates for a tag
    are ranked at once for the whole batch. Padded steps keep prefixes unchanged.

    RETURNS (Tuple[Tensor, Tensor]): tags, shape (B, k, T), and scores, shape
        (B, k). Where fewer than k sequences exist, the extra scores are -inf.
    """
    if k < 1:
        raise ValueError(f"Expected k >= 1, got {k}.")
    p = _forbid(validate(p))
    E, mask, A, start, end = p
    B, T, K = E.shape
    ninf = float("-inf")
    score = E.new_full((B, K, k), ninf)  # best prefix scores per (tag, rank)
    score[:, :, 0] = start + E[:, 0]
    ranks = torch.arange(k, device=E.device)
    keep_tag = torch.arange(K, device=E.device).view(1, K, 1).expand(B, K, k)
    keep_rank = ranks.view(1, 1, k).expand(B, K, k)
    history = []
    for t in range(1, T):
        # shape: (B, K_prev, k, 1) + (1, K_prev, 1, K) -> (B, K_prev * k, K)
        cand = (score.unsqueeze(3) + A.view(1, K, 1, K)).reshape(B, K * k, K)
        best, flat = cand.topk(k, dim=1)  # shape: (B, k, K)
        best = best.transpose(1, 2) + E[:, t].unsqueeze(2)  # shape: (B, K, k)
        flat = flat.transpose(1, 2)
        step = mask[:, t].view(B, 1, 1)
        score = torch.where(step, best, score)
        history.append(
            (
                torch.where(step, flat // k, keep_tag),
                torch.where(step, flat % k, keep_rank),
            )
        )
    final = (score + end.view(1, K, 1)).reshape(B, K * k)
    n_final = min(k, K * k)
    best_scores, flat = final.topk(n_final, dim=1)  # shape: (B, k)
    tag, rank = flat // k, flat % k
    path = [tag]
    for prev_tag, prev_rank in reversed(history):
        idx = tag * k + rank
        tag = prev_tag.reshape(B, K * k).gather(1, idx)
        rank = prev_rank.reshape(B, K * k).gather(1, idx)
        path.append(tag)
    path.reverse()
    return torch.stack(path, dim=2), best_scores
