"""Command line: ``python -m itslib <command> ...`` (or the ``itslib`` script)."""

from __future__ import annotations

import argparse
import sys


def _demo(args: argparse.Namespace) -> None:
    from itslib.demo import run_demo

    written = run_demo(args.out, sound=args.sound, picture=args.picture)
    for name, path in written.items():
        print(f"{name:>20}: {path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="itslib",
        description="Images that sound: spectrograms that look like a picture and sound "
        "like a sound.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="draw a sound as an Auffusion spectrogram and play it back (no models needed)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    demo.add_argument("--out", default="out/demo", help="folder to write the files into")
    demo.add_argument("--sound", default=None, help="an audio file to use instead of the example")
    demo.add_argument("--picture", default=None, help="also play this image file as a sound")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 with a one-line message on bad input)."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"itslib {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
