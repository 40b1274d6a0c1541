"""Overhead of a study on a local Dask cluster against one process, side by side, and unit sizes and costs for planning.

    PYTHONPATH=$PWD python benchmarks/distributed.py [--workers 2] [--study default|small] [--out distributed.json]

`default` is the study `gridablate run` runs with no options (the tiny zoo on the generated world, every layer,
24 classes x 50 images, the 20-draw null, the companions on the tiny AlexNet); `small` is a 12-unit study.
Both runs use torch's default threads in the client; each Dask worker runs one thread, as `run_distributed`'s
LocalCluster does. The results of the two runs must be identical.
"""
import argparse, json, os, platform, sys, tempfile, time
from pathlib import Path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]   # this file is not the `distributed` package
import torch, xarray as xr
from gridablate.study import Study, run_study
from gridablate.distributed import run_distributed

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--study", choices=["default", "small"], default="default")
    p.add_argument("--out", default="distributed.json")
    args = p.parse_args()
    study = (Study(companions=("tiny_alexnet",)) if args.study == "default" else
             Study(networks=("tiny_alexnet",), classes=(0, 5, 13, 20), n_per_class=10, layers=("conv2", "conv3", "dense2"), n_null=20))
    d = Path(tempfile.mkdtemp())
    t0 = time.perf_counter(); ref = run_study(study, d / "single", progress=False); single = time.perf_counter() - t0
    t0, w0 = time.perf_counter(), time.time()
    res = run_distributed(study, d / "dist", n_workers=args.workers, progress=False)
    dist, w1 = time.perf_counter() - t0, time.time()
    xr.testing.assert_identical(res, ref)
    log = json.loads((d / "dist/distributed.json").read_text())
    secs = sorted(r["seconds"] for r in log)
    first, last = min(r["started"] for r in log), max(r["finished"] for r in log)
    sizes = [p.stat().st_size for p in (d / "single").glob("units/*/*/*.nc")]
    acts = sum(p.stat().st_size for p in (d / "single/activations").rglob("*") if p.is_file())
    out = {"study": args.study, "units": len(log), "single_process_s": round(single, 1), "distributed_s": round(dist, 1),
           "ratio": round(dist / single, 3), "workers": args.workers, "cores": os.cpu_count(), "client_threads": torch.get_num_threads(),
           "unit_task_s_median": round(secs[len(secs) // 2], 3), "unit_task_s_max": round(secs[-1], 3),
           "unit_task_s_sum": round(sum(secs), 1), "units_per_worker": {w: sum(r["worker"] == w for r in log) for w in {r["worker"] for r in log}},
           "client_before_first_unit_s": round(first - w0, 1),
           "units_span_s": round(last - first, 1),
           "client_after_last_unit_s": round(w1 - last, 1),
           "workers_busy_fraction": round(sum(secs) / args.workers / (last - first), 3),
           "unit_file_bytes_mean": sum(sizes) // len(sizes), "activation_store_bytes": acts, "identical": True,
           "python": platform.python_version(), "torch": torch.__version__}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
