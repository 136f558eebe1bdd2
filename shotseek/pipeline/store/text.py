"""Caption text as sparse vectors for BM25 search, the same on every engine.

A document's vector holds, for each distinct word, the BM25 term-frequency part
``tf·(k1+1) / (tf + k1·(1 − b + b·len/avg_len))``; a query's holds 1 per distinct word. The
engine multiplies both by the word's inverse document frequency over the collection (the
``caption`` vector is declared with the IDF modifier), so a query's score is the BM25 score of
the caption. Words are lower-cased, accents folded, English stop words dropped; each word's id is
a stable 32-bit hash, so nothing is downloaded and no vocabulary is kept.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter

from shotseek.pipeline.store.engine import Sparse

K1 = 1.2
B = 0.75
AVG_LEN = 24.0  # words in a typical caption (the VLM's are one or two sentences)

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    """a an and are as at be but by for from has have he her his in into is it its of on or
    she so than that the their them then there these they this to was were which while who
    with""".split()
)


def words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return [w for w in _WORD.findall(folded) if w not in _STOP]


def _term(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")


def document_vector(text: str) -> Sparse:
    found = words(text)
    if not found:
        return Sparse((), ())
    norm = K1 * (1 - B + B * len(found) / AVG_LEN)
    counts = Counter(_term(w) for w in found)
    terms = sorted(counts)
    return Sparse(tuple(terms), tuple(counts[t] * (K1 + 1) / (counts[t] + norm) for t in terms))


def query_vector(text: str) -> Sparse:
    terms = sorted({_term(w) for w in words(text)})
    return Sparse(tuple(terms), tuple(1.0 for _ in terms))
