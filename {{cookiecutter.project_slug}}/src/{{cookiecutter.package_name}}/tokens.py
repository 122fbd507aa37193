"""Word n-gram counts, exactly as scikit-learn's CountVectorizer makes them, without importing it.

The stages that only apply a fitted text model (`embed`, `index`, the service)
would otherwise pay for importing scikit-learn (about a second per process)
to split words. Fitting still uses scikit-learn; the fitted models keep their
vocabulary as plain files, and `encoders.py` checks, when it fits, that these
counts equal scikit-learn's on the texts it was fitted on.

The analyzer is scikit-learn's default ``word`` analyzer: lower-case, tokens
of two or more word characters (``(?u)\\b\\w\\w+\\b``), stop words removed, then
n-grams joined by a space.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

import numpy as np
import scipy.sparse as sp

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
FIT_CHECK_ROWS = 2000  # texts on which a fitted model is checked against scikit-learn's counts


def analyze(text: str, stop_words: Collection[str] = (), ngram_range: tuple[int, int] = (1, 1)) -> list[str]:
    """The terms of `text`: its lower-cased word tokens without `stop_words`, as n-grams."""
    tokens = [token for token in TOKEN_PATTERN.findall(text.lower()) if token not in stop_words]
    low, high = ngram_range
    if high == 1:
        return tokens
    terms = tokens[:] if low == 1 else []
    for n in range(max(low, 2), high + 1):
        terms += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return terms


def count_matrix(
    texts: Iterable[str],
    vocabulary: Mapping[str, int],
    stop_words: Collection[str] = (),
    ngram_range: tuple[int, int] = (1, 1),
    dtype: type = np.float64,
) -> sp.csr_matrix:
    """One sparse row per text: how often each term of `vocabulary` (term -> column) occurs in it."""
    indptr, indices, values = [0], [], []
    for text in texts:
        counts: dict[int, int] = {}
        for term in analyze(text, stop_words, ngram_range):
            column = vocabulary.get(term)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        for column in sorted(counts):
            indices.append(column)
            values.append(counts[column])
        indptr.append(len(indices))
    return sp.csr_matrix(
        (np.asarray(values, dtype=dtype), np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int64)),
        shape=(len(indptr) - 1, len(vocabulary)),
    )
