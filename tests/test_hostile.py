"""Hostile files: nothing gridablate reads can run code, and names from a data folder never reach a shell."""
import ast, subprocess, sys
from pathlib import Path
import numpy as np
from PIL import Image
import gridablate

PKG = Path(gridablate.__file__).parent

def calls(name:str)->list:
    "Every call to `name` (a dotted attribute path's last part) in the package's source, with its keywords."
    found = []
    for f in PKG.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call):
                fn = node.func
                called = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
                if called == name:
                    found.append((f.name, node.lineno, {k.arg: ast.unparse(k.value) for k in node.keywords}))
    return found

def test_weights_load_only_as_tensors():
    loads = calls("load")
    torch_loads = [c for c in loads if c[0] == "weights.py" and "map_location" in c[2]]
    assert torch_loads and all(c[2].get("weights_only") == "True" for c in torch_loads), torch_loads

def test_no_pickle_reads_and_no_shell():
    for name in ("loads", "Unpickler"):
        assert not [c for c in calls(name) if "pickle" in c[0]], name
    src = {f.name: f.read_text() for f in PKG.glob("*.py")}
    assert not [n for n, s in src.items()
                if "pickle.load" in s or "os.system(" in s or "shell=True" in s or "os.popen(" in s]
    assert (not calls("read_pickle") and not calls("open_dataset")
            or all(c[2].get("engine") for c in calls("open_dataset")))

def test_hostile_class_names_reach_no_shell(tmp_path):
    "Class folders named like shell commands are just names: the study runs and nothing is executed."
    marker = tmp_path / "pwned"
    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    names = ["$(touch pwned)", "`touch pwned`; echo x > pwned"]       # relative: run in tmp_path
    for n in names:
        (root / n).mkdir(parents=True)
        for i in range(6): Image.fromarray(rng.integers(0, 255, (40, 40, 3), np.uint8)).save(root / n / f"{i}.png")
    from gridablate.data import ImageFolderSource
    ds = ImageFolderSource(root, None, 6, 32, 0)
    assert sorted(ds.classes) == sorted(names)
    exe = str(Path(sys.executable).parent / "gridablate")
    r = subprocess.run([exe, "run", "--networks", "tiny_alexnet", "--source", f"folder:{root}", "--n_per_class", "6",
                        "--layers", "dense2", "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, cwd=tmp_path)
    assert not marker.exists()
    # the folder's classes are not the tiny nets' outputs
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
