"""fingerprint bench: AUROC / TPR against brute-force references, benchmark_detectors, the CLI."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fingerprint.detector_bench import auroc, benchmark_detectors, tpr_at_fpr
from fingerprint.sources.records import TokenBatch
from fingerprint.zoo import LowRankLM

from reference import bench as ref

ROOT = Path(__file__).resolve().parents[1]


def _make_dataset_module():
    spec = importlib.util.spec_from_file_location("make_labelled_dataset", ROOT / "benches" / "make_labelled_dataset.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------------------------------------
# metrics


@pytest.mark.parametrize("pos,neg,expected", [
    ([3.0, 4.0], [1.0, 2.0], 1.0),
    ([1.0, 2.0], [3.0, 4.0], 0.0),
    ([1.0, 1.0, 1.0], [1.0, 1.0], 0.5),               # all equal
    ([1.0, 2.0, 2.0], [2.0, 0.0], (0 + 1 + 0.5 + 1 + 0.5 + 1) / 6),  # ties
    ([np.inf, 0.0], [-np.inf, 0.0], 0.875),
])
def test_auroc_hand_cases(pos, neg, expected):
    assert auroc(pos, neg) == pytest.approx(expected, abs=1e-15)
    assert auroc(pos, neg) == pytest.approx(ref.auroc(pos, neg), abs=1e-15)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(-4, 4), min_size=1, max_size=30), st.lists(st.integers(-4, 4), min_size=1, max_size=300),
       st.sampled_from([0.01, 0.05, 0.2, 0.5]))
def test_metrics_match_bruteforce(pos, neg, fpr):
    pos, neg = np.array(pos, float), np.array(neg, float)
    assert auroc(pos, neg) == pytest.approx(ref.auroc(pos, neg), abs=1e-12)
    got = tpr_at_fpr(pos, neg, fpr)
    want = ref.tpr_at_fpr(pos, neg, fpr)
    if want is None:
        assert not got["resolvable"] and got["tpr"] is None and got["threshold"] is None
    else:
        assert got["resolvable"]
        assert (got["threshold"], got["tpr"]) == want
        assert got["fpr"] <= fpr


def test_tpr_hand_cases():
    neg = np.arange(100, dtype=float)  # 0..99
    pos = np.array([98.5, 99.0, 99.5, 120.0])
    r = tpr_at_fpr(pos, neg, 0.01)  # one false positive allowed: t = 98 (only 99 above)
    assert r["threshold"] == 98.0 and r["fpr"] == 0.01 and r["tpr"] == 1.0
    r = tpr_at_fpr(pos, np.full(100, 5.0), 0.01)  # all-equal negatives: t = 5, FPR 0
    assert r["threshold"] == 5.0 and r["fpr"] == 0.0 and r["tpr"] == 1.0
    r = tpr_at_fpr(np.full(4, 5.0), np.full(100, 5.0), 0.01)  # ties at the threshold are not positive
    assert r["tpr"] == 0.0
    r = tpr_at_fpr(pos, neg, 0.0001)  # 100 negatives cannot resolve 0.01%
    assert r == {"target_fpr": 0.0001, "threshold": None, "fpr": None, "tpr": None, "resolvable": False}
    assert tpr_at_fpr(pos, np.arange(10_000.0), 0.0001)["resolvable"]


@pytest.mark.parametrize("pos,neg,fpr,msg", [
    ([], [1.0], 0.01, "positives: expected at least one score"),
    ([1.0], [np.nan], 0.01, "negatives: expected scores without NaN"),
    ([1.0], [1.0], 1.5, "fpr: expected a float in"),
])
def test_metric_errors(pos, neg, fpr, msg):
    with pytest.raises(ValueError, match=msg):
        tpr_at_fpr(pos, neg, fpr)


# ---------------------------------------------------------------------------------------------
# benchmark_detectors in memory


def _batch(labels, *, logprobs=True, texts=True, n=12, vocab=32, seed=0):
    rng = np.random.default_rng(seed)
    b = 3 if labels is None else len(labels)
    offs = np.arange(0, n * b + 1, n, dtype=np.int64)
    return TokenBatch(ids=[str(i) for i in range(b)], tokens=rng.integers(0, vocab, n * b), offsets=offs,
                      logprobs=-rng.exponential(size=n * b) if logprobs else None,
                      texts=[f"text {i}" for i in range(b)] if texts else None,
                      labels=None if labels is None else np.asarray(labels))


def test_recorded_detectors_match_scores():
    import fingerprint as fp

    b = _batch([1, 0] * 10)
    b.logprobs[b.labels.repeat(12) == 1] *= 0.3  # positives: lower loss
    b.logprobs[5] = np.nan  # not reported: left out and counted
    r = benchmark_detectors(b)
    assert list(r["detectors"]) == ["loss", "perplexity", "zlib_ratio", "min_k"]
    assert r["dataset"]["recorded_positions_not_reported"] == 1
    keep = ~np.isnan(b.logprobs)
    offs = np.concatenate([[0], np.cumsum(np.add.reduceat(keep.astype(int), b.offsets[:-1]))])
    loss = fp.scores.loss(b.logprobs[keep], offs)
    lab = b.labels
    d = r["detectors"]["loss"]
    assert d["direction"] == "lower" and d["n_positives"] == 10 and d["n_negatives"] == 10
    assert d["auroc"] == pytest.approx(ref.auroc(-loss[lab == 1], -loss[lab == 0]), abs=1e-12)
    assert d["auroc"] > 0.9
    assert r["detectors"]["perplexity"]["auroc"] == d["auroc"]  # exp is monotone
    assert d["tpr"]["0.01"]["resolvable"] is False  # 10 negatives
    assert d["tokens"] == 239 and d["tokens_per_second"] > 0


def test_observer_and_performer_detectors():
    import fingerprint as fp

    obs, perf = LowRankLM(32, seed=3, name="obs"), LowRankLM(32, seed=4, name="perf")
    b = _batch([1, 0, 0, 1, 1, 0], logprobs=False)
    r = benchmark_detectors(b, observer=obs, performer=perf)
    names = list(r["detectors"])
    assert names == ["observer.loss", "observer.min_k", "observer.min_k_plus_plus", "observer.zlib_ratio",
                     "observer.fast_detectgpt_self", "binoculars", "binoculars_observer", "fast_detectgpt"]
    # reference: whole-corpus logits at once, then fp.scores
    lp = np.concatenate([c.logits for c in obs.next_token_logits(b.tokens, b.offsets)])
    lq = np.concatenate([c.logits for c in perf.next_token_logits(b.tokens, b.offsets)])
    tg = np.concatenate([b.tokens[b.offsets[i] + 1:b.offsets[i + 1]] for i in range(len(b))])
    offs = np.arange(0, 11 * 6 + 1, 11)
    panel = fp.token_divergences(lp, lq, targets=tg, offsets=offs)
    bino = fp.scores.detector_scores(panel, scores=["binoculars"])["binoculars"]
    lab = b.labels
    assert r["detectors"]["binoculars"]["auroc"] == pytest.approx(ref.auroc(-bino[lab == 1], -bino[lab == 0]))
    fdg = fp.scores.detector_scores(panel, model="p", scores=["fast_detectgpt_self"])["fast_detectgpt_self"]
    assert r["detectors"]["observer.fast_detectgpt_self"]["direction"] == "higher"
    assert r["detectors"]["observer.fast_detectgpt_self"]["auroc"] == pytest.approx(
        ref.auroc(fdg[lab == 1], fdg[lab == 0]))
    assert r["detectors"]["binoculars"]["tokens"] == 66
    assert r["detectors"]["binoculars"]["includes_model_pass"] is True


def test_input_errors():
    with pytest.raises(ValueError, match="no 'label' column"):
        benchmark_detectors(_batch(None))
    with pytest.raises(ValueError, match="every record has label 1; both classes"):
        benchmark_detectors(_batch([1, 1, 1]))
    with pytest.raises(ValueError, match=r"<?:?2: label: expected 0 or 1, got 2"):
        benchmark_detectors(_batch([1, 0, 2]))
    with pytest.raises(ValueError, match="unknown detector 'bogus'"):
        benchmark_detectors(_batch([1, 0]), detectors=["bogus"])
    with pytest.raises(ValueError, match="'binoculars' cannot run: needs --observer and --performer"):
        benchmark_detectors(_batch([1, 0]), detectors=["binoculars"])
    with pytest.raises(ValueError, match="'loss' cannot run: the records have no 'logprobs'"):
        benchmark_detectors(_batch([1, 0], logprobs=False), detectors=["loss"])
    with pytest.raises(ValueError, match="none can run"):
        benchmark_detectors(_batch([1, 0], logprobs=False))
    with pytest.raises(ValueError, match="performer: needs an observer"):
        benchmark_detectors(_batch([1, 0]), performer=LowRankLM(32))
    with pytest.raises(ValueError, match="performer: vocab_size 16 differs"):
        benchmark_detectors(_batch([1, 0]), observer=LowRankLM(32), performer=LowRankLM(16))
    with pytest.raises(ValueError, match="needs the watermarked model's vocabulary size"):
        benchmark_detectors(_batch([1, 0]), watermark="kgw:gamma=0.25")
    with pytest.raises(ValueError, match=r"token_ids\[\d+\]: id \d+ is outside the vocabulary of 16 tokens"):
        benchmark_detectors(_batch([1, 0], seed=1), watermark="kgw:gamma=0.25", vocab_size=16)
    with pytest.raises(TypeError, match="observer: expected a LogitSource"):
        benchmark_detectors(_batch([1, 0]), observer="model.onnx")
    with pytest.raises(ValueError, match="on_error: expected one of"):
        benchmark_detectors(_batch([1, 0]), on_error="ignore")


# ---------------------------------------------------------------------------------------------
# end to end: generated dataset, CLI in a subprocess


def _cli(args, cwd):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-P", "-m", "fingerprint", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    info = _make_dataset_module().make(str(d), records=200, vocab=128, length=40)
    return d, info


def test_cli_end_to_end(dataset):
    d, info = dataset
    p = _cli(["bench", "part-*.jsonl", "part-*.parquet", "--observer", "observer.npz", "--performer",
              "performer.npz", "--watermark", info["watermark"], "--json", "bench.json"], d)
    assert p.returncode == 0, p.stderr
    report = json.loads((d / "bench.json").read_text())
    assert report["dataset"]["records"] == 200 and report["dataset"]["negatives"] == 100
    dets = report["detectors"]
    wm = dets[f"watermark[{info['watermark']}]"]
    assert wm["auroc"] > 0.99 and wm["tpr"]["0.01"]["tpr"] > 0.9
    assert wm["tpr"]["0.0001"]["resolvable"] is False and wm["tpr"]["0.0001"]["tpr"] is None
    # negatives are the same teacher without the watermark: the green-list bias makes watermarked
    # answers *less* likely under the teacher, so loss-type detectors (fixed direction) score < 0.5
    assert dets["loss"]["auroc"] < 0.5 and dets["observer.loss"]["auroc"] < 0.5
    for name, r in dets.items():
        assert r["tokens_per_second"] > 0, name
        assert 0.0 <= r["auroc"] <= 1.0
    assert "AUROC" in p.stdout and "n/a: TPR at FPR 0.01% needs at least 10,000 negatives" in p.stdout


def test_cli_errors(dataset, tmp_path):
    d, _ = dataset
    p = _cli(["bench", "nothing-*.jsonl"], d)
    assert p.returncode == 2 and "matches no file" in p.stderr
    p = _cli(["bench", "part-0.jsonl", "--detectors", "binoculars"], d)
    assert p.returncode == 2 and "fingerprint bench: error: detectors: 'binoculars' cannot run" in p.stderr
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "token_ids": [1, 2], "label": 1}\n'
                                        '{"id": "b", "token_ids": [1, "x"], "label": 0}\n')
    p = _cli(["bench", "bad.jsonl"], tmp_path)
    assert p.returncode == 2 and "bad.jsonl:2" in p.stderr and "token_ids" in p.stderr
    p = _cli(["bench", "bad.jsonl", "--on-error", "skip", "--watermark", "kgw", "--vocab-size", "8"], tmp_path)
    assert p.returncode == 2 and "every record has label 1" in p.stderr


def test_machine_vs_other_model(tmp_path):
    """Negatives from an unrelated model: the teacher's log-probs separate the classes."""
    from fingerprint.sources.readers import read_all

    info = _make_dataset_module().make(str(tmp_path), records=200, vocab=128, length=40, negatives="other")
    batch = read_all([str(tmp_path / "part-0.jsonl"), str(tmp_path / "part-1.parquet")])
    r = benchmark_detectors(batch, watermark=info["watermark"], vocab_size=128)
    d = r["detectors"]
    assert d["loss"]["auroc"] > 0.99 and d["min_k"]["auroc"] > 0.95
    assert d["watermark[kgw:gamma=0.25]"]["auroc"] > 0.98


def test_undefined_scores_and_not_run_are_reported():
    r = benchmark_detectors(_batch([1, 0, 1, 0, 0], texts=False))
    assert r["not_run"]["zlib_ratio"] == "not every record has a 'text'"
    assert r["not_run"]["binoculars"] == "needs --observer and --performer"
    offs = np.array([0, 0, 12, 24, 36, 48], dtype=np.int64)
    rng = np.random.default_rng(0)
    e = TokenBatch(ids=list("abcde"), tokens=rng.integers(0, 32, 48), offsets=offs,
                   logprobs=-rng.exponential(size=48), labels=np.array([1, 0, 1, 0, 0]))
    r = benchmark_detectors(e, detectors=["loss"])
    d = r["detectors"]["loss"]
    assert d["n_undefined"] == 1 and d["n_positives"] == 1 and d["n_negatives"] == 3
    from fingerprint.detector_bench import format_table

    assert "left out (score undefined, e.g. no scored token): loss: 1 record(s)" in format_table(r)
