r"""Per-sequence detector scores (membership inference and machine-text detection), batched.

Every function takes per-position float arrays of length N -- the positions of B sequences
concatenated -- and ``offsets`` (integers, length B+1, from 0 to N, non-decreasing: sequence i
is positions ``offsets[i]:offsets[i+1]``), and returns a float64 array of length B. An empty
sequence gives NaN. Inputs may be float16/32/64 (widened exactly to float64), read-only or
strided; they are never altered.

The per-position inputs are the fields of :func:`fingerprint.token_divergences`
(``logprob_q``, ``entropy_q``, ``cross_entropy_pq``, ``var_logq_p``, ...);
:func:`detector_scores` computes every score a panel supports in one call.

Log-probabilities may be ``-inf`` (a token the model gives probability 0); the scores then
follow IEEE arithmetic (a loss becomes ``+inf``, ``inf / inf`` and ``inf - inf`` become NaN).
NaN inputs raise. Sums run left to right within a sequence (Min-K%: the selected values in
ascending order), one sequence per thread, so results are bit-identical for every
``num_threads``. ``num_threads`` (default: the package default, see
:func:`fingerprint.set_num_threads`) is an upper bound: small batches use fewer threads (at most
one per 2^18 positions; 2^15 for the Min-K% scores), since starting threads would cost more than
it saves.

Orientation: for every score except :func:`fast_detectgpt`, *lower* means "more familiar to the
model" (a training member, memorised, or machine-generated); Fast-DetectGPT is *higher* for
machine-generated text.

The kernels are Numba functions compiled on first use (cached on disk afterwards); this module
imports Numba only when a score is computed.
"""

from __future__ import annotations

import numbers
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import numpy as np

from ._threads import resolve_num_threads
from ._validate import float_vector, offsets_vector, position_values, readonly_view
from .result import DivergenceResult

__all__ = [
    "SCORE_NAMES",
    "binoculars",
    "detector_scores",
    "fast_detectgpt",
    "loss",
    "min_k",
    "min_k_plus_plus",
    "perplexity",
    "reference_difference",
    "reference_ratio",
    "zlib_ratio",
]

#: Names returned by :func:`detector_scores`, in order.
SCORE_NAMES: tuple[str, ...] = (
    "loss", "perplexity", "zlib_ratio", "min_k", "min_k_plus_plus", "fast_detectgpt",
    "fast_detectgpt_self", "reference_ratio", "reference_difference", "binoculars",
    "binoculars_observer",
)  # fmt: skip

# What each per-position input may contain (besides finite values). NaN never.
_LOGPROB = {"neginf": True, "posinf": False, "nonnegative": False,
            "why": "; a log-probability is -inf (probability 0) or finite"}
_MEAN = {"neginf": True, "posinf": False, "nonnegative": False,
         "why": "; an expected log-probability is -inf or finite"}
_SELF_MEAN = {"neginf": False, "posinf": False, "nonnegative": False,
              "why": "; E[log p] under a model's own distribution (= -entropy) is always finite"}
_SELF_VAR = {"neginf": False, "posinf": False, "nonnegative": True,
             "why": "; Var[log p] under a model's own distribution is finite and >= 0"}
_VAR = {"neginf": False, "posinf": True, "nonnegative": True, "why": "; a variance is >= 0"}
_CROSS_ENTROPY = {"neginf": False, "posinf": True, "nonnegative": True,
                  "why": "; a cross-entropy is >= 0 (+inf allowed)"}
_ENTROPY = {"neginf": False, "posinf": False, "nonnegative": True,
            "why": "; an entropy is finite and >= 0"}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# validation


def _positions(specs: list[tuple[str, object, dict]], offsets: object) -> tuple[list[np.ndarray], np.ndarray]:
    """Validated read-only float64 views of the per-position arrays, and the offsets."""
    arrays = [float_vector(name, x) for name, x, _ in specs]
    first = specs[0][0]
    n = arrays[0].shape[0]
    for (name, _, _), a in zip(specs[1:], arrays[1:]):
        if a.shape[0] != n:
            raise ValueError(
                f"{name}: expected length {n} (the length of {first}), got {a.shape[0]}"
            )
    offs = offsets_vector("offsets", offsets, n)
    for (name, _, kind), a in zip(specs, arrays):
        position_values(name, a, offs, **kind)
    return [readonly_view(a) for a in arrays], readonly_view(offs)


def _fraction(k: object) -> float:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Real):
        raise TypeError(f"k: expected a number in (0, 1], got {type(k).__name__}")
    kf = float(k)
    if not 0.0 < kf <= 1.0:
        raise ValueError(f"k: expected a fraction in (0, 1], got {k!r}")
    return kf


def _zlib_lengths(texts: object, b: int) -> np.ndarray:
    """len(zlib.compress(text)) for each of the B texts (str as UTF-8, or bytes), as float64."""
    if isinstance(texts, (str, bytes, bytearray, memoryview)) or not isinstance(texts, Iterable):
        raise TypeError(
            f"texts: expected a list of {b} texts (str or bytes), got {type(texts).__name__}"
        )
    items = list(texts)
    if len(items) != b:
        raise ValueError(f"texts: expected {b} texts (one per sequence, len(offsets) - 1), got {len(items)}")
    out = np.empty(b, dtype=np.float64)
    for i, t in enumerate(items):
        if isinstance(t, str):
            try:
                data = t.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(f"texts[{i}]: cannot be encoded as UTF-8 ({exc})") from None
        elif isinstance(t, (bytes, bytearray, memoryview)):
            data = bytes(t)
        else:
            raise TypeError(f"texts[{i}]: expected str or bytes, got {type(t).__name__}")
        out[i] = len(zlib.compress(data))
    return out


# Work per thread below which another thread costs more than it saves: waking a sleeping
# OpenMP worker can take milliseconds on a busy machine, while one thread sums ~2^18 positions
# in about a millisecond. The Min-K% scores (selection and sorting) cost ~8 times as much per
# position, so they count 8 units of work per position.
_MIN_POSITIONS_PER_THREAD = 1 << 18
_SORT_WORK = 8


@contextmanager
def _numba_threads(num_threads: int | None, work: int) -> Iterator[object]:
    """The kernels module, with Numba's thread count set from ``num_threads`` and then restored.

    ``num_threads`` is an upper bound: it is capped at Numba's pool size (``NUMBA_NUM_THREADS``)
    and at one thread per 2^18 units of ``work`` (positions, x8 for Min-K%). Results do not
    depend on the count.
    """
    n = resolve_num_threads(num_threads)
    import numba  # noqa: PLC0415 - deliberately lazy

    from . import _score_kernels  # noqa: PLC0415

    n = min(n, numba.config.NUMBA_NUM_THREADS, max(1, work // _MIN_POSITIONS_PER_THREAD))
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, n))
    try:
        yield _score_kernels
    finally:
        numba.set_num_threads(previous)


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return a / b


def _exp(a: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.exp(a)


# ---------------------------------------------------------------------------------------------
# public scores


def loss(logprobs: object, offsets: object, *, num_threads: int | None = None) -> np.ndarray:
    r"""LOSS attack: the mean negative log-likelihood of each sequence, in nats.

    .. math:: \mathrm{loss} = -\frac{1}{n} \sum_{t=1}^{n} \log p(x_t)

    Yeom, Giacomelli, Fredrikson & Jha (2018), "Privacy Risk in Machine Learning: Analyzing the
    Connection to Overfitting" (the loss-threshold membership inference attack). Lower means
    more likely a training member. ``logprobs`` are the per-token log-probabilities of the
    observed tokens (e.g. ``token_divergences(...).logprob_q``); a ``-inf`` gives ``+inf``.
    """
    (lp,), offs = _positions([("logprobs", logprobs, _LOGPROB)], offsets)
    with _numba_threads(num_threads, int(offs[-1])) as k:
        return k.seq_loss(lp, offs)


def perplexity(logprobs: object, offsets: object, *, num_threads: int | None = None) -> np.ndarray:
    r"""Perplexity of each sequence: :math:`\exp(\mathrm{loss}) = \exp(-\frac1n \sum_t \log p(x_t))`.

    The quantity thresholded by Carlini et al. (2021), "Extracting Training Data from Large
    Language Models"; see :func:`loss` (Yeom et al., 2018). Overflows to ``+inf`` for a loss
    above about 709.78 nats.
    """
    (lp,), offs = _positions([("logprobs", logprobs, _LOGPROB)], offsets)
    with _numba_threads(num_threads, int(offs[-1])) as k:
        return _exp(k.seq_loss(lp, offs))


def zlib_ratio(
    logprobs: object, offsets: object, texts: object, *, num_threads: int | None = None
) -> np.ndarray:
    r"""zlib-calibrated loss: the log-perplexity over the zlib-compressed length of the text.

    .. math:: \mathrm{zlib\_ratio} = \frac{-\frac1n \sum_t \log p(x_t)}
              {\mathrm{len}(\mathrm{zlib.compress}(\mathrm{text}))}

    Carlini et al. (2021), "Extracting Training Data from Large Language Models" (the "zlib"
    membership metric: the model's log-perplexity divided by the zlib entropy, in bytes, of the
    sample). ``texts`` is a list of B texts, one per sequence: ``str`` (encoded as UTF-8, as in
    the public code) or ``bytes``. Compression uses Python's :func:`zlib.compress` at its default
    level (``Z_DEFAULT_COMPRESSION``, i.e. level 6), as the public code does. Lower means more
    likely memorised. An empty sequence gives NaN (its text still compresses to a few bytes).
    """
    (lp,), offs = _positions([("logprobs", logprobs, _LOGPROB)], offsets)
    zlen = _zlib_lengths(texts, offs.shape[0] - 1)
    with _numba_threads(num_threads, int(offs[-1])) as k:
        return _divide(k.seq_loss(lp, offs), zlen)


def min_k(
    logprobs: object, offsets: object, k: float = 0.2, *, num_threads: int | None = None
) -> np.ndarray:
    r"""Min-K% Prob: minus the mean of the lowest k-fraction of token log-probabilities.

    .. math:: \mathrm{MinK}(x) = -\frac{1}{m} \sum_{x_t \in \mathrm{Min\text{-}K\%}(x)} \log p(x_t),
              \qquad m = \max(1, \lfloor n k \rfloor)

    Shi et al. (2024), "Detecting Pretraining Data from Large Language Models" (ICLR). As in the
    authors' public code, the result is the *negated* mean (higher = less likely a training
    member) and m is ``int(n * k)`` computed in float64 -- except that m is at least 1: the
    public code takes the mean of an empty slice (NaN) when ``floor(n k) = 0``; here the single
    lowest token is used instead. ``k`` is a fraction in (0, 1] (``0.2`` is Min-20%).
    """
    kf = _fraction(k)
    (lp,), offs = _positions([("logprobs", logprobs, _LOGPROB)], offsets)
    with _numba_threads(num_threads, int(offs[-1]) * _SORT_WORK) as kern:
        return kern.seq_min_k(lp, offs, kf)


def min_k_plus_plus(
    logprobs: object,
    mean: object,
    var: object,
    offsets: object,
    k: float = 0.2,
    *,
    num_threads: int | None = None,
) -> np.ndarray:
    r"""Min-K%++: Min-K% over per-token log-probabilities standardised by the model's own
    next-token distribution.

    .. math:: z_t = \frac{\log p(x_t) - \mu_t}{\sigma_t}, \quad
              \mu_t = \mathbb{E}_{z \sim p_t}[\log p_t(z)], \quad
              \sigma_t^2 = \mathrm{Var}_{z \sim p_t}[\log p_t(z)], \quad
              \mathrm{MinK{+}{+}}(x) = -\frac1m \sum_{\text{lowest } m} z_t,
              \ m = \max(1, \lfloor n k \rfloor)

    Zhang et al. (2024), "Min-K%++: Improved Baseline for Detecting Pre-Training Data from Large
    Language Models". From a panel ``res = token_divergences(p, q, targets=...)`` for model Q:
    ``logprobs = res.logprob_q``, ``mean = -res.entropy_q``, ``var = res.var_logq_q``
    (:func:`detector_scores` does this). The variance is the panel's direct
    :math:`\sum_z p(z)(\log p(z) - \mu)^2`, not the cancellation-prone
    :math:`\mathbb{E}[\log^2 p] - \mu^2` of the public code.

    Sign: negated, like :func:`min_k` (higher = less likely a member); the authors' code reports
    the mean itself (higher = member). m as in :func:`min_k` (at least 1, where the public code
    gives NaN).

    Zero variance (:math:`\sigma_t = 0`: the model's distribution is uniform on its support, e.g.
    one-hot) is the limit :math:`\sigma \to 0^+`: :math:`z_t = 0` if
    :math:`\log p(x_t) = \mu_t` (the observed token is in the support) and
    :math:`\mathrm{sign}(\log p(x_t) - \mu_t) \cdot \infty` otherwise -- with exact inputs that is
    :math:`-\infty`, the token had probability 0. ``mean`` and ``var`` must be finite (they
    always are for a model's own distribution); ``logprobs`` may be ``-inf`` (then
    :math:`z_t = -\infty` and the score ``+inf``).
    """
    kf = _fraction(k)
    (lp, mu, v), offs = _positions(
        [("logprobs", logprobs, _LOGPROB), ("mean", mean, _SELF_MEAN), ("var", var, _SELF_VAR)],
        offsets,
    )
    with _numba_threads(num_threads, int(offs[-1]) * _SORT_WORK) as kern:
        return kern.seq_min_k_plus_plus(lp, mu, v, offs, kf)


def reference_ratio(
    target_logprobs: object,
    reference_logprobs: object,
    offsets: object,
    *,
    num_threads: int | None = None,
) -> np.ndarray:
    r"""Reference-model calibration: the ratio of the two models' log-perplexities.

    .. math:: \frac{\mathrm{loss}_\mathrm{target}}{\mathrm{loss}_\mathrm{reference}}
              = \frac{-\frac1n \sum_t \log p_\mathrm{target}(x_t)}{-\frac1n \sum_t \log p_\mathrm{ref}(x_t)}

    Carlini et al. (2021), "Extracting Training Data from Large Language Models" ("comparing to
    other neural language models": the ratio of log-perplexities of the attacked model and a
    smaller reference model). Lower means the target finds the text unusually easy. Both arrays
    score the same tokens. IEEE division: 0/0 (both models certain of every token) is NaN,
    x/0 is +inf.
    """
    (a, b), offs = _positions(
        [("target_logprobs", target_logprobs, _LOGPROB),
         ("reference_logprobs", reference_logprobs, _LOGPROB)],
        offsets,
    )  # fmt: skip
    with _numba_threads(num_threads, int(offs[-1])) as kern:
        la, lb = kern.seq_loss_pair(a, b, offs)
    return _divide(la, lb)


def reference_difference(
    target_logprobs: object,
    reference_logprobs: object,
    offsets: object,
    *,
    num_threads: int | None = None,
) -> np.ndarray:
    r"""Calibrated LOSS: the target model's loss minus the reference model's loss.

    .. math:: \mathrm{loss}_\mathrm{target} - \mathrm{loss}_\mathrm{reference}
              = -\frac1n \sum_t \log p_\mathrm{target}(x_t) + \frac1n \sum_t \log p_\mathrm{ref}(x_t)

    Watson, Guo, Cormode & Sablayrolles (2022), "On the Importance of Difficulty Calibration in
    Membership Inference Attacks" (the difference form of reference calibration; compare
    :func:`reference_ratio`, Carlini et al. 2021). Lower means more likely a member of the
    target's training data. ``inf - inf`` (both models give a token probability 0) is NaN.
    """
    (a, b), offs = _positions(
        [("target_logprobs", target_logprobs, _LOGPROB),
         ("reference_logprobs", reference_logprobs, _LOGPROB)],
        offsets,
    )  # fmt: skip
    with _numba_threads(num_threads, int(offs[-1])) as kern:
        la, lb = kern.seq_loss_pair(a, b, offs)
    with np.errstate(invalid="ignore"):
        return la - lb


def binoculars(
    ppl_logprobs: object, cross_entropy: object, offsets: object, *, num_threads: int | None = None
) -> np.ndarray:
    r"""Binoculars: log-perplexity over cross-perplexity.

    .. math:: B = \frac{-\frac1n \sum_t \log m(x_t)}{\frac1n \sum_t H_t}, \qquad
              H_t = -\sum_v \mathrm{softmax}(o_t)_v \, \log \mathrm{softmax}(r_t)_v

    Hans et al. (2024), "Spotting LLMs With Binoculars: Zero-Shot Detection of Machine-Generated
    Text" (ICML). :math:`o` is the *observer* model, :math:`r` the *performer*;
    ``cross_entropy`` is :math:`H_t`, which is ``cross_entropy_pq`` of
    ``token_divergences(observer_logits, performer_logits)``. The numerator's model :math:`m`
    differs between sources: the authors' public code takes the perplexity under the
    **performer** (``logprob_q`` of that panel), the paper under the **observer**
    (``logprob_p``); pass the one you want as ``ppl_logprobs``. Lower means more likely
    machine-generated. Computed as :math:`-\sum_t \log m(x_t) / \sum_t H_t` (the 1/n cancel);
    IEEE division (0/0 is NaN, x/0 is +inf, x/inf is 0).
    """
    (lp, ce), offs = _positions(
        [("ppl_logprobs", ppl_logprobs, _LOGPROB), ("cross_entropy", cross_entropy, _CROSS_ENTROPY)],
        offsets,
    )
    with _numba_threads(num_threads, int(offs[-1])) as kern:
        return kern.seq_neg_sum_ratio(lp, ce, offs)


def fast_detectgpt(
    logprobs: object, mean: object, var: object, offsets: object, *, num_threads: int | None = None
) -> np.ndarray:
    r"""Fast-DetectGPT, analytic sampling discrepancy.

    .. math:: D = \frac{\sum_t \left(\log q_t(x_t) - \mu_t\right)}{\sqrt{\sum_t \sigma_t^2}},
              \quad \mu_t = \sum_v p_t(v) \log q_t(v), \quad
              \sigma_t^2 = \sum_v p_t(v) \left(\log q_t(v) - \mu_t\right)^2

    Bao et al. (2024), "Fast-DetectGPT: Efficient Zero-Shot Detection of Machine-Generated Text
    via Conditional Probability Curvature" (ICLR; the analytic criterion of the public code).
    :math:`q` is the *scoring* model, :math:`p` the *sampling* model. From
    ``res = token_divergences(p_logits, q_logits, targets=...)`` (P = sampling, Q = scoring):
    ``logprobs = res.logprob_q``, ``mean = -res.cross_entropy_pq``, ``var = res.var_logq_p``.
    When one model both samples and scores (white-box): ``mean = -res.entropy_q``,
    ``var = res.var_logq_q``. Higher means more likely machine-generated.

    Zero total variance (every :math:`\log q_t` is constant on the sampling distribution's
    support) is the limit :math:`\sigma \to 0^+`: :math:`D = 0` if the numerator is 0, else
    :math:`\pm\infty` with its sign. Infinite inputs follow IEEE arithmetic: if Q gives
    probability 0 to a token P can sample, :math:`\mu_t = -\infty` and :math:`\sigma_t = \infty`
    and D is NaN (its limit depends on quantities these inputs do not carry); a ``-inf``
    log-probability with finite moments gives :math:`-\infty`.
    """
    (lp, mu, v), offs = _positions(
        [("logprobs", logprobs, _LOGPROB), ("mean", mean, _MEAN), ("var", var, _VAR)], offsets
    )
    with _numba_threads(num_threads, int(offs[-1])) as kern:
        return kern.seq_fast_detectgpt(lp, mu, v, offs)


# ---------------------------------------------------------------------------------------------
# all scores from a panel


def _roles(model: str) -> dict[str, str]:
    """Panel field names by role, for ``model`` = the scored (target/performer/scoring) model."""
    m, o = model, "q" if model == "p" else "p"
    return {
        "lp": f"logprob_{m}",  # the scored model's log-prob of each observed token
        "lp_other": f"logprob_{o}",
        "entropy": f"entropy_{m}",  # -E_{m}[log m]
        "var_self": f"var_log{m}_{m}",  # Var_{m}[log m]
        "cross_entropy": f"cross_entropy_{o}{m}",  # -E_{o}[log m]
        "var_cross": f"var_log{m}_{o}",  # Var_{o}[log m]
    }


# score -> the roles it needs
_NEEDS: dict[str, tuple[str, ...]] = {
    "loss": ("lp",),
    "perplexity": ("lp",),
    "zlib_ratio": ("lp",),
    "min_k": ("lp",),
    "min_k_plus_plus": ("lp", "entropy", "var_self"),
    "fast_detectgpt": ("lp", "cross_entropy", "var_cross"),
    "fast_detectgpt_self": ("lp", "entropy", "var_self"),
    "reference_ratio": ("lp", "lp_other"),
    "reference_difference": ("lp", "lp_other"),
    "binoculars": ("lp", "cross_entropy"),
    "binoculars_observer": ("lp_other", "cross_entropy"),
}

_ROLE_KIND = {
    "lp": _LOGPROB, "lp_other": _LOGPROB, "entropy": _ENTROPY, "var_self": _SELF_VAR,
    "cross_entropy": _CROSS_ENTROPY, "var_cross": _VAR,
}  # fmt: skip


def detector_scores(
    panel: object,
    offsets: object = None,
    *,
    texts: object = None,
    k: float = 0.2,
    model: str = "q",
    scores: Iterable[str] | str | None = None,
    num_threads: int | None = None,
) -> dict[str, np.ndarray]:
    r"""Every detector score a divergence panel supports, per sequence: ``{name: float64[B]}``.

    ``panel`` is a :class:`~fingerprint.DivergenceResult` from
    ``token_divergences(p, q, targets=..., offsets=...)`` (or a mapping of field name to
    per-position array); ``offsets`` defaults to ``panel.offsets``.

    **Roles.** ``model`` names the model being scored -- the *target* (membership inference),
    the *performer* (Binoculars) and the *scoring* model (Fast-DetectGPT). The other panel
    model is the *reference*, the *observer* and the *sampling* model. With the default
    ``model="q"`` (write m = Q, o = P; ``model="p"`` swaps them):

    - ``loss`` = :math:`-\frac1n\sum_t \log m(x_t)`; ``perplexity`` = exp(loss);
      ``zlib_ratio`` = loss / len(zlib.compress(text)) (only with ``texts``); ``min_k`` (fraction
      ``k``) -- all from ``logprob_q``
    - ``min_k_plus_plus`` (fraction ``k``) -- ``logprob_q``, ``entropy_q``, ``var_logq_q``
    - ``fast_detectgpt``: o samples, m scores -- ``logprob_q``, ``cross_entropy_pq``, ``var_logq_p``
    - ``fast_detectgpt_self``: m samples and scores (white-box) -- ``logprob_q``, ``entropy_q``,
      ``var_logq_q``
    - ``reference_ratio`` = loss(m) / loss(o), ``reference_difference`` = loss(m) - loss(o) --
      ``logprob_q``, ``logprob_p``
    - ``binoculars``: perplexity under the performer m (public code) -- ``logprob_q``,
      ``cross_entropy_pq``
    - ``binoculars_observer``: perplexity under the observer o (paper) -- ``logprob_p``,
      ``cross_entropy_pq``

    Binoculars' cross-perplexity is :math:`-\sum_v o_t(v) \log m_t(v)` (``cross_entropy_pq``),
    Fast-DetectGPT's moments are :math:`\mu_t = -` ``cross_entropy_pq`` and
    :math:`\sigma_t^2 =` ``var_logq_p``; Min-K%++ uses :math:`\mu_t = -` ``entropy_q`` and
    :math:`\sigma_t^2 =` ``var_logq_q``. Papers (see each function for details and edge cases):
    LOSS -- Yeom et al. 2018; perplexity, zlib and reference ratio -- Carlini et al. 2021;
    reference difference -- Watson et al. 2022; Min-K% -- Shi et al. 2024; Min-K%++ -- Zhang et
    al. 2024; Binoculars -- Hans et al. 2024; Fast-DetectGPT -- Bao et al. 2024.

    With ``scores=None`` every score whose fields are in the panel is returned (``zlib_ratio``
    only when ``texts`` is given), in the order of :data:`SCORE_NAMES`; naming ``scores``
    raises if one of them cannot be computed, listing the missing fields. ``k`` is the Min-K%
    fraction for ``min_k`` and ``min_k_plus_plus``; ``texts`` is used only by ``zlib_ratio``.
    Each array is exactly what the individual function returns for the same fields.
    """
    if model not in ("p", "q"):
        raise ValueError(f"model: expected 'p' or 'q' (the panel model being scored), got {model!r}")
    get_field, present, name_of = _panel_access(panel)
    roles = _roles(model)

    def missing_fields(score: str) -> list[str]:
        return [roles[r] for r in _NEEDS[score] if roles[r] not in present]

    if scores is None:
        wanted = [
            s for s in SCORE_NAMES if not missing_fields(s) and (s != "zlib_ratio" or texts is not None)
        ]
        if not wanted:
            raise ValueError(
                f"panel: no detector score can be computed from fields {sorted(present)}; every score "
                f"needs {roles['lp']!r}: call token_divergences(p, q, targets=..., offsets=...)"
            )
    else:
        requested = [scores] if isinstance(scores, str) else list(scores)
        for s in requested:
            if not isinstance(s, str):
                raise TypeError(f"scores: expected score names (str), got {type(s).__name__}")
            if s not in _NEEDS:
                raise ValueError(f"scores: unknown score {s!r}; valid scores are: {', '.join(SCORE_NAMES)}")
        if not requested:
            raise ValueError(f"scores: empty; name at least one of: {', '.join(SCORE_NAMES)}")
        for s in requested:
            miss = missing_fields(s)
            if miss:
                hint = " and targets=" if any(f.startswith("logprob_") for f in miss) else ""
                raise ValueError(
                    f"scores: {s!r} with model={model!r} needs panel field(s) {miss}, which the "
                    f"panel lacks; request them with token_divergences(..., fields=[...]{hint})"
                )
            if s == "zlib_ratio" and texts is None:
                raise ValueError("scores: 'zlib_ratio' needs texts= (one str or bytes per sequence)")
        want = set(requested)
        wanted = [s for s in SCORE_NAMES if s in want]

    if offsets is None:
        offsets = getattr(panel, "offsets", None)
        if offsets is None:
            raise ValueError(
                "offsets: the panel has no offsets; pass offsets= here or to token_divergences"
            )
    roles_used = sorted({r for s in wanted for r in _NEEDS[s]}, key=list(_ROLE_KIND).index)
    arrays, offs = _positions(
        [(name_of(roles[r]), get_field(roles[r]), _ROLE_KIND[r]) for r in roles_used], offsets
    )
    a = dict(zip(roles_used, arrays))
    kf = _fraction(k) if {"min_k", "min_k_plus_plus"} & set(wanted) else 0.0
    zlen = _zlib_lengths(texts, offs.shape[0] - 1) if "zlib_ratio" in wanted else None

    out: dict[str, np.ndarray] = {}
    work = int(offs[-1]) * (_SORT_WORK if {"min_k", "min_k_plus_plus"} & set(wanted) else 1)
    with _numba_threads(num_threads, work) as kern:
        if "entropy" in a:
            neg_entropy = readonly_view(-a["entropy"])  # exact
        if "cross_entropy" in a and "fast_detectgpt" in wanted:
            neg_cross = readonly_view(-a["cross_entropy"])
        lp = a["lp"] if "lp" in a else None
        own_loss = None
        if {"loss", "perplexity", "zlib_ratio", "reference_ratio", "reference_difference"} & set(wanted):
            if "lp_other" in a and {"reference_ratio", "reference_difference"} & set(wanted):
                own_loss, other_loss = kern.seq_loss_pair(lp, a["lp_other"], offs)
            else:
                own_loss = kern.seq_loss(lp, offs)
        for s in wanted:
            if s == "loss":
                out[s] = own_loss
            elif s == "perplexity":
                out[s] = _exp(own_loss)
            elif s == "zlib_ratio":
                out[s] = _divide(own_loss, zlen)
            elif s == "min_k":
                out[s] = kern.seq_min_k(lp, offs, kf)
            elif s == "min_k_plus_plus":
                out[s] = kern.seq_min_k_plus_plus(lp, neg_entropy, a["var_self"], offs, kf)
            elif s == "fast_detectgpt":
                out[s] = kern.seq_fast_detectgpt(lp, neg_cross, a["var_cross"], offs)
            elif s == "fast_detectgpt_self":
                out[s] = kern.seq_fast_detectgpt(lp, neg_entropy, a["var_self"], offs)
            elif s == "reference_ratio":
                out[s] = _divide(own_loss, other_loss)
            elif s == "reference_difference":
                with np.errstate(invalid="ignore"):
                    out[s] = own_loss - other_loss
            elif s == "binoculars":
                out[s] = kern.seq_neg_sum_ratio(lp, a["cross_entropy"], offs)
            elif s == "binoculars_observer":
                out[s] = kern.seq_neg_sum_ratio(a["lp_other"], a["cross_entropy"], offs)
    return {s: out[s] for s in wanted}


def _panel_access(panel: object):
    """(get field, present field names, display name of a field) for a panel."""
    if isinstance(panel, DivergenceResult):
        present = set(panel.fields)
        return panel.__getitem__, present, lambda f: f"panel.{f}"
    if isinstance(panel, Mapping):
        present = {f for f in panel if isinstance(f, str)}
        return panel.__getitem__, present, lambda f: f"panel[{f!r}]"
    raise TypeError(
        f"panel: expected a DivergenceResult (from token_divergences) or a mapping of field "
        f"name to array, got {type(panel).__name__}"
    )
