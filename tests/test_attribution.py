"""Attribution on the synthetic zoo (>= 40 models, 16 probes), bootstrap distances."""

from __future__ import annotations

import numpy as np
import pytest

import fingerprint as fp


@pytest.fixture(scope="module")
def zoo():
    return fp.make_zoo(n_teachers=12, students_per_teacher=2, n_independent=8, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["logits", "topk"])
def test_zoo_attribution_accuracy(zoo, kind):
    assert len(zoo.models) >= 40 and len(zoo.probes) <= 16
    panel = fp.panel_index([fp.model_fingerprint(t, zoo.probes, kind) for t in zoo.teachers])
    assert panel.metadata["fingerprint_kind"] == kind
    hits = []
    for s, t in zip(zoo.students, zoo.student_teacher):
        a = fp.attribute(fp.model_fingerprint(s, zoo.probes, kind), panel, k=5)
        hits.append(a.top.label == zoo.teachers[t].name and a.attributed)
    assert np.mean(hits) >= 0.95
    fpr = np.mean([fp.attribute(fp.model_fingerprint(m, zoo.probes, kind), panel).attributed for m in zoo.independents])
    assert fpr <= 0.25  # 8 independents: at most 2 false attributions (figures in the bench)


def test_attribute_statistics_against_a_direct_computation():
    rng = np.random.default_rng(0)
    panel = rng.standard_normal((30, 16)).astype(np.float32)
    suspect = panel[4] + 0.3 * rng.standard_normal(16).astype(np.float32)
    idx = fp.panel_index(panel, labels=[f"m{i}" for i in range(30)])
    a = fp.attribute(suspect, idx, k=3)
    unit = panel / np.linalg.norm(panel, axis=1, keepdims=True)
    sims = unit @ (suspect / np.linalg.norm(suspect))
    order = np.argsort(-sims)
    assert [c.id for c in a.candidates] == order[:3].tolist() and a.top.label == "m4"
    rest = np.delete(sims, order[0])
    z = (sims[order[0]] - rest.mean()) / rest.std(ddof=1)
    from scipy.stats import t

    p = t.sf(z / np.sqrt(1 + 1 / 29), df=28)
    assert a.top.z == pytest.approx(z, rel=1e-5) and a.top.p_value == pytest.approx(p, rel=1e-4)
    assert a.top.p_adjusted == pytest.approx(1 - (1 - p) ** 30, rel=1e-4)
    assert a.top.p_empirical == 1 / 30 and a.attributed
    with pytest.raises(ValueError, match="at least 3"):
        fp.attribute(suspect, fp.panel_index(panel[:2]))
    with pytest.raises(ValueError, match="alpha"):
        fp.attribute(suspect, idx, alpha=1.5)


def test_model_distance_and_bootstrap(zoo):
    s, t0, t1 = zoo.students[0], zoo.teachers[zoo.student_teacher[0]], zoo.teachers[(zoo.student_teacher[0] + 1) % 12]
    near = fp.model_distance(s, t0, zoo.probes, n_boot=300)
    far = fp.model_distance(s, t1, zoo.probes, n_boot=300)
    assert near.low <= near.value <= near.high and near.high < far.low
    assert near.per_probe.shape == (16,)
    same = fp.model_distance(t0, t0, zoo.probes, measure="kl_pq", n_boot=50)
    assert abs(same.value) < 1e-5
    top = fp.model_distance(s, t0, zoo.probes, topk=5, n_boot=50)
    assert top.measure == "js@top5" and 0 <= top.value <= near.value + 1e-9  # a lower bound
    v = np.arange(10.0)
    mean, lo, hi = fp.bootstrap_mean(v, n_boot=2000, seed=1)
    assert mean == 4.5 and lo < 4.5 < hi
    with pytest.raises(ValueError, match="values: contains NaN"):
        fp.bootstrap_mean([1.0, np.nan])
