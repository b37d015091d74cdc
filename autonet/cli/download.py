"""``autonet download [DIR]``: fetch a dataset's official files, check them, unpack them.

The one way data reaches a folder the user named: ``autonet train --data-dir
DIR`` never downloads into DIR by itself (only the default cache is filled on
first use), it says to run this command.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    from autonet.data import DATASETS

    p = sub.add_parser(
        "download",
        help="download a dataset (CIFAR-10 by default) into a folder",
        description="Download the official files of a dataset, check their md5 and unpack "
        "them into DIR (default: $AUTONET_DATA, else the user cache). Nothing is "
        "fetched when DIR already holds the data.",
    )
    p.add_argument(
        "dir", nargs="?", metavar="DIR", help="folder to hold cifar-10-batches-py (or mnist/, fashion-mnist/)"
    )
    p.add_argument("--dataset", choices=list(DATASETS), default="cifar10", help="which dataset (default: cifar10)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from autonet.data import locate_cifar10
    from autonet.data.idx import locate_idx

    if args.dataset == "cifar10":
        folder = locate_cifar10(args.dir, download=True, quiet=args.quiet)
    else:
        folder = locate_idx(args.dataset, args.dir, download=True, quiet=args.quiet)
    print(f"{args.dataset}: {folder}")
    return 0
