"""Stacked-mask ablation (prefix run once, 16 masks stacked at the cut) against one full pass per mask, on every
tiny network: every analysis layer, one target class, 16 cells, 100 images. Prints a table with the ratio and the
largest difference in deficits (must be 0), and writes JSON."""
import json, platform, sys, time
import numpy as np, torch
from gridablate.networks import load_network
from gridablate.world import WorldDataset
from gridablate.zoo import TINY_NETS
from gridablate.study import study_tensors
from gridablate.ablation import rank_deficits, layer_width

x, y = study_tensors(WorldDataset("test", n_per_class=5))          # 120 images
x, y = x[:100], y[:100]
rows = []
for name in TINY_NETS:
    net = load_network(name)
    t_naive = t_fast = 0.; diff = 0.
    for layer in net.layers:
        groups = np.array_split(np.random.default_rng(0).permutation(layer_width(net, layer, x[:1])), 16)
        t = time.perf_counter(); a = rank_deficits(net, x, y, layer, groups, naive=True); t_naive += time.perf_counter() - t
        t = time.perf_counter(); b = rank_deficits(net, x, y, layer, groups); t_fast += time.perf_counter() - t
        diff = max(diff, float(np.abs(a - b).max()))
    rows.append(dict(network=name, layers=len(net.layers), naive_s=round(t_naive, 2), engine_s=round(t_fast, 2),
                     speedup=round(t_naive / t_fast, 2), max_deficit_difference=diff))
    print(f"{name:15s} {len(net.layers)} layers x 16 cells x 100 images: naive {t_naive:6.2f} s, engine {t_fast:6.2f} s, "
          f"{t_naive / t_fast:4.1f}x faster, largest deficit difference {diff}")
json.dump(dict(machine=platform.machine(), threads=torch.get_num_threads(), torch=torch.__version__, rows=rows),
          open(sys.argv[1] if len(sys.argv) > 1 else "ablation_engine.json", "w"), indent=1)
