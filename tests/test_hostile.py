"""Hostile files: nothing gridablate reads can run code, and names from a data folder never reach a shell."""
import ast, json, subprocess, sys
from pathlib import Path
import numpy as np
from PIL import Image
import gridablate

PKG = Path(gridablate.__file__).parent
UNPICKLERS = {"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "joblib", "marshal", "shelve"}

def _dotted(fn, aliases:dict)->str:
    "The dotted name a call's function stands for, through the module's imports ('xr.open_dataset' -> 'xarray....')."
    parts = []
    while isinstance(fn, ast.Attribute): parts.append(fn.attr); fn = fn.value
    if not isinstance(fn, ast.Name): return ""
    return ".".join([aliases.get(fn.id, fn.id), *reversed(parts)])

def _is(node, value)->bool: return isinstance(node, ast.Constant) and node.value is value

def calls(source:str)->list:
    "Every call in `source` as (dotted name through the module's imports, {keyword: value node}, the call node)."
    tree, aliases = ast.parse(source), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names: aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return [(_dotted(n.func, aliases), {k.arg: k.value for k in n.keywords}, n)
            for n in ast.walk(tree) if isinstance(n, ast.Call)]

def unsafe_calls(source:str, # Python source
                 name:str="<string>", # its file name, for the report
                )->list[str]:
    """Every call in `source` that could run code from a file or a shell: an unpickler (pickle, dill, joblib, marshal,
    shelve, pandas' read_pickle, numpy's load with allow_pickle), `torch.load` without `weights_only=True`,
    `xarray.open_dataset` without an explicit engine, `eval`/`exec`, `os.system`/`os.popen`/`os.exec*`/`os.spawn*`,
    and any call with `shell=` other than `shell=False`."""
    found = []
    for f, kw, node in calls(source):
        mod, _, attr = f.rpartition(".")
        why = ("unpickles" if mod.split(".")[0] in UNPICKLERS and attr in ("load", "loads", "Unpickler", "open")
               else "unpickles" if attr == "read_pickle"
               else "may unpickle" if f == "numpy.load" and "allow_pickle" in kw and not _is(kw["allow_pickle"], False)
               else "loads beyond tensors" if f == "torch.load" and not _is(kw.get("weights_only"), True)
               else "no explicit engine" if f == "xarray.open_dataset" and "engine" not in kw
               else "runs code from a string" if f in ("eval", "exec")
               else "runs a shell" if f in ("os.system", "os.popen") or f.startswith(("os.exec", "os.spawn"))
               else "runs a shell" if "shell" in kw and not _is(kw["shell"], False)
               else None)
        if why: found.append(f"{name}:{node.lineno}: {ast.unparse(node)[:80]} ({why})")
    return found

PLANTED = ["import pickle\npickle.load(f)", "import pickle as p\np.loads(b)", "from pickle import loads\nloads(b)",
           "from pickle import Unpickler as U\nU(f).load()", "import joblib\njoblib.load(p)",
           "import pandas as pd\npd.read_pickle(p)", "import numpy as np\nnp.load(p, allow_pickle=True)",
           "import torch\ntorch.load(p)", "import torch\ntorch.load(p, map_location='cpu', weights_only=False)",
           "import torch as t\nt.load(p, weights_only=flag)", "from torch import load\nload(p)",
           "import xarray as xr\nxr.open_dataset(p)", "eval(text)", "exec(text)",
           "import os\nos.system('ls ' + name)", "from os import popen\npopen(cmd)", "import os\nos.execvp('sh', a)",
           "import subprocess\nsubprocess.run(cmd, shell=True)", "import subprocess as sp\nsp.Popen(cmd, shell=flag)"]
SAFE = ["import torch\ntorch.load(p, map_location='cpu', weights_only=True)", "import json\njson.loads(s)",
        "import numpy as np\nnp.load(p)", "net.module.eval()", "import subprocess\nsubprocess.run(['ls', name])",
        "import subprocess\nsubprocess.run(['ls'], shell=False)",
        "import xarray as xr\nxr.open_dataset(p, engine='scipy')",
        "with Image.open(path) as im: im.load()"]

def test_the_check_catches_planted_offenders():
    "Each planted offender is reported once; the safe forms beside them are not."
    for src in PLANTED: assert len(unsafe_calls(src)) == 1, (src, unsafe_calls(src))
    for src in SAFE: assert unsafe_calls(src) == [], (src, unsafe_calls(src))

def test_no_pickle_reads_and_no_shell():
    "No module of the package unpickles, loads torch files beyond tensors, guesses a file's engine or runs a shell."
    files = sorted(PKG.glob("*.py"))
    assert len(files) > 10
    assert [c for f in files for c in unsafe_calls(f.read_text(), f.name)] == []

def test_weights_load_only_as_tensors():
    """Weight files are read by `torch.load(..., weights_only=True)`, nothing else (test_networks.py shows a malicious
    pickle refused, and run when loaded without it)."""
    loads = [(f.name, kw, n) for f in PKG.glob("*.py") for name, kw, n in calls(f.read_text()) if name == "torch.load"]
    assert loads and all(_is(kw.get("weights_only"), True) for _, kw, _ in loads), \
        [(f, ast.unparse(n)) for f, _, n in loads]

# Names that are shell commands, quotes, spaces and unicode: each still a valid folder, class, layer and network name.
CLASSES = ["$(touch pwned)", "`touch pwned`; echo x > pwned", "a'b\"c && touch pwned", "ünï cødé ✓ | touch pwned"]
NET_NAME, LAYER = "net $(touch pwned);`touch pwned`", "layer'$(touch pwned)'"

HOSTILE_NET = f'''
import torch, torch.nn as nn
from gridablate.networks import wrap_model
def build():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))
    return wrap_model(m, {{{LAYER!r}: "1"}}, {CLASSES!r}, input_size=32, name={NET_NAME!r})
'''

def test_hostile_class_names_reach_no_shell(tmp_path):
    """Class folders, classes, a layer and a network named like shell commands are just names: the study runs, its
    files are written under those names, the summary names them, and nothing is executed."""
    root, rng = tmp_path / "images", np.random.default_rng(0)
    for n in CLASSES:
        (root / n).mkdir(parents=True)
        for i in range(10): Image.fromarray(rng.integers(0, 255, (32, 32, 3), np.uint8)).save(root / n / f"{i}.png")
    (tmp_path / "net.py").write_text(HOSTILE_NET)
    from gridablate.data import ImageFolderSource
    assert sorted(ImageFolderSource(root, None, 10, 32, 0).classes) == sorted(CLASSES)
    exe = str(Path(sys.executable).parent / "gridablate")
    r = subprocess.run([exe, "run", "--networks", f"{tmp_path}/net.py:build", "--source", f"folder:{root}",
                        "--n_per_class", "10", "--rows", "2", "--cols", "2", "--n_null", "2", "--companions", "none",
                        "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "net.py", "out"]    # no "pwned", nothing else
    assert r.returncode == 0, r.stderr[-3000:]
    from gridablate.store import load
    res = load(tmp_path / "out" / "results.zarr")
    assert list(res["class"].values) == CLASSES and list(res.network.values) == [NET_NAME]
    assert list(res.layer.values) == [LAYER]
    assert json.loads(res.attrs["config"])["networks"] == [f"{tmp_path}/net.py:build"]
    units = list((tmp_path / "out" / "units" / NET_NAME / LAYER).glob("*.nc"))              # folders named by the names
    assert len(units) == len(CLASSES), units
    assert (tmp_path / "out" / "activations" / f"{NET_NAME}.zarr").is_dir()
    assert NET_NAME in r.stdout and "results:" in r.stdout, r.stdout                     # the summary names the network
