"""pfgm-diagnose: where a trained model's errors come from, one subcommand per diagnostic a modality owns.

    pfgm-diagnose                                                  # list the diagnostics, one line each
    pfgm-diagnose molecules failures zoo:molecules --num 1000      # RDKit's errors counted
    pfgm-diagnose rna misfolds x.fasta trna                        # which target helices survive
    pfgm-diagnose cdr3 errors ends zoo:cdr3                        # the J-gene ends a CDR3 model writes
    pfgm-diagnose GROUP NAME --help                                # what one reports, and its options

A diagnostic lives in its modality's ``diagnose`` module, in the ``DIAGNOSTICS`` table
(:class:`pfgm.modalities.base.Diagnostic`), named per group in the ``pfgm.diagnostics`` entry-point
group, so a plugin package adds its own groups from its pyproject.toml:

    [project.entry-points."pfgm.diagnostics"]
    toy_ring = "pfgm_toy.diagnose"          # DIAGNOSTICS = {"toy_ring": {"radius": Diagnostic(...)}}

This command only reads the tables. A group's module is
imported when it is used or listed, so one whose optional dependency is missing (rdkit for molecules)
is listed as unavailable, naming the extra to install, and the other groups still run.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points
from typing import NoReturn, Sequence

from pfgm.core.errors import ConfigError, UnknownNameError
from pfgm.modalities.base import EXTRAS, Diagnostic, ModalityUnavailable

from .cli import user_errors

__all__ = ["DIAGNOSTIC_GROUP", "diagnostics", "groups", "main"]

PROG = "pfgm-diagnose"

#: entry-point group that names, per pfgm-diagnose GROUP, the module whose ``DIAGNOSTICS[GROUP]`` holds
#: its subcommands: the built-in ones (pfgm's pyproject.toml) and a third-party package's alike
DIAGNOSTIC_GROUP = "pfgm.diagnostics"


def groups() -> dict[str, str]:
    """{GROUP: its module} over the installed ``pfgm.diagnostics`` entry points, sorted by group."""
    return {ep.name: ep.value.split(":")[0] for ep in sorted(entry_points(group=DIAGNOSTIC_GROUP), key=lambda e: e.name)}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as a ConfigError, so it prints as the one line every pfgm
    command prints for the user's input (argparse's own is a usage block and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix(PROG).strip()
        raise ConfigError(f"{where}: {message}" if where else message)


def _install_hint(group: str) -> str:
    extra = EXTRAS.get(groups()[group].rpartition(".")[0])
    return f'; install it with: pip install "pfgm[{extra}]"' if extra else ""


def diagnostics(group: str) -> dict[str, Diagnostic]:
    """{NAME: Diagnostic} of ``pfgm-diagnose GROUP``, importing its modality's module."""
    known = groups()
    if group not in known:
        raise UnknownNameError(f"unknown diagnostic group {group!r}; available: {', '.join(known)}")
    try:
        return importlib.import_module(known[group]).DIAGNOSTICS[group]
    except ImportError as e:
        raise ModalityUnavailable(
            f"{PROG} {group} cannot be loaded: importing {known[group]} failed ({e}){_install_hint(group)}"
        ) from e


def listing() -> str:
    """One line per subcommand, by group; a group that cannot be imported in one line saying why."""
    lines = [f"{PROG} GROUP NAME [ARGS]: where a trained model's errors come from ({PROG} GROUP NAME --help for one)", ""]
    for group in groups():
        try:
            table = diagnostics(group)
        except ModalityUnavailable as e:
            lines.append(f"  {group:<28} unavailable: {e}")
            continue
        lines += [f"  {group + ' ' + name:<28} {d.help}" for name, d in table.items()]
    return "\n".join(lines)


def parser(group: str) -> argparse.ArgumentParser:
    """The parser of ``pfgm-diagnose GROUP``: one subparser per diagnostic, its --help the run's docstring."""
    ap = _Parser(prog=f"{PROG} {group}", description=f"{PROG} {group}: the {group} diagnostics")
    sub = ap.add_subparsers(dest="name", required=True, metavar="NAME")
    for name, d in diagnostics(group).items():
        p = sub.add_parser(name, help=d.help, description=d.run.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        d.add_args(p)
        p.set_defaults(run=d.run)
    return ap


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    with user_errors(PROG):
        if not args or args[0] in ("-h", "--help"):
            print(listing())
            return
        ns = parser(args[0]).parse_args(args[1:])
        try:
            ns.run(ns)
        except ModuleNotFoundError as e:  # a package only this diagnostic needs (ViennaRNA, OLGA, networkx)
            raise ModalityUnavailable(f"{PROG} {args[0]} {ns.name} needs {e.name}{_install_hint(args[0])}") from e


if __name__ == "__main__":
    main()
