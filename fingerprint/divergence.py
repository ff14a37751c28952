"""Dense token-level divergence panel between two models' full-vocabulary distributions."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from . import _native
from ._threads import resolve_num_threads
from ._validate import index_vector, logit_matrix, offsets_vector, panel_fields, where_position
from .result import ALL_FIELDS, TARGET_FIELDS, DivergenceResult

# How far a row of log-probs (logits=False) may be from normalised, by storage type: rounding of
# float16/bfloat16 log-probs moves log(sum exp) by up to about V * eps * p; anything beyond is
# not a log-probability row.
_LOGPROB_TOL = {0: 1e-3, 1: 2e-2, 2: 1e-1}


def token_divergences(
    p: np.ndarray,
    q: np.ndarray,
    *,
    targets: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
    logits: bool = True,
    fields: Iterable[str] | str | None = None,
    bfloat16_bits: bool = False,
    num_threads: int | None = None,
) -> DivergenceResult:
    r"""Per-position divergence panel between model P and model Q, one fused native pass per row.

    ``p`` and ``q`` are ``[N, V]`` logits (or log-probs with ``logits=False``) in float32, float16
    or bfloat16 (``ml_dtypes.bfloat16``, or uint16 bit patterns with ``bfloat16_bits=True``); the
    two may differ in dtype. Rows of many sequences are concatenated; ``offsets`` (length B+1)
    marks the sequences. ``-inf`` entries (masked vocabulary) are allowed; NaN or ``+inf`` raise.

    With :math:`p = \mathrm{softmax}(x_p)`, :math:`q = \mathrm{softmax}(x_q)`, in nats:

    - ``logprob_p`` = :math:`\log p(t)`, ``rank_p`` = 1 + #{v : x_p[v] > x_p[t]} (needs ``targets``)
    - ``entropy_p`` = :math:`-\sum p \log p`; ``cross_entropy_pq`` = :math:`-\sum p \log q`
    - ``kl_pq`` = :math:`\sum p \log(p/q)`; ``kl_qp`` likewise
    - ``js`` = :math:`\tfrac12 KL(p\|m) + \tfrac12 KL(q\|m)`, :math:`m = (p+q)/2` (at most ln 2)
    - ``tv`` = :math:`\tfrac12 \sum |p - q|`
    - ``top1_agree`` = 1.0 if argmax p == argmax q (first index on ties, as ``numpy.argmax``)
    - ``var_logq_p`` = :math:`\mathrm{Var}_{v\sim p}[\log q(v)]` (Fast-DetectGPT's variance when P
      samples and Q scores); ``var_logp_p`` (Min-K%++'s :math:`\sigma^2` for model P);
      ``var_logq_q`` and ``var_logp_q`` likewise.

    All results are float64. Exponentials are taken in float32 and summed in float32 blocks, then
    in float64 (relative error about 1e-6 against a float64 evaluation; tiny values near 0 are
    accurate in absolute terms, about 1e-7). KL, JS, TV and entropies are clamped to their
    ranges (KL >= 0, ...). An infinite KL or cross-entropy means Q gives zero probability to a
    token P supports.

    ``fields`` computes a subset; ``fields=["kl_pq"]`` uses the fastest path (one sweep, no
    second-moment terms). Results are identical for every ``num_threads``.
    """
    pa, code_p = logit_matrix("p", p, bfloat16_bits=bfloat16_bits)
    qa, code_q = logit_matrix("q", q, bfloat16_bits=bfloat16_bits)
    if pa.shape != qa.shape:
        raise ValueError(
            f"p and q must have the same shape [positions, vocab]; got p {pa.shape} and q {qa.shape}"
        )
    n, vocab = pa.shape
    if not isinstance(logits, (bool, np.bool_)):
        raise TypeError(f"logits must be True or False, got {logits!r}")
    tgt = None if targets is None else index_vector("targets", targets, length=n, upper=vocab)
    offs = None if offsets is None else offsets_vector("offsets", offsets, n)
    names = panel_fields(fields, ALL_FIELDS, TARGET_FIELDS, tgt is not None, n)
    nthreads = resolve_num_threads(num_threads)

    core = _native.core()
    index = {name: i for i, name in enumerate(core.DENSE_FIELDS)}
    want = list(names)
    if not logits:
        want += ["lse_p", "lse_q"]
    outs = {name: np.empty(n, dtype=np.float64) for name in want}
    errors = np.zeros(n, dtype=np.int32)
    if n:
        core.dense_panel(
            pa, qa, code_p, code_q, tgt, [(index[k], v) for k, v in outs.items()], errors, nthreads
        )
        if errors.any():
            _raise_row_error(core, errors, pa, qa, code_p, code_q, offs)
    if not logits:
        for name, arr, code in (("p", outs.pop("lse_p"), code_p), ("q", outs.pop("lse_q"), code_q)):
            bad = np.flatnonzero(np.abs(arr) > _LOGPROB_TOL[code])
            if bad.size:
                i = int(bad[0])
                raise ValueError(
                    f"{name}: logits=False but row {i}{where_position(offs, i)} is not normalised: "
                    f"log(sum(exp({name}[{i}]))) = {arr[i]:.6g}; pass logits=True for raw logits"
                )
    meta = {"kind": "dense", "vocab": vocab, "logits": bool(logits)}
    return DivergenceResult(outs, offs, meta)


def _as_float(row: np.ndarray, code: int) -> np.ndarray:
    if code == 2:
        return (row.astype(np.uint32) << 16).view(np.float32)
    return row.astype(np.float32)


def _raise_row_error(core, errors, pa, qa, code_p, code_q, offs) -> None:
    i = int(np.flatnonzero(errors)[0])
    e = int(errors[i])
    where = where_position(offs, i)
    for name, arr, code, nonfinite, allneg in (
        ("p", pa, code_p, core.ERR_NONFINITE_P, core.ERR_ALL_NEGINF_P),
        ("q", qa, code_q, core.ERR_NONFINITE_Q, core.ERR_ALL_NEGINF_Q),
    ):
        row = _as_float(arr[i], code)
        if e & nonfinite:
            nan = np.flatnonzero(np.isnan(row))
            if nan.size:
                raise ValueError(f"{name}: row {i}{where} contains NaN (first at column {int(nan[0])})")
            col = int(np.flatnonzero(np.isposinf(row))[0])
            raise ValueError(f"{name}: row {i}{where} contains +inf at column {col}; only -inf (masked) is allowed")
        if e & allneg:
            raise ValueError(f"{name}: row {i}{where} is -inf everywhere: no token has probability")
    raise ValueError(f"targets: row {i}{where} is out of range for vocabulary size {pa.shape[1]}")
