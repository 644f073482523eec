"""Commands added to spaCy's CLI (``python -m spacy <command>``).

spaCy imports this package through the ``spacy_cli`` entry point when its CLI
starts; each module registers its commands on spaCy's Typer app.
"""
from . import annotate, debug_data  # noqa: F401
