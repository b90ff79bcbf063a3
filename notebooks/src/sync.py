"""Build the chapter notebooks from their sources (``notebooks/src/*.py``, jupytext
percent format), or check that they are in step.

    python notebooks/src/sync.py           # write notebooks/NN_name.ipynb
    python notebooks/src/sync.py --check   # exit 1 if a notebook differs from its source

The notebooks are committed without outputs: outputs come from execution only (CI,
the book build, a reader's Colab). Cell ids are derived from the chapter name and
the cell's position, so rebuilding an unchanged source changes nothing.

Every notebook gets the same Colab set-up cell after its title, written here once
(:func:`colab_cell`): in Colab it installs the library and what the chapters need
(not the book's build tools) from the repository that ``_config.yml`` names, the one
place the repository's URL is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

SRC = Path(__file__).resolve().parent
NOTEBOOKS = SRC.parent
CONFIG = NOTEBOOKS.parent / "_config.yml"
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def repository_url() -> str:
    """The repository's URL, from ``_config.yml`` (``repository.url``)."""
    return yaml.safe_load(CONFIG.read_text())["repository"]["url"].rstrip("/")


def colab_cell() -> nbformat.NotebookNode:
    """The set-up cell: in Colab, ``pip install`` this repository (pip shows its progress);
    anywhere else it does nothing, and CI and the book build skip it."""
    source = (
        "# Colab set-up: installs this book's library and what its chapters need (Colab only).\n"
        "import sys\n\n"
        'if "google.colab" in sys.modules:\n'
        "    from IPython import get_ipython\n\n"
        f'    get_ipython().run_line_magic("pip", "install \'itslib @ git+{repository_url()}\'")'
    )
    return nbformat.v4.new_code_cell(source, metadata={"tags": ["skip-execution"]})


def build(source: Path) -> nbformat.NotebookNode:
    notebook = jupytext.read(source)
    notebook.cells.insert(1, colab_cell())  # after the title cell
    notebook.metadata = {"kernelspec": KERNEL, "language_info": {"name": "python"}}
    for index, cell in enumerate(notebook.cells):
        cell.id = f"{source.stem[:2]}-{index:02d}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
    return notebook


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    args = parser.parse_args()
    stale = []
    for source in sorted(SRC.glob("[0-9][0-9]_*.py")):
        target = NOTEBOOKS / f"{source.stem}.ipynb"
        text = nbformat.writes(build(source)) + "\n"
        if target.exists() and target.read_text() == text:
            continue
        stale.append(target.name)
        if not args.check:
            target.write_text(text)
    if stale:
        print(("out of step with its source: " if args.check else "wrote: ") + ", ".join(stale))
    return 1 if (stale and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
