"""Overhead of a study on a local Dask cluster against one process, side by side, and unit sizes and costs for planning.

    PYTHONPATH=$PWD python benchmarks/distributed.py [N_WORKERS]
"""
import json, sys, tempfile, time
from pathlib import Path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]   # this file is not the `distributed` package
import torch
torch.set_num_threads(1)
import xarray as xr
from gridablate.study import Study, run_study
from gridablate.distributed import run_distributed

if __name__ == "__main__":
    n_workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    study = Study(networks=("tiny_alexnet",), classes=(0, 5, 13, 20), n_per_class=10, layers=("conv2", "conv3", "dense2"),
                  companions=(), n_null=20)
    d = Path(tempfile.mkdtemp())
    t0 = time.perf_counter(); ref = run_study(study, d / "single", progress=False); single = time.perf_counter() - t0
    t0 = time.perf_counter(); res = run_distributed(study, d / "dist", n_workers=n_workers, progress=False); dist = time.perf_counter() - t0
    xr.testing.assert_identical(res, ref)
    log = json.loads((d / "dist/distributed.json").read_text())
    secs = sorted(r["seconds"] for r in log)
    sizes = [p.stat().st_size for p in (d / "single").glob("units/*/*/*.nc")]
    acts = sum(p.stat().st_size for p in (d / "single/activations").rglob("*") if p.is_file())
    print(json.dumps({"units": len(log), "single_process_s": round(single, 2), "distributed_s": round(dist, 2),
                      "ratio": round(dist / single, 2), "workers": n_workers,
                      "unit_task_s_median": round(secs[len(secs) // 2], 3), "unit_task_s_max": round(secs[-1], 3),
                      "unit_file_bytes_mean": sum(sizes) // len(sizes), "activation_store_bytes": acts,
                      "activation_values": int(ref.layer_units.sum()) * len(study.classes) * study.n_per_class}, indent=1))
