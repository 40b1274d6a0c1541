"""A study killed mid-run and rerun gives results identical to an uninterrupted run."""
import os, signal, subprocess, sys, time
from pathlib import Path
import xarray as xr
from gridablate.activations import load

ARGS = ["run", "--networks", "tiny_alexnet", "--classes", "0,1,2,3", "--n_per_class", "10",
        "--layers", "conv1,conv3,dense1", "--no_check", "--companions", "none"]
EXE = str(Path(sys.executable).parent / "gridablate")

def run(out, **kw): return subprocess.run([EXE, *ARGS, "--out", str(out)], capture_output=True, text=True, **kw)

def test_killed_run_resumes_to_identical_results(tmp_path):
    ref = run(tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    p = subprocess.Popen([EXE, *ARGS, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("units/*/*/*.nc"))) < 3: time.sleep(.05)
    p.send_signal(signal.SIGKILL); p.wait()
    n_done = len(list(out.glob("units/*/*/*.nc")))
    assert 3 <= n_done < 12 and not (out / "results.zarr").exists()
    again = run(out)
    assert again.returncode == 0, again.stderr
    xr.testing.assert_identical(load(out / "results.zarr"), load(tmp_path / "ref" / "results.zarr"))

def test_other_configuration_in_same_folder_is_refused(tmp_path):
    assert run(tmp_path).returncode == 0
    r = subprocess.run([EXE, *ARGS, "--seed", "1", "--out", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "another configuration" in r.stderr and "Traceback" not in r.stderr
