"""Malformed command lines, tried systematically: each gets exit status 2 and a one-line error, never a traceback."""
import contextlib, io, sys
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

# Every case: valid, cheap arguments with exactly one field broken.
BASE = dict(networks="tiny_alexnet", classes="0,1", n_per_class=10, layers="dense2", no_check=None, companions="none",
            n_null="0")
BAD = {
    "networks": st.sampled_from(["", ",", "alexnett", "tiny_alexnet,tiny_alexnet", "TINY_ALEXNET", "tiny_alexnet,nope",
                                 " "]),
    "layers": st.sampled_from(["", ",", "conv9", "dense2,dense2", "features.3", "dense2,nope"]),
    "n_per_class": st.one_of(st.integers(-10**6, 4).map(str), st.sampled_from(["five", "1e3", "", "5.5", "nan"])),
    "classes": st.sampled_from(["", ",", "0,0", "0", "99,0", "-1,0", "circle striped,0", "0,unicorn", "0,1,1"]),
    "rows": st.one_of(st.integers(-5, 0).map(str), st.integers(33, 500).map(str),
                      st.sampled_from(["x", "2.5"])),   # 33 x 4 > 128 units
    "cols": st.one_of(st.integers(-5, 0).map(str), st.integers(33, 500).map(str)),
    "seed": st.sampled_from(["-1", "x", "1.5", str(2**80)]),
    "weights": st.sampled_from(["nope", "/nonexistent/weights.safetensors", "imagenet", ""]),
    "source": st.sampled_from(["nope", "folder:/nonexistent", "imagenet:/nonexistent", "imagenette:/nonexistent",
                               "folder:", "world:x"]),
    "device": st.sampled_from(["cuda", "cuda:3", "tpu", "gpu", ""]),
    "companions": st.sampled_from(["tiny_vgg", "", ",", "alexnet"]),
    "n_null": st.sampled_from(["-1", "x", "0.5"]),
    "n_offtarget": st.sampled_from(["0", "-2", "11", "x", "2.5"]),     # BASE has 10 images per class
    "fv_steps": st.sampled_from(["0", "-3", "many"]),
    "max_memory": st.sampled_from(["0", "-1", "lots", "nan"]),
    "from_results": st.sampled_from(["/nonexistent", "/dev/null", "/etc"]),
    "scheduler": st.sampled_from(["foo", "localhost:8786", "http://x"]),
    "control": st.sampled_from(["foo", "", ",", "labels,labels", "labels,foo", "Labels"]),
    "labels": st.sampled_from(["random", "", "TRUE", "shuffle"]),
}

@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(field=st.sampled_from(sorted(BAD)), data=st.data())
def test_malformed_run_arguments_exit_2_without_traceback(tmp_path_factory, field, data):
    value = data.draw(BAD[field])
    args = {**BASE, field: value}
    argv = ["run"] + [a for k, v in args.items() for a in ([f"--{k}"] if v is None else [f"--{k}", v])]
    code, out, err = gridablate(*argv, "--out", tmp_path_factory.mktemp("out"))
    TRIED.append((field, value))
    assert code == 2, (argv, code, err[-2000:])
    assert "Traceback" not in err + out and err.strip(), (argv, err)
    assert err.strip().splitlines()[-1].startswith(("gridablate run: error:", "usage:")) or "error:" in err, err

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

def test_count(capsys):
    with capsys.disabled(): print(f"\n{len(TRIED)} malformed command lines tried, "
                                  f"{len(set(map(str, TRIED)))} distinct")
