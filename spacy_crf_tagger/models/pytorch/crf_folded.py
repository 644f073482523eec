"""The CRF's dynamic programmes for a few long sequences, folded into pieces.

The recursions in ``crf.py`` take one Python step per token. For a batch of one
10,000-token document the per-step overhead, not the arithmetic, sets the cost. Each
recursion is a chain of K x K matrix products (sum-product for the forward and
backward scores, max-plus for Viterbi), so the T steps can be cut into P pieces of
L steps: the products inside every piece run side by side, for every entry tag at
once, then the P piece products are chained. That takes about L + P ~ 2 sqrt(T)
Python steps instead of T, for K times the arithmetic, which pays off when the
batch is small and K is small (see ``fold_length``). The results equal the step-by-
step ones up to floating-point rounding; only prediction uses these paths.

Step s (1 <= s < T) is the matrix ``M_s[i, j] = A[i, j] + E[s, j]`` in log space, or
the identity on padding, so padded steps carry values forward exactly like the step-
by-step recursions.
"""
import math
from typing import Optional, Tuple

import torch
from torch import Tensor

# Fold when B * K**3 (the extra arithmetic per step of a piece) stays below this
# many operations, which costs less than the per-step overhead it saves.
FOLD_MAX_WORK = 20_000
FOLD_MIN_LENGTH = 64


def fold_length(batch: int, length: int, n_tags: int) -> Optional[int]:
    """Piece length L for a batch of ``batch`` sequences padded to ``length`` tokens
    with ``n_tags`` tags, or None where the step-by-step recursion is cheaper."""
    if length < FOLD_MIN_LENGTH or batch * n_tags**3 > FOLD_MAX_WORK:
        return None
    return math.ceil(math.sqrt(length - 1))


def _pieces(x: Tensor, n_pieces: int, piece: int, fill) -> Tensor:
    """Steps 1..T-1 of x (B, T, ...) padded with ``fill`` and cut into (B, P, L, ...)."""
    steps = x[:, 1:]
    pad = n_pieces * piece - steps.shape[1]
    if pad:
        filler = steps.new_full((steps.shape[0], pad, *steps.shape[2:]), fill)
        steps = torch.cat([steps, filler], dim=1)
    return steps.reshape(steps.shape[0], n_pieces, piece, *steps.shape[2:])


def scaled_prefix_products(
    v0: Tensor,
    v0_log: Tensor,
    exp_a: Tensor,
    exp_e: Tensor,
    e_log: Tensor,
    mask: Tensor,
    piece: int,
    emission_first: bool,
) -> Tensor:
    """log(v0 M_1 ... M_s) for every step s, in rescaled float64 probability space,
    where ``M_s = exp_a * exp_e[:, s]`` on the columns (``emission_first=False``, the
    forward algorithm) or on the rows (``True``, the backward algorithm, which runs
    this on reversed, transposed steps).

    v0 (Tensor): Shape (B, K), scaled to sum to 1; v0_log (Tensor): its log-scale (B, 1).
    exp_a (Tensor): Shape (K, K). exp_e (Tensor): shape (B, T, K), step 0 unused;
    e_log (Tensor): the emissions' log-scale per step, shape (B, T, 1).
    mask (Tensor): Shape (B, T); False steps are the identity.
    piece (int): Steps per piece, L.
    RETURNS (Tensor): Shape (B, T, K); row 0 is log v0. NaN where a whole product
        underflowed (the caller falls back to the step-by-step recursion).
    """
    B, T, K = exp_e.shape
    P = math.ceil((T - 1) / piece)
    e = _pieces(exp_e, P, piece, 1.0)  # shape: (B, P, L, K)
    scale = _pieces(e_log, P, piece, 0.0)  # shape: (B, P, L, 1)
    real = _pieces(mask, P, piece, False)  # shape: (B, P, L)
    # Products inside each piece, for every entry tag (rows) at once.
    h = torch.eye(K, dtype=exp_a.dtype, device=exp_a.device).expand(B, P, K, K)
    h_log = exp_a.new_zeros(B, P, 1, 1)
    hs, h_logs = [], []
    for step in range(piece):
        e_step = e[:, :, step].unsqueeze(2)  # shape: (B, P, 1, K)
        nxt = (h * e_step) @ exp_a if emission_first else (h @ exp_a) * e_step
        norm = nxt.sum(dim=(2, 3), keepdim=True)
        on = real[:, :, step].view(B, P, 1, 1)
        h = torch.where(on, nxt / norm, h)
        h_log = torch.where(on, h_log + torch.log(norm) + scale[:, :, step].unsqueeze(3), h_log)
        hs.append(h)
        h_logs.append(h_log)
    products = torch.stack(hs, dim=2)  # shape: (B, P, L, K, K)
    product_logs = torch.stack(h_logs, dim=2).squeeze(4)  # shape: (B, P, L, 1)
    # Chain the pieces: the vector entering each piece.
    u, u_log = v0, v0_log
    entering, entering_logs = [], []
    for p in range(P):
        entering.append(u)
        entering_logs.append(u_log)
        nxt = (u.unsqueeze(1) @ products[:, p, -1]).squeeze(1)
        norm = nxt.sum(dim=1, keepdim=True)
        u, u_log = nxt / norm, u_log + torch.log(norm) + product_logs[:, p, -1]
    u_all = torch.stack(entering, dim=1)  # shape: (B, P, K)
    u_logs = torch.stack(entering_logs, dim=1).unsqueeze(2)  # shape: (B, P, 1, 1)
    values = torch.einsum("bpk,bplkj->bplj", u_all, products)
    logs = torch.log(values) + u_logs + product_logs  # shape: (B, P, L, K)
    logs = logs.reshape(B, P * piece, K)[:, : T - 1]
    return torch.cat([(torch.log(v0) + v0_log).unsqueeze(1), logs], dim=1)


def viterbi_folded(
    emissions: Tensor, mask: Tensor, transitions: Tensor, start: Tensor, end: Tensor, piece: int
) -> Tuple[Tensor, Tensor]:
    """Viterbi in max-plus pieces; same contract as ``crf.viterbi_decode``
    (forbidden scores already -inf).

    RETURNS (Tuple[Tensor, Tensor]): tags (B, T), padding repeating the last tag, and
        best scores (B,).
    """
    E, A = emissions, transitions
    B, T, K = E.shape
    P = math.ceil((T - 1) / piece)
    e = _pieces(E, P, piece, 0.0)  # shape: (B, P, L, K)
    real = _pieces(mask, P, piece, False)
    tags = torch.arange(K, device=E.device)
    ninf = torch.tensor(float("-inf"), dtype=E.dtype, device=E.device)
    # Best score of each piece's prefix, from entry tag i (rows) to tag j (columns).
    h = torch.where(tags.view(K, 1) == tags.view(1, K), E.new_zeros(()), ninf).expand(B, P, K, K)
    stay = tags.view(1, 1, 1, K).expand(B, P, K, K).to(torch.uint8)
    pointers = []
    for step in range(piece):
        # shape: (B, P, K_entry, K_prev, 1) + (K_prev, K) -> max over K_prev
        best, prev = (h.unsqueeze(4) + A).max(dim=3)
        on = real[:, :, step].view(B, P, 1, 1)
        h = torch.where(on, best + e[:, :, step].unsqueeze(2), h)
        pointers.append(torch.where(on, prev.to(torch.uint8), stay))
    # Chain the pieces, remembering the best entry tag for each exit tag.
    score = start + E[:, 0]  # shape: (B, K)
    entries = []
    for p in range(P):
        score, entry = (score.unsqueeze(2) + h[:, p]).max(dim=1)
        entries.append(entry)
    best_score, last = (score + end).max(dim=1)
    # Exit and entry tag of every piece, last piece first.
    exits, enters = [], []
    for p in range(P - 1, -1, -1):
        exits.append(last)
        last = entries[p].gather(1, last.unsqueeze(1)).squeeze(1)
        enters.append(last)
    exit_tag = torch.stack(exits[::-1], dim=1)  # shape: (B, P)
    entry_tag = torch.stack(enters[::-1], dim=1)
    # Trace back inside all pieces at once.
    tag = exit_tag
    path = []
    for pointer in reversed(pointers):
        path.append(tag)
        rows = pointer.gather(2, entry_tag.view(B, P, 1, 1).expand(B, P, 1, K)).squeeze(2)
        tag = rows.gather(2, tag.unsqueeze(2)).squeeze(2).long()
    path.reverse()
    inside = torch.stack(path, dim=2).reshape(B, P * piece)[:, : T - 1]
    return torch.cat([entry_tag[:, :1], inside], dim=1), best_score
