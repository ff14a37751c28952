"""Where token ids and log-probs come from, and where they go.

- :mod:`fingerprint.sources.records`: :class:`TokenBatch` (records in ragged layout), read stats.
- :mod:`fingerprint.sources.readers`: streaming readers (OpenAI / vLLM JSON, JSONL, Parquet, Arrow, NumPy),
  the entry points; the formats' parsers live in :mod:`~fingerprint.sources.api_json` (JSON/JSONL)
  and :mod:`~fingerprint.sources.columnar` (Parquet, Arrow IPC, .npz).
- :mod:`fingerprint.sources.writers`: atomic Parquet / JSONL writers.
- :mod:`fingerprint.sources.vocab`: token strings/bytes to ids; alignment of two tokenisations by bytes.

Submodules are imported explicitly (this package imports nothing, so ``import fingerprint`` stays light).
"""
