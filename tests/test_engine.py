"The ablation engine against one full pass per mask on a real torchvision network (AlexNet, random weights, 224 px)."
import numpy as np, torch
from gridablate.networks import load_network
from gridablate.ablation import cut_at, ablate, rank_deficits, true_class_rank, logits_of

def test_engine_equals_full_passes_on_torchvision_alexnet():
    torch.manual_seed(0)
    net = load_network("alexnet", "random")
    x = torch.randint(0, 256, (6, 3, 224, 224), dtype=torch.uint8)        # 8-bit images, as a study holds them
    y = torch.arange(6) * 167
    base = true_class_rank(logits_of(net, x), y)
    compared = 0
    for layer in net.layers:
        cut = cut_at(net, layer)
        assert cut is not None, f"AlexNet layer {layer} should split"
        groups = np.array_split(np.random.default_rng(1).permutation(cut.width), 16)
        with torch.no_grad(): fast = cut.logits(cut.before(net.normalise(x)), groups).view(16, len(y), -1)
        deficits = rank_deficits(net, x, y, layer, groups, base)
        for g, units in enumerate(groups):
            with ablate(net, layer, units), torch.no_grad(): slow = net(x)
            scale = float(slow.abs().max())
            torch.testing.assert_close(fast[g], slow, rtol=0, atol=1e-4 * scale)      # float rounding only
            # Every logit differs by at most `err` between the two ways, so a class can only swap places with the
            # true class if their gap is within 2 err (random logits do come that close): compare the rest.
            err = float((fast[g] - slow).abs().max())
            gap = (slow - slow[torch.arange(len(y)), y][:, None]).abs()
            gap[torch.arange(len(y)), y] = float("inf")
            clear = (gap.min(1).values > 2 * err).numpy()
            naive = (true_class_rank(slow, y) - base).numpy()
            np.testing.assert_array_equal(deficits[g][clear], naive[clear], err_msg=f"{layer}, group {g}")
            compared += int(clear.sum())
    assert compared >= 0.9 * 7 * 16 * len(y)                                    # the check is not vacuous
