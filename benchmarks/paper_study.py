"""The paper's AlexNet study at neuron level against channel level: time per class, projected to 50 classes, and peak
resident memory, each measured in a fresh process on this machine.

    python benchmarks/paper_study.py [--networks paper_alexnet,alexnet] [--classes 50] [--images 50] [--measure 3]
                                     [--null 0,16] [--out benchmarks/results/paper_study.json]

Per network (random weights: timing does not depend on them), per level and per number of null draws, one process:
  1. holds `--classes` x `--images` random 8-bit images at the network's input size, as a study holds them;
  2. prepares what every class needs, as `gridablate run` does: channel level records every unit's spatial mean on
     every image; neuron level streams every neuron's class means (`neurons.neuron_means`) and keeps every
     image's values in a scratch zarr store in the system's temporary folder (`neurons.NeuronValues`: 4.9 GB
     for torchvision's AlexNet, 6.6 GB for the paper's), which the probes read back;
  3. analyses every layer of `--measure` target classes, one after another, exactly as a study does
     (`cells.analyse_class`) under the paper's preset (neuron level) or the paper's preset with `unit='channel'`:
     10 comparison classes, the paper's probe (200 subsets of up to 100 units, all 500 comparison images), clipped
     deficits, no cross-fitting; with `--null` draws of random unit groups per cell size as each cell's null (the
     paper has none; the verdicts use it), or none (0);
  4. reports its preparation time, each class's time, the projected study (preparation + the first class + the other
     classes at the mean time of the classes after the first, since the first also pays one-time costs such as
     tracing the network) and its peak resident memory (the study's: everything a run holds is held here).
Prints a table, the ratios neuron level / channel level (without a null) and with the study's null / without it,
and writes the figures, the machine and the library versions to JSON.
"""
import argparse, json, platform, resource, subprocess, sys, time
from pathlib import Path

def one(network:str, unit:str, n_classes:int, images:int, measure:int, n_null:int)->dict:
    "One network at one level with `n_null` null draws per cell size, in this process."
    import numpy as np, torch
    from gridablate.registry import load_network
    from gridablate.record import Study
    from gridablate.activations import record
    from gridablate.neurons import NeuronActs
    from gridablate.cells import analyse_class
    from gridablate.inputs import NetworkInputs
    torch.manual_seed(0)
    net = load_network(network, "random")
    class_ids = list(range(n_classes))
    labels = torch.tensor(class_ids).repeat_interleave(images)
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (len(labels), 3, net.input_size, net.input_size), generator=g, dtype=torch.uint8)
    class Held(torch.utils.data.Dataset):
        "The held images as an image source."
        classes, targets = net.classes, labels.tolist()
        def __len__(self): return len(labels)
        def __getitem__(self, i): return imgs[i].float() / 255, int(labels[i])
        def batch(self, idx): return imgs[list(idx)].float() / 255, labels[list(idx)]
    layers = list(net.layers)
    study = Study(networks=(network,), preset="paper", unit=unit, n_per_class=images, n_null=n_null)
    t0 = time.perf_counter()
    acts = (NeuronActs(net, imgs, labels.numpy(), class_ids, layers) if unit == "neuron"
            else record(net, Held(), layers))
    prepare = time.perf_counter() - t0
    inputs = NetworkInputs(net, imgs, labels, class_ids, acts)
    units = {l: inputs.n_units(l) for l in layers}
    times = []
    for pos in range(measure):
        t0 = time.perf_counter(); analyse_class(study, inputs, layers, pos); times.append(time.perf_counter() - t0)
    first, per_class = times[0], float(np.mean(times[1:] if measure > 1 else times))   # the first pays for warm-up
    return dict(network=network, unit=unit, n_null=n_null, classes=n_classes, images_per_class=images, units=sum(units.values()),
                units_per_layer=units, prepare_s=round(prepare, 1), class_s=[round(t, 1) for t in times],
                first_class_s=round(first, 1), per_class_s=round(per_class, 1),
                projected_study_min=round((prepare + first + (n_classes - 1) * per_class) / 60, 1),
                peak_rss_gb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2))

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--networks", default="paper_alexnet,alexnet")
    p.add_argument("--classes", type=int, default=50)
    p.add_argument("--images", type=int, default=50)
    p.add_argument("--measure", type=int, default=3, help="target classes analysed and timed")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "paper_study.json"))
    p.add_argument("--null", default="0,16", help="null draws per cell size to time (0: none)")
    p.add_argument("--one", nargs=3, metavar=("NETWORK", "UNIT", "N_NULL"), help="one run in this process, printing JSON")
    a = p.parse_args()
    if a.one:
        print(json.dumps(one(a.one[0], a.one[1], a.classes, a.images, a.measure, int(a.one[2])))); sys.exit(0)
    import torch, sklearn, numpy
    from gridablate import __version__
    res = dict(machine=platform.machine(), processor=platform.processor(), threads=torch.get_num_threads(),
               cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
               python=platform.python_version(), torch=torch.__version__, sklearn=sklearn.__version__,
               numpy=numpy.__version__, gridablate=__version__, args=vars(a), runs=[])
    nulls = [int(k) for k in a.null.split(",")]
    print(f"{'network':14s} {'unit':8s} {'null':>5s} {'units':>9s} {'prepare s':>10s} {'per class s':>12s} "
          f"{'50-class min':>13s} {'peak GB':>8s}")
    for n in a.networks.split(","):
        rows = {}
        for unit in ("channel", "neuron"):
            for k in nulls:
                r = subprocess.run([sys.executable, __file__, "--one", n, unit, str(k), "--classes", str(a.classes),
                                    "--images", str(a.images), "--measure", str(a.measure)], capture_output=True, text=True)
                if r.returncode: sys.exit(f"{n} {unit} null {k} failed:\n{r.stderr[-3000:]}")
                row = rows[unit, k] = json.loads(r.stdout.strip().splitlines()[-1])
                res["runs"].append(row)
                print(f"{n:14s} {unit:8s} {k:5d} {row['units']:9d} {row['prepare_s']:10.1f} {row['per_class_s']:12.1f} "
                      f"{row['projected_study_min']:13.1f} {row['peak_rss_gb']:8.2f}")
        study = lambda unit, k: rows[unit, k]["projected_study_min"]
        ratio = study("neuron", nulls[0]) / study("channel", nulls[0])
        res.setdefault("neuron_over_channel", {})[n] = round(ratio, 2)
        print(f"{n}: neuron level / channel level, projected study (null {nulls[0]}): {ratio:.2f}x")
        for unit in ("channel", "neuron"):
            for k in nulls[1:]:
                r = study(unit, k) / study(unit, nulls[0])
                res.setdefault("null_over_none", {}).setdefault(n, {})[f"{unit}, {k} draws"] = round(r, 2)
                print(f"{n} {unit}: with {k} null draws / with {nulls[0]}, projected study: {r:.2f}x")
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
