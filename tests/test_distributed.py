"""A study on a real Dask cluster (a scheduler and two worker processes on 127.0.0.1) equals a single-process run,
spreads its units over both workers, and survives a worker killed mid-study."""
import json, os, signal, subprocess, sys, threading, time
from pathlib import Path
import pytest, torch, xarray as xr
from gridablate.study import Study, run_study
from gridablate.distributed import run_distributed

torch.set_num_threads(1)
DASK = str(Path(sys.executable).parent / "dask")
STUDY = Study(networks=("tiny_alexnet",), classes=(0, 5, 13, 20), n_per_class=10, layers=("conv2", "conv3", "dense2"),
              companions=(), n_null=4)
N_UNITS = 12

@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return run_study(STUDY, tmp_path_factory.mktemp("ref"), progress=False)

@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    "A scheduler and two single-threaded worker processes (no nanny: killing one kills the worker)."
    d = tmp_path_factory.mktemp("cluster"); f = d / "scheduler.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    logs = [open(d / f"{n}.log", "w") for n in ("scheduler", "wA", "wB")]
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(f)],
                              env=env, stdout=logs[0], stderr=subprocess.STDOUT)]
    deadline = time.time() + 60
    while not f.exists() and time.time() < deadline: time.sleep(.1)
    procs += [subprocess.Popen([DASK, "worker", "--scheduler-file", str(f), "--nworkers", "1", "--nthreads", "1",
                                "--no-nanny", "--no-dashboard", "--name", n, "--host", "127.0.0.1"],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
              for n, log in zip(("wA", "wB"), logs[1:])]
    from distributed import Client
    client = Client(scheduler_file=str(f), timeout=60)
    client.wait_for_workers(2, timeout=90)
    yield client, {"wA": procs[1], "wB": procs[2]}
    client.close()
    for p in procs[::-1]: p.kill(); p.wait()
    for log in logs: log.close()

def _names(client): return {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}

def test_distributed_equals_single_process_and_uses_both_workers(cluster, reference, tmp_path):
    client, _ = cluster
    res = run_distributed(STUDY, tmp_path, scheduler=client.scheduler.address, progress=False)
    xr.testing.assert_identical(res, reference)                                   # every variable and attribute
    log = json.loads((tmp_path / "distributed.json").read_text())
    assert sorted(r["path"] for r in log) == sorted(str(p.relative_to(tmp_path))
                                                    for p in tmp_path.glob("units/*/*/*.nc"))
    assert len(log) == N_UNITS
    names = _names(client)
    by = {names[r["worker"]] for r in log}
    assert by == {"wA", "wB"}, by                                                 # the units are spread over both
    again = run_distributed(STUDY, tmp_path, scheduler=client.scheduler.address, progress=False)
    assert json.loads((tmp_path / "distributed.json").read_text()) == []          # resumed: nothing left to submit
    xr.testing.assert_identical(again, reference)

@pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA GPU")
def test_cuda_device_passes_through(cluster, reference, tmp_path):
    client, _ = cluster
    res = run_distributed(STUDY, tmp_path, scheduler=client.scheduler.address, device="cuda", progress=False)
    # GPU arithmetic may differ in the last bits
    xr.testing.assert_allclose(res.probe_accuracy, reference.probe_accuracy)
    assert len(json.loads((tmp_path / "distributed.json").read_text())) == N_UNITS

def test_worker_killed_mid_study_still_completes(cluster, reference, tmp_path):
    client, procs = cluster
    box, addr = {}, {n: a for a, n in _names(client).items()}["wB"]
    count = lambda: client.run(lambda dask_worker: dask_worker.state.executed_count, workers=[addr])[addr]
    before = count()                                                              # the worker may have run units before
    t = threading.Thread(target=lambda: box.update(res=run_distributed(STUDY, tmp_path,
                                                                       scheduler=client.scheduler.address,
                                                                       progress=False)))
    t.start()
    deadline, killed_at = time.time() + 90, None
    while time.time() < deadline and t.is_alive():
        if count() > before:                                                                # finished at least one unit
            procs["wB"].send_signal(signal.SIGKILL); procs["wB"].wait()
            killed_at = len(list(tmp_path.glob("units/*/*/*.nc.sha256"))); break
        time.sleep(.02)
    t.join(120)
    assert killed_at is not None and killed_at < N_UNITS, killed_at               # killed mid-study
    xr.testing.assert_identical(box["res"], reference)
    assert ({r["worker"] for r in json.loads((tmp_path / "distributed.json").read_text())}
            <= set(_names(client)) | {addr})

def test_custom_networks_on_the_cluster(cluster, tmp_path):
    "A network given by spec (the workers build it from the same file) and one given as an object (sent pickled)."
    from torch import nn
    from gridablate.networks import wrap_model
    from gridablate.world import CLASSES
    (tmp_path / "world_net.py").write_text(
        "import torch, torch.nn as nn\nfrom gridablate.networks import wrap_model\n"
        "from gridablate.world import CLASSES\n"
        "def build():\n    torch.manual_seed(1)\n"
        "    m = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), "
        "nn.Linear(16, len(CLASSES)))\n"
        "    return wrap_model(m, {'conv': '1'}, CLASSES, input_size=32, name='from_file')\n")
    torch.manual_seed(2)
    obj = wrap_model(nn.Sequential(nn.Conv2d(3, 20, 5), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                   nn.Linear(20, len(CLASSES))),
                     {"conv": "1"}, CLASSES, input_size=32, name="object")
    study = Study(networks=(f"{tmp_path}/world_net.py:build", obj), classes=(0, 5, 13), n_per_class=10, n_null=2,
                  companions=())
    client, _ = cluster
    res = run_distributed(study, tmp_path / "dist", scheduler=client.scheduler.address, progress=False)
    assert len(json.loads((tmp_path / "dist" / "distributed.json").read_text())) == 2 * 3
    xr.testing.assert_identical(res, run_study(study, tmp_path / "one", progress=False))

def test_neuron_level_paper_preset_on_the_cluster(cluster, tmp_path):
    "Workers read the neuron values the client kept (or recompute them on a resumed run): what one process gives."
    client, _ = cluster
    study = Study(networks=("tiny_alexnet",), classes=(0, 5, 13, 20), n_per_class=10, layers=("conv2", "dense2"),
                  companions=(), n_null=2, preset="paper")
    ref = run_study(study, tmp_path / "one", progress=False)
    res = run_distributed(study, tmp_path / "many", scheduler=client.scheduler.address, progress=False)
    xr.testing.assert_identical(res, ref)
    assert (tmp_path / "many" / "activations" / "tiny_alexnet.neurons.zarr").is_dir()
    log = json.loads((tmp_path / "many" / "distributed.json").read_text())
    assert len(log) == 2 * 4 and {r["neuron_values"] for r in log} == {"read"}     # the client's copy, read
    assert not any((tmp_path / "many" / ".gridablate-scratch").iterdir())          # and removed when done
    for f in (tmp_path / "many" / "units" / "tiny_alexnet" / "conv2").glob("000[02].nc*"): f.unlink()
    again = run_distributed(study, tmp_path / "many", scheduler=client.scheduler.address, progress=False)
    log = json.loads((tmp_path / "many" / "distributed.json").read_text())          # means stored: none kept this time
    assert len(log) == 2 and {r["neuron_values"] for r in log} == {"recomputed"}
    xr.testing.assert_identical(again, ref)
    assert int(res.layer_units.sel(network="tiny_alexnet", layer="conv2")) == 64 * 8 * 8 and json.loads(res.attrs["method"])["unit"] == "neuron"
