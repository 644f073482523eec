"""spaCy components with a structured (linear-chain CRF) output layer."""
from .about import __version__
from .models.sequence_labeler import build_sequence_labeler_v1
from .models.settings import build_char_cnn_v1, build_char_lstm_v1, build_rnn_encoder_v1
from .pipeline.ner import CRFEntityRecognizer, make_crf_ner
from .pipeline.tagger import CRFTagger, make_crf_tagger

__all__ = [
    "__version__",
    "CRFTagger",
    "make_crf_tagger",
    "CRFEntityRecognizer",
    "make_crf_ner",
    "build_sequence_labeler_v1",
    "build_char_cnn_v1",
    "build_char_lstm_v1",
    "build_rnn_encoder_v1",
]
