"""A study killed at many moments and rerun gives results identical to an uninterrupted run; others are refused."""
import os, signal, subprocess, sys, time
from pathlib import Path
import xarray as xr
from gridablate.store import load

ARGS = ["run", "--networks", "tiny_alexnet", "--classes", "0,1,2,3", "--n_per_class", "10",
        "--layers", "conv1,conv3,dense1", "--no_check", "--companions", "none"]
EXE = str(Path(sys.executable).parent / "gridablate")

def run(out, **kw): return subprocess.run([EXE, *ARGS, "--out", str(out)], capture_output=True, text=True, **kw)

def test_other_configuration_in_same_folder_is_refused(tmp_path):
    assert run(tmp_path).returncode == 0
    r = subprocess.run([EXE, *ARGS, "--seed", "1", "--out", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "another configuration" in r.stderr and "Traceback" not in r.stderr

def _child(argv):
    "A study run in a child forked from a server that has gridablate imported (and no torch threads): it starts at once."
    import sys
    from gridablate import cli
    sys.argv = ["gridablate", *argv]
    sys.stdout = sys.stderr = open(os.devnull, "w")
    cli.main()

def test_twenty_kills_at_random_moments_lose_nothing(tmp_path):
    "SIGKILL at 20 moments (drawn times, and drawn numbers of finished units), then a final run: identical results."
    import multiprocessing as mp, random
    from gridablate.store import damaged
    # Children fork from a server that imported gridablate but never ran torch: forking this process, whose earlier
    # tests started torch's thread pools, can leave a child waiting forever on a lock no thread will release.
    args = ARGS + ["--n_null", "0"]                                    # 12 units of work, each quick
    ref = subprocess.run([EXE, *args, "--out", str(tmp_path / "ref")], capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    fork = mp.get_context("forkserver")
    fork.set_forkserver_preload(["gridablate.cli", "gridablate.study"])
    t0 = time.time(); p = fork.Process(target=_child, args=(args + ["--out", str(tmp_path / "timed")],))
    p.start(); p.join()
    total = time.time() - t0
    assert p.exitcode == 0
    print(f"an uninterrupted run takes {total:.1f} s")
    rng, out, kills, moments, folders = random.Random(20221104), tmp_path / "killed0", 0, [], []
    while kills < 20:
        folders.append(out) if out not in folders else None
        p = fork.Process(target=_child, args=(args + ["--out", str(out)],)); p.start()
        if kills % 2: at = rng.uniform(0.05, total); p.join(at)              # at a moment drawn over the run's length
        else:                                                                 # or once a drawn number of units is on disk
            want, t1 = rng.randint(1, 11), time.time()
            while p.is_alive() and len(list(out.glob("units/*/*/*.nc.sha256"))) < want:
                assert time.time() - t1 < 120, f"no progress in 2 minutes ({want} units wanted)"
                time.sleep(0.002)
            at = time.time() - t1
        if p.is_alive():
            os.kill(p.pid, signal.SIGKILL); p.join(); kills += 1
            moments.append((round(at, 2), len(list(out.glob("units/*/*/*.nc")))))
            assert not (out / "results.zarr").exists() or "results.zarr" not in damaged(out), \
                "a half-written store is visible"
            continue
        assert p.exitcode == 0
        out = tmp_path / f"killed{kills}"                               # finished before the kill: start a fresh folder
    print(f"{kills} kills at (seconds, units finished): {moments}")
    assert len({m[1] for m in moments}) >= 2 and max(m[1] for m in moments) > 0, moments   # before and amid the units
    for d in folders:
        again = subprocess.run([EXE, *args, "--out", str(d)], capture_output=True, text=True)
        assert again.returncode == 0, again.stderr
        xr.testing.assert_identical(load(d / "results.zarr"), load(tmp_path / "ref" / "results.zarr"))
        assert damaged(d) == {} and not list(d.rglob("*.partial"))
