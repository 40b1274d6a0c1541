"""Regenerate the shipped results of the default study and the pages that show them: `python tools/results.py`
(`make results`).

1. runs `gridablate run --control labels` (the tiny zoo on the generated world, every default) into
   gridablate-results/default/, its labels control into default/control-labels/ (resumable: an interrupted run
   goes on where it stopped; delete the folder to start over), and the same study under the paper's preset,
   without the companions, the tiny ResNet and the tiny ViT (`PAPER_NETWORKS`), on the first `--paper-classes` (default 8) of the
   study's classes, as the paper took 8 classes for its networks other than AlexNet, into gridablate-results/presets/paper/ (the slow one: every
   activation a unit, and its probe 200 fits per cell), and its labels control on the first `--paper-control` (default
   2) of them into presets/paper-control-labels-N/;
   then the default study again under the two other ablations (`--ablation mean`, `--ablation resample`, without
   the companions) into gridablate-results/ablation-KIND/;
2. writes compact copies of their results.zarr to nbs/results/: default.nc.gz, control_labels.nc.gz,
   presets_paper.nc.gz, presets_paper_control_labels.nc.gz, ablation_mean.nc.gz and ablation_resample.nc.gz
   (gzipped netCDF3; all but the first two without their per-unit variables, which the runs' own stores keep);
3. re-executes nbs/results/default.ipynb and nbs/index.ipynb in place, cleans them with nbdev_clean and
   regenerates README.md.
`--controls-only` runs (and compacts) only the two labels controls, each as a study of its own.
`--run-args "..."` adds options to every `gridablate run` and `--dest DIR` writes the copies elsewhere: together they
try the script on a small study without touching the shipped files.
`--paper` instead executes nbs/results/paper.ipynb in place (`make paper`): the paper's setup, which needs ImageNet
(GRIDABLATE_IMAGENET) and the torchvision weights; without them the page only says what is missing.
`--no-run` skips step 1 and compacts an existing results store (`--store PATH`, default the folder above).
`--execute NB ...` only executes the given notebooks in place, as `nbdev_test` runs them, keeping their outputs.
"""
from __future__ import annotations
import argparse, gzip, os, subprocess, sys, time
from pathlib import Path
from gridablate.world import CLASSES, STUDY_CLASSES

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "nbs" / "results" / "default.nc.gz"
UNIT_VARS = ("class_mean", "selectivity", "magnitude", "unit_sel_bin", "unit_mag_bin")
ABLATIONS = ("mean", "resample")                                  # the default study again under each (zero: itself)
PAGES = (ROOT / "nbs" / "results" / "default.ipynb", ROOT / "nbs" / "index.ipynb")
PAPER = ROOT / "nbs" / "results" / "paper.ipynb"
# The paper preset's run leaves out the tiny ResNet and the tiny ViT: with every activation a unit, a class takes the
# ResNet 2.5 to 12 minutes on two cores (16,384 neurons a layer) and the ViT about 2 (each ablation runs the attention
# blocks after it again), against under a minute for the others.
PAPER_NETWORKS = "tiny_alexnet,tiny_vgg,tiny_mobilenet"

def compact(src:Path, # a results.zarr written by `run_study`
            dst:Path=STORE, # the .nc.gz file to write
            drop:tuple=(), # variables to leave out
           )->Path:
    "A compact, exact copy of a results store: one gzipped netCDF3 file (scipy only). Read it with `read_store`."
    from gridablate.store import load
    ds = load(src).drop_vars(list(drop))
    if drop: ds = ds.drop_dims([d for d in ("unit",) if not any(d in v.dims for v in ds.variables.values())])
    for v in ds.variables.values(): v.encoding.clear()
    raw = ds.to_netcdf(None, engine="scipy")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".partial")
    with gzip.GzipFile(tmp, "wb", compresslevel=9, mtime=0) as f: f.write(bytes(raw))
    tmp.replace(dst)
    return dst

def _what(ds)->str:
    "Which study a results copy holds, in a few words."
    import json
    cfg = json.loads(ds.attrs["config"])
    return (f"preset {cfg['preset']}, labels {cfg.get('labels', 'true')}, {ds.sizes['network']} networks, "
            f"{ds.sizes['class']} classes, {cfg['n_per_class']} images per class, n_null {cfg['n_null']}")

def read_store(path:Path=STORE):
    "The shipped results as an xarray Dataset, all in memory."
    import xarray as xr
    with gzip.open(path, "rb") as f, xr.open_dataset(f.read(), engine="scipy") as ds: return ds.load()

def _directives(source:str)->dict:
    "The `#| key: value` directives at the top of a cell."
    out = {}
    for line in source.splitlines():
        if not line.startswith("#|"): break
        key, _, value = line[2:].strip().partition(":") if ":" in line else (line[2:].strip(), "", "")
        out[key.strip()] = value.strip()
    return out

def execute(nb_path:Path, # the notebook
            flags:tuple=(), # test flags whose cells run too (e.g. 'paper'); cells of other flags are skipped
           ):
    """Run a notebook top to bottom in its own folder and save it with its outputs, skipping what `nbdev_test` skips:
    `#| eval: false` cells and cells with a test flag (settings.ini `tst_flags`) not in `flags`."""
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    tst = {"slow", "paper"} - set(flags)
    def skip(cell):
        if cell.cell_type != "code": return True
        d = _directives(cell.source)
        return d.get("eval", "").lower() == "false" or bool(tst & d.keys())
    nb, cwd = read_nb(nb_path), os.getcwd()
    os.chdir(nb_path.parent)
    try: CaptureShell().run_all(nb, exc_stop=True, preproc=skip)
    finally: os.chdir(cwd)
    write_nb(nb, nb_path)

def _ids(n:int)->str:
    "The first `n` of the default study's classes, as world class ids for `--classes`."
    return ",".join(str(CLASSES.index(c)) for c in STUDY_CLASSES[:n])

def _paper_control(presets:Path, # the folder of the preset studies
                   classes:int, # the first `classes` of the study's classes
                  )->Path:
    "Where the paper preset's labels control runs."
    return presets / f"paper-control-labels-{classes}"

def run_controls(store:Path, # the default study's folder
                 paper_classes:int=2, # the paper preset's control takes the first this many of the study's classes
                 extra:tuple=(), # more options for every `gridablate run`
                 bin_:Path=Path(sys.executable).parent, # where the `gridablate` script is
                ):
    "Run only the labels controls of the default study and of its paper-preset version, each as a study of its own."
    gridablate = [str(bin_ / "gridablate"), "run", "--labels", "shuffled", "--companions", "none", "--no_check"]
    subprocess.run([*gridablate, *extra, "--out", str(store / "control-labels")], check=True, cwd=ROOT)
    subprocess.run([*gridablate, "--preset", "paper", "--networks", PAPER_NETWORKS, *extra, "--classes", _ids(paper_classes),
                    "--out", str(_paper_control(store.with_name("presets"), paper_classes))], check=True, cwd=ROOT)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-run", action="store_true", help="do not run the study; compact the store already there")
    p.add_argument("--store", type=Path, default=ROOT / "gridablate-results" / "default", help="study output folder")
    p.add_argument("--no-exec", action="store_true", help="do not re-execute the pages")
    p.add_argument("--paper", action="store_true", help="only re-execute the paper's page (needs GRIDABLATE_IMAGENET)")
    p.add_argument("--execute", type=Path, nargs="+", help="only execute these notebooks in place (saving their outputs)")
    p.add_argument("--controls-only", action="store_true",
                   help="run and compact only the labels controls of the default study and of its paper-preset version")
    p.add_argument("--paper-classes", type=int, default=8, metavar="N",
                   help="run the paper preset on the first N of the study's classes (default: 8, as the paper)")
    p.add_argument("--paper-control", type=int, default=2, metavar="N",
                   help="run the paper preset's labels control on the first N of those (default: 2)")
    p.add_argument("--run-args", default="", help="more options for every `gridablate run` (e.g. a small study)")
    p.add_argument("--dest", type=Path, default=STORE.parent, help="folder for the compact copies")
    a = p.parse_args(argv)
    if not 2 <= a.paper_control <= a.paper_classes <= len(STUDY_CLASSES):
        p.error(f"--paper-classes and --paper-control take 2 to {len(STUDY_CLASSES)} classes (the study's), the "
                f"control no more than the study, got {a.paper_classes} and {a.paper_control}")
    extra = tuple(a.run_args.split())
    bin_ = Path(sys.executable).parent
    t0 = time.time()
    if a.execute:
        for nb in a.execute: execute(nb.resolve()); print(f"executed {nb}")
        subprocess.run([str(bin_ / "nbdev_clean")], check=True, cwd=ROOT)
        return print(f"done in {time.time() - t0:.0f} s")
    if a.paper:
        execute(PAPER, flags=("paper",))
        subprocess.run([str(bin_ / "nbdev_clean"), "--fname", str(PAPER)], check=True, cwd=ROOT)
        return print(f"executed {PAPER.relative_to(ROOT)} in {time.time() - t0:.0f} s")
    presets, gridablate = a.store.with_name("presets"), [str(bin_ / "gridablate"), "run"]
    paper_control = _paper_control(presets, a.paper_control)
    if not a.no_run and a.controls_only: run_controls(a.store, a.paper_control, extra, bin_)
    elif not a.no_run:
        subprocess.run([*gridablate, "--control", "labels", *extra, "--out", str(a.store)], check=True, cwd=ROOT)
        paper = [*gridablate, "--preset", "paper", "--companions", "none", "--networks", PAPER_NETWORKS, *extra]
        subprocess.run([*paper, "--classes", _ids(a.paper_classes), "--out", str(presets / "paper")], check=True, cwd=ROOT)
        subprocess.run([*paper, "--labels", "shuffled", "--no_check", "--classes", _ids(a.paper_control),
                        "--out", str(paper_control)], check=True, cwd=ROOT)
        for kind in ABLATIONS:
            subprocess.run([*gridablate, "--ablation", kind, "--companions", "none", "--no_check", *extra,
                            "--out", str(a.store.with_name(f"ablation-{kind}"))], check=True, cwd=ROOT)
    copies = [(a.store / "control-labels", "control_labels.nc.gz", ()),
              (paper_control, "presets_paper_control_labels.nc.gz", UNIT_VARS)]
    if not a.controls_only:
        copies = [(a.store, "default.nc.gz", ()), (presets / "paper", "presets_paper.nc.gz", UNIT_VARS), *copies,
                  *[(a.store.with_name(f"ablation-{k}"), f"ablation_{k}.nc.gz", UNIT_VARS) for k in ABLATIONS]]
    for src, name, drop in copies:
        out = compact(src / "results.zarr", a.dest / name, drop)
        print(f"{out.resolve().relative_to(ROOT) if out.resolve().is_relative_to(ROOT) else out}: "
              f"{out.stat().st_size / 1e6:.2f} MB, {_what(read_store(out))}")
    if not a.no_exec:
        for nb in PAGES:
            execute(nb); print(f"executed {nb.relative_to(ROOT)}")
        subprocess.run([str(bin_ / "nbdev_clean"), "--fname", str(ROOT / "nbs")], check=True, cwd=ROOT)
        subprocess.run([sys.executable, str(ROOT / "tools" / "readme.py")], check=True, cwd=ROOT)
    print(f"done in {time.time() - t0:.0f} s")

if __name__ == "__main__": main()
