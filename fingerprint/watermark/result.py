"""Results of watermark detection: one text (:class:`WatermarkResult`) or many (:class:`WatermarkBatchResult`)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: Fields of every detection result, in order. See :class:`WatermarkResult` for their meaning.
RESULT_FIELDS: tuple[str, ...] = (
    "z_score",
    "p_value",
    "p_value_exact",
    "num_tokens_scored",
    "num_green_tokens",
    "green_fraction",
    "num_trials",
    "num_green_trials",
    "num_repeated",
)

_DOC_FIELDS = """
    - ``z_score``: :math:`(G - \\gamma T) / \\sqrt{T \\gamma (1 - \\gamma)}` over the counts below,
      computed exactly as the reproduced library computes it (float64). NaN when nothing was scored.
    - ``p_value``: the p-value the reproduced library reports (a normal approximation; see the
      scheme's documentation). Anti-conservative on short texts: use ``p_value_exact`` as evidence.
    - ``p_value_exact``: exact tail probability under H0 (text independent of the key) of at least
      ``num_green_trials`` green among ``num_trials`` trials (binomial with the exact green
      probability ``green_size / vocab_size``; hypergeometric for Unigram over unique tokens).
      1.0 when there is no trial.
    - ``num_tokens_scored``, ``num_green_tokens`` (T, G): the library's counts (unique n-grams with
      ``ignore_repeated_ngrams=True``, all scored positions otherwise).
    - ``green_fraction``: G / T.
    - ``num_trials``, ``num_green_trials``: the counts behind ``p_value_exact``: distinct
      (seed, token) pairs when de-duplicating (every position otherwise).
    - ``num_repeated``: scored positions whose (seed, token) pair already occurred earlier in the
      text (for Unigram: repeated tokens). Non-zero without de-duplication means the trials are
      not independent and the p-values are not valid.
"""


class WatermarkResult:
    __doc__ = (
        "Detection result for one text; fields read as attributes (``res.z_score``).\n"
        + _DOC_FIELDS
        + """
    With ``return_mask=True``: ``green_token_mask`` (bool, one per input id: the token is green
    for its context; False where nothing is scored) and ``scored_token_mask`` (bool: the position
    is counted in ``num_tokens_scored``). ``meta`` describes the detector.
    """
    )

    __slots__ = ("_values", "green_token_mask", "meta", "scored_token_mask")

    def __init__(self, values: dict[str, object], green_token_mask=None, scored_token_mask=None, meta=None):
        # Every scheme reports its own fields (RESULT_FIELDS for the green-list schemes; e.g.
        # ``score_sum`` instead of green counts for Aaronson); they read as attributes.
        self._values = dict(values)
        self.green_token_mask = green_token_mask
        self.scored_token_mask = scored_token_mask
        self.meta = dict(meta or {})

    def __getattr__(self, name: str):
        try:
            return object.__getattribute__(self, "_values")[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}") from None

    def to_dict(self) -> dict[str, object]:
        return dict(self._values)

    def __repr__(self) -> str:
        parts = []
        for k, v in self._values.items():
            parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
        return "WatermarkResult(" + ", ".join(parts) + ")"


class WatermarkBatchResult:
    __doc__ = (
        "Detection results for B texts: each field is an array of length B (``res.p_value_exact``).\n"
        + _DOC_FIELDS
        + """
    Counts are int64 arrays, the rest float64. ``too_short`` (bool) marks texts shorter than the
    scheme needs (the reproduced libraries raise for them): their counts are 0, z and p_value NaN
    and p_value_exact 1. With ``return_mask=True``, ``green_token_mask`` and ``scored_token_mask``
    are aligned with the concatenated ids. ``res[i]`` is the :class:`WatermarkResult` of text i.
    """
    )

    __slots__ = ("_data", "green_token_mask", "meta", "offsets", "scored_token_mask", "too_short")

    def __init__(self, data, too_short, offsets, green_token_mask=None, scored_token_mask=None, meta=None):
        self._data = data
        self.too_short = too_short
        self.offsets = offsets
        self.green_token_mask = green_token_mask
        self.scored_token_mask = scored_token_mask
        self.meta = dict(meta or {})

    def __getattr__(self, name: str) -> np.ndarray:
        data = object.__getattribute__(self, "_data")
        if name in data:
            return data[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __len__(self) -> int:
        return int(self.too_short.shape[0])

    def __iter__(self) -> Iterator[WatermarkResult]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, i: int) -> WatermarkResult:
        n = len(self)
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"index: expected an integer, got {type(i).__name__}")
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} texts")
        i = int(i) % n
        values = {}
        for k, v in self._data.items():
            values[k] = int(v[i]) if v.dtype.kind == "i" else float(v[i])
        gm = sm = None
        if self.green_token_mask is not None:
            a, b = int(self.offsets[i]), int(self.offsets[i + 1])
            gm, sm = self.green_token_mask[a:b], self.scored_token_mask[a:b]
        return WatermarkResult(values, gm, sm, self.meta)

    def to_dict(self) -> dict[str, np.ndarray]:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"WatermarkBatchResult(n={len(self)}, fields={list(self._data)})"
