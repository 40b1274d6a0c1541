"""Tests of gridablate.paper_alexnet: heuritech's AlexNet rebuilt in PyTorch, checked layer by layer against a NumPy
reimplementation of the Keras/Theano network, on weight files this test writes in heuritech's HDF5 layout."""
from pathlib import Path

import h5py, numpy as np, pytest, scipy.signal, torch

from gridablate.errors import GridablateError, WeightsMismatchError, WeightsNotFoundError
from gridablate.networks import Network
from gridablate.paper_alexnet import (HEURITECH_URL, PAPER_ALEXNET_ENV, PAPER_ALEXNET_LAYERS, PAPER_ALEXNET_WIDTHS,
                                      PaperAlexNet, load_heuritech, paper_alexnet)

torch.set_num_threads(1)
SMALL, N_CLASSES = (8, 12, 16, 16, 12, 24, 20), 10


def heuritech_shapes(widths, n_classes):
    "Dataset name -> shape in heuritech's alexnet_weights.h5 (Keras 1, Theano: conv (out, in, h, w), dense (in, out))."
    c1, c2, c3, c4, c5, d1, d2 = widths
    convs = dict(conv_1=(c1, 3, 11, 11), conv_3=(c3, c2, 3, 3))
    for i in (1, 2):
        convs.update({f'conv_2_{i}': (c2 // 2, c1 // 2, 5, 5), f'conv_4_{i}': (c4 // 2, c3 // 2, 3, 3),
                      f'conv_5_{i}': (c5 // 2, c4 // 2, 3, 3)})
    dense = dict(dense_1=(c5 * 6 * 6, d1), dense_2=(d1, d2), dense_3=(d2, n_classes))
    shapes = {}
    for g, s in convs.items(): shapes.update({f'{g}/{g}_W': s, f'{g}/{g}_b': (s[0],)})
    for g, s in dense.items(): shapes.update({f'{g}/{g}_W': s, f'{g}/{g}_b': (s[1],)})
    return shapes


def write_heuritech(path, widths=SMALL, n_classes=N_CLASSES, seed=0):
    "Random weights, scaled so activations stay O(10-100) on 0-255 images (so the LRN matters); returns the arrays."
    rng, arrays = np.random.default_rng(seed), {}
    with h5py.File(path, 'w') as f:
        f.attrs['layer_names'] = [n.split('/')[0].encode() for n in heuritech_shapes(widths, n_classes)][::2]
        for name, shape in heuritech_shapes(widths, n_classes).items():
            fan_in = np.prod(shape[1:]) if len(shape) == 4 else shape[0]
            gain = 0.5 if name.startswith('conv_1/') else 1.5
            a = rng.normal(size=shape) * (gain / np.sqrt(fan_in) if name.endswith('_W') else 0.1)
            f[name] = arrays[name] = a.astype(np.float32)
    return arrays


# ---- a NumPy reimplementation of heuritech's Keras 1 / Theano network ----------------------------------------------

def th_conv(x, W, b, stride=1, pad=0):
    "Theano's conv2d (valid, subsample `stride`) after zero padding `pad`: a true convolution: the kernel flips."
    Wf = W[:, :, ::-1, ::-1]                                # convolution = correlation with the flipped kernel
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    (B, C, H, Wd), (O, _, kh, kw) = x.shape, W.shape
    oh, ow = (H - kh) // stride + 1, (Wd - kw) // stride + 1
    out = np.zeros((B, O, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
            out += np.einsum('bchw,oc->bohw', patch, Wf[:, :, i, j])
    return out + b[None, :, None, None]


def grouped(x, parts, pad):
    "heuritech's splittensor + merge: the first half of the channels through group 1, the second through group 2."
    h = x.shape[1] // 2
    return np.concatenate([th_conv(x[:, g * h:(g + 1) * h], W, b, pad=pad) for g, (W, b) in enumerate(parts)], 1)


def lrn(x, alpha=1e-4, k=2., beta=0.75, n=5):
    "heuritech's crosschannelnormalization: x / (k + alpha * sum of squares over the n channels around it)^beta."
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        s = (x[:, max(0, c - n // 2):c + n // 2 + 1] ** 2).sum(1)
        out[:, c] = x[:, c] / (k + alpha * s) ** beta
    return out


def maxpool(x, size=3, stride=2):
    oh, ow = (x.shape[2] - size) // stride + 1, (x.shape[3] - size) // stride + 1
    out = np.full(x.shape[:2] + (oh, ow), -np.inf)
    for i in range(size):
        for j in range(size):
            out = np.maximum(out, x[:, :, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride])
    return out


def relu(x): return np.maximum(x, 0)


def reference(a, x):
    "Every analysis layer and the logits (pre-softmax) of heuritech's AlexNet on BGR 0-255 images `x` (B,3,227,227)."
    a = {k: v.astype(np.float64) for k, v in a.items()}
    W = lambda g: (a[f'{g}/{g}_W'], a[f'{g}/{g}_b'])
    r = {'conv1': relu(th_conv(x, *W('conv_1'), stride=4))}
    r['conv2'] = relu(grouped(lrn(maxpool(r['conv1'])), [W('conv_2_1'), W('conv_2_2')], pad=2))
    r['conv3'] = relu(th_conv(lrn(maxpool(r['conv2'])), *W('conv_3'), pad=1))
    r['conv4'] = relu(grouped(r['conv3'], [W('conv_4_1'), W('conv_4_2')], pad=1))
    r['conv5'] = relu(grouped(r['conv4'], [W('conv_5_1'), W('conv_5_2')], pad=1))
    flat = maxpool(r['conv5']).reshape(len(x), -1)            # Keras's Flatten on (C, H, W): C-order
    r['dense1'] = relu(flat @ a['dense_1/dense_1_W'] + a['dense_1/dense_1_b'])
    r['dense2'] = relu(r['dense1'] @ a['dense_2/dense_2_W'] + a['dense_2/dense_2_b'])
    r['logits'] = r['dense2'] @ a['dense_3/dense_3_W'] + a['dense_3/dense_3_b']
    return r


def test_reference_conv_is_a_true_convolution():
    "The reference's flip is anchored to SciPy's definition of convolution, which is Theano's conv2d."
    rng = np.random.default_rng(1)
    x, W = rng.normal(size=(1, 2, 13, 11)), rng.normal(size=(3, 2, 5, 4))
    want = np.stack([sum(scipy.signal.convolve(x[0, c], W[o, c], mode='valid') for c in range(2)) for o in range(3)])
    np.testing.assert_allclose(th_conv(x, W, np.zeros(3))[0], want, atol=1e-10)
    np.testing.assert_allclose(th_conv(x, W, np.zeros(3), stride=3)[0], want[:, ::3, ::3], atol=1e-10)


# ---- the converted network against the reference -------------------------------------------------------------------

def _outputs(net, x):
    "The analysis layers' outputs and the logits of Network `net` on images `x`."
    got, hooks = {}, [net.layer(n).register_forward_hook(lambda m, i, o, n=n: got.update({n: o.detach().double()}))
                      for n in net.layers]
    try:
        with torch.no_grad(): got['logits'] = net(x).double()
    finally:
        for h in hooks: h.remove()
    return {k: v.numpy() for k, v in got.items()}


def test_every_layer_matches_the_reference(tmp_path):
    arrays = write_heuritech(tmp_path/'w.h5')
    module = PaperAlexNet(SMALL, N_CLASSES)
    module.load_state_dict(load_heuritech(tmp_path/'w.h5', SMALL, N_CLASSES))
    net = Network('paper_alexnet', module, PAPER_ALEXNET_LAYERS, [str(i) for i in range(N_CLASSES)],
                  mean=(0., 0., 0.), std=(1 / 255,) * 3, input_size=227).check()
    rgb = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (2, 3, 227, 227), dtype=np.uint8))
    want = reference(arrays, rgb.numpy()[:, ::-1].astype(np.float64))      # the authors' input: BGR, 0-255
    got = _outputs(net, rgb)                                                 # the Network's: RGB 8-bit images
    assert set(got) == set(want) == {*PAPER_ALEXNET_LAYERS, 'logits'}
    for name in want:
        assert got[name].shape == want[name].shape, name
        assert np.abs(want[name]).max() > 1 and (want[name] > 0).mean() > .1, name   # not a dead layer
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=2e-5 * np.abs(want[name]).max(), err_msg=name)
    lrn_mattered = np.abs(lrn(maxpool(want['conv1'])) - maxpool(want['conv1'])).max() / np.abs(want['conv1']).max()
    assert lrn_mattered > .1                                                 # the LRN formula is really tested


def test_orientation_matters(tmp_path):
    "Without the flip, or with the groups swapped, or torch's LRN alpha, the network would differ: the test can tell."
    arrays = write_heuritech(tmp_path/'w.h5')
    sd = load_heuritech(tmp_path/'w.h5', SMALL, N_CLASSES)
    x = torch.from_numpy(np.random.default_rng(3).integers(0, 256, (1, 3, 227, 227)).astype(np.float32))
    def logits(sd, **lrn):
        m = PaperAlexNet(SMALL, N_CLASSES).eval(); m.load_state_dict(sd)
        for k, v in lrn.items(): setattr(m.features.lrn1, k, v); setattr(m.features.lrn2, k, v)
        with torch.no_grad(): return m(x)
    base = logits(sd)
    want = reference(arrays, x.numpy()[:, ::-1].astype(np.float64))['logits']
    np.testing.assert_allclose(base.double().numpy(), want, rtol=0, atol=2e-5 * np.abs(want).max())
    unflipped = dict(sd, **{'features.conv1.weight': sd['features.conv1.weight'].flip(2, 3)})
    swapped = dict(sd, **{'features.conv2.weight': sd['features.conv2.weight'].roll(6, 0)})
    for other in (logits(unflipped), logits(swapped), logits(sd, alpha=1e-4 / 5)):
        assert not torch.allclose(base, other, rtol=1e-3, atol=1e-3 * base.abs().max())


def test_full_size_file(tmp_path):
    "A file of the real shapes (zeros but for conv_1, written lazily by h5py) loads into paper_alexnet."
    path, rng = tmp_path/'alexnet_weights.h5', np.random.default_rng(4)
    with h5py.File(path, 'w') as f:
        for name, shape in heuritech_shapes(PAPER_ALEXNET_WIDTHS, 1000).items():
            f.create_dataset(name, shape, dtype='f4')                        # zero-filled, takes no disk space
        W1 = f['conv_1/conv_1_W'][...] = rng.normal(size=(96, 3, 11, 11)).astype(np.float32) * .01
        b1 = f['conv_1/conv_1_b'][...] = rng.normal(size=96).astype(np.float32)
        f['dense_3/dense_3_b'][...] = np.arange(1000, dtype=np.float32)
    net = paper_alexnet(path).check()
    assert net.weights_id.startswith('heuritech:') and len(net.weights_id) == len('heuritech:') + 12
    assert net.input_size == 227 and net.classes[13] == 'junco' and len(net.classes) == 1000
    rgb = torch.from_numpy(np.random.default_rng(5).integers(0, 256, (1, 3, 227, 227), dtype=np.uint8))
    got = _outputs(net, rgb)
    want = relu(th_conv(rgb.numpy()[:, ::-1].astype(np.float64), W1.astype(np.float64), b1.astype(np.float64), 4))
    np.testing.assert_allclose(got['conv1'], want, rtol=0, atol=1e-5 * np.abs(want).max())
    assert [got[n][0].size for n in PAPER_ALEXNET_LAYERS] == [290400, 186624, 64896, 64896, 43264, 4096, 4096]
    np.testing.assert_allclose(got['logits'][0], np.arange(1000))           # all-zero dense weights: the biases


def test_random_is_seeded():
    a, b = paper_alexnet('random'), paper_alexnet('random')
    assert a.weights_id == 'random'
    assert all(torch.equal(p, q) for p, q in zip(a.module.parameters(), b.module.parameters()))


# ---- files that are not there, or not heuritech's ------------------------------------------------------------------

def test_missing_file_says_where_to_get_it_and_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv(PAPER_ALEXNET_ENV, str(tmp_path/'weights'/'alexnet_weights.h5'))
    with pytest.raises(WeightsNotFoundError) as e: paper_alexnet()
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, GridablateError)
    assert HEURITECH_URL in str(e.value) and 'http://files.heuritech.com/weights/alexnet_weights.h5' in str(e.value)
    assert f'save it as {tmp_path}/weights/alexnet_weights.h5' in str(e.value) and PAPER_ALEXNET_ENV in str(e.value)
    monkeypatch.delenv(PAPER_ALEXNET_ENV)
    monkeypatch.setenv('HOME', str(tmp_path))
    with pytest.raises(WeightsNotFoundError, match=f'save it as {tmp_path}/.cache/gridablate/alexnet_weights.h5'):
        paper_alexnet('pretrained')
    with pytest.raises(WeightsNotFoundError, match=f'no AlexNet weights at {tmp_path}/elsewhere.h5'):
        paper_alexnet(tmp_path/'elsewhere.h5')


def test_wrong_layout_refused(tmp_path):
    (tmp_path/'junk.h5').write_bytes(b'\x89HDF not really')
    with pytest.raises(GridablateError, match='is not an HDF5 file'): load_heuritech(tmp_path/'junk.h5')
    arrays = write_heuritech(tmp_path/'w.h5')
    with h5py.File(tmp_path/'keras2.h5', 'w') as f:                       # Keras 2 names: conv_1/conv_1/kernel:0
        for name, a in arrays.items():
            g = name.split('/')[0]
            f[f"{g}/{g}/{'kernel' if name.endswith('_W') else 'bias'}:0"] = a
    with pytest.raises(WeightsMismatchError, match=r'conv_1/conv_1_W is missing; conv_1/conv_1_b is missing; .*'
                                                   r'\(22 problems\)\. Get the file from http'):
        load_heuritech(tmp_path/'keras2.h5', SMALL, N_CLASSES)
    with h5py.File(tmp_path/'w.h5', 'a') as f:
        del f['conv_4_2/conv_4_2_b']
        del f['dense_3/dense_3_W']; f['dense_3/dense_3_W'] = arrays['dense_3/dense_3_W'].T   # PyTorch's orientation
    with pytest.raises(WeightsMismatchError) as e: load_heuritech(tmp_path/'w.h5', SMALL, N_CLASSES)
    assert 'conv_4_2/conv_4_2_b is missing' in str(e.value)
    assert 'dense_3/dense_3_W has shape (10, 20), expected (20, 10)' in str(e.value)
    write_heuritech(tmp_path/'small.h5')                                   # right layout, but not the paper's size
    with pytest.raises(WeightsMismatchError, match=r'has shape \(8, 3, 11, 11\), expected \(96, 3, 11, 11\)'):
        paper_alexnet(tmp_path/'small.h5')
