"""The companions (compositional explanations, visualization checks) as cell variables of a small study."""
import numpy as np, torch
from gridablate.study import Study, run_study
from gridablate.store import load
from gridablate.concepts import cell_correlations

def test_study_with_companions(tmp_path):
    torch.set_num_threads(1)
    study = Study(networks=("tiny_alexnet", "tiny_vgg"), classes=(0, 5), n_per_class=10,
                  layers=("conv1", "conv5", "dense1"), rows=2, cols=2, companions=("tiny_alexnet",),
                  companion_images=6, fv_steps=4)
    res = run_study(study, tmp_path, progress=False)
    for v in ("concept_iou", "concept_explained", "fv_similarity", "fv_pass_rate"):
        assert res[v].dims == ("network", "layer", "class", "sel_bin", "mag_bin") and res[v].attrs["description"]
    a = res.sel(network="tiny_alexnet")
    conv = a.sel(layer=["conv1", "conv5"])
    assert np.isfinite(conv.concept_iou).all() and ((conv.concept_iou >= 0) & (conv.concept_iou <= 1)).all()
    assert ((conv.concept_explained >= 0) & (conv.concept_explained <= 1)).all()
    assert np.isnan(a.sel(layer="dense1").concept_iou).all()                       # dense: no spatial map
    assert np.isfinite(a.fv_similarity).all() and ((a.fv_similarity >= -1) & (a.fv_similarity <= 1)).all()
    pr = a.sel(layer="conv1").fv_pass_rate.values * 8                            # 32 units: 8 per cell of a 2x2 grid
    assert np.allclose(pr, np.round(pr)) and ((pr >= 0) & (pr <= 8)).all()
    assert np.isnan(res.sel(network="tiny_vgg").fv_similarity).all()               # not asked for
    rho = cell_correlations(res, "fv_similarity")
    assert set(rho) == {"rank_deficit", "probe_accuracy"} and rho["probe_accuracy"][1] == 2 * 3 * 4
    again = run_study(study, tmp_path, progress=False)                              # reuses the stored unit results
    np.testing.assert_array_equal(again.concept_iou.values, res.concept_iou.values)
    assert (tmp_path / "companions" / "tiny_alexnet" / "conv5.nc").exists()
    assert load(tmp_path / "results.zarr").fv_pass_rate.shape == res.fv_pass_rate.shape

def test_cli_companions_must_be_study_networks(tmp_path):
    import subprocess, sys
    from pathlib import Path
    exe = str(Path(sys.executable).parent / "gridablate")
    r = subprocess.run([exe, "run", "--networks", "tiny_vgg", "--companions", "tiny_alexnet", "--out", str(tmp_path),
                        "--no_check"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "companion networks" in r.stderr and "Traceback" not in r.stderr
