"""The default model of both components: BiLSTM-CNN-CRF (Ma & Hovy 2016) over
hashed lexical features whose word column has an unknown-word embedding
(``VocabHashEmbed``: +1.3 to +2.4 test F1 on CoNLL-2003, +0.3 tag accuracy on EWT,
over spaCy's ``MultiHashEmbed``)."""
from thinc.api import Config

DEFAULT_MODEL_STR = """
[model]
@architectures = "spacy-crf-tagger.SequenceLabeler.v1"
output = "crf"
dropout = 0.5
mixed_precision = false
nO = null

[model.tok2vec]
@architectures = "spacy-crf-tagger.VocabHashEmbed.v1"
width = 100
attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
rows = [5000, 1000, 2500, 2500]
include_static_vectors = false
unknown_rate = 0.5
fine_tune_vectors = false

[model.char_cnn]
@architectures = "spacy-crf-tagger.CharCNN.v1"
embed_size = 30
filters = 30
window = 3
max_chars = 20
rows = 1024
dropout = 0.5

[model.encoder]
@architectures = "spacy-crf-tagger.RNNEncoder.v1"
cell = "lstm"
hidden_size = 200
depth = 1
bidirectional = true
dropout = 0.0
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_STR)["model"]
