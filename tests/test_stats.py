"""Known answers for the inference the claims rest on: p-values against the null and how many draws they need,
intervals from resampling whole classes, the verdict per claim, and how often each verdict comes out on simulated
studies."""
import sys, time, warnings
from pathlib import Path
import numpy as np, pytest, xarray as xr
from scipy import stats as sps
from gridablate.stats import (null_pvalues, min_draws, null_test, regression_coefficients, cell_table, top_cells,
                              probe_deficit_correlation, interaction_regression, null_counts)
from gridablate.resample import class_weights, class_mean, interval
from gridablate.verdicts import claims, format_claims, class_bootstrap
from gridablate.scenarios import study_base, scenario_table, CLAIMS

DIMS = ("network", "layer", "class", "sel_bin", "mag_bin")

def results(deficit, probe=None, images=None, null=None, seed=0, offtarget=None, offtarget_images=None):
    "A results Dataset over one network from cell deficits (1, L, C, 4, 4); optional per-image deficits and null."
    rng = np.random.default_rng(seed)
    shape = deficit.shape
    s0, m0 = np.sort(rng.normal(size=shape), 3), np.sort(rng.normal(size=shape), 4)
    v = dict(sel_min=s0, sel_max=s0 + .1, mag_min=m0, mag_max=m0 + .1, rank_deficit=deficit,
             probe_accuracy=rng.uniform(.5, 1, shape) if probe is None else probe)
    ds = xr.Dataset({k: (DIMS, x) for k, x in v.items()},
                    coords={"network": ["net"], "layer": [f"l{i}" for i in range(shape[1])],
                            "class": [f"c{i}" for i in range(shape[2])], "sel_bin": range(4), "mag_bin": range(4),
                            "layer_units": (("network", "layer"), np.full((1, shape[1]), 16))})
    if images is not None: ds["image_deficit"] = DIMS + ("sample",), images
    if null is not None: ds["null_deficit"] = DIMS + ("draw",), null
    if offtarget is not None: ds["offtarget_deficit"] = DIMS, offtarget
    if offtarget_images is not None:
        ds["offtarget_image_deficit"] = DIMS + ("offsample",), offtarget_images
        ds["offtarget_deficit"] = DIMS, offtarget_images.mean(-1)
    return ds

def z(v): return (v - v.mean((3, 4), keepdims=True)) / v.std((3, 4), keepdims=True)

def test_min_draws_and_the_floor():
    assert [min_draws(1), min_draws(16), min_draws(2688)] == [19, 319, 53759]
    for m in (1, 7, 16, 24, 2688):     # the floor of min_draws passes Holm's first step; one fewer does not
        n = min_draws(m)
        assert m / (1 + n) <= .05 + 1e-12 and (n == 1 or m / n > .05)

def test_planted_cell_is_found_when_draws_suffice():
    rng = np.random.default_rng(0)
    shape = (1, 3, 4, 4, 4)
    deficit = np.zeros(shape); deficit[0, 1, 2, 3, 3] = 10
    n = min_draws(192)
    cells, fams = null_test(results(deficit, null=rng.normal(0, 1, shape + (n,))))
    assert fams.can_reject.item() and fams.n_rejected.item() == 1
    assert cells[cells.reject][["layer", "class", "sel_bin", "mag_bin"]].values.tolist() == [["l1", "c2", 3, 3]]

def test_20_draws_over_2688_cells_cannot_reject():
    rng = np.random.default_rng(1)
    shape = (1, 7, 24, 4, 4)
    deficit = np.zeros(shape); deficit[0, 0, 0, 3, 3] = 1e6
    with pytest.warns(UserWarning, match="cannot reject"):
        cells, fams = null_test(results(deficit, null=rng.normal(0, 1, shape + (20,))))
    f = fams.iloc[0]
    assert (f.n_tests, f.can_reject, f.n_rejected, f.min_draws) == (2688, False, 0, 53759)
    assert cells.p.min() == 1 / 21

def test_rejection_rate_is_nominal_under_the_null():
    rng = np.random.default_rng(2)
    p = null_pvalues(rng.normal(size=(2000, 99)), rng.normal(size=2000))
    k = int((p <= .05).sum()); ci = sps.binomtest(k, 2000).proportion_ci()
    print(f"rejection rate {k / 2000:.4f}, 95% interval [{ci.low:.4f}, {ci.high:.4f}]")
    assert abs(k / 2000 - .05) < 3 * np.sqrt(.05 * .95 / 2000)          # within 3 Monte Carlo standard errors

def clustered(seed, n_classes=20, n_layers=2):
    "Deficits with a slope on selectivity drawn per class around 0, a level per class, and noise: no relation overall."
    rng = np.random.default_rng(seed)
    shape = (1, n_layers, n_classes, 4, 4)
    ds = results(np.zeros(shape), seed=seed)
    s = z((ds.sel_min + ds.sel_max).values / 2)
    d = (rng.normal(0, 1, (1, 1, n_classes, 1, 1)) * s + rng.normal(0, 1, (1, 1, n_classes, 1, 1))
         + rng.normal(0, 1, shape))
    return ds.assign(rank_deficit=(DIMS, d))

def class_slope(res, n_boot, seed):
    "The slope of s in deficit ~ 1 + s + m with its class-bootstrap interval, from each class's X'X and X'y."
    t = cell_table(res, "net")
    X, y = np.c_[np.ones(len(t)), t.s, t.m], t.deficit.values
    cls = t["class"].astype("category").cat.codes.values
    XtX = np.stack([X[cls == c].T @ X[cls == c] for c in range(cls.max() + 1)])
    Xty = np.stack([X[cls == c].T @ y[cls == c] for c in range(cls.max() + 1)])
    W = class_weights(len(XtX), n_boot, seed)
    (A, Ab), (b, bb) = class_mean(XtX, W), class_mean(Xty, W)
    est = np.linalg.solve(A, b)[1]
    return est, *interval(est, np.linalg.solve(Ab, bb[..., None])[:, 1, 0], len(XtX))

def test_class_bootstrap_covers_where_independent_cells_do_not():
    old = new = 0
    n_sims = 200
    for i in range(n_sims):
        res = clustered(i)
        o = regression_coefficients(res, "net").set_index(["model", "term"]).loc[("selectivity + magnitude", "s")]
        e, lo, hi = class_slope(res, 200, i)
        assert abs(e - o.coef) < 1e-9
        old += o.low <= 0 <= o.high; new += lo <= 0 <= hi
    print(f"coverage of 95% intervals: independent cells {old / n_sims:.3f}, class bootstrap {new / n_sims:.3f}")
    assert old / n_sims < .8
    assert abs(new / n_sims - .95) < 3 * np.sqrt(.95 * .05 / n_sims)

def test_replicates_are_the_classes_drawn_one_by_one():
    rng = np.random.default_rng(5)
    f = rng.normal(size=(24, 3)); W = class_weights(24, 50, 1)
    est, boot = class_mean(f, W)
    for b in (0, 17, 49):
        draw = np.repeat(np.arange(24), np.round(W[b] * 24).astype(int))
        assert np.allclose(boot[b], f[draw].mean(0))

def constructed(kind, n_classes=12, n_layers=3, seed=0, null=True, images=True):
    "Results whose top-deficit cell is always the last one ('top') or anywhere ('random')."
    rng = np.random.default_rng(seed)
    shape = (1, n_layers, n_classes, 4, 4)
    if kind == "top":
        mean = np.zeros(shape); mean[..., 3, 3] = 10
    else: mean = rng.normal(0, 1, shape)
    img = mean[..., None] + rng.normal(0, .5, shape + (6,))
    return results(img.mean(-1), images=img if images else None,
                   null=rng.normal(0, .5, shape + (30,)) if null else None, seed=seed,
                   offtarget=rng.normal(0, .2, shape))

def test_claims_known_verdicts():
    top = claims(constructed("top"), 300).set_index("claim")
    assert top.loc["C2", "verdict"] == "supported", top.loc["C2"]
    rnd = claims(constructed("random"), 300).set_index("claim")
    assert rnd.loc["C2", "verdict"] != "supported", rnd.loc["C2"]
    assert list(top.columns) == ["network", "statistic", "estimate", "low", "high", "verdict", "reason", "rule"]
    assert set(top.verdict) <= {"supported", "contradicted", "undecided"}
    text = format_claims(top.reset_index())
    assert text.count("\n") == 12 + 6 and "C6" in text and "rules:" in text   # two lines per claim, the rules once

def test_claims_on_thin_results_are_undecided_not_broken():
    two = claims(constructed("top", n_classes=2), 100).set_index("claim")
    assert (two.loc[["C1", "C2", "C4", "C5"], "verdict"] == "undecided").all()
    assert all(r.startswith("only 2 classes") for r in two.loc[["C1", "C2", "C4", "C5"], "reason"])
    bare = claims(constructed("top", n_layers=1, null=False, images=False), 100).set_index("claim")
    assert bare.loc["C3", "verdict"] == "undecided" and "no per-image deficits" in bare.loc["C3", "reason"]
    one = claims(constructed("top", n_layers=1), 100).set_index("claim")
    assert one.loc["C3", "verdict"] == "undecided" and "one layer" in one.loc["C3", "reason"]
    assert "no null" in bare.loc["C2", "reason"]
    noimg = claims(constructed("random", null=False, images=False), 100).set_index("claim")
    assert noimg.loc["C3", "verdict"] in ("undecided", "contradicted")

def test_the_functions_summarise_calls_still_work():
    res = constructed("top")
    assert top_cells(res).top_deficit_cell.iloc[-1] == (3, 3)
    assert len(probe_deficit_correlation(res, 50)) == 1
    assert len(interaction_regression(res, "net")) == 3
    assert null_counts(res).n_draws.item() == 30

def test_c3_peak_layer_known_answers():
    rng = np.random.default_rng(3)
    shape = (1, 3, 10, 4, 4)
    off = lambda m=0.: m + rng.normal(0, .5, shape + (20,))                        # the other classes' images
    c3 = lambda img, o: claims(results(img.mean(-1), images=img, offtarget_images=o), 100).set_index("claim").loc["C3"]
    # half the classes peak in l0, half in l2
    mean = np.zeros(shape); mean[0, 0, :5, 3, 3] = 5; mean[0, 2, 5:, 3, 3] = 5
    img = mean[..., None] + rng.normal(0, .5, shape + (20,))
    split = c3(img, off())
    assert split.verdict == "supported" and "l0 5, l2 5" in split.reason, split.reason
    alike = c3(img, off(mean[..., None]))                                           # the same harm to every class
    assert alike.verdict == "undecided", alike.reason
    old = claims(results(img.mean(-1), images=img), 100).set_index("claim").loc["C3"]  # no off-target images
    assert old.verdict == "undecided" and "harm to every class cannot be ruled out" in old.reason, old.reason
    mean = np.zeros(shape); mean[0, 1, :, 3, 3] = 5                                  # every class peaks in l1
    img = mean[..., None] + rng.normal(0, .5, shape + (20,))
    one = c3(img, off())
    assert one.verdict == "contradicted" and "l1 10" in one.reason, one.reason
    noise = c3(img - mean[..., None], off())
    assert noise.verdict == "undecided", noise          # no peaks at all: neither varying nor one layer

def test_class_bootstrap_table_and_speed():
    res = constructed("top", n_classes=24, n_layers=7)
    t = class_bootstrap(res, "net", 200)
    ok = t.dropna(subset=["low"])
    assert {"C1", "C2", "C3", "C4", "C5"} == set(t.claim) and (ok.low <= ok.estimate + 1e-12).all()
    claims(res, 1000)
    t0 = time.perf_counter(); claims(res, 1000); took = time.perf_counter() - t0
    assert took < 1, took                                  # a network of 7 layers x 24 classes, 1000 replicates

STORE = Path(__file__).resolve().parent.parent / "nbs" / "results" / "default.nc.gz"

@pytest.fixture(scope="module")
def base():
    sys.path.insert(0, str(STORE.parent.parent.parent / "tools"))
    from results import read_store
    return study_base(read_store(STORE), "tiny_alexnet")

def test_scenarios_quick(base):
    """60 simulated studies per claim and scenario: each target must lie within the rate's 95% Wilson interval or
    beyond it on the right side (the full table, 500 per row, is tools/scenarios.py's)."""
    t = scenario_table(base, n=60)
    print(t[["claim", "scenario", "verdict", "rate", "low", "high", "target"]].to_string(index=False))
    assert t.reached.all(), t[~t.reached]
    assert len(t) == 3 * len(CLAIMS) + 3
