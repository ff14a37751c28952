"""OnnxCausalLM on the real SmolLM2-135M-Instruct (converted once per session) and on tiny graphs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fingerprint as fp
from fingerprint.sources import LogitsChunk, LogitSource, OnnxCausalLM
from fingerprint.sources.onnx import _top_ids, log_softmax

PARAGRAPH = (
    "Water is a chemical compound made of two hydrogen atoms and one oxygen atom. At room temperature it is a "
    "clear liquid with no taste or smell. It covers about seventy percent of the surface of the Earth, and all "
    "known forms of life depend on it. When water is heated to one hundred degrees Celsius at sea level, it "
    "boils and turns into steam. When it is cooled below zero degrees, it freezes into ice."
)
SENTENCES = [
    "The capital of France is Paris.",
    "A dog barked.",
    "Rivers flow downhill toward the sea, carrying sand and stones.",
    "Hi",
    "Seven plus five equals twelve, and twelve minus five equals seven.",
]


def ragged(tok, texts):
    seqs = [np.array(tok.encode(t).ids, dtype=np.int64) for t in texts]
    offsets = np.concatenate([[0], np.cumsum([s.shape[0] for s in seqs])]).astype(np.int64)
    return np.concatenate(seqs), offsets, seqs


def collect(chunks):
    chunks = list(chunks)
    cat = lambda f: np.concatenate([getattr(c, f) for c in chunks])  # noqa: E731
    return chunks, cat("seq_index"), cat("positions"), cat("targets"), cat("logits")


def test_protocol_and_repr(smollm2):
    model, _ = smollm2
    assert isinstance(model, LogitSource)
    assert "SmolLM2" in repr(model) and model.vocab_size == 49152


def test_greedy_capital_of_france(smollm2):
    model, tok = smollm2
    prompt = np.array(tok.encode("The capital of France is").ids, dtype=np.int64)
    out = model.generate([prompt], 2, temperature=0)
    assert out[0].dtype == np.int64
    assert tok.decode(out[0].tolist()).startswith(" Paris")


def test_perplexity_paragraph_vs_shuffled(smollm2):
    model, tok = smollm2
    x = np.array(tok.encode(PARAGRAPH).ids, dtype=np.int64)
    off = np.array([0, x.shape[0]])
    ppl = float(np.exp(-model.token_logprobs(x, off).mean()))
    shuffled = np.random.default_rng(0).permutation(x)
    ppl_shuffled = float(np.exp(-model.token_logprobs(shuffled, off).mean()))
    assert 4.0 < ppl < 12.0, ppl  # measured 7.75
    assert ppl_shuffled > 500.0, ppl_shuffled  # measured 1,050


def test_batched_right_padded_equals_unbatched(smollm2):
    model, tok = smollm2
    tokens, offsets, seqs = ragged(tok, SENTENCES)
    score_from = np.array([1, 2, 5, 1, 3])
    chunks, s, j, tgt, lg = collect(model.next_token_logits(tokens, offsets, score_from=score_from, batch_size=3))
    assert len(chunks) == 2  # "Hi" (one token) has no row: sequences 0, 1, 2 then 4
    for c in chunks:
        assert isinstance(c, LogitsChunk) and c.logits.dtype == np.float32 and c.logits.flags.c_contiguous
        assert c.seq_index.dtype == c.positions.dtype == c.targets.dtype == np.int64
    want_s = np.concatenate([np.full(max(q.shape[0] - f, 0), i) for i, (q, f) in enumerate(zip(seqs, score_from))])
    want_j = np.concatenate([np.arange(f, q.shape[0]) for q, f in zip(seqs, score_from)])
    np.testing.assert_array_equal(s, want_s)
    np.testing.assert_array_equal(j, want_j)
    np.testing.assert_array_equal(tgt, tokens[offsets[s] + j])
    for i, q in enumerate(seqs):  # one sequence at a time, no padding
        if q.shape[0] <= score_from[i]:
            assert not (s == i).any()
            continue
        _, _, jj, _, alone = collect(model.next_token_logits(q, [0, q.shape[0]], score_from=[score_from[i]]))
        np.testing.assert_allclose(lg[s == i], alone, rtol=0, atol=2e-4)
        np.testing.assert_array_equal(j[s == i], jj)


def test_long_sequence_windows_carry_the_cache(smollm2):
    model, tok = smollm2
    x = np.array(tok.encode(PARAGRAPH).ids, dtype=np.int64)[:40]
    small = OnnxCausalLM(model.path, num_threads=2, max_batch_tokens=16)
    _, s1, j1, _, whole = collect(model.next_token_logits(x, [0, 40], score_from=[3]))
    chunks, s2, j2, _, windowed = collect(small.next_token_logits(x, [0, 40], score_from=[3]))
    assert len(chunks) == 3 and max(c.logits.shape[0] for c in chunks) <= 16
    np.testing.assert_array_equal(j1, j2)
    np.testing.assert_allclose(windowed, whole, rtol=0, atol=2e-4)


def test_empty_and_short_sequences(smollm2):
    model, tok = smollm2
    tokens = np.array([504, 3575, 282], dtype=np.int64)
    # sequences of length 0 and 1 have no row; score_from = L gives none either
    _, s, j, _, lg = collect(model.next_token_logits(tokens, [0, 0, 1, 3], score_from=[1, 1, 1]))
    np.testing.assert_array_equal(s, [2])
    np.testing.assert_array_equal(j, [1])
    assert list(model.next_token_logits(tokens, [0, 3], score_from=[3])) == []
    assert list(model.next_token_logits(np.zeros(0, np.int64), [0])) == []


def test_kv_cache_generation_equals_full_recompute(smollm2):
    model, tok = smollm2
    prompt = np.array(tok.encode("Once upon a time, in a small village,").ids, dtype=np.int64)
    n = 10
    cached = model.generate([prompt], n, temperature=0, eos_token_id=-1)[0]
    ids = list(prompt)
    for _ in range(n):  # no cache: the whole sequence again at every step
        x = np.array(ids + [0], dtype=np.int64)
        last = list(model.next_token_logits(x, [0, x.shape[0]], score_from=[x.shape[0] - 1]))[0].logits[0]
        ids.append(int(np.argmax(last)))
    np.testing.assert_array_equal(cached, ids[prompt.shape[0] :])


def test_batched_generation_equals_one_by_one(smollm2):
    model, tok = smollm2
    prompts = [np.array(tok.encode(t).ids, dtype=np.int64) for t in ("Hello, my name is", "2 + 2 =", "The sky")]
    together = model.generate(prompts, 6, temperature=0.8, seed=3, eos_token_id=-1, batch_size=3)
    one_by_one = model.generate(prompts, 6, temperature=0.8, seed=3, eos_token_id=-1, batch_size=1)
    for a, b in zip(together, one_by_one):
        np.testing.assert_array_equal(a, b)
    again = model.generate(prompts, 6, temperature=0.8, seed=3, eos_token_id=-1)
    assert all(np.array_equal(a, b) for a, b in zip(together, again))


def test_sampling_matches_watermark_generate_and_stops_at_eos(smollm2):
    model, tok = smollm2
    prompt = np.array(tok.encode("My favourite food is").ids, dtype=np.int64)

    def full_logits(ids):
        x = np.concatenate([ids, [0]])
        return list(model.next_token_logits(x, [0, x.shape[0]], score_from=[x.shape[0] - 1]))[0].logits[0]

    ours = model.generate([prompt], 5, temperature=1.0, seed=11, eos_token_id=-1)[0]
    theirs = fp.watermark.generate(full_logits, prompt, 5, temperature=1.0, rng=11)
    np.testing.assert_array_equal(ours, theirs)
    # stop at eos: whatever token greedy decoding emits first, naming it eos stops there
    first = model.generate([prompt], 1, temperature=0)[0][0]
    out = model.generate([prompt], 8, temperature=0, eos_token_id=int(first))[0]
    np.testing.assert_array_equal(out, [first])


def test_watermarked_generation_is_detected(smollm2):
    model, tok = smollm2
    kgw = fp.watermark.KGW(model.vocab_size, gamma=0.25, seeding="lefthash")
    prompts = [np.array(tok.encode(t).ids, dtype=np.int64) for t in ("Write about the ocean.", "Describe a forest.")]
    marked = model.generate(prompts, 25, temperature=1.0, seed=1, processor=kgw.processor(4.0), eos_token_id=-1)
    plain = model.generate(prompts, 25, temperature=1.0, seed=1, eos_token_id=-1)
    z_marked = [kgw.detect(np.concatenate([p, m])).z_score for p, m in zip(prompts, marked)]
    z_plain = [kgw.detect(np.concatenate([p, m])).z_score for p, m in zip(prompts, plain)]
    assert min(z_marked) > 4.0, z_marked
    assert max(z_plain) < 4.0, z_plain


def test_topk_and_token_logprobs(smollm2):
    model, tok = smollm2
    tokens, offsets, _ = ragged(tok, SENTENCES[:3])
    res = model.topk(tokens, offsets, 5, batch_size=2)
    _, s, j, tgt, lg = collect(model.next_token_logits(tokens, offsets, batch_size=2))
    lp = log_softmax(lg)
    np.testing.assert_array_equal(res.seq_index, s)
    np.testing.assert_array_equal(res.positions, j)
    np.testing.assert_array_equal(res.targets, tgt)
    want_ids = np.argsort(-lp, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(res.top_ids, want_ids)
    np.testing.assert_allclose(res.top_logprobs, np.take_along_axis(lp, want_ids, 1), rtol=0, atol=1e-12)
    assert np.all(np.diff(res.top_logprobs, axis=1) <= 0) and np.all(res.top_logprobs <= 0)
    np.testing.assert_allclose(res.target_logprobs, lp[np.arange(lp.shape[0]), tgt], rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.token_logprobs(tokens, offsets), res.target_logprobs, rtol=0, atol=1e-5)
    # log-probs in float64 sum to 1 in probability
    np.testing.assert_allclose(np.exp(lp).sum(axis=1), 1.0, rtol=1e-12)


def test_scoring_errors(smollm2):
    model, _ = smollm2
    t = np.array([1, 2, 3], dtype=np.int64)
    with pytest.raises(ValueError, match=r"tokens: values must lie in \[0, 49152\); tokens\[1\] = 49152"):
        model.next_token_logits(np.array([1, 49152, 3]), [0, 3])
    with pytest.raises(ValueError, match="offsets: must end at the number of positions 3"):
        model.next_token_logits(t, [0, 2])
    with pytest.raises(ValueError, match=r"score_from: expected 1 <= score_from\[s\] <= length.*score_from\[0\] = 0"):
        model.next_token_logits(t, [0, 3], score_from=[0])
    with pytest.raises(TypeError, match="tokens: expected an integer array, got dtype float64"):
        model.next_token_logits(t.astype(float), [0, 3])
    with pytest.raises(ValueError, match="batch_size"):
        model.next_token_logits(t, [0, 3], batch_size=0)
    with pytest.raises(ValueError, match="exceed the model's context of 8192 positions"):
        model.next_token_logits(np.zeros(8193, np.int64), [0, 8193])
    with pytest.raises(ValueError, match=r"k: expected an integer in \[1, 49153\), got 0"):
        model.topk(t, [0, 3], 0)


def test_generation_errors(smollm2):
    model, _ = smollm2
    p = np.array([1, 2], dtype=np.int64)
    with pytest.raises(ValueError, match=r"prompts\[1\]: empty prompt"):
        model.generate([p, np.zeros(0, np.int64)], 2)
    with pytest.raises(TypeError, match="prompts: expected a list"):
        model.generate(p, 2)
    with pytest.raises(ValueError, match="temperature: expected a finite number >= 0"):
        model.generate([p], 2, temperature=-1.0)
    with pytest.raises(ValueError, match=r"top_k: expected an integer in \[1, 49153\)"):
        model.generate([p], 2, top_k=0)
    with pytest.raises(TypeError, match="processor: expected a callable"):
        model.generate([p], 2, processor=3)
    with pytest.raises(ValueError, match=r"processor: returned shape \(3,\), expected \(49152,\)"):
        model.generate([p], 2, processor=lambda ids, x: x[:3])
    assert model.generate([p], 0) [0].shape == (0,)


def test_top_k_sampling_stays_in_top_k(smollm2):
    model, tok = smollm2
    prompt = np.array(tok.encode("The weather today is").ids, dtype=np.int64)
    out = model.generate([prompt] * 4, 1, temperature=5.0, top_k=2, seed=5)
    x = np.concatenate([prompt, [0]])
    lg = list(model.next_token_logits(x, [0, x.shape[0]], score_from=[x.shape[0] - 1]))[0].logits[0]
    top2 = set(np.argsort(-lg)[:2].tolist())
    assert {int(o[0]) for o in out} <= top2


# --- tiny hand-made graphs: the optional inputs, and models this runner refuses ----------------


def _tiny_model(path, *, inputs=("input_ids",), vocab=7, vocab_dim=None, extra_inputs=()):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    emb = np.arange(vocab * vocab, dtype=np.float32).reshape(vocab, vocab) / 10.0
    nodes = [helper.make_node("Gather", ["emb", inputs[0]], ["logits"], axis=0)]
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ["b", "s"]) for n in inputs]
    ins += [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["b", 1, "p", 2]) for n in extra_inputs]
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", "s", vocab_dim or vocab])
    g = helper.make_graph(nodes, "tiny", ins, [out],
                          initializer=[numpy_helper.from_array(emb, "emb")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save_model(m, str(path))
    return emb


def test_model_without_mask_positions_or_cache(tmp_path):
    emb = _tiny_model(tmp_path / "tiny.onnx")
    m = OnnxCausalLM(tmp_path / "tiny.onnx", num_threads=1, graph_optimization="disable")
    assert m.vocab_size == 7 and m.max_position is None
    _, s, j, tgt, lg = collect(m.next_token_logits(np.array([1, 2, 3, 4, 5]), [0, 3, 5]))
    np.testing.assert_array_equal(j, [1, 2, 1])
    np.testing.assert_array_equal(lg, emb[[1, 2, 4]])  # logits of x_j are the row of x_{j-1}
    with pytest.raises(ValueError, match="generate needs past_key_values inputs"):
        m.generate([np.array([1])], 2)


def test_symbolic_vocab_is_probed(tmp_path):
    _tiny_model(tmp_path / "sym.onnx", vocab=5, vocab_dim="vocab")
    assert OnnxCausalLM(tmp_path / "sym.onnx", num_threads=1).vocab_size == 5


def test_model_loading_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="path: no such ONNX model file: .*missing.onnx"):
        OnnxCausalLM(tmp_path / "missing.onnx")
    with pytest.raises(TypeError, match="path: expected a path"):
        OnnxCausalLM(3)
    (tmp_path / "junk.onnx").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="path: onnxruntime cannot load .*junk.onnx"):
        OnnxCausalLM(tmp_path / "junk.onnx")
    _tiny_model(tmp_path / "ids.onnx", inputs=("tokens",))
    with pytest.raises(ValueError, match="has no input named 'input_ids'"):
        OnnxCausalLM(tmp_path / "ids.onnx")
    _tiny_model(tmp_path / "nopresent.onnx", extra_inputs=("past_key_values.0.key", "past_key_values.0.value"))
    with pytest.raises(ValueError, match="input 'past_key_values.0.key' has no matching output 'present.0.key'"):
        OnnxCausalLM(tmp_path / "nopresent.onnx")
    _tiny_model(tmp_path / "odd.onnx", extra_inputs=("token_type_ids",))
    with pytest.raises(ValueError, match="input 'token_type_ids' is not one this runner can feed"):
        OnnxCausalLM(tmp_path / "odd.onnx")
    _tiny_model(tmp_path / "ok.onnx")
    with pytest.raises(ValueError, match="graph_optimization: expected one of"):
        OnnxCausalLM(tmp_path / "ok.onnx", graph_optimization="max")
    with pytest.raises(ValueError, match="session_options: onnxruntime.SessionOptions has no attribute 'warp_speed'"):
        OnnxCausalLM(tmp_path / "ok.onnx", session_options={"warp_speed": True})
    with pytest.raises(TypeError, match="session_options: expected onnxruntime.SessionOptions, a dict or None"):
        OnnxCausalLM(tmp_path / "ok.onnx", session_options=[1])
    with pytest.raises(ValueError, match="num_threads must be >= 1"):
        OnnxCausalLM(tmp_path / "ok.onnx", num_threads=0)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 9), st.data())
def test_top_ids_is_stable_descending_order(rows, v, data):
    # small integer values: many ties, including ties across the k-th place
    lp = np.array(data.draw(st.lists(st.integers(-3, 0), min_size=rows * v, max_size=rows * v)), dtype=np.float64)
    lp = lp.reshape(rows, v)
    k = data.draw(st.integers(1, v))
    np.testing.assert_array_equal(_top_ids(lp, k), np.argsort(-lp, axis=1, kind="stable")[:, :k])
