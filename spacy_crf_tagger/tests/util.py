"""Brute-force oracles and small builders shared by the tests."""
import itertools
import math
from typing import List, Optional, Sequence, Tuple

import torch

from ..models.pytorch.crf import CRFPotentials


def random_potentials(
    B: int, T: int, K: int, lengths: Optional[Sequence[int]] = None, seed: int = 0, dtype=torch.float64
) -> CRFPotentials:
    g = torch.Generator().manual_seed(seed)
    lengths = list(lengths) if lengths is not None else [T] * B
    mask = torch.arange(T).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return CRFPotentials(
        torch.randn(B, T, K, generator=g, dtype=dtype),
        mask,
        torch.randn(K, K, generator=g, dtype=dtype),
        torch.randn(K, generator=g, dtype=dtype),
        torch.randn(K, generator=g, dtype=dtype),
    )


def path_score(p: CRFPotentials, b: int, tags: Sequence[int]) -> float:
    """score(y) for sequence b, computed term by term."""
    E, _, A, start, end = p
    s = float(start[tags[0]]) + float(end[tags[-1]])
    for t, y in enumerate(tags):
        s += float(E[b, t, y])
        if t > 0:
            s += float(A[tags[t - 1], y])
    return s


def enumerate_paths(p: CRFPotentials, b: int) -> List[Tuple[Tuple[int, ...], float]]:
    """Every tag sequence of sequence b with its score."""
    K = p.emissions.shape[2]
    n = int(p.mask[b].sum())
    return [(tags, path_score(p, b, tags)) for tags in itertools.product(range(K), repeat=n)]


def brute_log_partition(p: CRFPotentials, b: int) -> float:
    scores = [s for _, s in enumerate_paths(p, b)]
    m = max(scores)
    return m + math.log(sum(math.exp(s - m) for s in scores))


def brute_marginals(p: CRFPotentials, b: int) -> torch.Tensor:
    K = p.emissions.shape[2]
    n = int(p.mask[b].sum())
    log_z = brute_log_partition(p, b)
    out = torch.zeros(n, K, dtype=torch.float64)
    for tags, s in enumerate_paths(p, b):
        w = math.exp(s - log_z)
        for t, y in enumerate(tags):
            out[t, y] += w
    return out


def brute_partial_nll(p: CRFPotentials, b: int, gold: Sequence[int]) -> float:
    """-log of the summed probability of the sequences that agree with the known
    gold tags (-1 = missing)."""
    log_z = brute_log_partition(p, b)
    agree = [
        s
        for tags, s in enumerate_paths(p, b)
        if all(g < 0 or g == y for g, y in zip(gold, tags))
    ]
    m = max(agree)
    return log_z - (m + math.log(sum(math.exp(s - m) for s in agree)))
