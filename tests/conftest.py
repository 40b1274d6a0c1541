"""A run of the tests ends by naming what did not run: the skipped tests grouped by reason, each with what this machine
lacks and the command that adds it."""
import collections
import pytest

# (words of a skip reason, what the machine lacks, how to add it)
MISSING = [(("chromium",), "headless Chromium and its driver (the docs' browser tests)",
            "sudo apt-get install -y chromium chromium-driver   (Debian/Ubuntu; .ci/run does this)"),
           (("selenium",), "selenium (a dev requirement)", "pip install -e '.[dev]'"),
           (("cuda", "gpu"), "a CUDA GPU that torch sees", "run the tests on a machine with one")]

def _reason(report)->str:
    r = report.longrepr
    text = r[2] if isinstance(r, tuple) and len(r) == 3 else str(r)
    return text.removeprefix("Skipped: ")

@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """After the run, below pytest's own summary: every reason tests were skipped for, how many and where, and what to
    install so that they run."""
    yield
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if r.when in ("setup", "call")]
    if not skipped: return
    by_reason = collections.defaultdict(list)
    for r in skipped: by_reason[_reason(r)].append(r.nodeid.split("::")[0])
    tr = terminalreporter
    tr.section(f"{len(skipped)} test(s) did not run", sep="=", yellow=True, bold=True)
    for reason, files in by_reason.items():
        where = ", ".join(f"{f} ({n})" for f, n in collections.Counter(files).items())
        tr.write_line(f"{len(files)} skipped: {reason}", yellow=True, bold=True)
        tr.write_line(f"    in {where}")
        lacks = next((m for m in MISSING if any(w in reason.lower() for w in m[0])), None)
        if lacks: tr.write_line(f"    missing here: {lacks[1]}; to add it: {lacks[2]}")
