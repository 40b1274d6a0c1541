"""Malformed command lines, tried systematically: each gets exit status 2 and a one-line error, never a traceback."""
import collections, contextlib, inspect, io, sys
from pathlib import Path
import numpy as np, pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from PIL import Image
from gridablate import cli

TRIED = []

def gridablate(*argv)->tuple:
    "Run `gridablate ARGV` in this process: (exit status, stdout, stderr)."
    out, err, old = io.StringIO(), io.StringIO(), sys.argv
    sys.argv = ["gridablate", *map(str, argv)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try: cli.main(); code = 0
            except SystemExit as e: code = e.code if isinstance(e.code, int) else 1
    finally: sys.argv = old
    return code, out.getvalue(), err.getvalue()

@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    "An image folder with two classes of 6 images, odd sizes and modes, and files that are not images."
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for c, mode in (("cat", "RGB"), ("dog", "L")):
        (root / c).mkdir()
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (7 + 13 * i, 5 + 9 * i, 3) if mode == "RGB" else (9 + i, 31),
                                         np.uint8)).save(root / c / f"{i}.png")
        (root / c / "notes.txt").write_text("not an image")
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    return root

# Every case: valid, cheap arguments with exactly one field broken. A list is tried value by value, a strategy drawn.
BASE = dict(networks="tiny_alexnet", classes="0,1", n_per_class=10, layers="dense2", no_check=None, companions="none",
            n_null="0")
BAD = {
    "networks": ["", ",", "alexnett", "tiny_alexnet,tiny_alexnet", "TINY_ALEXNET", "tiny_alexnet,nope", " "],
    "layers": ["", ",", "conv9", "dense2,dense2", "features.3", "dense2,nope"],
    "n_per_class": st.one_of(st.integers(-10**6, 4).map(str), st.sampled_from(["five", "1e3", "", "5.5", "nan"])),
    "classes": ["", ",", "0,0", "0", "999,0", "-1,0", "circle striped,0", "0,unicorn", "0,1,1"],
    "rows": st.one_of(st.integers(-5, 0).map(str), st.integers(33, 500).map(str),
                      st.sampled_from(["x", "2.5"])),   # 33 x 4 > 128 units
    "cols": st.one_of(st.integers(-5, 0).map(str), st.integers(33, 500).map(str)),
    "seed": ["-1", "x", "1.5", str(2**80)],
    "weights": ["nope", "/nonexistent/weights.safetensors", "imagenet", ""],
    "labels": ["random", "", "TRUE", "shuffle"],
    "source": ["nope", "folder:/nonexistent", "imagenet:/nonexistent", "imagenette:/nonexistent", "folder:", "world:x"],
    "device": ["cuda", "cuda:3", "tpu", "gpu", ""],
    "companions": ["tiny_vgg", "", ",", "alexnet"],
    "fv_steps": ["0", "-3", "many"],
    "n_null": ["-1", "x", "0.5"],
    "n_directions": ["-1", "x", "0.5", ""],
    "n_offtarget": ["0", "-2", "11", "x", "2.5"],     # BASE has 10 images per class
    "preset": ["authors", "", "PAPER", "paper,gridablate"],
    "unit": ["pixel", "", "Channel", "neurons"],
    "n_others": ["some", "", "-1", "0", "1.5"],
    "rank": ["dense", "", "Paper", "tie-aware"],
    "deficit": ["abs", "", "Signed"],
    "probe": ["linear", "", "held-out"],
    "ablation": ["zeros", "", "Mean", "resampled", "noise"],
    "axes": ["", "csi", "csi,csi", "selectivity,size", "a,b,c", ",magnitude"],
    "probe_units": ["0", "-5", "x", "1.5"],
    "probe_subsets": ["0", "-1", "x"],
    "max_memory": ["0", "-1", "lots", "nan"],
    "from_results": ["/nonexistent", "/dev/null", "/etc"],
    "scheduler": ["foo", "localhost:8786", "http://x"],
    "control": ["foo", "", ",", "labels,labels", "labels,foo", "Labels"],
    "out": ["/dev/null", "/dev/null/results"],        # a file, and a folder under a file
}

# Every case other than a bad --out gets a fresh --out folder of its own.
NOT_FUZZED = set()

def _strategy(values): return st.sampled_from(values) if isinstance(values, list) else values

@pytest.mark.parametrize("field", sorted(BAD))
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_malformed_run_arguments_exit_2_without_traceback(tmp_path_factory, field, data):
    "A malformed value of any option: exit status 2 and one line, 'gridablate run: error: ...', as the last of stderr."
    value = data.draw(_strategy(BAD[field]))
    args = {**BASE, field: value}
    argv = ["run"] + [a for k, v in args.items() for a in ([f"--{k}"] if v is None else [f"--{k}", v])]
    code, out, err = gridablate(*argv, *([] if field == "out" else ["--out", tmp_path_factory.mktemp("out")]))
    assert code == 2, (argv, code, err[-2000:])
    assert "Traceback" not in err + out, (argv, err)
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("gridablate run: error: "), (argv, err)
    assert lines[-1].removeprefix("gridablate run: error: ").strip(), (argv, err)          # it says what is wrong
    assert sum("error:" in l for l in lines) == 1, (argv, err)                   # one error, said once
    TRIED.append((field, value))

def test_bad_folder_sources(folder, tmp_path):
    "More images than a class has, and a folder of odd images and non-image files."
    code, _, err = gridablate("run", "--networks", "tiny_alexnet", "--source", f"folder:{folder}",
                              "--n_per_class", "50", "--out", tmp_path / "a")
    assert code == 2 and "Traceback" not in err, err
    TRIED.append(("source", "folder with too few images"))

def test_unknown_command_and_no_command():
    for argv in [(), ("walk",), ("run", "--no-such-flag")]:
        code, out, err = gridablate(*argv)
        assert code == 2 and "Traceback" not in err, (argv, err)
        TRIED.append(("command", argv))

def test_count(request, capsys):
    """The malformed command lines, counted: every option of `gridablate run` that takes a value has malformed values
    in `BAD`, and every case of this file that ran tried what it should (each fuzzed option several distinct values)."""
    params = inspect.signature(cli.run).parameters
    valued = {n for n, p in params.items() if p.annotation not in (bool, "bool")}
    assert valued - NOT_FUZZED == set(BAD), f"options without malformed values: {valued - NOT_FUZZED - set(BAD)}"
    ran = [i for i in request.session.items if i.module is request.module and i.originalname != "test_count"]
    tried = collections.defaultdict(set)
    for field, value in TRIED: tried[field].add(str(value))
    for field in {i.callspec.params["field"] for i in ran if hasattr(i, "callspec")}:      # the fuzzed options
        least = min(3, len(BAD[field])) if isinstance(BAD[field], list) else 3
        assert len(tried[field]) >= least, (field, tried[field])
    if any(i.originalname == "test_unknown_command_and_no_command" for i in ran): assert len(tried["command"]) == 3
    if any(i.originalname == "test_bad_folder_sources" for i in ran):
        assert "folder with too few images" in tried["source"]
    with capsys.disabled(): print(f"\n{len(TRIED)} malformed command lines tried, "
                                  f"{len(set(map(str, TRIED)))} distinct")
