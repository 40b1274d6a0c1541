"""Bad networks and stored studies: NaN activations refused, dead layers give the documented result, --from reruns."""
import subprocess, sys
from pathlib import Path
import numpy as np, pytest, torch, torch.nn as nn, xarray as xr
from gridablate.networks import wrap_model, GridablateError
from gridablate.world import WorldDataset, CLASSES
from gridablate.cells import analyse_network

class Net(nn.Module):
    "A small conv net whose `feat` layer can be made to emit NaN or nothing at all."
    def __init__(self, mode):
        super().__init__()
        torch.manual_seed(0)
        self.mode, self.conv = mode, nn.Conv2d(3, 16, 3, padding=1)
        self.feat, self.head = nn.ReLU(), nn.Linear(16, len(CLASSES))
    def forward(self, x):
        h = self.conv(x)
        if self.mode == "nan": h = h + torch.log(-x.mean((1, 2, 3)).abs() - 1)[:, None, None, None]  # all images NaN
        if self.mode == "dead": h = h * 0
        return self.head(self.feat(h).mean((2, 3)))

def net(mode): return wrap_model(Net(mode), ["feat"], list(CLASSES), (.5,) * 3, (.25,) * 3, input_size=32, check=False)

def test_nan_activations_are_refused():
    ds = WorldDataset("test", n_per_class=5, classes=[0, 1])
    with pytest.raises(GridablateError, match="NaN or infinite activations"):
        list(analyse_network(net("nan"), ds, ["feat"], rows=2, cols=2, n_null=0))

def test_dead_layer_gives_chance_probes_and_no_deficit():
    "All units zero: ties everywhere, broken by unit index; probes no better than guessing, ablations change nothing."
    from gridablate.probe import probe_accuracy
    ds = WorldDataset("test", n_per_class=6, classes=[0, 1, 2])
    (_, _, u), *_ = analyse_network(net("dead"), ds, ["feat"], rows=2, cols=2, n_null=2, crossfit=False)
    guess = probe_accuracy(np.zeros((12, 4)), np.r_[np.ones(6), np.zeros(6)])      # scikit-learn on no information
    assert guess <= .5 and np.allclose(u.probe_accuracy.values, guess)
    assert (u.rank_deficit.values == 0).all() and (u.null_deficit.values == 0).all()
    assert (u.n_units.values == 4).all()
    assert list(u.unit_sel_bin.values) == sorted(u.unit_sel_bin.values)      # ties broken by unit index

def test_from_reruns_a_stored_study(tmp_path):
    exe = str(Path(sys.executable).parent / "gridablate")
    args = ["--networks", "tiny_alexnet", "--classes", "0,1,2", "--n_per_class", "10", "--layers", "dense2",
            "--no_check", "--companions", "none", "--n_null", "2"]
    first = subprocess.run([exe, "run", *args, "--out", str(tmp_path / "a")], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([exe, "run", "--from", str(tmp_path / "a"), "--out", str(tmp_path / "b")],
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "every variable identical" in again.stdout, again.stdout
    xr.testing.assert_identical(xr.open_zarr(tmp_path / "a" / "results.zarr").load(),
                                xr.open_zarr(tmp_path / "b" / "results.zarr").load())
    same = subprocess.run([exe, "run", "--from", str(tmp_path / "a"), "--out", str(tmp_path / "a")],
                          capture_output=True, text=True)
    assert same.returncode == 2 and "new folder" in same.stderr and "Traceback" not in same.stderr
