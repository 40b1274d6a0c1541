"""Write README.md from nbs/index.ipynb: markdown as is, code cells as Python blocks with their saved text
outputs, cells marked `#| hide` left out and `#|` directive lines dropped (as nbdev's docs processing does). A chart
cannot be drawn in a README: in its place goes the chart's text `description` where it has one (the verdict chart
gives its verdicts as a table there)."""
import json, re
from pathlib import Path

root = Path(__file__).resolve().parent.parent
nb = json.loads((root / "nbs" / "index.ipynb").read_text())
directive = re.compile(r"^\s*#\s*\|")

def is_chart(o):
    "An Altair chart: its Vega-Lite mime type, or the HTML of Altair's default renderer. A README cannot draw it."
    d = o.get("data", {})
    return any(k.startswith("application/vnd.vega") for k in d) or 'id="altair-viz-' in "".join(d.get("text/html", ""))

def chart_spec(o)->dict:
    "The Vega-Lite spec of a chart output: under its mime type, or inside the HTML of Altair's default renderer."
    d = o.get("data", {})
    for k, v in d.items():
        if k.startswith("application/vnd.vega"): return v if isinstance(v, dict) else json.loads("".join(v))
    h = "".join(d.get("text/html", ""))
    i = h.find("})({", h.find("function displayChart"))
    try: return json.JSONDecoder().raw_decode(h, i + 3)[0] if i >= 0 else {}
    except ValueError: return {}

def text_outputs(cell):
    for o in cell.get("outputs", []):
        if is_chart(o):
            if desc := chart_spec(o).get("description"): yield desc
            continue
        if o.get("output_type") == "stream": yield "".join(o["text"])
        elif "text/markdown" in o.get("data", {}): yield "".join(o["data"]["text/markdown"])
        elif "text/plain" in o.get("data", {}): yield "".join(o["data"]["text/plain"])

parts = []
for cell in nb["cells"]:
    src = "".join(cell["source"])
    lines = src.splitlines()
    if cell["cell_type"] == "markdown": parts.append(src.strip()); continue
    if cell["cell_type"] != "code": continue
    if any(re.match(r"^\s*#\s*\|\s*(hide|include:\s*false)", l) for l in lines): continue
    code = "\n".join(l for l in lines if not directive.match(l)).strip()
    if code: parts.append(f"```python\n{code}\n```")
    for out in text_outputs(cell): parts.append("```\n" + out.rstrip() + "\n```")
header = "<!-- Generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file. -->"
(root / "README.md").write_text(header + "\n\n" + "\n\n".join(p for p in parts if p) + "\n")
