"""The ablation and probe engines against the simple ways, side by side in one run.

    python benchmarks/ablation_engine.py [--classes 8] [--images 50] [--naive-classes 1] [--tiny-classes 2]
                                         [--out ablation_engine.json]

Captum's `LayerFeatureAblation` is timed beside the engine where Captum is installed (`pip install captum`, a
benchmark-only dependency); without it that part is skipped, with a message.

Measures, on this machine and in this one process:
  1. the dense float32 matmul rate (the machine's practical peak);
  2. every tiny network: the ablation sweep (all layers x 16 cells, target and comparison images, as `gridablate run`
     does) with one full pass per cell (naive) and with the engine (`rank_deficits_layers`: one call per class with
     every layer, the part before the cuts run once), their ratio and the largest deficit difference;
     the probe sweep with scikit-learn and with the batched probes, and the largest accuracy difference;
  3. torchvision AlexNet at 224x224 with random weights (timing does not depend on the weights): the same sweep for
     `--classes` classes x `--images` images (plus as many comparison images), the engine on all classes and the
     naive loop on the first `--naive-classes` (a full naive sweep takes hours: the ratio is taken on the classes both
     ran); beside them on the naive classes: the engine layer by layer (`rank_deficits` per layer: the part before
     each cut run per layer), so the gain of running it once for all layers shows; the engine at neuron level (every
     activation a unit) on the same images; and Captum's `LayerFeatureAblation` on the same channel-level sweep (per
     layer, a layer mask giving each channel its cell's id, as many perturbations per evaluation as memory allows,
     the true class's rank per image as the output), whose attributions are the same per-image deficits, negated;
     the engine's floating-point rate (operations counted by torch's FlopCounterMode) as a fraction of the matmul
     rate; probe times; peak resident memory; and the projected time of the paper's AlexNet study (50 classes).
  4. the paper's AlexNet study at full size, in a fresh process: 50 classes x 50 random 8-bit images at 224 px held
     and recorded as a study holds them, then every layer of one target class analysed as `gridablate run` does
     (grid, probes, ablations) under three settings: the method's (off-target deficit on as many comparison images
     as target images, no null), `n_offtarget=10`, and the run defaults (with the 20-draw null). Its peak resident
     memory is the study's, and 50 x its per-class time plus its recording time is the study's time.
Prints a table and writes every figure, the machine and the library versions to JSON.
"""
import argparse, json, platform, resource, subprocess, sys, time
import numpy as np, sklearn, torch
from torch.utils.flop_counter import FlopCounterMode
from gridablate import __version__
from gridablate.registry import load_network
from gridablate.world import WorldDataset
from gridablate.zoo import TINY_NETS
from gridablate.sources import study_tensors
from gridablate.activations import record
from gridablate.probe import contrast_images, probe_cells, probe_accuracy
from gridablate.method import Method
from gridablate.ablation import true_class_rank, logits_of
from gridablate.cut import cut_at
from gridablate.engine import rank_deficits, rank_deficits_layers, layer_units, memory_limit, _pass_bytes

p = argparse.ArgumentParser()
p.add_argument("--classes", type=int, default=8)
p.add_argument("--images", type=int, default=50)
p.add_argument("--naive-classes", type=int, default=1)
p.add_argument("--tiny-classes", type=int, default=2)
p.add_argument("--out", default="ablation_engine.json")
p.add_argument("--paper-class", action="store_true", help="only part 4, printing JSON (run in its own process)")
args = p.parse_args()
rss_gb = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

def paper_class(n_classes=50, images=50)->dict:
    "Part 4: the paper-size AlexNet study's memory, recording time and per-class time under three settings."
    from gridablate.cells import analyse_cell_grid
    from gridablate.inputs import NetworkInputs
    from gridablate.record import Study
    torch.manual_seed(0)
    net = load_network("alexnet", "random")
    class_ids = list(range(n_classes))
    labels = torch.tensor(class_ids).repeat_interleave(images)
    class Eight(torch.utils.data.Dataset):
        "Random 8-bit images made on the fly, as decoded JPEGs arrive."
        classes, targets = net.classes, labels.tolist()
        def __len__(self): return len(labels)
        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            return torch.randint(0, 256, (3, 224, 224), generator=g, dtype=torch.uint8).float().div(255), int(labels[i])
    src = Eight(); src.class_ids = class_ids
    t0 = time.perf_counter()
    imgs, labs = study_tensors(src)
    acts = record(net, src, list(net.layers))
    base = true_class_rank(logits_of(net, imgs), labs)
    out = dict(images=len(labs), images_dtype=str(imgs.dtype), images_gb=round(imgs.numel() * imgs.element_size() / 2**30, 3),
               prepare_s=round(time.perf_counter() - t0, 1))
    for name, kw in [("method", dict(n_null=0)), ("n_offtarget_10", dict(n_null=0, n_offtarget=10)), ("run_defaults", {})]:
        t0 = time.perf_counter()
        inputs = NetworkInputs(net, imgs, labs, class_ids, acts)
        for l in net.layers: analyse_cell_grid(Study(n_per_class=images, **kw), inputs, l, 0)
        out[f"{name}_class_s"] = round(time.perf_counter() - t0, 1)
        out[f"{name}_study_min"] = round((out["prepare_s"] + n_classes * out[f"{name}_class_s"]) / 60, 1)
    out["peak_rss_gb"] = round(rss_gb(), 2)
    return out

if args.paper_class:
    print(json.dumps(paper_class(50, args.images)))
    sys.exit(0)
res = dict(machine=platform.machine(), processor=platform.processor(), threads=torch.get_num_threads(),
           python=platform.python_version(), torch=torch.__version__, sklearn=sklearn.__version__, gridablate=__version__,
           args=vars(args))

def matmul_rate(n=2048, seconds=3.0)->float:
    "Dense float32 matmul GFLOP/s."
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds: a @ b; reps += 1
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9

def grids(width, seed=0):
    "16 equal-count unit groups (timing does not depend on which units share a cell)."
    return np.array_split(np.random.default_rng(seed).permutation(width), 16)

def sweep(net, images, labels, classes, mode, unit="channel", count_flops=False, study=None):
    """Deficits of every layer x target in `classes` (16 cells each; target images and as many of the study's other
    classes), ablated with one full pass per cell (mode 'naive'), the engine layer by layer ('per_layer') or the
    engine on all layers at once ('layers'); seconds, deficits ({layer: (16, images)} per class), flops and this
    process's CPU seconds (less sensitive than seconds to other work on a shared machine)."""
    study = study or classes
    base = true_class_rank(logits_of(net, images), labels)
    cells = {l: grids(layer_units(net, l, unit)) for l in net.layers}
    if mode == "layers":                                    # trace and split the network before the clock starts
        rank_deficits_layers(net, images[:1], labels[:1], {l: [[]] for l in net.layers}, method=Method.of(unit=unit))
    if mode == "per_layer":
        for l in net.layers: rank_deficits(net, images[:1], labels[:1], l, [[]], method=Method.of(unit=unit))
    out, flops, t0, c0 = [], 0, time.perf_counter(), time.process_time()
    for c in classes:
        pos, neg = contrast_images(labels.numpy(), c, [o for o in study if o != c], 0)
        idx = np.r_[pos, neg]
        def call():
            if mode == "layers":
                return rank_deficits_layers(net, images[idx], labels[idx], cells, Method.of(unit=unit),
                                            base_ranks=base[idx])
            return {l: rank_deficits_layers(net, images[idx], labels[idx], {l: g}, Method.of(unit=unit),
                                            base_ranks=base[idx], naive=mode == "naive")[l]
                    for l, g in cells.items()}
        if count_flops:
            with FlopCounterMode(display=False) as fc: out.append(call())
            flops += fc.get_total_flops()
        else: out.append(call())
    return time.perf_counter() - t0, out, flops, time.process_time() - c0

def largest_difference(a, b)->float:
    "Largest absolute difference between two sweeps' deficits."
    return float(max(np.abs(x[l] - y[l]).max() for x, y in zip(a, b) for l in x))

def captum_sweep(net, images, labels, classes, study):
    """The same channel-level sweep with Captum's LayerFeatureAblation (None where Captum is not installed): per layer
    and class one `attribute` call, the layer mask giving each channel its cell's id; deficits = -attributions."""
    try: from captum.attr import LayerFeatureAblation
    except ImportError:
        print("  Captum is not installed: its part is skipped (install it with `pip install captum`)")
        return None
    rank_of = lambda x, y: true_class_rank(net(x), y)                   # the true class's rank per image
    cells = {l: grids(layer_units(net, l)) for l in net.layers}
    per_image = _pass_bytes(net, images[:1])                            # bytes of one image's full forward pass
    out, t0, c0 = [], time.perf_counter(), time.process_time()
    for c in classes:
        pos, neg = contrast_images(labels.numpy(), c, [o for o in study if o != c], 0)
        idx = np.r_[pos, neg]
        x, y, res = images[idx], labels[idx], {}
        per_eval = max(1, min(16, memory_limit() // (len(idx) * per_image)))
        for l, groups in cells.items():
            shape = cut_at(net, l).shape
            mask = torch.zeros(shape[0], dtype=torch.long)
            for g, u in enumerate(groups): mask[u] = g
            with torch.no_grad():
                attr = LayerFeatureAblation(rank_of, net.layer(l)).attribute(
                    x, additional_forward_args=(y,), layer_mask=mask.view(1, -1, *([1] * (len(shape) - 1))),
                    perturbations_per_eval=per_eval)
            first = [int(u[0]) for u in groups]                          # one channel of each cell
            res[l] = -(attr.flatten(2)[:, first, 0] if attr.ndim > 2 else attr[:, first]).T.double().numpy()
        out.append(res)
    return time.perf_counter() - t0, out, per_eval, time.process_time() - c0

def probe_sweep(acts, labels, classes, reference, study=None):
    "Probe accuracies of every layer x target in `classes` x cell, batched or with scikit-learn."
    study = study or classes
    t0, out = time.perf_counter(), []
    for l in acts.layer.values:
        a = acts.activation.sel(layer=l).values[:, :int(acts.n_units.sel(layer=l))]
        cells = [np.sort(u) for u in grids(a.shape[1])]                   # cell k: row k // 4, column k % 4
        for c in classes:
            others = [o for o in study if o != c]
            if not reference: out.append(probe_cells(a, labels, c, others, cells, Method.of(probe_units=None))); continue
            pos, neg = contrast_images(labels, c, others, 0)
            idx, y = np.r_[pos, neg], np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)]
            out.append(np.array([[probe_accuracy(a[np.ix_(idx, cells[4 * r + k])], y) for k in range(4)] for r in range(4)]))
    return time.perf_counter() - t0, np.array(out)

peak = matmul_rate()
res["matmul_gflops"] = round(peak, 1)
print(f"dense float32 matmul: {peak:.1f} GFLOP/s with {torch.get_num_threads()} threads")

# tiny zoo
ds = WorldDataset("test", n_per_class=args.images)
x, y = study_tensors(ds)
tiny_classes = list(range(args.tiny_classes))
res["tiny"] = []
for name in (TINY_NETS if tiny_classes else ()):
    net = load_network(name)
    t_naive, d_naive, _, _ = sweep(net, x, y, tiny_classes, "naive", study=ds.class_ids)
    t_fast, d_fast, _, _ = sweep(net, x, y, tiny_classes, "layers", study=ds.class_ids)
    acts = record(net, ds, list(net.layers))
    tp_ref, a_ref = probe_sweep(acts, y.numpy(), tiny_classes, True, ds.class_ids)
    tp, a = probe_sweep(acts, y.numpy(), tiny_classes, False, ds.class_ids)
    row = dict(network=name, layers=len(net.layers), classes=len(tiny_classes), naive_s=round(t_naive, 2),
               engine_s=round(t_fast, 2), speedup=round(t_naive / t_fast, 2),
               max_deficit_difference=largest_difference(d_naive, d_fast),
               probe_sklearn_s=round(tp_ref, 2), probe_batched_s=round(tp, 2), probe_speedup=round(tp_ref / tp, 2),
               max_probe_difference=float(np.abs(a_ref - a).max()))
    res["tiny"].append(row)
    json.dump(res, open(args.out, "w"), indent=1)
    print(f"{name:15s} ablation: naive {t_naive:6.1f} s, engine {t_fast:5.1f} s, {t_naive / t_fast:4.1f}x, "
          f"largest deficit difference {row['max_deficit_difference']:g} | probes: scikit-learn {tp_ref:5.1f} s, "
          f"batched {tp:4.1f} s, {tp_ref / tp:4.1f}x, largest accuracy difference {row['max_probe_difference']:.3f}")

# torchvision AlexNet, 224x224, random weights
torch.manual_seed(0)
net = load_network("alexnet", "random")
classes = list(range(args.classes))
labels = torch.tensor(classes).repeat_interleave(args.images)
images = torch.rand(len(labels), 3, 224, 224)
t0 = time.perf_counter()
class Images(torch.utils.data.Dataset):
    "Random images with labels, as an image source."
    classes, targets = net.classes, labels.tolist()
    def __len__(self): return len(labels)
    def __getitem__(self, i): return images[i], int(labels[i])
acts = record(net, Images(), list(net.layers))
t_record = time.perf_counter() - t0
nc = classes[:args.naive_classes]
t_naive, d_naive, _, c_naive = sweep(net, images, labels, nc, "naive", study=classes)
t_per_sub, d_per_sub, _, c_per_sub = sweep(net, images, labels, nc, "per_layer", study=classes)
t_fast_sub, d_fast_sub, _, c_fast_sub = sweep(net, images, labels, nc, "layers", study=classes)
t_neuron_sub, _, _, c_neuron_sub = sweep(net, images, labels, nc, "layers", unit="neuron", study=classes)
cap = captum_sweep(net, images, labels, nc, classes)
t_fast, _, _, _ = sweep(net, images, labels, classes, "layers")
_, _, flops_one, _ = sweep(net, images, labels, classes[:1], "layers", count_flops=True, study=classes)
tp, _ = probe_sweep(acts, labels.numpy(), classes, False)
tp_ref, _ = probe_sweep(acts, labels.numpy(), nc, True, classes)
tp_sub, _ = probe_sweep(acts, labels.numpy(), nc, False, classes)
rate = flops_one * len(classes) / t_fast / 1e9
per_class = (t_fast + tp) / len(classes)
paper_s = t_record / len(labels) * 50 * args.images + 50 * per_class
res["alexnet"] = dict(
    classes=len(classes), images_per_class=args.images, ablated_image_passes=7 * 16 * 2 * args.images * len(classes),
    record_s=round(t_record, 1), naive_classes=len(nc), naive_s=round(t_naive, 1), engine_same_classes_s=round(t_fast_sub, 1),
    speedup=round(t_naive / t_fast_sub, 2), naive_projected_all_classes_s=round(t_naive / len(nc) * len(classes), 1),
    engine_all_classes_s=round(t_fast, 1),
    max_deficit_difference=largest_difference(d_naive, d_fast_sub),
    engine_layer_by_layer_same_classes_s=round(t_per_sub, 1), speedup_layer_by_layer=round(t_naive / t_per_sub, 2),
    prefix_reuse_gain=round(t_per_sub / t_fast_sub, 3),
    max_difference_layer_by_layer=largest_difference(d_per_sub, d_fast_sub),
    neuron_engine_same_classes_s=round(t_neuron_sub, 1), neuron_over_channel=round(t_neuron_sub / t_fast_sub, 2),
    cpu_s=dict(naive=round(c_naive, 1), engine=round(c_fast_sub, 1), engine_layer_by_layer=round(c_per_sub, 1),
               engine_neuron=round(c_neuron_sub, 1)),
    engine_gflops=round(rate, 1), fraction_of_matmul=round(rate / peak, 3),
    probe_batched_all_classes_s=round(tp, 1), probe_sklearn_s=round(tp_ref, 1), probe_batched_same_classes_s=round(tp_sub, 2),
    probe_speedup=round(tp_ref / tp_sub, 2), peak_rss_gb=round(rss_gb(), 2),
    paper_study_projected_min=round(paper_s / 60, 1))
a = res["alexnet"]
print(f"alexnet 224px, {len(classes)} classes x {args.images} images (+ as many comparison images), 7 layers x 16 cells:")
print(f"  naive loop ({len(nc)} class): {t_naive:7.1f} s   engine, same work: {t_fast_sub:6.1f} s   ratio {a['speedup']:.2f}x   "
      f"largest deficit difference {a['max_deficit_difference']:g}")
print(f"  CPU seconds of this process (ratios in brackets): naive {c_naive:.1f}, engine {c_fast_sub:.1f} "
      f"({c_naive / c_fast_sub:.2f}x), layer by layer {c_per_sub:.1f} ({c_naive / c_per_sub:.2f}x; all layers at once "
      f"{c_per_sub / c_fast_sub:.2f}x faster), neuron level {c_neuron_sub:.1f} "
      f"({c_neuron_sub / c_fast_sub:.2f} x channel)")
print(f"  engine layer by layer (the part before each cut run per layer), same work: {t_per_sub:6.1f} s   ratio "
      f"{a['speedup_layer_by_layer']:.2f}x; all layers at once is {a['prefix_reuse_gain']:.2f}x faster, largest "
      f"difference between the two {a['max_difference_layer_by_layer']:g}")
print(f"  engine at neuron level (every activation a unit), same images: {t_neuron_sub:6.1f} s = "
      f"{a['neuron_over_channel']:.2f} x channel level")
if cap is not None:
    t_cap, d_cap, per_eval, c_cap = cap
    a["cpu_s"]["captum"] = round(c_cap, 1)
    a.update(captum_s=round(t_cap, 1), captum_perturbations_per_eval=per_eval,
             captum_over_engine=round(t_cap / t_fast_sub, 2),
             captum_max_difference_engine=largest_difference(d_cap, d_fast_sub),
             captum_max_difference_naive=largest_difference(d_cap, d_naive),
             captum_identical_fraction=float(np.mean([(x[l] == y[l]).mean()
                                                      for x, y in zip(d_cap, d_fast_sub) for l in x])))
    print(f"  Captum LayerFeatureAblation ({per_eval} perturbations per evaluation), same work: {t_cap:6.1f} s = "
          f"{a['captum_over_engine']:.2f} x the engine's time (CPU: {c_cap / c_fast_sub:.2f}x); its deficits equal "
          f"the engine's on "
          f"{a['captum_identical_fraction']:.2%} of (layer, cell, image), largest difference "
          f"{a['captum_max_difference_engine']:g} (from the naive loop's: {a['captum_max_difference_naive']:g})")
print(f"  engine, all {len(classes)} classes: {t_fast:.1f} s (naive, projected: {a['naive_projected_all_classes_s']:.0f} s)")
print(f"  engine rate {rate:.1f} GFLOP/s = {rate / peak:.0%} of the matmul rate ({peak:.1f} GFLOP/s)")
print(f"  probes: scikit-learn {tp_ref:.1f} s, batched {tp_sub:.2f} s for {len(nc)} class ({a['probe_speedup']:.1f}x); "
      f"batched, all classes {tp:.1f} s")
print(f"  peak resident memory {a['peak_rss_gb']:.2f} GB")
print(f"  projected paper AlexNet study (50 classes x {args.images} images: recording, ablations, probes): "
      f"{a['paper_study_projected_min']:.1f} min")
json.dump(res, open(args.out, "w"), indent=1)
child = subprocess.run([sys.executable, __file__, "--paper-class", "--images", str(args.images)], capture_output=True, text=True)
if child.returncode: sys.exit(f"the paper-size run failed:\n{child.stderr[-3000:]}")
res["paper_study"] = q = json.loads(child.stdout.strip().splitlines()[-1])
print(f"paper AlexNet study at full size (50 classes x {args.images} images, {q['images_dtype']} images: {q['images_gb']:.2f} GB), "
      f"in its own process: recording {q['prepare_s']:.0f} s, peak resident memory {q['peak_rss_gb']:.2f} GB")
for name, what in [("method", "off-target deficit on as many comparison images as target images, no null"),
                   ("n_offtarget_10", "off-target deficit on 10 comparison images, no null"),
                   ("run_defaults", "the method plus the 20-draw null (gridablate run's defaults)")]:
    print(f"  {what:62s}: {q[name + '_class_s']:5.1f} s per class -> {q[name + '_study_min']:5.1f} min for the study")
json.dump(res, open(args.out, "w"), indent=1)
print("wrote", args.out)
