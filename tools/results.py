"""Regenerate the shipped results of the default study and the pages that show them: `python tools/results.py`
(`make results`).

1. runs `gridablate run` (the tiny zoo on the generated world, every default) into gridablate-results/default/
   (resumable: an interrupted run goes on where it stopped; delete the folder to start over), and the same study
   under the paper's preset, without the companions, into gridablate-results/presets/paper/: the same networks,
   classes and images (about 50 minutes on two cores: every activation a unit, and its probe 200 fits per cell);
2. writes compact copies of their results.zarr to nbs/results/default.nc.gz and presets_paper.nc.gz (gzipped
   netCDF3; the paper's copy without its per-unit variables, which the run's own store keeps);
3. re-executes nbs/results/default.ipynb and nbs/index.ipynb in place, cleans them with nbdev_clean and
   regenerates README.md.
`--paper` instead executes nbs/results/paper.ipynb in place (`make paper`): the paper's setup, which needs ImageNet
(GRIDABLATE_IMAGENET) and the torchvision weights; without them the page only says what is missing.
`--no-run` skips step 1 and compacts an existing results store (`--store PATH`, default the folder above).
`--execute NB ...` only executes the given notebooks in place, as `nbdev_test` runs them, keeping their outputs.
"""
from __future__ import annotations
import argparse, gzip, os, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "nbs" / "results" / "default.nc.gz"
UNIT_VARS = ("class_mean", "selectivity", "magnitude", "unit_sel_bin", "unit_mag_bin")
PAGES = (ROOT / "nbs" / "results" / "default.ipynb", ROOT / "nbs" / "index.ipynb")
PAPER = ROOT / "nbs" / "results" / "paper.ipynb"

def compact(src:Path, # a results.zarr written by `run_study`
            dst:Path=STORE, # the .nc.gz file to write
            drop:tuple=(), # variables to leave out
           )->Path:
    "A compact, exact copy of a results store: one gzipped netCDF3 file (scipy only). Read it with `read_store`."
    from gridablate.activations import load
    ds = load(src).drop_vars(list(drop))
    if drop: ds = ds.drop_dims([d for d in ("unit",) if not any(d in v.dims for v in ds.variables.values())])
    for v in ds.variables.values(): v.encoding.clear()
    raw = ds.to_netcdf(None, engine="scipy")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".partial")
    with gzip.GzipFile(tmp, "wb", compresslevel=9, mtime=0) as f: f.write(bytes(raw))
    tmp.replace(dst)
    return dst

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

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-run", action="store_true", help="do not run the study; compact the store already there")
    p.add_argument("--store", type=Path, default=ROOT / "gridablate-results" / "default", help="study output folder")
    p.add_argument("--no-exec", action="store_true", help="do not re-execute the pages")
    p.add_argument("--paper", action="store_true", help="only re-execute the paper's page (needs GRIDABLATE_IMAGENET)")
    p.add_argument("--execute", type=Path, nargs="+", help="only execute these notebooks in place (saving their outputs)")
    a = p.parse_args(argv)
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
    presets = a.store.with_name("presets")
    if not a.no_run:
        subprocess.run([str(bin_ / "gridablate"), "run", "--out", str(a.store)], check=True, cwd=ROOT)
        subprocess.run([str(bin_ / "gridablate"), "run", "--preset", "paper", "--companions", "none",
                        "--out", str(presets / "paper")], check=True, cwd=ROOT)
    outs = [compact(a.store / "results.zarr"),
            compact(presets / "paper" / "results.zarr", STORE.with_name("presets_paper.nc.gz"), UNIT_VARS)]
    for out in outs: print(f"{out.relative_to(ROOT)}: {out.stat().st_size / 1e6:.2f} MB")
    if not a.no_exec:
        for nb in PAGES:
            execute(nb); print(f"executed {nb.relative_to(ROOT)}")
        subprocess.run([str(bin_ / "nbdev_clean"), "--fname", str(ROOT / "nbs")], check=True, cwd=ROOT)
        subprocess.run([sys.executable, str(ROOT / "tools" / "readme.py")], check=True, cwd=ROOT)
    print(f"done in {time.time() - t0:.0f} s")

if __name__ == "__main__": main()
