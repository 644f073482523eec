"""Output layers: how emission (and transition) scores become a loss, a decoded tag
sequence and tag marginals.

``crf``      global normalisation over whole sequences (forward algorithm, Viterbi).
``memm``     local normalisation per token given the previous tag (a maximum-entropy
             Markov model, McCallum et al. 2000), Viterbi over the local probabilities.
``softmax``  local normalisation per token, each token decoded independently.

Only ``crf`` takes a component's structural constraints (e.g. no ``I-X`` after ``O``):
the local models are the baselines of the comparison, and the invalid sequences they
decode are counted by the ablation and repaired when tags become spans.

Each layer is a stateless object over ``CRFPotentials``; the scores themselves are
produced by ``SequenceLabelerNet``. Missing gold tags are given as -1.
"""
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from . import crf
from .crf import CRFPotentials


class CRFOutput:
    """Linear-chain CRF: p(y | x) normalised over all tag sequences."""

    name = "crf"
    uses_transitions = True
    uses_constraints = True

    def nll(self, p: CRFPotentials, gold: Tensor) -> Tensor:
        """RETURNS (Tensor): -log p(gold | x) per sequence, shape (B,)."""
        return crf.negative_log_likelihood(p, gold)

    def decode(self, p: CRFPotentials, log_prob: bool = False) -> Tuple[Tensor, Optional[Tensor]]:
        """RETURNS (Tuple[Tensor, Optional[Tensor]]): best tags (B, T) and, if asked
        for (one more forward pass), their log-probability (B,)."""
        tags, score = crf.viterbi_decode(p)
        return tags, (score - crf.log_partition(p)) if log_prob else None

    def marginals(self, p: CRFPotentials) -> Tensor:
        """RETURNS (Tensor): p(y_t = k | x), shape (B, T, K)."""
        return crf.marginals(p)

    def span_log_probs(
        self, p: CRFPotentials, tags: Tensor, spans: Tensor, exclude_next: Optional[Tensor] = None
    ) -> Tensor:
        """RETURNS (Tensor): log p(y_i..j = tags[b, i..j] | x) per span (b, i, j), shape (S,)."""
        return crf.span_log_probs(p, tags, spans, exclude_next)

    def kbest(self, p: CRFPotentials, k: int) -> Tuple[Tensor, Tensor]:
        """RETURNS (Tuple[Tensor, Tensor]): the k best sequences (B, k, T) and their
        log-probabilities (B, k)."""
        tags, scores = crf.kbest_viterbi(p, k)
        return tags, scores - crf.log_partition(p).unsqueeze(1)


class SoftmaxOutput:
    """Independent softmax per token: p(y | x) = prod_t p(y_t | x)."""

    name = "softmax"
    uses_transitions = False
    uses_constraints = False

    def nll(self, p: CRFPotentials, gold: Tensor) -> Tensor:
        p = crf.validate(p)
        log_probs = torch.log_softmax(p.emissions, dim=2)
        known = (gold >= 0) & p.mask
        picked = log_probs.gather(2, gold.clamp(min=0).unsqueeze(2)).squeeze(2)
        return -(picked * known).sum(dim=1)

    def decode(self, p: CRFPotentials, log_prob: bool = False) -> Tuple[Tensor, Optional[Tensor]]:
        p = crf.validate(p)
        if not log_prob:
            return p.emissions.argmax(dim=2), None
        log_probs, tags = torch.log_softmax(p.emissions, dim=2).max(dim=2)
        return tags, (log_probs * p.mask).sum(dim=1)

    def marginals(self, p: CRFPotentials) -> Tensor:
        p = crf.validate(p)
        return torch.softmax(p.emissions, dim=2) * p.mask.unsqueeze(2)

    def span_log_probs(
        self, p: CRFPotentials, tags: Tensor, spans: Tensor, exclude_next: Optional[Tensor] = None
    ) -> Tensor:
        """Tokens are independent: the product of the tag probabilities in the span
        (times p(next tag != exclude_next))."""
        p = crf.validate(p)
        log_probs = torch.log_softmax(p.emissions, dim=2)
        picked = log_probs.gather(2, tags.masked_fill(~p.mask, 0).unsqueeze(2)).squeeze(2) * p.mask
        cum = picked.cumsum(dim=1)
        b, i, j = spans[:, 0], spans[:, 1], spans[:, 2]
        out = cum[b, j] - cum[b, i] + picked[b, i]
        if exclude_next is not None:
            T = p.mask.shape[1]
            nxt = (j + 1).clamp(max=T - 1)
            has_next = (j + 1 < p.mask.sum(dim=1)[b]) & (exclude_next >= 0)
            p_banned = log_probs[b, nxt, exclude_next.clamp(min=0)].exp()
            out = out + torch.where(has_next, torch.log1p(-p_banned.clamp(max=1 - 1e-7)), torch.zeros_like(out))
        return out

    def kbest(self, p: CRFPotentials, k: int) -> Tuple[Tensor, Tensor]:
        """k best sequences under independent tokens: k-best Viterbi with no transitions."""
        p = crf.validate(p)
        K = p.emissions.shape[2]
        zeros = p.emissions.new_zeros(K)
        local = crf.CRFPotentials(torch.log_softmax(p.emissions, dim=2), p.mask, p.emissions.new_zeros(K, K), zeros, zeros)
        return crf.kbest_viterbi(local, k)


class MEMMOutput:
    """Maximum-entropy Markov model: p(y | x) = prod_t p(y_t | y_{t-1}, x), each factor
    a softmax over the next tag of ``E[t, j] + A[y_{t-1}, j]`` (``start`` in place of
    ``A`` at t = 0; ``end`` is unused).

    Written as CRF potentials, the MEMM's log-probability of a sequence is its CRF
    score once each local normaliser ``N_t(i) = logsumexp_j(E[t, j] + A[i, j])`` is
    moved onto the emission of the previous token, ``E'[t-1, i] = E[t-1, i] - N_t(i)``
    (and ``N_0`` onto the first token). Those potentials have log Z = 0, and the CRF's
    exact algorithms (Viterbi, k-best, marginals, span probabilities, partial-label
    likelihood) then give the MEMM's. Training maximises the product of the local
    conditionals of the gold tags, as an MEMM is trained.
    """

    name = "memm"
    uses_transitions = True
    uses_constraints = False

    def __init__(self):
        self._crf = CRFOutput()

    @staticmethod
    def as_crf(p: CRFPotentials) -> CRFPotentials:
        """The CRF potentials whose distribution is this MEMM's."""
        p = crf.validate(p)
        E, mask, A = p.emissions, p.mask, p.transitions
        first = torch.logsumexp(E[:, 0] + p.start, dim=1)  # shape: (B,)
        # N[b, t, i]: normaliser of token t given tag i at t - 1; shape: (B, T-1, K).
        norm = torch.logsumexp(E[:, 1:].unsqueeze(2) + A, dim=3)
        shifted = torch.zeros_like(E)
        # Only where a next token exists: padding may hold any value.
        shifted[:, :-1] = torch.where(mask[:, 1:].unsqueeze(2), norm, torch.zeros_like(norm))
        shifted[:, 0] += first.unsqueeze(1)
        return CRFPotentials(E - shifted, mask, A, p.start, torch.zeros_like(p.end))

    def nll(self, p: CRFPotentials, gold: Tensor) -> Tensor:
        """RETURNS (Tensor): -log p(gold | x) per sequence, shape (B,); missing gold
        tags (-1) are summed over."""
        return self._crf.nll(self.as_crf(p), gold)

    def decode(self, p: CRFPotentials, log_prob: bool = False) -> Tuple[Tensor, Optional[Tensor]]:
        return self._crf.decode(self.as_crf(p), log_prob)

    def marginals(self, p: CRFPotentials) -> Tensor:
        return self._crf.marginals(self.as_crf(p))

    def span_log_probs(
        self, p: CRFPotentials, tags: Tensor, spans: Tensor, exclude_next: Optional[Tensor] = None
    ) -> Tensor:
        return self._crf.span_log_probs(self.as_crf(p), tags, spans, exclude_next)

    def kbest(self, p: CRFPotentials, k: int) -> Tuple[Tensor, Tensor]:
        return self._crf.kbest(self.as_crf(p), k)


OUTPUT_LAYERS: Dict[str, object] = {"crf": CRFOutput(), "memm": MEMMOutput(), "softmax": SoftmaxOutput()}


def get_output_layer(name: str):
    """Look up an output layer by name ("crf", "memm" or "softmax")."""
    if name not in OUTPUT_LAYERS:
        raise ValueError(
            f"Unknown output layer {name!r}: expected one of {sorted(OUTPUT_LAYERS)}."
        )
    return OUTPUT_LAYERS[name]
