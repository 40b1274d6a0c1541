"""The console script: usage errors exit 2 with one line naming the fix; the main job writes its summary."""
import json
import numpy as np, subprocess, sys
from pathlib import Path

def gridablate(*args, cwd=None, env=None):
    exe = Path(sys.executable).parent / "gridablate"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, env=env)

def test_no_command_is_a_usage_error():
    r = gridablate()
    assert r.returncode == 2 and "usage: gridablate" in r.stderr

def test_unknown_network_exits_2_without_traceback():
    r = gridablate("run", "--networks", "tiny_alexnet,lenet")
    assert r.returncode == 2
    assert "Unknown networks lenet" in r.stderr and "tiny_vgg" in r.stderr
    assert "Traceback" not in r.stderr

def test_bad_number_exits_2():
    r = gridablate("run", "--n_per_class", "3")
    assert r.returncode == 2 and "at least 5" in r.stderr and "Traceback" not in r.stderr
    r = gridablate("run", "--n_per_class", "many")
    assert r.returncode == 2 and "Traceback" not in r.stderr

def test_run_writes_the_zoo_check_and_the_results(tmp_path):
    r = gridablate("run", "--networks", "tiny_alexnet", "--n_per_class", "10", "--classes", "0,7,19",
                   "--layers", "conv2,dense1", "--n_null", "3", "--n_offtarget", "4", "--out", str(tmp_path / "res"))
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "res" / "zoo_check.json").read_text())
    assert summary["world"]["images"] == 10 * 120                # the zoo check: every class of the world
    assert summary["tiny_alexnet"]["test_accuracy"] > 0.5
    assert "results:" in r.stdout and "tiny_alexnet" in r.stdout
    from gridablate.store import load
    res = load(tmp_path / "res" / "results.zarr")
    assert dict(res.sizes) == {"network": 1, "layer": 2, "class": 3, "sel_bin": 4, "mag_bin": 4, "unit": 128,
                              "sample": 10, "offsample": 4, "half": 2, "draw": 3,
                              "direction_draw": 8}
    assert list(res["class"].values) == ["red solid circle", "yellow striped circle", "blue checkered circle"]
    assert json.loads(res.attrs["config"])["n_per_class"] == 10
    assert json.loads(res.attrs["config"])["n_offtarget"] == 4
    assert "over 4 images" in res.offtarget_deficit.attrs["description"]

def test_unknown_layer_and_source_exit_2(tmp_path):
    r = gridablate("run", "--networks", "tiny_alexnet", "--layers", "conv9", "--out", str(tmp_path))
    assert r.returncode == 2 and "Unknown layers conv9" in r.stderr and "dense1" in r.stderr
    r = gridablate("run", "--networks", "tiny_alexnet", "--source", "imagenet:/no/such/folder", "--no_check",
                   "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "/no/such/folder" in r.stderr and "Traceback" not in r.stderr

def test_images_of_other_classes_than_the_network_are_refused(tmp_path):
    r = gridablate("run", "--networks", "alexnet", "--weights", "random", "--classes", "0,1", "--n_per_class", "10",
                   "--layers", "conv5", "--out", str(tmp_path))
    assert r.returncode == 2 and "not the network's" in r.stderr and "Traceback" not in r.stderr

def test_missing_gpu_is_a_usage_error(tmp_path):
    import os
    r = gridablate("run", "--device", "cuda", "--out", str(tmp_path),
                   env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})                     # no GPU, here or not
    assert r.returncode == 2 and "no CUDA GPU" in r.stderr

def test_preset_paper_with_an_override(tmp_path):
    r = gridablate("run", "--preset", "paper", "--unit", "channel", "--networks", "tiny_alexnet", "--n_per_class", "10",
                   "--classes", "0,7,19", "--layers", "conv2,dense1", "--n_null", "2", "--out", str(tmp_path / "res"))
    assert r.returncode == 0, r.stderr
    from gridablate.store import load
    res = load(tmp_path / "res" / "results.zarr")
    method = json.loads(res.attrs["method"])
    assert res.attrs["preset"] == "paper"
    assert method == dict(unit="channel", n_others=10, rank="paper", deficit="clipped", probe="paper", probe_units=100,
                          probe_subsets=200, crossfit=False, ablation="zero")
    assert res.sizes["unit"] == 128                                                 # channels, as asked
    assert (res.rank_deficit.values >= 0).all()                                     # clipped per image
    assert "max(0," in res.rank_deficit.attrs["description"] and "paper's probe" in res.probe_accuracy.attrs["description"]

def test_ablation_kind_and_axes_reach_the_results(tmp_path):
    "--ablation and --axes are what the study does and what its results record: a different ablation moves the "
    "deficits, other axes give other unit variables, and both are named in the results."
    def run(*args):
        out = tmp_path / "_".join(args).replace(",", "-").replace("--", "")
        r = gridablate("run", "--networks", "tiny_alexnet", "--n_per_class", "10", "--classes", "0,7,19,30,41",
                       "--layers", "dense2", "--n_null", "0", "--companions", "none", *args, "--out", str(out))
        assert r.returncode == 0, r.stderr
        from gridablate.store import load
        return load(out / "results.zarr")
    zero, mean, other = run(), run("--ablation", "mean"), run("--axes", "csi,mutual_info")
    assert json.loads(zero.attrs["method"])["ablation"] == "zero" and json.loads(mean.attrs["method"])["ablation"] == "mean"
    assert "mean over the study's images" in mean.rank_deficit.attrs["description"]
    assert not np.array_equal(zero.image_deficit.values, mean.image_deficit.values, equal_nan=True)
    np.testing.assert_array_equal(zero.probe_accuracy.values, mean.probe_accuracy.values)   # the same cells, probed alike
    assert zero.attrs["axes"] == "selectivity,magnitude" and other.attrs["axes"] == "csi,mutual_info"
    assert {"csi", "mutual_info"} <= set(other.data_vars) and "selectivity" not in other.data_vars
    assert other.sel_min.attrs["description"] == "lowest csi in the cell"
    assert not np.array_equal(zero.unit_sel_bin.values, other.unit_sel_bin.values)        # another grid

def test_bad_preset_options_exit_2(tmp_path):
    for args, msg in [(("--preset", "authors"), "unknown preset 'authors'"), (("--n_others", "some"), "'all'"),
                      (("--deficit", "abs"), "deficit must be one of"), (("--crossfit", "--no_crossfit"), "contradict")]:
        r = gridablate("run", *args, "--out", str(tmp_path))
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
