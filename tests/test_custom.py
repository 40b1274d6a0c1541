"""Your own network and images through the whole study: a CIFAR-style ResNet from a DataParallel checkpoint, named on
the command line by FILE.py:FUNCTION, on a folder of 32×32 PNGs; a mixed study killed and resumed; a weight file
replaced between runs; keyed null draws."""
import json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import numpy as np, pytest, torch, xarray as xr
from PIL import Image

EXE = str(Path(sys.executable).parent / "gridablate")
CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

MODELS = '''
import torch, torch.nn as nn, torch.nn.functional as F
from pathlib import Path
from gridablate.networks import wrap_model

CIFAR = {cifar!r}

class Shortcut(nn.Module):
    "Option A: subsample by 2 and pad the new channels with zeros (no parameters)."
    def __init__(self, planes): super().__init__(); self.pad = planes // 4
    def forward(self, x): return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))

class Block(nn.Module):
    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = Shortcut(planes) if stride != 1 or cin != planes else nn.Identity()
    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x))

class ResNet(nn.Module):
    "The classic CIFAR ResNet (He et al. 2016, section 4.2), one block per stage."
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False); self.bn1 = nn.BatchNorm2d(16)
        self.layer1, self.layer2, self.layer3 = Block(16, 16), Block(16, 32, 2), Block(32, 64, 2)
        self.linear = nn.Linear(64, 10)
    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(F.relu(self.bn1(self.conv1(x))))))
        return self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))

def build():
    return wrap_model(ResNet(), ["layer1", "layer2", "layer3"], CIFAR, mean=(0.4914, 0.4822, 0.4465),
                      std=(0.247, 0.243, 0.261), input_size=32, name="cifar_resnet", preprocess="none",
                      weights=Path(__file__).parent / "resnet8.th")
'''

@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    "models.py, a DataParallel checkpoint beside it, and a folder of 32×32 PNGs of three CIFAR classes."
    d = tmp_path_factory.mktemp("cifar")
    (d / "models.py").write_text(MODELS.format(cifar=CIFAR))
    sys.path.insert(0, str(d))
    try: import models
    finally: sys.path.remove(str(d))
    torch.manual_seed(0)
    net = models.ResNet()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d): m.running_mean.uniform_(-.1, .1); m.running_var.uniform_(.5, 2)
    torch.save({"state_dict": {"module." + k: v for k, v in net.state_dict().items()}, "best_prec1": 91.25},
               d / "resnet8.th")
    rng = np.random.default_rng(0)
    for c in ("cat", "dog", "ship"):
        (d / "images" / c).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(d / "images" / c / f"{i}.png")
    return d

ARGS = ["--n_per_class", "10", "--no_check", "--companions", "none", "--n_null", "3", "--rows", "2", "--cols", "2"]

def gridablate(*args, **kw): return subprocess.run([EXE, "run", *map(str, args)], capture_output=True, text=True, **kw)

def test_cifar_network_by_spec_sees_its_images_pixel_exact(cifar, tmp_path):
    spec = f"{cifar}/models.py:build"
    r = gridablate("--networks", spec, "--source", f"folder:{cifar}/images", *ARGS, "--out", tmp_path / "cli")
    assert r.returncode == 0, r.stderr
    from gridablate.activations import trace
    from gridablate.store import load
    from gridablate.registry import network_from_spec
    from gridablate.study import Study, run_study
    res = load(tmp_path / "cli" / "results.zarr")
    assert list(res["class"].values) == ["cat", "dog", "ship"]                       # labelled as the network's outputs
    assert json.loads(res.attrs["networks"])["cifar_resnet"]["images"].startswith("folder files, none: as they are")
    assert json.loads(res.attrs["config"])["networks"] == [spec]
    # the recorded activations are those of the PNGs' own pixels, with no resampling
    net = network_from_spec(spec)
    files = [f for c in ("cat", "dog", "ship") for f in sorted((cifar / "images" / c).glob("*.png"))]
    x = torch.stack([torch.from_numpy(np.array(Image.open(f))).permute(2, 0, 1) for f in files]).float() / 255
    acts = load(tmp_path / "cli" / "activations" / "cifar_resnet.zarr")
    with torch.no_grad(), trace(net, ["layer3"]) as t: net(x)
    want = t["layer3"].numpy()                                                     # channel means, as recorded
    got = acts.activation.sel(layer="layer3").values[:, :64]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # the Python API gives the same results, variable for variable
    api = run_study(Study(networks=(spec,), source=f"folder:{cifar}/images", n_per_class=10, companions=(), n_null=3,
                          rows=2, cols=2), tmp_path / "api", progress=False)
    xr.testing.assert_identical(api.drop_attrs(), res.drop_attrs())
    assert api.attrs["config"] == res.attrs["config"] and api.attrs["fingerprints"] == res.attrs["fingerprints"]
    again = gridablate("--from", tmp_path / "cli", "--out", tmp_path / "again")           # rerun from the record
    assert again.returncode == 0 and "rerun reproduces" in again.stdout, again.stderr

def test_larger_images_are_refused_for_a_network_that_takes_them_as_they_are(cifar, tmp_path):
    big = tmp_path / "big"
    for c in ("cat", "dog"):
        (big / c).mkdir(parents=True)
        for i in range(10): Image.new("RGB", (40, 36)).save(big / c / f"{i}.png")
    r = gridablate("--networks", f"{cifar}/models.py:build", "--source", f"folder:{big}", *ARGS,
                   "--out", tmp_path / "out")
    assert r.returncode == 2 and "is 40×36 pixels, but the network takes 32×32 images as they are" in r.stderr, \
        r.stderr
    assert "Traceback" not in r.stderr

def test_a_replaced_weight_file_is_noticed(cifar, tmp_path):
    from safetensors.torch import save_file
    from gridablate.registry import load_network
    w = tmp_path / "vgg.safetensors"
    save_file(load_network("tiny_vgg").module.state_dict(), w)
    cmd = ["--networks", "tiny_vgg", "--classes", "0,1", "--layers", "block2", "--weights", w, *ARGS,
           "--out", tmp_path / "o"]
    assert gridablate(*cmd).returncode == 0
    save_file(load_network("tiny_vgg", "random").module.state_dict(), w)
    r = gridablate(*cmd)
    assert r.returncode == 0, r.stderr
    assert "tiny_vgg: 3 finished pieces made from other weights" in r.stderr, r.stderr   # activations and 2 units
    from gridablate.store import load
    fresh = gridablate(*cmd[:-1], tmp_path / "fresh")
    assert fresh.returncode == 0
    xr.testing.assert_identical(load(tmp_path / "o" / "results.zarr").drop_attrs(),
                                load(tmp_path / "fresh" / "results.zarr").drop_attrs())

WORLD_NET = '''
import torch, torch.nn as nn
from gridablate.networks import wrap_model
from gridablate.world import CLASSES
def build(name="mine"):
    torch.manual_seed(1)
    m = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 32, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                      nn.Flatten(), nn.Linear(32, len(CLASSES)))
    return wrap_model(m, {"conv1": "1", "conv2": "3"}, CLASSES, input_size=32, name=name)
def twin(): return build("twin")
'''

def test_mixed_study_killed_and_resumed_equals_an_uninterrupted_run(tmp_path):
    (tmp_path / "world_net.py").write_text(WORLD_NET)
    cmd = ["--networks", f"tiny_vgg,{tmp_path}/world_net.py:build", "--classes", "0,1,2,3,4,5",
           "--layers", "block2,block3,conv2", *ARGS]
    ref = gridablate(*cmd, "--out", tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr
    total = len(list((tmp_path / "ref").glob("units/*/*/*.nc")))
    out = tmp_path / "killed"
    p = subprocess.Popen([EXE, "run", *map(str, cmd), "--out", str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, done = time.time() + 120, 0
    while time.time() < deadline and p.poll() is None:
        done = len(list(out.glob("units/*/*/*.nc.sha256")))
        if done >= 2: break
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL); p.wait()
    assert 2 <= done < total, (done, total)                                      # killed amid the units
    again = gridablate(*cmd, "--out", out)
    assert again.returncode == 0, again.stderr
    from gridablate.store import load
    xr.testing.assert_identical(load(out / "results.zarr"), load(tmp_path / "ref" / "results.zarr"))

def test_equally_wide_layers_of_the_same_name_get_different_null_groups(tmp_path):
    (tmp_path / "twins.py").write_text(WORLD_NET)
    from gridablate.study import Study, run_study
    res = run_study(Study(networks=(f"{tmp_path}/twins.py:build", f"{tmp_path}/twins.py:twin"), classes=(0, 1, 2),
                          n_per_class=10, layers=("conv2",), n_null=4, companions=()), tmp_path / "o", progress=False)
    a, b = (res.sel(network=n, layer="conv2") for n in ("mine", "twin"))
    np.testing.assert_array_equal(a.rank_deficit.values, b.rank_deficit.values)  # the same weights: the same cells
    assert not np.array_equal(a.null_deficit.values, b.null_deficit.values)       # but their own random groups
