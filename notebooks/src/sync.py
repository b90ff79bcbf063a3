"""Build the chapter notebooks from their sources (``notebooks/src/*.py``, jupytext
percent format), or check that they are in step.

    python notebooks/src/sync.py           # write notebooks/NN_name.ipynb
    python notebooks/src/sync.py --check   # exit 1 if a notebook differs from its source

The notebooks are committed without outputs: outputs come from execution only (CI,
the book build, a reader's Colab). Cell ids are derived from the chapter name and
the cell's position, so rebuilding an unchanged source changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

SRC = Path(__file__).resolve().parent
NOTEBOOKS = SRC.parent
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def build(source: Path) -> nbformat.NotebookNode:
    notebook = jupytext.read(source)
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
