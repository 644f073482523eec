"""Gold annotation for each predicted token, as ``Example.get_aligned_ner`` and
``Example.get_aligned`` give it.

spaCy's alignment maps the reference's tokens onto the predicted ones. In training the
two Docs mostly have the same tokens (the tokenizer re-splits the reference's text the
same way); the alignment is then the identity, and reading the annotation straight from
the reference's arrays skips building it. On CoNLL-2003 that took a sixth of each
training step.
"""
from typing import List, Optional

import numpy
from spacy.attrs import ENT_IOB, ENT_TYPE, IS_SPACE, ORTH
from spacy.training import Example

# spaCy's Token.ent_iob codes.
IOB_MISSING, IOB_I, IOB_O, IOB_B = 0, 1, 2, 3


def has_same_tokens(example: Example) -> bool:
    """Whether the predicted and the reference Doc have the same token texts, so
    that the alignment between them is the identity."""
    x, y = example.predicted, example.reference
    return len(x) == len(y) and numpy.array_equal(x.to_array(ORTH), y.to_array(ORTH))


def aligned_ner(example: Example) -> List[Optional[str]]:
    """The reference's entities as one BILUO tag per predicted token ("B-PER", "O"),
    None where unknown (not annotated or misaligned): ``Example.get_aligned_ner``."""
    if not has_same_tokens(example):
        return example.get_aligned_ner()
    ref = example.reference
    if len(ref) == 0:
        return []
    iob, types, space = ref.to_array([ENT_IOB, ENT_TYPE, IS_SPACE]).T
    if not iob.any():  # no entity annotation at all
        return [None] * len(ref)
    continues = numpy.append(iob[1:] == IOB_I, False)  # the next token is inside
    strings = ref.vocab.strings
    tags: List[Optional[str]] = []
    for code, type_, space_, cont in zip(iob.tolist(), types.tolist(), space.tolist(), continues.tolist()):
        if code == IOB_O or (code == IOB_MISSING and space_):
            tags.append("O")  # spaCy counts unannotated whitespace as outside
        elif code == IOB_MISSING:
            tags.append(None)
        else:
            prefix = ("B" if cont else "U") if code == IOB_B else ("I" if cont else "L")
            tags.append(f"{prefix}-{strings[type_]}")
    return tags


def aligned_strings(example: Example, attr: str) -> List[Optional[str]]:
    """The reference's ``attr`` (e.g. "TAG") as a string per predicted token: ""
    where not annotated, None where misaligned: ``Example.get_aligned(as_string=True)``."""
    if not has_same_tokens(example):
        return example.get_aligned(attr, as_string=True)
    strings = example.reference.vocab.strings
    return [strings[value] for value in example.reference.to_array(attr).tolist()]
