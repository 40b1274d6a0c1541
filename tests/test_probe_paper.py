"""The paper's in-sample probe and the held-out probe on unit subsets, at sizes closer to a real study than the
notebook's examples: each against scikit-learn fitted literally, subset by subset."""
import numpy as np, pytest
from hypothesis import given, settings, strategies as st
from sklearn.linear_model import LogisticRegression
from gridablate import probe
from gridablate.grid import grid_cells
from gridablate.method import Method
from gridablate.probe import paper_probe_cells, paper_probe_score, probe_cells, clipped_log_loss, _unit_subsets

def relu_layer(units, seed, n_classes=11, per_class=50, signal=.3):
    "ReLU-like activations of `units` units on `per_class` images of each class; class 0 shifts each unit a little."
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    acts = np.maximum(0, rng.normal(size=(len(labels), units)) + signal * (labels == 0)[:, None] * rng.normal(size=units))
    return acts.astype(np.float32), labels

def cells_of(sb, mb, rows=4, cols=4):
    "The unit indices of every cell of a grid, row by row: the groups the probes take."
    return [np.flatnonzero((sb == r) & (mb == c)) for r in range(rows) for c in range(cols)]

def test_paper_probe_matches_liblinear_fits_at_paper_size():
    "A 2x2 grid of 300-unit cells, 550 images, 12 subsets of 100: the authors' literal fits, subset by subset."
    acts, labels = relu_layer(1200, 0)
    sb, mb = np.repeat([0, 1], 600), np.tile(np.repeat([0, 1], 300), 2)
    ours = paper_probe_cells(acts, labels, 0, range(1, 11), cells_of(sb, mb, 2, 2),
                             Method.of("paper", rows=2, cols=2, probe_subsets=12))
    X = acts[np.argsort(labels != 0, kind="stable")].astype(float)
    y = np.r_[np.ones(50), np.zeros(500)]
    for r, c in [(0, 0), (1, 1)]:
        u = np.flatnonzero((sb == r) & (mb == c))
        losses = [-np.log(paper_probe_score(X[:, u[s]], y)) for s in _unit_subsets(300, 100, 12, 0, (r, c))]
        assert ours[r, c] == pytest.approx(np.exp(-np.mean(losses)), rel=1e-12)
        assert 0.05 < ours[r, c] < 1                                  # neither trivial nor perfect

def test_unpenalised_objective_matches_tightly_solved_lbfgs():
    "penalize_intercept=False is today's LogisticRegression() objective; lbfgs driven to convergence agrees."
    acts, labels = relu_layer(64, 1)
    sb, mb = np.repeat(np.arange(4), 16), np.tile(np.repeat(np.arange(4), 4), 4)
    ours = paper_probe_cells(acts, labels, 0, range(1, 11), cells_of(sb, mb), penalize_intercept=False)
    X, y = acts[np.argsort(labels != 0, kind="stable")].astype(float), np.r_[np.ones(50), np.zeros(500)]
    for r, c in [(0, 3), (3, 0)]:
        F = X[:, np.flatnonzero((sb == r) & (mb == c))]
        pred = LogisticRegression(tol=1e-10, max_iter=100_000).fit(F, y).predict(F)
        assert ours[r, c] == pytest.approx(np.exp(-clipped_log_loss(y, pred)), rel=1e-12)

@settings(max_examples=8, deadline=None)
@given(units=st.integers(16, 200), seed=st.integers(0, 10_000))
def test_probe_units_at_or_above_every_cell_changes_nothing(units, seed):
    "Whenever no cell has more than probe_units units, probe_cells returns exactly what it returns on every unit."
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), 15)
    acts = rng.normal(size=(60, units)) + (labels == 1)[:, None] * rng.normal(0, .5, units)
    sb, mb = grid_cells(rng.normal(size=units), rng.normal(size=units))
    full = probe_cells(acts, labels, 1, [0, 2, 3], cells_of(sb, mb), Method.of(probe_units=None), seed=seed)
    largest = max(((sb == r) & (mb == c)).sum() for r in range(4) for c in range(4))
    for probe_units in (largest, largest + 7):
        np.testing.assert_array_equal(probe_cells(acts, labels, 1, [0, 2, 3], cells_of(sb, mb),
                                                  Method.of(probe_units=probe_units), seed=seed), full)

def test_neuron_level_cells_in_small_blocks(monkeypatch):
    "Cells of 2,000 units probed on subsets: the same numbers whatever the block size, and reproducible."
    acts, labels = relu_layer(32_000, 2, signal=.5)
    sb, mb = np.repeat(np.arange(4), 8000), np.tile(np.repeat(np.arange(4), 2000), 4)
    args = (acts, labels, 0, range(1, 11), cells_of(sb, mb))
    held_method, paper_method = Method.of(probe_units=100, probe_subsets=6), Method.of("paper", probe_subsets=6)
    held = probe_cells(*args, held_method)
    paper = paper_probe_cells(*args, paper_method)
    monkeypatch.setattr(probe, "_CHUNK_BYTES", 8 * 5 * 101 * 100 * 2)  # two subsets' problems to a block
    np.testing.assert_allclose(probe_cells(*args, held_method), held, rtol=0, atol=1e-12)
    np.testing.assert_allclose(paper_probe_cells(*args, paper_method), paper, rtol=0, atol=1e-12)
    assert ((held > .5) & (held <= 1)).all() and ((paper > 0) & (paper <= 1)).all()

def test_errors_name_the_fix():
    acts, labels = relu_layer(32, 3)
    sb, mb = np.repeat(np.arange(4), 8), np.tile(np.repeat(np.arange(4), 2), 4)
    with pytest.raises(Exception, match="probe_units and probe_subsets must be at least 1"):
        paper_probe_cells(acts, labels, 0, [1], cells_of(sb, mb), Method.of("paper", probe_subsets=0))
    with pytest.raises(Exception, match="no images of the comparison classes"):
        paper_probe_cells(acts, labels, 0, [42], cells_of(sb, mb))
    with pytest.raises(Exception, match=r"16 unit groups for a 2x2 grid"):
        probe_cells(acts, labels, 0, [1], cells_of(sb, mb), Method.of(rows=2, cols=2))
