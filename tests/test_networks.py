"Integration tests for `gridablate.networks`, `gridablate.weights` and `gridablate.registry`: real torchvision architectures, weight files, refusals."
import builtins, hashlib, pickle, socket
import pytest, torch, torchvision
from torch import nn
from safetensors.torch import save_file
from gridablate.networks import *
from gridablate.weights import *
from gridablate.registry import *
from gridablate.errors import *

SMALL = dict(alexnet=64, vgg16=32, mobilenet_v2=32, resnet101=32, vit_b_16=224)  # smallest convenient sides that run
WIDTHS = dict(alexnet=[64, 192, 384, 256, 256, 4096, 4096], vgg16=[64, 128, 256, 512, 512, 4096, 4096],
              mobilenet_v2=[16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320, 1280],
              resnet101=[256] * 3 + [512] * 4 + [1024] * 23 + [2048] * 3, vit_b_16=[3072] * 12)


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def offline(monkeypatch):
    "Any attempt to reach the internet fails the test."
    def refuse(*a, **k): raise AssertionError('tried to reach the network')
    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(torch.hub, 'download_url_to_file', refuse)
    monkeypatch.setattr(torch.hub, 'load_state_dict_from_url', refuse)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    "An empty TORCH_HOME: a machine with no weights on it."
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'home'))
    return tmp_path / 'home'


def shifted_state(name, by=1.0):
    "A state dict for torchvision network `name` that differs from the seed-0 random one."
    return {k: v + by if v.is_floating_point() else v
            for k, v in torchvision.models.get_model(name).state_dict().items()}


@pytest.mark.parametrize('name', list(TORCHVISION_LAYERS))
def test_torchvision_architectures(name, offline):
    net = load_network(name, weights='random')
    assert net.weights_id == 'random' and net.input_size == 224 and len(net.classes) == 1000
    paths = [p for p, _ in net.module.named_modules()]
    assert [p for p in paths if p in net.layers.values()] == list(net.layers.values())  # definition order
    calls, widths = [], []
    def record(n):
        def hook(m, i, o): calls.append(n); widths.append(o.shape[1])  # returns None: output untouched
        return hook
    hooks = [net.layer(n).register_forward_hook(record(n)) for n in net.layers]
    try:
        with torch.no_grad(): out = net(torch.rand(2, 3, SMALL[name], SMALL[name]))
    finally:
        for h in hooks: h.remove()
    assert calls == list(net.layers)  # forward order, each layer once
    assert widths == WIDTHS[name]
    assert out.shape == (2, 1000) and torch.isfinite(out).all()
    assert net.check(size=SMALL[name]) is net


def test_random_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(5); a = torch.rand(3)
    torch.manual_seed(5)
    m1 = load_network('mobilenet_v2', weights='random').module
    b = torch.rand(3)
    assert torch.equal(a, b)
    m2 = load_network('mobilenet_v2', weights='random').module
    assert all(torch.equal(x, y) for x, y in zip(m1.state_dict().values(), m2.state_dict().values()))


def test_hub_checkpoint_found_offline(torch_home, offline):
    sd = shifted_state('mobilenet_v2')
    path = checkpoint_path('mobilenet_v2')
    assert path == torch_home / 'hub' / 'checkpoints' / 'mobilenet_v2-b0353104.pth'
    path.parent.mkdir(parents=True)
    torch.save(sd, path)
    for w in ('pretrained', 'imagenet', 'IMAGENET1K_V1'):
        net = load_network('mobilenet_v2', weights=w)
        assert net.weights_id == 'torchvision:MobileNet_V2_Weights.IMAGENET1K_V1'
        got = net.module.state_dict()
        assert got.keys() == sd.keys() and all(torch.equal(got[k], sd[k]) for k in sd)
    assert net.classes[:2] == ['tench', 'goldfish'] and net.mean == (0.485, 0.456, 0.406)


def test_vit_hub_checkpoint_found_offline(torch_home, offline):
    "vit_b_16's ImageNet file, made here: read from the hub folder, its MLP units exposed, the logits torchvision's."
    sd = shifted_state('vit_b_16', by=0.01)
    path = checkpoint_path('vit_b_16')
    assert path == torch_home / 'hub' / 'checkpoints' / 'vit_b_16-c867db91.pth'
    path.parent.mkdir(parents=True)
    torch.save(sd, path)
    net = load_network('vit_b_16')
    assert net.weights_id == 'torchvision:ViT_B_16_Weights.IMAGENET1K_V1' and net.preprocess == 'imagenet'
    got = net.module.state_dict()
    assert got.keys() == sd.keys() and all(torch.equal(got[k], sd[k]) for k in sd)
    plain = torchvision.models.get_model('vit_b_16').eval()
    plain.load_state_dict(sd)
    x, seen = torch.rand(2, 3, 224, 224), {}
    h = net.layer('block3').register_forward_hook(lambda m, i, o: seen.update(o=o.shape))
    with torch.no_grad(): same = torch.equal(net(x), plain(net.normalise(x)))
    h.remove()
    assert same and seen['o'] == (2, 3072, 197, 1)


def test_missing_weights_says_where(torch_home, offline):
    for which, w in (('pretrained', 'IMAGENET1K_V1'), ('IMAGENET1K_V2', 'IMAGENET1K_V2')):
        url = torchvision.models.get_model_weights('resnet101')[w].url
        with pytest.raises(WeightsNotFoundError) as e: load_network('resnet101', weights=which)
        msg = str(e.value)
        assert url in msg and str(checkpoint_path('resnet101', w)) in msg and str(torch_home) in msg
        assert 'allow_download=True' in msg and 'weights=' in msg
        assert isinstance(e.value, FileNotFoundError)


def test_allow_download_uses_the_hub(torch_home, monkeypatch):
    asked, sd = [], shifted_state('mobilenet_v2', by=2.0)
    def fake(url, **kw): asked.append((url, kw)); return sd
    monkeypatch.setattr(torch.hub, 'load_state_dict_from_url', fake)
    net = load_network('mobilenet_v2', allow_download=True)
    assert asked[0][0] == torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.url
    assert asked[0][1]['check_hash'] and asked[0][1]['weights_only']
    assert torch.equal(net.module.state_dict()['features.0.0.weight'], sd['features.0.0.weight'])


@pytest.mark.parametrize('fmt', ['safetensors', 'pth', 'pt-wrapped'])
def test_weight_file_round_trip(fmt, tmp_path, offline):
    sd = shifted_state('mobilenet_v2', by=3.0)
    path = tmp_path / f'w.{fmt.split("-")[0]}'
    if fmt == 'safetensors': save_file(sd, path)
    else: torch.save({'state_dict': sd, 'epoch': 7} if 'wrapped' in fmt else sd, path)
    net = load_network('mobilenet_v2', weights=str(path))
    assert net.weights_id == 'file:' + hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    got = net.module.state_dict()
    assert all(torch.equal(got[k], sd[k]) for k in sd)


def test_mismatched_weights(tmp_path):
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / 'resnet18.pth')
    with pytest.raises(WeightsMismatchError) as e: load_network('alexnet', weights=tmp_path / 'resnet18.pth')
    msg = str(e.value)
    assert "does not fit the 'alexnet' architecture" in msg and 'different model' in msg
    assert 'missing from the file (e.g. features.0.weight' in msg and 'unexpected (e.g. conv1.weight' in msg
    sd = shifted_state('mobilenet_v2')
    sd['classifier.1.weight'], sd['classifier.1.bias'] = torch.zeros(10, 1280), torch.zeros(10)
    save_file(sd, tmp_path / 'ten.safetensors')
    with pytest.raises(WeightsMismatchError) as e: load_network('mobilenet_v2', weights=tmp_path / 'ten.safetensors')
    assert ('2 mis-shaped (e.g. ' in str(e.value)
            and 'classifier.1.weight (file (10, 1280), model (1000, 1280))' in str(e.value))


class Payload:
    "Unpickling this creates the file `marker`."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (builtins.open, (self.marker, 'w'))


@pytest.mark.parametrize('how', ['torch.save', 'pickle'])
def test_malicious_pickle_refused(how, tmp_path):
    marker, path = tmp_path / 'marker', tmp_path / 'evil.pth'
    obj = {'features.0.weight': Payload(marker)}
    if how == 'torch.save': torch.save(obj, path)
    else: path.write_bytes(pickle.dumps(obj, protocol=2))
    if how == 'torch.save':  # the payload is live: an unsafe load runs it
        torch.load(path, weights_only=False); assert marker.exists(); marker.unlink()
    else: pickle.loads(path.read_bytes()); assert marker.exists(); marker.unlink()
    with pytest.raises(GridablateError) as e: load_network('alexnet', weights=path)
    assert not marker.exists()
    assert isinstance(e.value, UnsafeWeightsError)
    assert ('not a plain weights file (Unsupported global' in str(e.value)
            and 'nothing in it was executed' in str(e.value))


def test_missing_file_and_unknown_names(tmp_path):
    with pytest.raises(WeightsNotFoundError, match='no weight file at'):
        load_network('alexnet', weights=tmp_path / 'x.pth')
    with pytest.raises(KeyError) as e: load_network('resnet50')
    assert "Did you mean 'resnet101'" in str(e.value) and all(n in str(e.value) for n in NETWORKS)
    net = load_network('mobilenet_v2', weights='random')
    with pytest.raises(UnknownNameError) as e: net.layer('features.19')
    assert all(n in str(e.value) for n in net.layers)
    with pytest.raises(GridablateError, match='not ImageNet'): load_network('tiny_alexnet', weights='imagenet')


def test_wrap_model():
    m = torchvision.models.resnet18(num_classes=3)
    net = wrap_model(m, ['layer1.0', 'layer2.1', 'layer4.1'], ['a', 'b', 'c'], input_size=32)
    assert net.layers == {'layer1.0': 'layer1.0', 'layer2.1': 'layer2.1', 'layer4.1': 'layer4.1'}
    assert net.name == 'custom' and net.weights_id == 'custom' and not net.module.training
    with pytest.raises(UnknownNameError, match="Did you mean 'layer2.1'"): wrap_model(m, ['layer2.l'], ['a', 'b', 'c'])
    with pytest.raises(GridablateError, match='run more than once'):
        wrap_model(m, ['layer1.0.relu'], ['a', 'b', 'c'], input_size=32)
    with pytest.raises(GridablateError, match='network order'):
        wrap_model(m, {'b': 'layer2.0', 'a': 'layer1.0'}, ['a', 'b', 'c'], input_size=32)
    with pytest.raises(GridablateError, match='3 outputs|1 class names'):
        wrap_model(m, ['layer1.0'], ['a'], input_size=32)
    with pytest.raises(GridablateError, match='classes is empty'): wrap_model(m, ['layer1.0'], [])


def test_tiny_networks():
    "The tiny zoo: the world's classes and input size, their own layers and normalisation, and the shipped weights."
    from gridablate import zoo, world
    assert TINY_NAMES == tuple(zoo.TINY_NETS)
    for name in TINY_NAMES:
        net = load_network(name, weights='random').check()
        assert net.layers == zoo.TINY_LAYERS[name]
        assert name == 'tiny_vit' or list(net.layers) == list(net.layers.values())      # convnets: names are paths
        assert net.classes == list(world.CLASSES) and net.input_size == 32
        assert (net.mean, net.std) == (tuple(zoo.WORLD_MEAN), tuple(zoo.WORLD_STD))
        assert net(torch.rand(2, 3, 32, 32)).shape == (2, len(world.CLASSES))
        assert (zoo.WEIGHTS_DIR / f'{name}.safetensors').is_file()                # the weights ship with the package
        assert load_network(name).weights_id == f'gridablate:{name}'
