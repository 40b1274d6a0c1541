"Tests of gridablate.data: image sources over tiny files this test writes, and a download from a local server."
import hashlib, http.server, io, tarfile, threading, warnings
from pathlib import Path

import numpy as np, pytest, scipy.io, torch, torchvision
from PIL import Image

from gridablate.data import (IMAGENET_CLASSES, IMAGENET_WNIDS, ImageFolderSource, PAPER_CLASSES_8, PAPER_CLASSES_50,
                             PAPER_NAMED, PAPER_WNIDS_50, devkit_wnids, download_imagenette, imagenet_val, imagenette,
                             load_image)
from gridablate.errors import GridablateError

SIZE = 16


def _jpeg(path, rgb=(255, 0, 0), mode='RGB', wh=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, wh, rgb).save(path)
    return path


# ---- labels and default classes ----------------------------------------------------------------------------------

def test_wnids_shipped_and_standard():
    assert len(IMAGENET_WNIDS) == 1000 == len(set(IMAGENET_WNIDS))
    assert list(IMAGENET_WNIDS) == sorted(IMAGENET_WNIDS)
    assert list(IMAGENET_CLASSES) == torchvision.models.AlexNet_Weights.IMAGENET1K_V1.meta['categories']
    for k, wnid, name in [(13, 'n01534433', 'junco'), (109, 'n01917289', 'brain coral'),
                          (453, 'n02870880', 'bookcase'), (0, 'n01440764', 'tench'),
                          (999, 'n15075141', 'toilet tissue')]:
        assert (IMAGENET_WNIDS[k], IMAGENET_CLASSES[k]) == (wnid, name)


# The paper's 50 classes as the method page names them, in the authors' order (their alexnet_ablation.py)
METHOD_NAMES_50 = """schooner, brain coral, junco, snail, grey whale, Siberian husky, electric fan, bookcase,
    fountain pen, toaster, balance beam, school bus, chainlink fence, chime, coyote, aircraft carrier, bubble,
    jellyfish, marmoset, wall clock, water snake, Welsh springer spaniel, Arctic fox, football helmet, slug, potpie,
    Pomeranian, Indian cobra, beach wagon, Italian greyhound, European fire salamander, chimpanzee, typewriter keyboard,
    black and gold garden spider, tick, toy terrier, switch, lighter, guillotine, otterhound, boxer, hook, jersey,
    soap dispenser, umbrella, tiger beetle, cash machine, eel, Blenheim spaniel, clumber"""


def test_paper_classes_are_the_authors():
    names = [n.strip() for n in METHOD_NAMES_50.split(',')]
    assert len(PAPER_CLASSES_50) == 50 == len(set(PAPER_CLASSES_50)) == len(names)
    assert [IMAGENET_CLASSES[i] for i in PAPER_CLASSES_50] == names
    assert [IMAGENET_WNIDS[i] for i in PAPER_CLASSES_50] == list(PAPER_WNIDS_50)
    assert PAPER_CLASSES_50[:3] == (780, 109, 13) and IMAGENET_CLASSES.index('junco') == 13
    assert PAPER_CLASSES_8 == PAPER_CLASSES_50[:8] == (780, 109, 13, 113, 147, 250, 545, 453)
    assert set(PAPER_NAMED) == {13, 109, 453} and set(PAPER_NAMED) <= set(PAPER_CLASSES_8)
    assert [IMAGENET_CLASSES[i] for i in PAPER_NAMED] == ['junco', 'brain coral', 'bookcase']


# ---- a class-per-folder tree --------------------------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path):
    "Class 'red' holds red images, class 'blue' blue ones, 8 each, in assorted modes and formats."
    for i in range(8):
        _jpeg(tmp_path/'red'/f'{i}.jpg', (255, 0, 0))
        _jpeg(tmp_path/'blue'/f'{i}.png', (0, 0, 255))
    return tmp_path


def test_folder_draw_is_seeded_and_labelled(tree):
    a = ImageFolderSource(tree, n_per_class=3, size=SIZE, seed=0, preprocess='imagenet')
    assert a.classes == ['blue', 'red'] and a.targets == [0] * 3 + [1] * 3
    assert a.paths == ImageFolderSource(tree, n_per_class=3, size=SIZE, seed=0, preprocess='imagenet').paths
    assert a.paths != ImageFolderSource(tree, n_per_class=3, size=SIZE, seed=1, preprocess='imagenet').paths
    assert all(p.parent.name == a.classes[t] for p, t in zip(a.paths, a.targets))
    for x, y in a:
        assert x.shape == (3, SIZE, SIZE) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
        assert int(x.mean((1, 2)).argmax()) == (2 if y == 0 else 0)
    b = ImageFolderSource(tree, classes=['red', 'blue'], n_per_class=3, size=SIZE, seed=0, preprocess='imagenet')
    assert b.classes == ['red', 'blue'] and b.paths == a.paths[3:] + a.paths[:3]   # a class's draw ignores the others


def test_modes_converted_to_rgb(tmp_path):
    _jpeg(tmp_path/'c'/'grey.jpg', 200, 'L')
    _jpeg(tmp_path/'c'/'cmyk.jpg', (0, 255, 255, 0), 'CMYK')
    _jpeg(tmp_path/'c'/'rgba.png', (0, 255, 0, 128), 'RGBA')
    p = Image.new('P', (40, 30), 1); p.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762); p.info['transparency'] = 0
    p.save(tmp_path/'c'/'pal.png')
    ds = ImageFolderSource(tmp_path, n_per_class=4, size=SIZE, preprocess='imagenet')
    means = {p.name: x.mean((1, 2)) for p, (x, _) in zip(ds.paths, ds)}
    assert all(x.shape == (3, SIZE, SIZE) for x, _ in ds)
    torch.testing.assert_close(means['grey.jpg'], torch.full((3,), 200 / 255), atol=2 / 255, rtol=0)
    assert means['cmyk.jpg'][0] > .9 and means['cmyk.jpg'][1:].max() < .1
    assert means['rgba.png'][1] > .99 and means['rgba.png'][[0, 2]].max() < .01
    assert means['pal.png'][2] > .99


def test_bad_files_skipped_with_one_warning(tree):
    noise = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tree/'red'/'0.jpg')
    good = (tree/'red'/'0.jpg').read_bytes()
    (tree/'red'/'0.jpg').write_bytes(good[:len(good) * 3 // 4])     # truncated JPEG: the header opens, decoding fails
    with Image.open(tree/'red'/'0.jpg') as im:
        assert im.size == (40, 30)
        with pytest.raises(OSError, match='truncated'): im.load()
    (tree/'red'/'notes.txt').write_text('not an image')
    (tree/'red'/'empty.jpg').write_bytes(b'')
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter('always')
        ds = ImageFolderSource(tree, classes=['red'], n_per_class=7, size=SIZE, preprocess='imagenet')
    assert len(ds) == 7 and {p.name for p in ds.paths} == {f'{i}.jpg' for i in range(1, 8)}
    assert len(rec) <= 1 and all('unreadable' in str(r.message) for r in rec)   # the bad files drawn, if any
    with warnings.catch_warnings(record=True) as rec:                              # asking for 8 tries every file
        warnings.simplefilter('always')
        with pytest.raises(ValueError, match=r"'red' has 7.*smaller n_per_class"):
            ImageFolderSource(tree, classes=['red'], n_per_class=8, size=SIZE)
    assert len(rec) == 1 and 'skipped 3 unreadable' in str(rec[0].message)


def test_folder_errors(tree, tmp_path):
    with pytest.raises(ValueError, match='smaller n_per_class'): ImageFolderSource(tree, n_per_class=9)
    with pytest.raises(FileNotFoundError, match='nowhere'): ImageFolderSource(tmp_path/'nowhere')
    with pytest.raises(ValueError, match=r"available: blue, red"): ImageFolderSource(tree, classes=['green'])
    with pytest.raises(ValueError, match='classes is empty'): ImageFolderSource(tree, classes=[])
    with pytest.raises(ValueError, match='positive integer'): ImageFolderSource(tree, n_per_class=0)
    (tmp_path/'empty').mkdir()
    with pytest.raises(ValueError, match='no class folders'): ImageFolderSource(tmp_path/'empty')


# ---- ImageNet validation, both layouts ---------------------------------------------------------------------------

WNIDS3 = ['n01534433', 'n01917289', 'n02870880']          # junco, brain coral, bookcase: indices 13, 109, 453


def _val_name(k): return f'ILSVRC2012_val_{k:08d}.JPEG'


def test_imagenet_class_folders(tmp_path):
    for j, w in enumerate(WNIDS3):
        for i in range(3): _jpeg(tmp_path/w/_val_name(10 * j + i + 1), (80 * j, 0, 0))
    ds = imagenet_val(tmp_path, classes=[13, 109, 453], n_per_class=2, size=SIZE)
    assert ds.targets == [13, 13, 109, 109, 453, 453] and ds.class_ids == [13, 109, 453]
    assert len(ds.classes) == 1000 and [ds.classes[t] for t in ds.class_ids] == ['junco', 'brain coral', 'bookcase']
    assert all(p.parent.name == IMAGENET_WNIDS[t] for p, t in zip(ds.paths, ds.targets))
    with pytest.raises(ValueError, match='no folder for class n01440764 \\(tench\\)'):
        imagenet_val(tmp_path, classes=[0], n_per_class=1)


def _write_devkit(devkit, truth):
    "A devkit whose meta.mat has the ILSVRC2012 synsets struct: ids 1..3 are leaves in non-index order, 4 a parent."
    fields = ['ILSVRC2012_ID', 'WNID', 'words', 'gloss', 'num_children', 'children', 'wordnet_height',
              'num_train_images']
    rows = [(1.0, 'n02870880', 'bookcase', 'furniture with shelves', 0.0, np.zeros((1, 0)), 0.0, 1300.0),
            (2.0, 'n01534433', 'junco, snowbird', 'small sparrow', 0.0, np.zeros((1, 0)), 0.0, 1300.0),
            (3.0, 'n01917289', 'brain coral', 'coral', 0.0, np.zeros((1, 0)), 0.0, 1300.0),
            (4.0, 'n00001740', 'entity', 'root', 3.0, np.array([[1.0, 2.0, 3.0]]), 19.0, 0.0)]
    synsets = np.zeros((len(rows), 1), dtype=[(f, object) for f in fields])
    for i, r in enumerate(rows): synsets[i, 0] = r
    (devkit/'data').mkdir(parents=True)
    scipy.io.savemat(devkit/'data'/'meta.mat', {'synsets': synsets})
    (devkit/'data'/'ILSVRC2012_validation_ground_truth.txt').write_text(''.join(f'{t}\n' for t in truth))


def _torchvision_parse_meta_mat(devkit_root):
    "torchvision.datasets.imagenet.parse_devkit_archive's inner parse_meta_mat, verbatim: the reference reader."
    meta = scipy.io.loadmat(Path(devkit_root)/'data'/'meta.mat', squeeze_me=True)['synsets']
    nums_children = list(zip(*meta))[4]
    meta = [meta[idx] for idx, num_children in enumerate(nums_children) if num_children == 0]
    idcs, wnids, classes = list(zip(*meta))[:3]
    return {idx: wnid for idx, wnid in zip(idcs, wnids)}


def test_imagenet_flat_with_devkit(tmp_path):
    truth = [2, 1, 3, 2, 3, 1, 2, 3, 1]                     # devkit ids of images 1..9
    _write_devkit(tmp_path/'ILSVRC2012_devkit_t12', truth)
    ref = _torchvision_parse_meta_mat(tmp_path/'ILSVRC2012_devkit_t12')
    assert devkit_wnids(tmp_path/'ILSVRC2012_devkit_t12') == [ref[t] for t in truth]
    flat = tmp_path/'val'
    for k in range(1, 10): _jpeg(flat/_val_name(k))
    ds = imagenet_val(flat, classes=['junco', 'brain coral', 'bookcase'], n_per_class=3, size=SIZE)  # devkit beside
    want = {13: {1, 4, 7}, 109: {3, 5, 8}, 453: {2, 6, 9}}
    assert ds.class_ids == [13, 109, 453]
    for t in want: assert {int(p.stem[-8:]) for p, y in zip(ds.paths, ds.targets) if y == t} == want[t]
    ds1 = imagenet_val(flat, classes=[453], n_per_class=2, size=SIZE, devkit=tmp_path/'ILSVRC2012_devkit_t12/data')
    folders = tmp_path/'folders'                              # the same images in class folders: the same draw
    for p, y in zip(ds.paths, ds.targets): _jpeg(folders/IMAGENET_WNIDS[y]/p.name)
    ds2 = imagenet_val(folders, classes=[453], n_per_class=2, size=SIZE)
    assert [p.name for p in ds1.paths] == [p.name for p in ds2.paths]


JUNCO, CORAL, BOOKS = WNIDS3
IMAGES9 = [JUNCO, BOOKS, CORAL, JUNCO, CORAL, BOOKS, JUNCO, CORAL, BOOKS]   # the classes of images 1..9
IDS_2012 = {BOOKS: 1, JUNCO: 2, CORAL: 3}                                  # what _write_devkit numbers
IDS_CLSLOC = {JUNCO: 1, CORAL: 2, BOOKS: 3}                                # another numbering, for the clsloc fakes


def _write_clsloc(devkit, year, truth_ids, extra_columns=False):
    """A clsloc devkit as image-net.org ships it: 2014 with the 2012-style fields (ILSVRC2014_ID, ..., and a WordNet
    ancestor), 2015 with ILSVRC2015_CLSLOC_ID, WNID, name, description, num_train_images (classes only)."""
    if year == 2014:
        fields = ['ILSVRC2014_ID', 'WNID', 'words', 'gloss', 'num_children', 'children', 'wordnet_height',
                  'num_train_images']
        rows = [(float(i), w, IMAGENET_CLASSES[IMAGENET_WNIDS.index(w)], 'gloss', 0.0, np.zeros((1, 0)), 0.0, 1300.0)
                for w, i in IDS_CLSLOC.items()]
        rows.append((4.0, 'n00001740', 'entity', 'root', 3.0, np.array([[1.0, 2.0, 3.0]]), 19.0, 0.0))
    else:
        fields = ['ILSVRC2015_CLSLOC_ID', 'WNID', 'name', 'description', 'num_train_images']
        rows = [(float(i), w, IMAGENET_CLASSES[IMAGENET_WNIDS.index(w)], 'description', 1300.0)
                for w, i in IDS_CLSLOC.items()]
    synsets = np.zeros((1, len(rows)), dtype=[(f, object) for f in fields])     # 1xN, as in the real files
    for i, r in enumerate(rows): synsets[0, i] = r
    (devkit/'data').mkdir(parents=True)
    scipy.io.savemat(devkit/'data'/'meta_clsloc.mat', {'synsets': synsets})
    lines = [f'{t} 0 0 10 10' if extra_columns else f'{t}' for t in truth_ids]
    (devkit/'data'/f'ILSVRC{year}_clsloc_validation_ground_truth.txt').write_text('\n'.join(lines) + '\n')
    return devkit


def test_both_devkits_label_alike(tmp_path):
    truth12, clsloc = [IDS_2012[w] for w in IMAGES9], [IDS_CLSLOC[w] for w in IMAGES9]
    assert truth12 != clsloc                                                 # the two numberings really differ
    _write_devkit(tmp_path/'ILSVRC2012_devkit_t12', truth12)
    kits = {'2012': tmp_path/'ILSVRC2012_devkit_t12',
            '2014': _write_clsloc(tmp_path/'ILSVRC2014_devkit', 2014, clsloc),
            '2015': _write_clsloc(tmp_path/'ILSVRC2015_devkit', 2015, clsloc),
            '2015 with extra columns': _write_clsloc(tmp_path/'more'/'ILSVRC2015_devkit', 2015, clsloc, True)}
    for name, kit in kits.items():
        assert devkit_wnids(kit) == IMAGES9, name
        assert devkit_wnids(kit/'data') == IMAGES9, name
    flat = tmp_path/'val'
    for k in range(1, 10): _jpeg(flat/_val_name(k))
    want = {13: {1, 4, 7}, 109: {3, 5, 8}, 453: {2, 6, 9}}
    for name, kit in kits.items():
        ds = imagenet_val(flat, classes=['junco', 'brain coral', 'bookcase'], n_per_class=3, size=SIZE, devkit=kit)
        got = {t: {int(p.stem[-8:]) for p, y in zip(ds.paths, ds.targets) if y == t} for t in want}
        assert got == want, name


def test_clsloc_devkit_found_beside_images(tmp_path):
    clsloc = [IDS_CLSLOC[w] for w in IMAGES9]
    for k in range(1, 10): _jpeg(tmp_path/'a'/'val'/_val_name(k))
    _write_clsloc(tmp_path/'a'/'ILSVRC2015_devkit', 2015, clsloc)           # the devkit folder beside the images
    ds = imagenet_val(tmp_path/'a'/'val', classes=['bookcase'], n_per_class=3, size=SIZE)
    assert {int(p.stem[-8:]) for p in ds.paths} == {2, 6, 9} and ds.targets == [453] * 3
    # the authors' layout: meta_clsloc.mat and the 2014 ground truth loose in the folder that holds images/
    for k in range(1, 10): _jpeg(tmp_path/'b'/'images'/_val_name(k))
    _write_clsloc(tmp_path/'kit', 2014, clsloc)
    for f in (tmp_path/'kit'/'data').iterdir(): f.rename(tmp_path/'b'/f.name)
    ds = imagenet_val(tmp_path/'b'/'images', classes=['junco'], n_per_class=3, size=SIZE)
    assert {int(p.stem[-8:]) for p in ds.paths} == {1, 4, 7} and ds.targets == [13] * 3


def test_devkit_errors(tmp_path):
    with pytest.raises(FileNotFoundError) as e: devkit_wnids(tmp_path)
    for f in ('meta.mat', 'ILSVRC2012_validation_ground_truth.txt', 'meta_clsloc.mat',
              'ILSVRC2015_clsloc_validation_ground_truth.txt'):
        assert f in str(e.value)
    _write_clsloc(tmp_path/'kit', 2015, [1, 2, 7])                          # 7: an id the meta file lacks
    with pytest.raises(GridablateError, match='line 3 .* gives class id 7.*different devkits'):
        devkit_wnids(tmp_path/'kit')
    bad = tmp_path/'bad'/'data'
    bad.mkdir(parents=True)
    synsets = np.zeros((1, 1), dtype=[('id', object), ('WNID', object)]); synsets[0, 0] = (1.0, JUNCO)
    scipy.io.savemat(bad/'meta_clsloc.mat', {'synsets': synsets})
    (bad/'ILSVRC2015_clsloc_validation_ground_truth.txt').write_text('1\n')
    with pytest.raises(GridablateError, match=r"fields \['id', 'WNID'\].*ILSVRC2015_CLSLOC_ID"): devkit_wnids(bad)
    (bad/'meta_clsloc.mat').write_bytes(b'not a mat file')
    with pytest.raises(GridablateError, match='could not be read'): devkit_wnids(bad)


def test_imagenet_layout_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='Expected either class folders'): imagenet_val(tmp_path)
    _jpeg(tmp_path/'val'/_val_name(1))
    with pytest.raises(FileNotFoundError, match='pass devkit='): imagenet_val(tmp_path/'val')
    with pytest.raises(ValueError, match='not an ImageNet class'): imagenet_val(tmp_path/'val', classes=['unicorn'])


# ---- Imagenette over a local HTTP server ----------------------------------------------------------------------------

NETTE = {'n01440764': 0, 'n02102040': 217, 'n03000684': 491}


def _nette_tgz(path, top='imagenette2-160'):
    with tarfile.open(path, 'w:gz') as tf:
        for split, n in (('train', 2), ('val', 4)):
            for w in NETTE:
                for i in range(n):
                    buf = io.BytesIO(); Image.new('RGB', (40, 30), (i * 40, 0, 0)).save(buf, 'JPEG')
                    info = tarfile.TarInfo(f'{top}/{split}/{w}/{w}_{i}.JPEG'); info.size = buf.tell()
                    buf.seek(0); tf.addfile(info, buf)
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def server(tmp_path):
    "Serve `tmp_path/'www'` on 127.0.0.1; yields (base url, list of requested paths)."
    root, hits = tmp_path/'www', []
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k): super().__init__(*a, directory=str(root), **k)
        def do_GET(self): hits.append(self.path); super().do_GET()
        def log_message(self, *a): pass

    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try: yield f'http://127.0.0.1:{httpd.server_address[1]}/', hits, root
    finally:
        httpd.shutdown(); httpd.server_close(); thread.join(5)


def test_imagenette_download_verify_load(server, tmp_path):
    base, hits, www = server
    md5 = _nette_tgz(www/'imagenette2-160.tgz')
    dest = tmp_path/'data'
    with pytest.raises(ValueError, match='md5'):
        download_imagenette(dest, url=base + 'imagenette2-160.tgz', md5='0' * 32)
    assert len(hits) == 1 and not any(dest.iterdir())        # nothing left behind: no archive, no partial file
    folder = download_imagenette(dest, url=base + 'imagenette2-160.tgz', md5=md5)
    assert folder == dest/'imagenette2-160' and len(hits) == 2 and (dest/'imagenette2-160.tgz').is_file()
    assert {p.name for p in dest.iterdir()} == {'imagenette2-160', 'imagenette2-160.tgz'}
    assert download_imagenette(dest, url=base + 'imagenette2-160.tgz', md5=md5) == folder and len(hits) == 2
    ds = imagenette(folder, n_per_class=4, size=SIZE)
    assert ds.class_ids == [0, 217, 491] and ds.targets == [0] * 4 + [217] * 4 + [491] * 4
    assert all(p.parent.name == IMAGENET_WNIDS[t] and p.parent.parent.name == 'val'
               for p, t in zip(ds.paths, ds.targets))
    assert ds[0][0].shape == (3, SIZE, SIZE)
    tr = imagenette(dest, split='train', classes=['tench'], n_per_class=2, size=SIZE)  # the folder holding it works too
    assert tr.targets == [0, 0] and all(p.parent.parent.name == 'train' for p in tr.paths)
    import shutil; shutil.rmtree(folder)                      # verified archive still there: extract, no download
    assert download_imagenette(dest, url=base + 'imagenette2-160.tgz', md5=md5) == folder and len(hits) == 2


def test_unsafe_archive_refused(server, tmp_path):
    base, hits, www = server
    with tarfile.open(www/'evil.tgz', 'w:gz') as tf:
        info = tarfile.TarInfo('../evil.txt'); info.size = 4; tf.addfile(info, io.BytesIO(b'evil'))
    md5 = hashlib.md5((www/'evil.tgz').read_bytes()).hexdigest()
    with pytest.raises(ValueError, match='unsafe member'):
        download_imagenette(tmp_path/'d', url=base + 'evil.tgz', md5=md5)
    assert not (tmp_path/'evil.txt').exists()
    with pytest.raises(ValueError, match='choose one of'): download_imagenette(tmp_path/'d', size='64px')


def test_load_image_crop():
    "Shorter side to round(size*256/224), then the centre: a 2:1 image keeps its middle half."
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        im = np.zeros((64, 128, 3), np.uint8); im[:, 48:80] = 255          # white band in the middle quarter
        Image.fromarray(im).save(Path(d)/'band.png')
        x = load_image(Path(d)/'band.png', size=56)                        # 128x64 -> 128x64, crop middle 56
        row = x[0, 28]
        assert row[:4].max() < .05 and row[-4:].max() < .05 and row[24:32].min() > .95
