"""The documentation: the site builds with warnings as errors, the README stays an entry point, every
path the docs name exists, the results page is what its script writes, the benchmark index lists every
script, no text names the numbered work periods that built the project, and the runnable examples run.

Runnable examples are the fenced blocks opened with ```` ```python {.exec} ```` in docs/*.md (MkDocs
renders them as Python; plain ```` ```python ```` blocks are illustrations and are not run). The README's
example is run by tests/test_api.py.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = sorted(DOCS.glob("*.md"))
#: the numbered labels of work periods (a user's login or a framework's session, unnumbered, is fine)
WORK_PERIOD = re.compile(r"session[ _-]?[0-9]+|sessions? [0-9]", re.I)
EXEC_BLOCK = re.compile(r"^```python \{\.exec\}\n(.*?)^```", re.M | re.S)
#: optional dependencies a docs example may need; without one, that page's examples are skipped
OPTIONAL = {"rdkit", "torchaudio", "soundfile", "Bio", "olga", "RNA", "networkx", "torch_geometric", "sklearn"}


def repo_files() -> list[Path]:
    """Files of the repository: tracked, or untracked and not ignored (so no venv, run dir or build output)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, check=True
        ).stdout.decode()
        return [ROOT / p for p in out.split("\0") if p and (ROOT / p).is_file()]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", ".venv-ci", "runs", "logs", "pfgm.egg-info", "__pycache__", "site"}
        return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]


# -------------------------------------------------------------------------------------------------
# the site


def test_site_builds_strictly(tmp_path):
    missing = [
        m
        for m in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
        if importlib.util.find_spec(m.split(".")[0]) is None
        or (m == "mkdocstrings_handlers.python" and importlib.util.find_spec(m) is None)
    ]
    if missing:
        reason = f"the docs tools are not installed ({', '.join(missing)}): pip install -e '.[docs]'"
        if os.environ.get("PFGM_DOCS_REQUIRED"):
            pytest.fail(reason)
        pytest.skip(reason)
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def test_every_page_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    assert not [p.name for p in PAGES if f": {p.name}" not in nav]


def test_results_page_is_what_its_script_writes():
    proc = subprocess.run(
        [sys.executable, "scripts/results_page.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -------------------------------------------------------------------------------------------------
# the README and what the docs refer to


def test_readme_is_an_entry_point():
    lines = README.read_text().splitlines()
    assert len(lines) <= 220, f"README.md has {len(lines)} lines; move detail into docs/"
    text = "\n".join(lines)
    run = (ROOT / ".ci" / "run").read_text()
    ci_test = [ln.strip() for ln in run.splitlines() if ln.strip().startswith("python -m pytest")]
    assert ci_test and ci_test[-1] in text, "README must state the test command .ci/run runs"


def test_no_numbered_work_periods_anywhere():
    hits = []
    for p in repo_files():
        rel = p.relative_to(ROOT).as_posix()
        if WORK_PERIOD.search(rel):
            hits.append(rel)
            continue
        try:
            text = p.read_text()
        except (UnicodeDecodeError, OSError):
            continue  # binary (weights, images)
        for i, line in enumerate(text.splitlines(), 1):
            if WORK_PERIOD.search(line):
                hits.append(f"{rel}:{i}: {line.strip()[:120]}")
    assert not hits, "the project speaks of the project alone:\n" + "\n".join(hits)


def _doc_files() -> list[Path]:
    return [README, ROOT / "benchmarks" / "README.md", *PAGES]


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
#: a path into the repository named in code (a command's argument or a file mentioned in prose)
REPO_PATH = re.compile(
    r"(?<![\w./=<-])((?:\.\./)?(?:benchmarks|docs|scripts|configs|modalities|pfgm_core|pfgm|recipes|"
    r"tests|pfgm_zoo|\.ci|results)/[\w./-]*\.(?:py|md|ya?ml|jsonl?|sh|toml|txt))(?![\w/])"
)


def _exists(ref: str, page: Path) -> bool:
    return (page.parent / ref).exists() or (ROOT / ref).exists()


@pytest.mark.parametrize("page", _doc_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_and_paths_point_at_files_that_exist(page):
    text = page.read_text()
    prose = re.sub(r"^```.*?^```|`[^`\n]+`", "", text, flags=re.M | re.S)  # links live outside code
    missing = []
    for target in LINK.findall(prose):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if path and not _exists(path, page):
            missing.append(f"link {target}")
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S)
    code = re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", text, flags=re.M | re.S))
    code += [ln for b in blocks for ln in b.splitlines() if not ln.lstrip().startswith("#")]  # '# file.yaml': a file to write
    for snippet in code:
        for ref in REPO_PATH.findall(snippet):
            if not _exists(ref, page):
                missing.append(f"path {ref}")
    assert not missing, f"{page.relative_to(ROOT)} names what does not exist: {sorted(set(missing))}"


def test_benchmark_index_lists_every_script():
    index = (ROOT / "benchmarks" / "README.md").read_text()
    scripts = {p.name for p in (ROOT / "benchmarks").glob("*.py")}
    listed = set(re.findall(r"^\| `([\w-]+\.py)` \|", index, re.M))
    assert scripts - listed == set(), f"benchmarks/README.md does not list {sorted(scripts - listed)}"
    assert listed - scripts == set(), f"benchmarks/README.md lists scripts that do not exist: {sorted(listed - scripts)}"


# -------------------------------------------------------------------------------------------------
# runnable examples


def _examples() -> list[tuple[Path, list[str]]]:
    return [(p, EXEC_BLOCK.findall(p.read_text())) for p in PAGES if EXEC_BLOCK.search(p.read_text())]


def test_the_guides_have_runnable_examples():
    pages = {p.name for p, _ in _examples()}
    assert {"images.md", "audio.md", "graphs.md", "sequences.md"} <= pages, pages


@pytest.mark.parametrize("page,blocks", _examples(), ids=lambda x: x.name if isinstance(x, Path) else "")
def test_docs_examples_run(page, blocks, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"{page.relative_to(ROOT)} example {i + 1}", "exec"), namespace)
        except ModuleNotFoundError as e:
            if (e.name or "").split(".")[0] in OPTIONAL:
                pytest.skip(f"{page.name} example {i + 1} needs {e.name} (its modality's extra)")
            raise
