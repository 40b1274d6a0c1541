"""What the null costs: the default study (the tiny zoo on the generated world, the gridablate preset) with its default
null against the same study without one, each network in a fresh process, side by side in one run.

    python benchmarks/null_cost.py [--networks tiny_alexnet,tiny_vgg,tiny_mobilenet,tiny_resnet] [--classes 8]
                                   [--null 0,8] [--repeat 2] [--out benchmarks/results/null_cost.json]

Per network and per number of null draws (per cell size; 0: none), `--repeat` times, in alternation so that a
change in the machine's load falls on both sides alike: one process runs `run_study` on the first `--classes` world
classes (50 images each, no companions) into a fresh folder, and reports the study's wall-clock seconds and the
process's CPU seconds. Prints the fastest of each and the ratios with / without the null; writes JSON.
"""
import argparse, json, platform, resource, subprocess, sys, tempfile, time
from pathlib import Path

def one(network:str, n_classes:int, n_null:int)->dict:
    "One study of `network` with `n_null` null draws, in this process."
    from gridablate.record import Study
    from gridablate.study import run_study
    from gridablate.world import CLASSES
    study = Study(networks=(network,), classes=tuple(CLASSES[:n_classes]), n_null=n_null, companions=())
    with tempfile.TemporaryDirectory() as out:
        c0, t0 = time.process_time(), time.perf_counter()
        run_study(study, out, progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return dict(network=network, classes=n_classes, n_null=n_null, wall_s=round(wall, 2), cpu_s=round(cpu, 2),
                peak_rss_gb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2))

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--networks", default="tiny_alexnet,tiny_vgg,tiny_mobilenet,tiny_resnet,tiny_vit")
    p.add_argument("--classes", type=int, default=8)
    p.add_argument("--null", default="0,8", help="null draws per cell size; the first is the reference")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "null_cost.json"))
    p.add_argument("--one", nargs=2, metavar=("NETWORK", "N_NULL"), help="one run in this process, printing JSON")
    a = p.parse_args()
    if a.one:
        print(json.dumps(one(a.one[0], a.classes, int(a.one[1])))); sys.exit(0)
    import torch, numpy
    from gridablate import __version__
    nulls = [int(k) for k in a.null.split(",")]
    res = dict(machine=platform.machine(), threads=torch.get_num_threads(), python=platform.python_version(),
               torch=torch.__version__, numpy=numpy.__version__, gridablate=__version__, args=vars(a), runs=[],
               ratios={})
    best = {}
    for n in a.networks.split(","):
        for rep in range(a.repeat):
            for k in nulls:
                r = subprocess.run([sys.executable, __file__, "--one", n, str(k), "--classes", str(a.classes)],
                                   capture_output=True, text=True)
                if r.returncode: sys.exit(f"{n} null {k} failed:\n{r.stderr[-3000:]}")
                row = json.loads(r.stdout.strip().splitlines()[-1])
                res["runs"].append(row)
                b = best.setdefault((n, k), dict(wall_s=1e9, cpu_s=1e9))
                b["wall_s"], b["cpu_s"] = min(b["wall_s"], row["wall_s"]), min(b["cpu_s"], row["cpu_s"])
    print(f"{'network':15s} {'null draws':>10s} {'study s':>8s} {'CPU s':>7s} {'× none (wall)':>14s} {'× none (CPU)':>13s}")
    for n in a.networks.split(","):
        ref = best[n, nulls[0]]
        for k in nulls:
            b = best[n, k]
            rw, rc = b["wall_s"] / ref["wall_s"], b["cpu_s"] / ref["cpu_s"]
            if k != nulls[0]: res["ratios"][f"{n}, {k} draws"] = dict(wall=round(rw, 2), cpu=round(rc, 2))
            print(f"{n:15s} {k:10d} {b['wall_s']:8.1f} {b['cpu_s']:7.1f} {rw:14.2f} {rc:13.2f}")
    tot = {k: sum(best[n, k]["wall_s"] for n in a.networks.split(",")) for k in nulls}
    for k in nulls[1:]:
        res["ratios"][f"all networks, {k} draws"] = dict(wall=round(tot[k] / tot[nulls[0]], 2))
        print(f"all networks: {k} draws / {nulls[0]}: {tot[k] / tot[nulls[0]]:.2f}x in wall-clock time")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
