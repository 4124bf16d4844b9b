"""``hushnote config show|path`` and ``hushnote models [list|fetch]``: settings and models."""
from __future__ import annotations

import argparse
import json
import sys

from hushnote.daemon.cli.common import Subparsers, load_config


def cmd_config_show(args: argparse.Namespace) -> int:
    from hushnote.daemon.core import config

    cfg = load_config(args)
    if args.json:
        print(json.dumps(cfg.as_dict(), indent=2))
    else:
        print(config.to_toml(cfg), end="")
    return 0


def cmd_config_path(args: argparse.Namespace) -> int:
    from hushnote.daemon.core import config

    path = config.resolve_config_path(getattr(args, "config", None))
    print(path)
    if not path.exists():
        print("(no file there yet: the defaults are in use)", file=sys.stderr)
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from hushnote.daemon.models import registry as models

    cfg = load_config(args)
    rows = models.list_models(cfg)
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return 0
    for r in rows:
        print(r.describe())
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from hushnote.daemon.models import (
        fetch as models_fetch,  # the one module that may use the network, only when asked
    )

    return models_fetch.main(args)


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the ``hushnote`` parser."""
    sp = sub.add_parser("config", help="show the settings in use, or where the file is")
    csub = sp.add_subparsers(dest="config_cmd", metavar="show|path", required=True)
    c = csub.add_parser("show", parents=[common], help="print the effective settings")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_config_show)
    c = csub.add_parser("path", parents=[common], help="print where the settings file lives")
    c.set_defaults(func=cmd_config_path)

    sp = sub.add_parser("models", parents=[common], help="list installed models, or fetch a larger one")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_models_list)
    msub = sp.add_subparsers(dest="models_cmd", metavar="list|fetch")
    m = msub.add_parser("list", parents=[common], help="installed models, sizes, checksum state")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models_list)
    m = msub.add_parser("fetch", parents=[common], help="download a model from the curated catalogue (asks first)")
    m.add_argument("name", nargs="?", help="catalogue name; leave out to list the catalogue")
    m.add_argument("--yes", action="store_true", help="accept the licence and download without asking")
    m.add_argument("--no-config", action="store_true", help="do not set the model in the settings file")
    m.set_defaults(func=cmd_models_fetch)
