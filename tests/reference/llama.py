"""Float64 reference forward pass of a Llama GGUF, written for clarity (one sequence, no cache).

Deliberately independent of fingerprint.sources.gguf's graph: it keeps the GGUF's own Q/K row
order and applies rotary embeddings the way llama.cpp does for that order (pairs (2i, 2i+1) of
each head rotated by theta_i = base^(-2i/d)), repeats KV heads explicitly for grouped-query
attention, and loops over heads. Weights come from ``gguf.quants.dequantize`` (the file's own
decoder), widened to float64.
"""

from __future__ import annotations

import numpy as np


def load(r):
    """(config, float64 weights [out, in]) from an open ``gguf.GGUFReader``."""
    from gguf import quants

    def meta(key):
        return r.fields[key].contents()

    w = {}
    for t in r.tensors:
        a = quants.dequantize(t.data, t.tensor_type).astype(np.float64)
        w[t.name] = a.reshape([int(d) for d in reversed(t.shape)])
    cfg = {
        "layers": int(meta("llama.block_count")),
        "heads": int(meta("llama.attention.head_count")),
        "kv_heads": int(meta("llama.attention.head_count_kv")),
        "base": float(meta("llama.rope.freq_base")),
        "eps": float(meta("llama.attention.layer_norm_rms_epsilon")),
    }
    return cfg, w


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope_interleaved(x, positions, base):
    """x [S, d] of one head; rotate pairs (x[2i], x[2i+1]) by positions * base^(-2i/d)."""
    d = x.shape[1]
    out = np.empty_like(x)
    for i in range(d // 2):
        theta = positions * base ** (-2.0 * i / d)
        c, s = np.cos(theta), np.sin(theta)
        a, b = x[:, 2 * i], x[:, 2 * i + 1]
        out[:, 2 * i] = a * c - b * s
        out[:, 2 * i + 1] = a * s + b * c
    return out


def forward(cfg, w, ids):
    """Logits [S, V] (float64) for one token sequence."""
    ids = np.asarray(ids)
    s_len = ids.shape[0]
    pos = np.arange(s_len, dtype=np.float64)
    emb = w["token_embd.weight"]
    x = emb[ids]
    nh, nkv = cfg["heads"], cfg["kv_heads"]
    hidden = x.shape[1]
    hd = hidden // nh
    causal = np.tril(np.ones((s_len, s_len), dtype=bool))
    for layer in range(cfg["layers"]):
        p = f"blk.{layer}."
        h = rms_norm(x, w[p + "attn_norm.weight"], cfg["eps"])
        q = h @ w[p + "attn_q.weight"].T
        k = h @ w[p + "attn_k.weight"].T
        v = h @ w[p + "attn_v.weight"].T
        heads = []
        for head in range(nh):
            g = head // (nh // nkv)  # the KV head this query head shares
            qh = rope_interleaved(q[:, head * hd : (head + 1) * hd], pos, cfg["base"])
            kh = rope_interleaved(k[:, g * hd : (g + 1) * hd], pos, cfg["base"])
            vh = v[:, g * hd : (g + 1) * hd]
            sc = qh @ kh.T / np.sqrt(hd)
            sc = np.where(causal, sc, -np.inf)
            sc = np.exp(sc - sc.max(axis=1, keepdims=True))
            sc /= sc.sum(axis=1, keepdims=True)
            heads.append(sc @ vh)
        x = x + np.concatenate(heads, axis=1) @ w[p + "attn_output.weight"].T
        h = rms_norm(x, w[p + "ffn_norm.weight"], cfg["eps"])
        gate = h @ w[p + "ffn_gate.weight"].T
        up = h @ w[p + "ffn_up.weight"].T
        x = x + (gate / (1.0 + np.exp(-gate)) * up) @ w[p + "ffn_down.weight"].T
    x = rms_norm(x, w["output_norm.weight"], cfg["eps"])
    head = w.get("output.weight", emb)
    return x @ head.T
