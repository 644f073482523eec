"""A tiny, randomly initialised BERT and its WordPiece tokenizer, written to a local
directory, so that the transformer tests never download anything.

Needs ``transformers`` (installed with ``spacy-crf-tagger[transformers]``).
"""
import string
from pathlib import Path

HIDDEN = 32
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Every lower-case letter, digit and punctuation mark as a word start and as a
# continuation ("##x"), so any (lower-cased) English text tokenizes without [UNK].
CHARS = list(string.ascii_lowercase + string.digits + string.punctuation)
WORDS = "the a of to and in she he it is was reads flew like old new green blue books eggs".split()


def write_tiny_bert(path: Path, seed: int = 0) -> Path:
    """Save a random BERT (hidden 32, 2 layers, 2 heads) with a fast uncased WordPiece
    tokenizer into ``path`` with ``save_pretrained``; ``spacy-transformers`` loads it
    like a Hugging Face model name (``name = "<path>"``).

    RETURNS (Path): ``path``.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    vocab = list(dict.fromkeys(SPECIAL + CHARS + [f"##{c}" for c in CHARS] + WORDS))
    vocab_file = path / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf8")
    BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True).save_pretrained(str(path))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(path))
    return path
