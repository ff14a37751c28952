"""The per-position result of a divergence panel: one float64 array per field."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: Every per-position field a panel can produce, in canonical order.
ALL_FIELDS: tuple[str, ...] = (
    "logprob_p", "logprob_q", "rank_p", "rank_q", "entropy_p", "entropy_q",
    "cross_entropy_pq", "cross_entropy_qp", "kl_pq", "kl_qp", "js", "tv", "top1_agree",
    "var_logp_p", "var_logq_p", "var_logq_q", "var_logp_q",
)  # fmt: skip

#: Fields that need the observed tokens (``targets``).
TARGET_FIELDS: frozenset[str] = frozenset({"logprob_p", "logprob_q", "rank_p", "rank_q"})


class DivergenceResult:
    """Per-position fields as float64 arrays of length N, read as attributes (``res.kl_pq``).

    ``offsets`` (length B+1, or None) marks the sequences the positions belong to;
    :meth:`sequence_mean` averages a field per sequence.
    """

    __slots__ = ("_data", "offsets", "meta")

    def __init__(
        self,
        data: dict[str, np.ndarray],
        offsets: np.ndarray | None = None,
        meta: dict[str, object] | None = None,
    ) -> None:
        self._data = data
        self.offsets = offsets
        self.meta = dict(meta or {})

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self._data)

    def __getattr__(self, name: str) -> np.ndarray:
        data = object.__getattribute__(self, "_data")
        if name in data:
            return data[name]
        if name in ALL_FIELDS:
            hint = " and targets=" if name in TARGET_FIELDS else ""
            raise AttributeError(
                f"field {name!r} was not computed; request it with fields=[..., {name!r}]{hint}"
            )
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._data[name]
        except KeyError:
            raise KeyError(f"field {name!r} not in this result; fields: {', '.join(self._data)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        for v in self._data.values():
            return int(v.shape[0])
        return 0

    def to_dict(self) -> dict[str, np.ndarray]:
        return dict(self._data)

    def sequence_mean(self, field: str) -> np.ndarray:
        """Mean of ``field`` over each sequence (NaN for an empty sequence); needs ``offsets``."""
        if self.offsets is None:
            raise ValueError("sequence_mean needs offsets; pass offsets= to the panel call")
        values = self[field]
        starts, ends = self.offsets[:-1], self.offsets[1:]
        counts = ends - starts
        csum = np.concatenate(([0.0], np.cumsum(values, dtype=np.float64)))
        with np.errstate(invalid="ignore", divide="ignore"):
            return (csum[ends] - csum[starts]) / counts

    def __repr__(self) -> str:
        return f"DivergenceResult(n={len(self)}, fields={list(self._data)})"
