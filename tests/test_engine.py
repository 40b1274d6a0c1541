"""The ablation engine against one full pass per mask on real torchvision networks (random weights): AlexNet and a
vision transformer (vit_b_16) at 224 px, ResNet-18 and MobileNetV2 at 64 px, the zoo's small vision transformer at
32 px; channel and neuron level; layer by layer and all layers at once."""
import warnings, numpy as np, pytest, torch, torch.nn as nn, torchvision
from gridablate.networks import wrap_model
from gridablate.registry import load_network
from gridablate.ablation import ablate, true_class_rank, logits_of, UNITS
from gridablate.cut import cut_at, channels_last
from gridablate.method import Method
from gridablate.engine import rank_deficits, rank_deficits_layers, layer_units, _plan

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
        deficits = rank_deficits_layers(net, x, y, {layer: groups}, base_ranks=base)[layer]
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

def _torchvision_small(arch:str, layers:list, size:int=64):
    "A torchvision architecture with random weights, taking `size`-pixel images (cheap enough for a test)."
    torch.manual_seed(0)
    return wrap_model(getattr(torchvision.models, arch)(num_classes=50), layers, [f"c{k}" for k in range(50)],
                      input_size=size, name=arch)

def _nets():
    yield load_network("alexnet", "random"), 4
    yield _torchvision_small("resnet18", [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]), 8
    yield _torchvision_small("mobilenet_v2", [f"features.{i}" for i in range(1, 19)]), 8
    yield load_network("tiny_vit"), 8            # trained: torchvision starts a transformer's head at zero (all ties)

@pytest.mark.parametrize("unit", UNITS)
def test_layers_at_once_equal_layer_by_layer_and_full_passes(unit):
    "One prefix for all layers gives exactly the per-layer engine's deficits; both match one full pass per group."
    for net, n in _nets():
        g = torch.Generator().manual_seed(1)
        x = torch.randint(0, 256, (n, 3, net.input_size, net.input_size), generator=g, dtype=torch.uint8)
        y = torch.randint(0, len(net.classes), (n,), generator=g)
        base = true_class_rank(logits_of(net, x), y)
        rng = np.random.default_rng(2)
        groups = {l: np.array_split(rng.permutation(layer_units(net, l, unit)), 16) for l in net.layers}
        together = rank_deficits_layers(net, x, y, groups, method=Method.of(unit=unit), base_ranks=base)
        assert len(_plan(net, list(groups), unit)[2]) == len(groups), f"{net.name}: every layer should share the prefix"
        compared = total = 0
        for l, gs in groups.items():
            np.testing.assert_array_equal(together[l], rank_deficits_layers(net, x, y, {l: gs}, Method.of(unit=unit), base_ranks=base)[l],
                                          err_msg=f"{net.name} {l} {unit}")
            if unit == "channel" and net.name == "alexnet": continue   # the test above compares these with full passes
            cut = cut_at(net, l, unit)
            assert cut is not None, f"{net.name} layer {l} should split"
            with torch.no_grad(): fast = cut.logits(cut.before(channels_last(net.normalise(x))), gs).view(16, n, -1)
            for k, units in enumerate(gs):
                with ablate(net, l, units, unit), torch.no_grad(): slow = net(x)
                err = float((fast[k] - slow).abs().max())               # float rounding: the orders of sums differ
                assert err <= 1e-4 * float(slow.abs().max()), f"{net.name} {l} {k} {unit}: logits differ by {err}"
                gap = (slow - slow[torch.arange(n), y][:, None]).abs()   # a near-tie may swap under that rounding
                gap[torch.arange(n), y] = float("inf")
                clear = (gap.min(1).values > 2 * err).numpy()
                naive = (true_class_rank(slow, y) - base).numpy()
                np.testing.assert_array_equal(together[l][k][clear], naive[clear], err_msg=f"{net.name} {l} {k} {unit}")
                compared, total = compared + int(clear.sum()), total + n
        assert compared >= 0.9 * total, f"{net.name}: only {compared} of {total} comparisons clear of near-ties"

@pytest.mark.parametrize("unit", UNITS)
def test_engine_equals_full_passes_on_vit_b_16(unit):
    "torchvision's vit_b_16 (random weights, its MLP hidden units first): the engine's deficits are a full pass's."
    vit = load_network("vit_b_16", "random")
    torch.nn.init.normal_(vit.module.heads.head.weight, generator=torch.Generator().manual_seed(5))  # torchvision: zeros
    net = wrap_model(vit.module, {l: vit.layers[l] for l in ("block1", "block12")}, vit.classes, input_size=224,
                     name="vit_b_16")
    g = torch.Generator().manual_seed(3)
    x, y = torch.randint(0, 256, (2, 3, 224, 224), generator=g, dtype=torch.uint8), torch.tensor([5, 900])
    base = true_class_rank(logits_of(net, x), y)
    rng = np.random.default_rng(4)
    groups = {l: np.array_split(rng.permutation(layer_units(net, l, unit)), 4) for l in net.layers}
    together = rank_deficits_layers(net, x, y, groups, method=Method.of(unit=unit), base_ranks=base)
    assert len(_plan(net, list(groups), unit)[2]) == 2, "both blocks should share the prefix"
    assert any(np.abs(d).sum() > 0 for d in together.values()), "some ablation should move the true class"
    for l, gs in groups.items():
        assert cut_at(net, l, unit) is not None, f"vit_b_16 {l} should split"
        for k, units in enumerate(gs):
            with ablate(net, l, units, unit), torch.no_grad(): slow = net(x)
            np.testing.assert_array_equal(together[l][k], (true_class_rank(slow, y) - base).numpy(),
                                          err_msg=f"vit_b_16 {l} group {k} {unit}")

class Gate(nn.Module):
    "A layer with a branch on the data inside: it traces only when kept whole."
    def __init__(self): super().__init__(); self.conv = nn.Conv2d(3, 8, 3, padding=1)
    def forward(self, x):
        h = self.conv(x)
        return h.relu() if h.mean() > -1e9 else h

class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate, self.head = Gate(), nn.Linear(512, 10)
        self.conv = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
    def forward(self, x): return self.head(self.conv(self.gate(x)).flatten(1))

def test_layers_fall_back_one_by_one_where_the_network_does_not_trace():
    "No shared trace: 'gate' is cut on its own (kept whole), 'conv' is ablated by a hook; the answers stay the same."
    torch.manual_seed(0)
    net = wrap_model(Gated(), ["gate", "conv"], list("abcdefghij"), mean=(0, 0, 0), std=(1, 1, 1), input_size=8)
    x, y = torch.rand(12, 3, 8, 8), torch.arange(12) % 10
    groups = {"gate": [[0, 1], [2], [3, 4, 5, 6, 7]], "conv": [[0], [1, 2, 3]]}
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        together = rank_deficits_layers(net, x, y, groups)
    assert [str(m.message).split(":")[0] for m in w if "cannot be split" in str(m.message)] == \
        ["custom cannot be split at layer 'conv'"]
    for unit in UNITS:
        gs = {"gate": [[0, 64, 511]], "conv": [[5, 300]]} if unit == "neuron" else groups
        naive = rank_deficits_layers(net, x, y, gs, method=Method.of(unit=unit), naive=True)
        for l, d in rank_deficits_layers(net, x, y, gs, method=Method.of(unit=unit)).items():
            np.testing.assert_array_equal(d, naive[l])
            np.testing.assert_array_equal(d, rank_deficits(net, x, y, l, gs[l], method=Method.of(unit=unit)))
    np.testing.assert_array_equal(together["gate"], rank_deficits(net, x, y, "gate", groups["gate"], naive=True))


@pytest.mark.parametrize("name", ["tiny_alexnet", "tiny_vgg", "tiny_mobilenet", "tiny_resnet", "tiny_vit"])
def test_every_ablation_kind_equals_hooked_passes(name):
    "Zero, mean and resample ablation: the engine's deficits equal one hooked full pass per group, rank for rank, on "
    "every layer of each of the zoo's five families, channel and neuron level, layers together."
    from gridablate.world import WorldDataset, STUDY_CLASSES
    from gridablate.sources import study_tensors
    from gridablate.replace import Replacement, ABLATIONS
    net = load_network(name)
    x, y = study_tensors(WorldDataset(n_per_class=3, classes=STUDY_CLASSES[:6]))
    cut = sum(cut_at(net, l) is not None for l in net.layers)
    assert cut == len(net.layers), f"{name}: every layer should split, so the engine's own path is what is tested"
    moved = {}
    for unit in UNITS:
        rng = np.random.default_rng(0)
        groups = {l: np.array_split(rng.permutation(layer_units(net, l, unit, x[:1])), 5)[:3] for l in net.layers}
        for kind in ABLATIONS:
            m, rep = Method.of(unit=unit, ablation=kind), Replacement.of(kind, net, x, y, list(net.layers))
            engine = rank_deficits_layers(net, x, y, groups, m, rep)
            hooked = rank_deficits_layers(net, x, y, groups, m, rep, naive=True)
            for l in net.layers: np.testing.assert_array_equal(engine[l], hooked[l], err_msg=f"{unit} {kind} {l}")
            moved[unit, kind] = float(np.mean([np.abs(d).mean() for d in engine.values()]))
    assert all(v > 0 for v in moved.values()), moved                      # every kind moves some rank: not vacuous
    for unit in UNITS:                                                    # and the three are different ablations
        assert len({moved[unit, k] for k in ABLATIONS}) == 3, moved


def test_replacement_refused_when_it_does_not_fit():
    from gridablate.replace import Replacement
    net = load_network("tiny_alexnet")
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0, 0, 1, 1])
    with pytest.raises(Exception, match="Replacement.of\\('mean'"):
        rank_deficits(net, x, y, "conv1", [[0]], Method.of(ablation="mean"))
    rep = Replacement.of("resample", net, x, y, ["conv1"])
    with pytest.raises(Exception, match="one each"):
        rank_deficits(net, x[:2], y[:2], "conv1", [[0]], Method.of(ablation="resample"), rep)
    with pytest.raises(Exception, match="no means for layers \\['conv2'\\]"):
        rank_deficits(net, x, y, "conv2", [[0]], Method.of(ablation="mean"), Replacement.of("mean", net, x, y, ["conv1"]))
