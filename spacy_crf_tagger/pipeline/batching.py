"""Group the Docs of a prediction batch by length, so that padding stays small.

The network runs on Docs padded to the longest one in a batch. One 20,000-token
Doc among 255 short ones would otherwise make a (256, 20000, ...) tensor; grouping
sorted lengths under a budget of padded tokens keeps memory proportional to the
tokens actually there (at least the longest Doc), and saves padding work too.
"""
from typing import List, Sequence


def length_buckets(lengths: Sequence[int], max_padded_tokens: int) -> List[List[int]]:
    """Indices of the non-empty Docs, shortest first, in groups whose padded size
    (number of Docs x longest length) is at most ``max_padded_tokens``; a Doc longer
    than the budget forms a group of its own.

    lengths (Sequence[int]): Number of tokens per Doc.
    max_padded_tokens (int): Budget of padded tokens per group, >= 1.
    RETURNS (List[List[int]]): Groups of indices into ``lengths``; empty Docs are left out.
    """
    if max_padded_tokens < 1:
        raise ValueError(f"Expected max_padded_tokens >= 1, got {max_padded_tokens}.")
    order = sorted((i for i, n in enumerate(lengths) if n > 0), key=lambda i: lengths[i])
    groups: List[List[int]] = []
    current: List[int] = []
    for i in order:
        # Sorted ascending: lengths[i] is the longest of the group once it is added.
        if current and (len(current) + 1) * lengths[i] > max_padded_tokens:
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    return groups
