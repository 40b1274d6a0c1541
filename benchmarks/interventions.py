"""What the choices beyond the paper cost: the default study (zero ablation, selectivity × magnitude) against the same
study under each other ablation kind and each other pair of grid axes, each in a fresh process, side by side in one run.

    python benchmarks/interventions.py [--networks tiny_alexnet,tiny_resnet] [--classes 6] [--repeat 2]
                                       [--variants default,mean,resample,...] [--out benchmarks/results/interventions.json]

Per network and variant, `--repeat` times, in alternation so that a change in the machine's load falls on every
variant alike: one process runs `run_study` on the first `--classes` of the world's study classes (50 images each, no
companions) into a fresh folder and reports the study's wall-clock and CPU seconds. Prints the fastest of each and its
ratio to the default; writes JSON. The issue's budget: no variant above 1.5x the default.
"""
import argparse, json, platform, resource, subprocess, sys, tempfile, time
from pathlib import Path

VARIANTS = {"default": {}, "no layer probe": dict(n_directions=0), "mean": dict(ablation="mean"),
            "resample": dict(ablation="resample"),
            "csi": dict(axes=("csi", "magnitude")), "mutual_info": dict(axes=("mutual_info", "magnitude")),
            "probe_weight": dict(axes=("probe_weight", "magnitude")),
            "attribution": dict(axes=("attribution", "magnitude"))}

def one(network:str, n_classes:int, variant:str)->dict:
    "One study of `network` under `variant`, in this process."
    from gridablate.record import Study
    from gridablate.study import run_study
    from gridablate.world import STUDY_CLASSES
    study = Study(networks=(network,), classes=tuple(STUDY_CLASSES[:n_classes]), companions=(), **VARIANTS[variant])
    with tempfile.TemporaryDirectory() as out:
        c0, t0 = time.process_time(), time.perf_counter()
        run_study(study, out, progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return dict(network=network, classes=n_classes, variant=variant, wall_s=round(wall, 2), cpu_s=round(cpu, 2),
                peak_rss_gb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2))

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--networks", default="tiny_alexnet,tiny_resnet")
    p.add_argument("--classes", type=int, default=6)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--variants", default=",".join(VARIANTS), help="the first is the reference")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "interventions.json"))
    p.add_argument("--one", nargs=2, metavar=("NETWORK", "VARIANT"), help="one run in this process, printing JSON")
    a = p.parse_args()
    if a.one:
        print(json.dumps(one(a.one[0], a.classes, a.one[1]))); sys.exit(0)
    import torch, numpy
    from gridablate import __version__
    variants, nets = a.variants.split(","), a.networks.split(",")
    res = dict(machine=platform.machine(), threads=torch.get_num_threads(), python=platform.python_version(),
               torch=torch.__version__, numpy=numpy.__version__, gridablate=__version__, args=vars(a),
               variants={k: {f: list(v) if isinstance(v, tuple) else v for f, v in VARIANTS[k].items()} for k in variants},
               runs=[], ratios={})
    best = {}
    for n in nets:
        for rep in range(a.repeat):
            for v in variants:
                r = subprocess.run([sys.executable, __file__, "--one", n, v, "--classes", str(a.classes)],
                                   capture_output=True, text=True)
                if r.returncode: sys.exit(f"{n} {v} failed:\n{r.stderr[-3000:]}")
                row = json.loads(r.stdout.strip().splitlines()[-1])
                res["runs"].append(row)
                b = best.setdefault((n, v), dict(wall_s=1e9, cpu_s=1e9))
                b["wall_s"], b["cpu_s"] = min(b["wall_s"], row["wall_s"]), min(b["cpu_s"], row["cpu_s"])
    print(f"{'network':15s} {'variant':>13s} {'study s':>8s} {'CPU s':>7s} {'× default (wall)':>17s} {'× default (CPU)':>16s}")
    for n in nets:
        ref = best[n, variants[0]]
        for v in variants:
            b = best[n, v]
            rw, rc = b["wall_s"] / ref["wall_s"], b["cpu_s"] / ref["cpu_s"]
            if v != variants[0]: res["ratios"][f"{n}, {v}"] = dict(wall=round(rw, 2), cpu=round(rc, 2))
            print(f"{n:15s} {v:>13s} {b['wall_s']:8.1f} {b['cpu_s']:7.1f} {rw:17.2f} {rc:16.2f}")
    worst = max(res["ratios"].items(), key=lambda kv: kv[1]["cpu"])
    res["worst"] = dict(variant=worst[0], **worst[1], within_budget=worst[1]["cpu"] <= 1.5)
    print(f"largest CPU ratio: {worst[0]} {worst[1]['cpu']:.2f}x (budget 1.5x: {'met' if worst[1]['cpu'] <= 1.5 else 'NOT met'})")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
