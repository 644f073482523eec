"""Helpers for error messages that name the data a user has to fix."""
from typing import Sequence

from spacy.tokens import Doc


def describe_doc(doc: Doc, max_chars: int = 60) -> str:
    """A short, recognisable description of a Doc for an error message."""
    text = doc.text if len(doc.text) <= max_chars else doc.text[: max_chars - 3] + "..."
    return f"{text!r} ({len(doc)} tokens)"


def format_docs(docs: Sequence[Doc], limit: int = 3) -> str:
    """Describe up to ``limit`` Docs, and say how many more there are."""
    shown = "; ".join(describe_doc(doc) for doc in docs[:limit])
    more = f" and {len(docs) - limit} more" if len(docs) > limit else ""
    return f"{len(docs)} document(s): {shown}{more}"
