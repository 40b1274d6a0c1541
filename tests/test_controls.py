"""Negative controls: the shuffled-label permutation, the controls run beside a study, and their command line."""
import json, subprocess, sys
from pathlib import Path
import numpy as np, pytest, xarray as xr
from gridablate.record import Study, control_study, stored_study
from gridablate.sources import images_for, shuffled_labels, study_tensors
from gridablate.registry import load_network
from gridablate.study import run_study, load_controls
from gridablate.store import load

SMALL = dict(networks=("tiny_alexnet", "tiny_vgg"), classes=(0, 5, 13, 20), n_per_class=10, layers=("dense2",),
             n_null=0, companions=())

def gridablate(*args):
    return subprocess.run([str(Path(sys.executable).parent / "gridablate"), *map(str, args)], capture_output=True,
                          text=True)

def test_the_permutation_has_a_known_answer():
    "Class sizes kept, not the identity, the same for every network, and the same again from the same seed."
    true = [images_for("world", load_network(n), SMALL["classes"], 10).targets for n in SMALL["networks"]]
    shuf = [images_for("world", load_network(n), SMALL["classes"], 10, seed=0, labels="shuffled").targets
            for n in SMALL["networks"]]
    assert true[0] == true[1] and shuf[0] == shuf[1]                                   # every network of the study
    assert sorted(shuf[0]) == sorted(true[0])                                          # each class keeps its size
    assert shuf[0] != true[0]                                                          # not the identity
    assert shuffled_labels(true[0], 0).tolist() == shuf[0]                             # from the seed, again
    assert shuffled_labels(true[0], 1).tolist() != shuf[0]
    moved = np.mean(np.array(shuf[0]) != np.array(true[0]))
    assert moved > 0.5, moved                                                          # 4 classes: about 3/4 move

@pytest.fixture(scope="module")
def study(tmp_path_factory):
    "A small study with its labels control, run through the API."
    out = tmp_path_factory.mktemp("controls") / "study"
    return out, run_study(Study(**SMALL), out, progress=False, controls=("labels",))

def test_the_control_uses_the_permuted_labels_everywhere(study):
    out, res = study
    ctl = load_controls(out)["labels"]
    assert json.loads(res.attrs["controls"]) == {"labels": "control-labels"}
    assert stored_study(out / "control-labels") == control_study(Study(**SMALL), "labels")
    true = images_for("world", load_network("tiny_alexnet"), SMALL["classes"], 10).targets
    for net in SMALL["networks"]:             # the recorded activations carry the permuted labels, the same per network
        acts = load(out / "control-labels" / "activations" / f"{net}.zarr")
        assert acts.label.values.tolist() == shuffled_labels(true, 0).tolist()
        assert load(out / "activations" / f"{net}.zarr").label.values.tolist() == true
    fp = lambda r, n: json.loads(r.attrs["fingerprints"])[n]
    for n in SMALL["networks"]:                                 # same weights; the images' labels make them differ
        assert fp(ctl, n)["weights"] == fp(res, n)["weights"] and fp(ctl, n)["images"] != fp(res, n)["images"]
    assert dict(ctl.sizes) == dict(res.sizes) and ctl.attrs["labels"] == "shuffled"
    assert abs(float(ctl.probe_accuracy.mean()) - 0.5) < 0.06                         # a held-out probe: chance

def test_a_stored_control_reruns_identically(study, tmp_path):
    out, _ = study
    r = gridablate("run", "--from", out / "control-labels", "--out", tmp_path / "again")
    assert r.returncode == 0, r.stderr
    assert "rerun reproduces" in r.stdout and "every variable identical" in r.stdout
    xr.testing.assert_identical(load(tmp_path / "again" / "results.zarr"),
                                load(out / "control-labels" / "results.zarr"))

def test_resuming_reuses_the_control(study):
    out, res = study
    again = run_study(Study(**SMALL), out, progress=False, controls=("labels",))
    xr.testing.assert_identical(again, res)
    xr.testing.assert_identical(run_study(Study(**SMALL), out, progress=False), res)     # the control is still named

def test_cli_runs_both_controls_and_names_them(tmp_path):
    r = gridablate("run", "--networks", "tiny_alexnet,tiny_vgg", "--classes", "0,5,13,20", "--n_per_class", "10",
                   "--layers", "dense2", "--n_null", "2", "--companions", "none", "--no_check",
                   "--control", "labels,weights", "--out", tmp_path / "res")
    assert r.returncode == 0, r.stderr
    for kind in ("labels", "weights"):
        assert (tmp_path / "res" / f"control-{kind}" / "results.zarr").exists()
        assert f"{kind} control: " in r.stdout
    assert (tmp_path / "res" / "results.zarr").exists()
    verdicts = r.stdout[r.stdout.index("verdicts"):]
    assert "labels" in verdicts and "weights" in verdicts, r.stdout                    # beside the study's verdicts
    ctl = load_controls(tmp_path / "res")
    assert sorted(ctl) == ["labels", "weights"]
    assert json.loads(ctl["weights"].attrs["config"])["weights"] == "random"
    assert json.loads(ctl["labels"].attrs["config"])["labels"] == "shuffled"

@pytest.mark.parametrize("args, msg", [(("--control", "foo"), "Unknown controls foo: use one or more of labels, weights"),
                                       (("--control", "labels,labels"), "listed twice"),
                                       (("--control", ""), "No controls given"),
                                       (("--labels", "shuffled", "--control", "labels"), "its own labels control"),
                                       (("--weights", "random", "--control", "weights"), "its own weights control"),
                                       (("--labels", "random"), "labels must be one of 'true', 'shuffled'")])
def test_bad_controls_exit_2_in_one_line(tmp_path, args, msg):
    r = gridablate("run", "--networks", "tiny_alexnet", "--no_check", *args, "--out", tmp_path / "x")
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "x" / "results.zarr").exists()
