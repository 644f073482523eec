"""Hyper-parameter blocks of the sequence labeller, registered so that a config can
switch them on, off (``null``) or swap them:

    [components.crf_tagger.model.char_cnn]
    @architectures = "spacy-crf-tagger.CharCNN.v1"
    embed_size = 30

The torch modules themselves are built lazily from these settings, once the input
width and the number of labels are known.
"""
from dataclasses import asdict, dataclass
from typing import Any, Dict, Union

from .pytorch.net import RNN_CELLS


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class CharCNNSettings:
    embed_size: int
    filters: int
    window: int
    max_chars: int
    rows: int
    dropout: float
    boundaries: bool = False

    def __post_init__(self):
        for name in ("embed_size", "filters", "window", "max_chars"):
            value = getattr(self, name)
            _require(value >= 1, f"CharCNN: expected {name} >= 1, got {value}.")
        _require(self.rows >= 2, f"CharCNN: expected rows >= 2 (row 0 is padding), got {self.rows}.")
        _require(0.0 <= self.dropout < 1.0, f"CharCNN: expected 0 <= dropout < 1, got {self.dropout}.")

    def to_dict(self) -> Dict[str, Any]:
        settings = asdict(self)
        # Models saved before the markers existed have no "boundaries" and load as False.
        if not self.boundaries:
            del settings["boundaries"]
        return settings


@dataclass(frozen=True)
class CharLSTMSettings:
    embed_size: int
    hidden_size: int
    max_chars: int
    rows: int
    dropout: float

    def __post_init__(self):
        for name in ("embed_size", "hidden_size", "max_chars"):
            value = getattr(self, name)
            _require(value >= 1, f"CharLSTM: expected {name} >= 1, got {value}.")
        _require(self.rows >= 2, f"CharLSTM: expected rows >= 2 (row 0 is padding), got {self.rows}.")
        _require(0.0 <= self.dropout < 1.0, f"CharLSTM: expected 0 <= dropout < 1, got {self.dropout}.")

    def to_dict(self) -> Dict[str, Any]:
        # "kind" tells the two apart; CharCNN's dict has none, as saved models expect.
        return {"kind": "lstm", **asdict(self)}


CharSettings = Union[CharCNNSettings, CharLSTMSettings]


@dataclass(frozen=True)
class RNNEncoderSettings:
    cell: str
    hidden_size: int
    depth: int
    bidirectional: bool
    dropout: float

    def __post_init__(self):
        _require(
            self.cell in RNN_CELLS,
            f"RNNEncoder: expected cell to be one of {sorted(RNN_CELLS)}, got {self.cell!r}.",
        )
        _require(self.hidden_size >= 1, f"RNNEncoder: expected hidden_size >= 1, got {self.hidden_size}.")
        _require(self.depth >= 1, f"RNNEncoder: expected depth >= 1, got {self.depth}.")
        _require(0.0 <= self.dropout < 1.0, f"RNNEncoder: expected 0 <= dropout < 1, got {self.dropout}.")

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def build_char_cnn_v1(
    *,
    embed_size: int = 30,
    filters: int = 30,
    window: int = 3,
    max_chars: int = 20,
    rows: int = 1024,
    dropout: float = 0.5,
    boundaries: bool = False,
) -> CharCNNSettings:
    """Character CNN over each token (Ma & Hovy 2016): embed each character, run one
    convolution over the word and max-pool over its characters.

    embed_size (int): Character embedding width (Ma & Hovy: 30).
    filters (int): Convolution filters, the width of the word's character feature (30).
    window (int): Convolution window in characters (3).
    max_chars (int): Characters read per token; a longer token is read as its first
        and last ``max_chars // 2`` characters, so prefixes and suffixes both survive.
        16-24 covers almost every English word.
    rows (int): Size of the character table. Unicode code points are hashed into
        ``rows - 1`` rows (row 0 is padding), so no character vocabulary has to be
        collected; 1024 leaves ASCII and Latin-1 collision-free.
    dropout (float): Dropout on the character embeddings (0.5).
    boundaries (bool): Put a begin and an end marker around each word, so that a
        filter can match a prefix or a suffix as such (False: the word's characters
        alone, as Ma & Hovy describe).
    """
    return CharCNNSettings(embed_size, filters, window, max_chars, rows, dropout, boundaries)


def build_char_lstm_v1(
    *,
    embed_size: int = 25,
    hidden_size: int = 25,
    max_chars: int = 20,
    rows: int = 1024,
    dropout: float = 0.5,
) -> CharLSTMSettings:
    """Character BiLSTM over each token (Lample et al. 2016): embed each character,
    read the word both ways and concatenate the two last states. Goes in the
    labeller's ``char_cnn`` slot, in place of ``CharCNN.v1``.

    embed_size (int): Character embedding width (Lample et al.: 25).
    hidden_size (int): Hidden units per direction (25); the feature is twice as wide.
    max_chars (int): Characters read per token, as in ``CharCNN.v1``.
    rows (int): Size of the hashed character table, as in ``CharCNN.v1``.
    dropout (float): Dropout on the character embeddings (0.5).
    """
    return CharLSTMSettings(embed_size, hidden_size, max_chars, rows, dropout)


def build_rnn_encoder_v1(
    *,
    cell: str = "lstm",
    hidden_size: int = 200,
    depth: int = 1,
    bidirectional: bool = True,
    dropout: float = 0.0,
) -> RNNEncoderSettings:
    """Recurrent encoder over the word features.

    cell (str): "lstm", "gru" or "rnn" (a simple Elman RNN).
    hidden_size (int): Hidden units per direction (Ma & Hovy: 200).
    depth (int): Stacked layers (1).
    bidirectional (bool): Read the sentence both ways and concatenate (True).
    dropout (float): Dropout between stacked layers; only used when depth > 1. The
        dropout around the encoder is the labeller's own ``dropout``.
    """
    return RNNEncoderSettings(cell, hidden_size, depth, bidirectional, dropout)
