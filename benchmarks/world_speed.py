"""How fast the generated world draws images: 10,000 images at 32x32 (the zoo's size) and 1,000 at 64x64,
through the vectorised batch path and through a per-item DataLoader. Prints a table and writes JSON."""
import json, platform, sys, time
import numpy as np, torch
from torch.utils.data import DataLoader
from gridablate.world import world_batch, WorldDataset

def best_of(f, repeat=3):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return min(ts)

rows = []
for n, size in [(10_000, 32), (1_000, 64)]:
    s = best_of(lambda: world_batch("train", range(n), size))
    rows.append(dict(path="world_batch", images=n, size=size, seconds=round(s, 2), images_per_s=round(n / s)))
ds = WorldDataset("train", n_per_class=42)                                     # 1,008 images
s = best_of(lambda: sum(len(b[1]) for b in DataLoader(ds, batch_size=64)), repeat=1)
rows.append(dict(path="DataLoader, per item", images=len(ds), size=32, seconds=round(s, 2), images_per_s=round(len(ds) / s)))
for r in rows: print(f"{r['path']:22s} {r['images']:6d} images at {r['size']:3d}px: {r['seconds']:6.2f} s  ({r['images_per_s']:,} images/s)")
target = rows[0]["seconds"]
print(f"10,000 images at 32px: {target:.1f} s, {30 / target:.1f}x inside the 30 s budget")
out = dict(machine=platform.machine(), cpus=torch.get_num_threads(), python=sys.version.split()[0],
           numpy=np.__version__, torch=torch.__version__, rows=rows)
json.dump(out, open(sys.argv[1] if len(sys.argv) > 1 else "world_speed.json", "w"), indent=1)
