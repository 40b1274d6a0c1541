"""Training speed of each tiny network with the shipped recipe (batch 128, AdamW, 2 threads): times 60 steps
after 5 warm-up steps, and projects the full recipe's time (epochs x 60,000 images). Prints a table, writes JSON."""
import json, platform, sys, time
import torch, torch.nn.functional as F
from gridablate.zoo import tiny_net, TINY_NETS
from gridablate.training import DEFAULT_EPOCHS, world_tensors

torch.manual_seed(0)
x, y = world_tensors("train", 128 * 65)
t0 = time.perf_counter(); world_tensors("train", 60_000 // 10); gen = (time.perf_counter() - t0) * 10
rows = []
for name in TINY_NETS:
    net = tiny_net(name).train()
    opt = torch.optim.AdamW(net.parameters(), 3e-3, weight_decay=5e-4)
    for k in range(65):
        if k == 5: t = time.perf_counter()
        b = slice(128 * k, 128 * (k + 1))
        loss = F.cross_entropy(net(x[b]), y[b]); opt.zero_grad(); loss.backward(); opt.step()
    ips = 60 * 128 / (time.perf_counter() - t)
    minutes = (DEFAULT_EPOCHS[name] * 60_000 / ips + gen) / 60
    rows.append(dict(network=name, images_per_s=round(ips), epochs=DEFAULT_EPOCHS[name], projected_minutes=round(minutes, 1)))
    print(f"{name:15s} {ips:7.0f} images/s  x {DEFAULT_EPOCHS[name]} epochs of 60,000 -> {minutes:5.1f} min (20 min budget: {20 / minutes:.1f}x inside)")
print(f"drawing the 60,000-image pool: {gen:.0f} s (included above)")
json.dump(dict(machine=platform.machine(), threads=torch.get_num_threads(), torch=torch.__version__, pool_seconds=round(gen, 1), rows=rows),
          open(sys.argv[1] if len(sys.argv) > 1 else "zoo_training.json", "w"), indent=1)
