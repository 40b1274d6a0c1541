"""Networks built so that the answer is known: a planted group of units that carries a class, one that is
decodable but unused, and dead units. The study must find exactly what was planted."""
import numpy as np, torch, torch.nn as nn
from hypothesis import given, settings, strategies as st
from torch.utils.data import Dataset
from gridablate.networks import wrap_model
from gridablate.cells import analyse_network
from gridablate.grid import grid_cells

COLOURS = torch.tensor([[1., 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1]])   # class k is a flat image of colour k

class Flat(Dataset):
    "Noisy flat-colour images, `n` per class."
    def __init__(self, n=20, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.targets = [k for k in range(4) for _ in range(n)]
        self.x = (COLOURS[self.targets][:, :, None, None]
                  + .05 * torch.randn(len(self.targets), 3, 8, 8, generator=g)).clamp(0, 1)
        self.classes, self.class_ids = ["red", "green", "blue", "cyan"], [0, 1, 2, 3]
    def __len__(self): return len(self.targets)
    def __getitem__(self, i): return self.x[i], self.targets[i]

def planted(used=True, dead=0):
    """32 hidden units: units 30, 31 fire only for red (class 0); the rest are weak and unselective, the first
    `dead` never fire. If `used`, the red logit reads units 30 and 31 alone; otherwise nothing reads them."""
    g = torch.Generator().manual_seed(1)
    hidden, head = nn.Linear(3, 32), nn.Linear(32, 4)
    with torch.no_grad():
        hidden.weight.copy_(.1 * torch.randn(32, 3, generator=g)); hidden.bias.fill_(.5)
        hidden.weight[30:] = torch.tensor([4., -2, -2]); hidden.bias[30:] = -1
        hidden.weight[:dead] = 0; hidden.bias[:dead] = -1
        head.weight.zero_(); head.bias.copy_(torch.tensor([-1., 1, 1, 1]))
        head.weight[1:, :30] = .05 * torch.randn(3, 30, generator=g)
        if used: head.weight[0, 30:] = 2.
        else: head.bias[0] = 5.
    module = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Sequential(hidden, nn.ReLU()), head)
    return wrap_model(module, {"hidden": "2"}, ["red", "green", "blue", "cyan"], (0, 0, 0), (1, 1, 1), 8, "planted")

def red_unit(used=True, dead=0):
    units = {p: u for _, p, u in analyse_network(planted(used, dead), Flat(), ["hidden"])}
    return units[0]

def test_planted_carrier_is_found_by_ablation():
    u = red_unit()
    assert set(np.flatnonzero((u.unit_sel_bin.values == 3) & (u.unit_mag_bin.values == 3))) == {30, 31}
    d = u.rank_deficit.values
    assert d[3, 3] == 3                       # red falls from first to last of 4 on every red image
    assert (np.delete(d.ravel(), 15) == 0).all()
    assert u.offtarget_deficit.values[3, 3] <= 0   # other classes are not hurt (red only loses)
    assert u.probe_accuracy.values[3, 3] == 1

def test_decodable_but_unused_units_have_no_deficit():
    u = red_unit(used=False)
    assert u.probe_accuracy.values[3, 3] == 1
    assert (u.rank_deficit.values == 0).all()
    assert (u.offtarget_deficit.values == 0).all()

def test_ablating_dead_units_changes_nothing():
    u = red_unit(dead=8)
    dead_cells = {(int(s), int(m)) for s, m in zip(u.unit_sel_bin.values[:8], u.unit_mag_bin.values[:8])}
    full_dead = [c for c in dead_cells
                 if set(np.flatnonzero((u.unit_sel_bin.values == c[0]) & (u.unit_mag_bin.values == c[1])))
                 <= set(range(8))]
    assert full_dead, "the dead units should fill at least one cell of their own"
    for s, m in full_dead:
        assert u.rank_deficit.values[s, m] == 0 and u.offtarget_deficit.values[s, m] == 0

@settings(max_examples=200, deadline=None)
@given(rows=st.integers(1, 6), cols=st.integers(1, 6), extra=st.integers(0, 200), levels=st.integers(1, 50),
       seed=st.integers(0, 2**32 - 1))
def test_grid_properties(rows, cols, extra, levels, seed):
    n = rows * cols + extra
    rng = np.random.default_rng(seed)
    s, m = rng.integers(0, levels, n).astype(float), rng.integers(0, levels, n).astype(float)   # many ties
    sb, mb = grid_cells(s, m, rows, cols)
    counts = np.bincount(sb * cols + mb, minlength=rows * cols)
    assert counts.sum() == n and counts.min() >= 1 and counts.max() - counts.min() <= 1
    for r in range(rows - 1): assert s[sb == r].max() <= s[sb == r + 1].min()
    for r in range(rows):
        for c in range(cols - 1):
            assert m[(sb == r) & (mb == c)].max() <= m[(sb == r) & (mb == c + 1)].min()
    sb2, mb2 = grid_cells(s, m, rows, cols)
    assert (sb == sb2).all() and (mb == mb2).all()

# Ranks: ties are counted half a place per tied class (tie-aware, the default) or as numpy's stable argsort of the
# softmax orders them (the paper's); the engine's unablated ranks equal `true_class_rank` on the network's logits.
from gridablate.ablation import true_class_rank, logits_of
from gridablate.engine import rank_deficits, rank_deficits_layers

def test_all_equal_logits_rank_in_the_middle():
    for k in (2, 3, 10, 1000):
        assert true_class_rank(torch.zeros(3, k), [0, k // 2, k - 1]).tolist() == [(k + 1) / 2] * 3
        assert true_class_rank(torch.zeros(1, k), [0], "paper").item() == k            # index 0 sorts last
        assert true_class_rank(torch.zeros(1, k), [k - 1], "paper").item() == 1

def test_two_way_tie():
    logits = torch.tensor([[2., 5., 5., 1.]])
    assert true_class_rank(logits, [1]).item() == 1.5 and true_class_rank(logits, [2]).item() == 1.5
    assert true_class_rank(logits, [0]).item() == 3 and true_class_rank(logits, [3]).item() == 4
    assert true_class_rank(logits, [1], "paper").item() == 2 and true_class_rank(logits, [2], "paper").item() == 1

def test_an_ablation_that_ties_everything_is_harm():
    net = planted()
    with torch.no_grad(): net.module[3].weight.zero_(); net.module[3].bias.zero_()   # every logit 0 whatever the input
    x = Flat(n=3).x[:3]
    d = rank_deficits_layers(net, x, [0, 0, 0], {"hidden": [[]]}, base_ranks=torch.ones(3))["hidden"]
    assert (d == 1.5).all()                                                         # 4 classes tied: rank 2.5, not 1

def test_engine_base_rank_equals_true_class_rank():
    net, ds = planted(), Flat(n=5)
    x, y = ds.x, torch.tensor(ds.targets)
    engine = rank_deficits_layers(net, x, y, {"hidden": [[]]}, base_ranks=torch.zeros(len(y)))["hidden"][0]  # unablated, via the engine
    assert (engine == true_class_rank(logits_of(net, x), y).numpy()).all()
    assert (rank_deficits(net, x, y, "hidden", [[], [30, 31]])[0] == 0).all()
