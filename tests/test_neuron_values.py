"""Neuron-level studies keep every image's values on disk while they run: read back or recomputed, the same results."""
import warnings
import pytest, xarray as xr
import gridablate.study as S
from gridablate.neurons import NeuronValues
from gridablate.record import Study

STUDY = Study(networks=("tiny_alexnet",), classes=(0, 5, 13, 20), n_per_class=10, layers=("conv2", "dense2"),
              companions=(), n_null=2, preset="paper")

def test_kept_or_recomputed_the_same_and_nothing_left(tmp_path, monkeypatch):
    made = []
    def spy(*a, **k):
        made.append(NeuronValues(*a, **k)); return made[-1]
    monkeypatch.setattr(S, "NeuronValues", spy)
    kept = S.run_study(STUDY, tmp_path / "kept", progress=False)
    assert len(made) == 1 and made[0].path.parent == tmp_path / "kept" / S.SCRATCH
    assert not made[0].path.exists() and not any((tmp_path / "kept" / S.SCRATCH).iterdir())    # removed when done
    # no room on the scratch disk: the probes' images are recomputed, with a warning that says so
    monkeypatch.setattr(S, "NeuronValues", lambda *a, **k: NeuronValues(*a, budget=0, **k))
    with pytest.warns(UserWarning, match="recomputed for the images each probe needs"):
        again = S.run_study(STUDY, tmp_path / "recomputed", progress=False)
    xr.testing.assert_identical(again, kept)

def test_a_killed_runs_scratch_is_removed(tmp_path):
    left = tmp_path / S.SCRATCH / "neuron-values-x"
    left.mkdir(parents=True); (left / "zarr.json").write_text("{}")
    S.claim(tmp_path, STUDY)
    assert not (tmp_path / S.SCRATCH).exists()
