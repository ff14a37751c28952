"""Watermark detection and generation, bit-compatible with the deployed schemes.

- :class:`KGW`: the green-list watermark of Kirchenbauer et al., as transformers'
  ``WatermarkDetector``/``WatermarkLogitsProcessor`` and jwkirchenbauer/lm-watermarking implement it
  (``compat=``), every seeding scheme of both.
- :class:`Unigram`: Zhao et al.'s fixed green list, as XuandongZhao/Unigram-Watermark derives it.
- :class:`SynthID`: SynthID-Text's g-values, masks and mean scores, as google-deepmind/synthid-text
  (current hashing) and transformers (older hashing) compute them (``compat=``), with exact tests
  and a tournament-sampling processor.
- :class:`Maryland`, :class:`Aaronson`: facebookresearch/three_bricks' green-list and Gumbel-trick
  watermarks (``hash``, ``min``, ``additive`` and ``skip`` seedings, scoring none/v1/v2, multi-bit payloads).
- :func:`radioactivity`: corpus-scale radioactivity test (Sander et al. 2024) with de-duplication,
  prompt exclusion, window filters, reading mode and multiple-testing adjustment.
- :func:`torch_randperm`, :func:`torch_rand`, :func:`torch_randint`, :func:`torch_random32`: PyTorch's CPU generator,
  reproduced natively (for schemes that seed torch).
- :func:`from_spec`: a detector from a short text spec (``kgw:gamma=0.25,seeding=selfhash``).
- :func:`generate`: sampling from any logits function through a watermark processor.

Every detector returns ``p_value`` (what the reproduced library reports) and ``p_value_exact``
(exact tail; use this one as evidence). Importing this module loads NumPy only; SciPy and the
native module load on first use.
"""

from __future__ import annotations

from ._generate import generate
from ._rng import torch_rand, torch_randint, torch_randperm, torch_random32
from .kgw import KGW, NAMED_SCHEMES, PRF_NAMES, KGWLogitsProcessor, RepeatedNgramWarning
from .result import RESULT_FIELDS, WatermarkBatchResult, WatermarkResult
from .synthid import SYNTHID_FIELDS, SynthID, SynthIDBatchResult, SynthIDLogitsProcessor, SynthIDResult
from .radioactivity import (
    RadioactivityMultiResult,
    RadioactivityResult,
    adjust_p_values,
    radioactivity,
)
from .spec import SCHEMES, from_spec
from .threebricks import Aaronson, AaronsonSampler, Maryland, MarylandLogitsProcessor
from .unigram import Unigram, UnigramLogitsProcessor, unigram_green_mask

__all__ = [
    "Aaronson",
    "AaronsonSampler",
    "KGW",
    "KGWLogitsProcessor",
    "Maryland",
    "MarylandLogitsProcessor",
    "NAMED_SCHEMES",
    "PRF_NAMES",
    "RESULT_FIELDS",
    "RadioactivityMultiResult",
    "RadioactivityResult",
    "RepeatedNgramWarning",
    "SYNTHID_FIELDS",
    "SynthID",
    "SynthIDBatchResult",
    "SynthIDLogitsProcessor",
    "SynthIDResult",
    "Unigram",
    "UnigramLogitsProcessor",
    "WatermarkBatchResult",
    "WatermarkResult",
    "SCHEMES",
    "adjust_p_values",
    "from_spec",
    "generate",
    "radioactivity",
    "torch_rand",
    "torch_randint",
    "torch_randperm",
    "torch_random32",
    "unigram_green_mask",
]
