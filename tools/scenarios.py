"""Measure how often each verdict says what it should on simulated studies: `python tools/scenarios.py`.

Simulates `--n` studies (default 500) per claim and scenario from one network of the shipped default study
(`--network`, default tiny_alexnet), passes each to `verdicts.claims`, and counts the verdicts
(`scenarios.scenario_table`); then the planted scenario alone, `--per-network` studies (default 200) copied from
each network of the study in turn. Writes nbs/results/scenarios.json, which the scenarios page shows. About ten
minutes on two cores; the numbers depend only on the shipped study and the seeds, so a rerun writes the same file.
`--claims C6` simulates only the claims given and keeps the other claims' rows of the file already written: each
claim's studies are drawn from seeds of their own, so its rows are what a full run would write.
"""
from __future__ import annotations
import argparse, json, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from results import read_store, STORE

OUT = ROOT / "nbs" / "results" / "scenarios.json"

def _rows(t)->list:
    "A table as JSON-ready rows, rates rounded."
    return [{k: (round(v, 4) if isinstance(v, float) else v.item() if hasattr(v, "item") else v) for k, v in r.items()}
            for r in t.to_dict("records")]

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=500, help="simulated studies per claim and scenario")
    p.add_argument("--per-network", type=int, default=200, help="planted studies per network (0: skip)")
    p.add_argument("--network", default="tiny_alexnet", help="the network of the default study the table copies")
    p.add_argument("--n-boot", type=int, default=1000, help="class-bootstrap replicates per study")
    p.add_argument("--store", type=Path, default=STORE, help="the results to copy")
    p.add_argument("--out", type=Path, default=OUT, help="the JSON file to write")
    p.add_argument("--claims", default=None, help="comma-separated claims to simulate (default: all); the other "
                   "claims' rows are kept from --out")
    a = p.parse_args(argv)
    import pandas as pd
    from gridablate.scenarios import study_base, scenario_table, CLAIMS
    which = tuple(CLAIMS) if a.claims is None else tuple(a.claims.split(","))
    if bad := sorted(set(which) - set(CLAIMS)): sys.exit(f"unknown claims {bad}: use any of {', '.join(CLAIMS)}")
    t0, results = time.time(), read_store(a.store)
    table = scenario_table(study_base(results, a.network), a.n, a.n_boot, which, progress=True)
    networks = []
    for n in ([] if not a.per_network else [str(x) for x in results.network.values]):
        t = scenario_table(study_base(results, n), a.per_network, a.n_boot, which, scenarios=("planted",))
        networks += _rows(t.assign(network=n)); print(n, dict(zip(t.claim, t.rate)), flush=True)
    command = "python tools/scenarios.py" + "".join(f" {x}" for x in (argv if argv is not None else sys.argv[1:]))
    rows = _rows(table)
    if a.claims is not None:                                  # the other claims' rows as the file has them
        old = json.loads(a.out.read_text())
        if (old["base"], old["n"], old["n_boot"], old["per_network"]) != (a.network, a.n, a.n_boot, a.per_network):
            sys.exit(f"{a.out} was written with other settings ({old['command']}): run every claim")
        keep = lambda rs: [r for r in rs if r["claim"] not in which]
        order = lambda rs: sorted(rs, key=lambda r: CLAIMS.index(r["claim"]))
        rows = keep(old["table"]) + rows
        rows = [r for sc in dict.fromkeys(r["scenario"] for r in rows) for r in order([r for r in rows if r["scenario"] == sc])]
        networks = [r for n in dict.fromkeys(r["network"] for r in old["networks"] + networks)
                    for r in order([r for r in keep(old["networks"]) + networks if r["network"] == n])]
        command = f"{old['command']}; {command}"
        table = pd.DataFrame(rows)
    out = {"command": command, "base": a.network, "n": a.n, "n_boot": a.n_boot, "per_network": a.per_network,
           "table": rows, "networks": networks}
    a.out.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(table[["claim", "scenario", "verdict", "rate", "low", "high", "target", "met"]].to_string(index=False))
    print(f"wrote {a.out} in {time.time() - t0:.0f} s")
    if not table.met.all(): sys.exit(f"targets missed: {table[~table.met][['claim', 'scenario']].values.tolist()}")

if __name__ == "__main__": main()
