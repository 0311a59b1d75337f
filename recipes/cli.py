"""What the console scripts share: one-line errors with a non-zero exit, the recipe catalogue,
and config composition for code and tests (the same tree the Hydra apps use)."""

from __future__ import annotations

import contextlib
import difflib
import errno
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from importlib import resources
from typing import Any, Callable, Iterator, Mapping, Sequence

import yaml

from pfgm.core.errors import PfgmError

CONFIG_MODULE = "pfgm.configs"
#: errors reported in one line: the project's user errors (:class:`~pfgm.core.errors.PfgmError`: a setting, an
#: input file, a checkpoint) and the environment's (a missing or unwritable path). Anything else, a plain
#: ValueError or KeyError included, is a bug and keeps its traceback.
USER_ERRORS = (PfgmError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)


#: the exit status of a diverged training (distinct from a user error's 1, so a scheduler can tell them apart)
DIVERGED_EXIT = 3

#: errno values that are the machine's state, not a bug: reported in one line naming the file
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG}


def resume_command(prog: str, run_dir: Any, argv: list[str] | None = None) -> str:
    """The command line that continues an interrupted run: the same arguments, the run dir made explicit, resume=true."""
    args = [a for a in (sys.argv[1:] if argv is None else argv) if not a.lstrip("+").startswith("resume=")]
    if run_dir is not None and not any(a.lstrip("+").startswith("run_dir=") for a in args):
        args.append(f"run_dir={run_dir}")
    if prog == "pfgm-train":
        args.append("resume=true")
    return " ".join([prog, *args])


@contextlib.contextmanager
def user_errors(prog: str, run_dir: Any = None) -> Iterator[None]:
    """Report the user's errors, a full disk and interrupts in one line and exit non-zero.

    ``run_dir``: a folder this command may have created (Hydra makes it before the app runs); if the
    command fails and leaves it empty, it is removed, so a refused run writes nothing.
    """
    from pfgm.core.trainer import TrainingDiverged, TrainingInterrupted

    try:
        yield
    except TrainingInterrupted as e:
        print(f"{prog}: {e}; resume with: {resume_command(prog, e.run_dir)}", file=sys.stderr)
        sys.exit(e.exit_code)
    except TrainingDiverged as e:
        then = f"; resume from it (after the fix) with: {resume_command(prog, e.run_dir)}" if e.last_good is not None else ""
        print(f"{prog}: error: {e}{then}", file=sys.stderr)
        sys.exit(DIVERGED_EXIT)
    except BaseException as e:
        if run_dir:
            with contextlib.suppress(OSError):
                os.rmdir(run_dir)  # only succeeds if empty
        if isinstance(e, KeyboardInterrupt):
            signum = getattr(e, "signum", signal.SIGINT)
            when = {"pfgm-train": "before training started", "pfgm-sample": "while sampling", "pfgm-eval": "while sampling"}.get(
                prog, "before training started or while sampling"
            )
            print(
                f"{prog}: interrupted by {signal.Signals(signum).name} {when}; nothing new was saved (temporary files removed)",
                file=sys.stderr,
            )
            sys.exit(128 + signum)
        if isinstance(e, USER_ERRORS):
            print(f"{prog}: error: {e}", file=sys.stderr)
            sys.exit(1)
        if isinstance(e, OSError) and e.errno in _DISK_ERRNOS:
            where = f" writing {e.filename}" if e.filename else ""
            print(f"{prog}: error: {e.strerror or e}{where} (files written before are intact)", file=sys.stderr)
            sys.exit(1)
        raise


class Interrupted(KeyboardInterrupt):
    """A signal other than SIGINT taken as Ctrl-C (:func:`sigterm_as_interrupt`); ``signum`` sets the exit status."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM (a scheduler's pre-emption, ``kill``) raises :class:`Interrupted`, as Ctrl-C raises
    KeyboardInterrupt: the writers' cleanup runs (temp files and folders removed, the previous output
    kept) and :func:`user_errors` exits 143 with one line. Outside the main thread it does nothing."""
    try:
        old = signal.getsignal(signal.SIGTERM)
        old = signal.SIG_DFL if old is None else old  # None: set outside Python; the default is the closest

        def handler(signum: int, frame: Any) -> None:
            signal.signal(signal.SIGTERM, old)  # a second SIGTERM acts as before (the default: the process dies)
            raise Interrupted(signum)

        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _shipped_recipes() -> dict[str, dict[str, Any]]:
    out = {}
    for f in sorted(resources.files(CONFIG_MODULE).joinpath("recipe").iterdir(), key=lambda p: p.name):
        if f.name.endswith(".yaml"):
            out[f.name[:-5]] = yaml.safe_load(f.read_text()) or {}
    return out


def recipe_catalogue() -> dict[str, list[tuple[str, str]]]:
    """{group: [(recipe, description)]}: the shipped configs/recipe/*.yaml, then those installed packages
    bring through the ``pfgm.recipes`` entry points (:mod:`recipes.plugins`)."""
    from .plugins import plugin_recipes

    shipped = _shipped_recipes()
    every = {**{name: data for name, (_, data) in plugin_recipes().items() if name not in shipped}, **shipped}
    out: dict[str, list[tuple[str, str]]] = {}
    for name in sorted(every):
        data = every[name]
        out.setdefault(str(data.get("group", "other")), []).append((name, str(data.get("description", ""))))
    return out


def register_recipes() -> None:
    """Make the installed packages' recipes composable by name (before Hydra composes a config)."""
    from .plugins import register_plugin_recipes

    register_plugin_recipes(set(_shipped_recipes()))


def print_catalogue(file=sys.stdout) -> None:
    print("usage: pfgm-train recipe=<name> [run_dir=runs/x] [pfgm.D=128] [trainer.max_steps=N] [resume=true]\n", file=file)
    print("recipes:", file=file)
    for group, items in recipe_catalogue().items():
        print(f"  {group}:", file=file)
        for name, desc in items:
            print(f"    {name:<18} {desc}", file=file)


def _group_defaults(config_name: str) -> dict[str, str]:
    """{group: option} of a shipped primary config's defaults list (train.yaml: pfgm, sampler, trainer;
    not the recipe, which has no option by default, nor Hydra's own groups)."""
    path = resources.files(CONFIG_MODULE).joinpath(f"{config_name}.yaml")
    if not path.is_file():
        return {}
    out = {}
    for entry in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("defaults", []):
        if isinstance(entry, dict) and len(entry) == 1:
            ((group, option),) = entry.items()
            if isinstance(option, str) and " " not in group and "/" not in group:  # not 'override hydra/...'
                out[group] = option
    return out


def _group_option(group: str, option: str) -> dict[str, Any]:
    """One group option as Hydra composes it (its own defaults list followed), as plain data."""
    from hydra import compose as hcompose
    from omegaconf import OmegaConf

    return OmegaConf.to_container(hcompose(config_name=None, overrides=[f"+{group}={option}"])[group], resolve=False)


def _leaves(d: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for k, v in d.items():
        if isinstance(v, Mapping) and v:
            yield from _leaves(v, (*prefix, str(k)))
        else:
            yield (*prefix, str(k)), v


_ABSENT = object()


def _lookup(d: Any, path: tuple[str, ...]) -> Any:
    for k in path:
        if not isinstance(d, Mapping) or k not in d:
            return _ABSENT
        d = d[k]
    return d


def apply_group_choices(cfg: Any, overrides: Sequence[str], config_name: str) -> None:
    """Make the group options named on the command line win over the recipe, in place.

    Hydra applies a recipe (``# @package _global_``) after the groups of the defaults list, so the
    recipe's values would beat ``pfgm=edm`` or ``trainer=ddp``. Here each option the overrides choose
    (``group=option``) has its settings that differ from the group's default option (the primary
    config's: ``pfgm: default`` ...) set again over the composed ``cfg``, except keys the overrides set
    themselves (``pfgm.D=4`` wins over both). A group left at its default, or named with its default
    option (``trainer=default``), changes nothing: the recipe's values stand. ``cfg`` is the composed
    DictConfig; Hydra must be initialized (inside ``@hydra.main``, ``initialize_config_module``).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import ListConfig, OmegaConf, open_dict

    if isinstance(overrides, ListConfig):  # Hydra's overrides.task: the strings as typed, '${...}' not resolved
        overrides = OmegaConf.to_container(overrides, resolve=False)
    defaults = _group_defaults(config_name)
    if not defaults or not overrides:
        return
    chosen: dict[str, str] = {}
    touched: list[tuple[str, ...]] = []
    for o in OverridesParser.create().parse_overrides(list(overrides)):
        key = o.key_or_group
        if key in defaults and o.package is None:
            if not o.is_delete() and isinstance(o.value(), str):
                chosen[key] = o.value()
        elif not key.startswith("hydra."):
            touched.append(tuple(key.split(".")))
    for group, option in chosen.items():
        base = _group_option(group, defaults[group])
        for path, value in _leaves(_group_option(group, option)):
            full = (group, *path)
            if _lookup(base, path) == value and _lookup(base, path) is not _ABSENT:
                continue  # what the default option sets too: the recipe's value stands
            if any(t[: len(full)] == full or full[: len(t)] == t for t in touched):
                continue  # the user's own key=value wins
            node = cfg
            with open_dict(cfg):
                for k in full[:-1]:
                    node = node[k]
                node[full[-1]] = value


def compose(config_name: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """Compose a config as the app would (no run dir is created) and return it as plain data."""
    from hydra import compose as hcompose, initialize_config_module
    from omegaconf import OmegaConf, open_dict

    register_recipes()
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        cfg = hcompose(config_name=config_name, overrides=list(overrides or []), return_hydra_config=True)
        apply_group_choices(cfg, list(overrides or []), config_name)
    with open_dict(cfg):
        del cfg["hydra"]
    return OmegaConf.to_container(cfg, resolve=False)


def check_writable(out: Path) -> None:
    """Refuse, naming it, an output path whose nearest existing folder is not writable (before any work)."""
    probe = out if out.is_dir() else (out.parent if str(out.parent) else Path("."))
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():  # out=notes.txt/samples: the folder would be made where a file is
        raise NotADirectoryError(f"cannot write out={out}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK):
        raise PermissionError(f"cannot write out={out}: {probe} is not writable")


# ------------------------------------------------------------------------------------------------
# Hydra around the apps: its failures as our one-line errors, and multirun jobs that never share an output

#: the resolver hydra.sweep.dir names (configs/train.yaml, sample.yaml, eval.yaml)
SWEEP_RESOLVER = "pfgm_sweep_dir"
_sweep_tmp: list[str] = []


def _private_sweep_dir() -> str:
    """Hydra's multirun writes multirun.yaml and one folder per job into hydra.sweep.dir; each pfgm job
    writes to its own output derived from the one given (:func:`job_path`) instead, so that folder is a
    temporary one, removed when the app returns, and nothing is left beside the user's files."""
    if not _sweep_tmp:
        _sweep_tmp.append(tempfile.mkdtemp(prefix="pfgm-multirun-"))
    return _sweep_tmp[0]


def multirun_job() -> int | None:
    """This job's number under ``--multirun``; None in a single run (or outside a Hydra app)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return int(HydraConfig.get().job.num)


def job_path(path: Any, job: int | None) -> str:
    """Job ``job``'s own copy of an output path: a folder gets a sub-folder per job (``msr`` → ``msr/1``),
    a file a numbered name (``mols.smi`` → ``mols-1.smi``); unchanged outside a multirun. Every job of a
    sweep then writes somewhere else, even when the path itself is one of the swept values."""
    if job is None:
        return str(path)
    p = Path(str(path)).expanduser()
    if p.is_dir() or p.suffix == "":
        return str(p / str(job))
    return str(p.with_name(f"{p.stem}-{job}{p.suffix}"))


def _unknown_key(prog: str, cause: BaseException) -> str | None:
    """Hydra's 'Key ... is not in struct' (a mistyped override) as one line with the closest known key."""
    key = getattr(cause, "key", None)
    parent = getattr(cause, "parent_node", None)
    if key is None or parent is None or "not in struct" not in str(cause):
        return None
    full = str(getattr(cause, "full_key", None) or key)
    prefix = full[: -len(str(key))]
    known = [k for k in parent.keys() if k != "hydra"]  # hydra's own node is not one of ours
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    if close:
        return f"{prog}: error: unknown key {full}; did you mean {prefix}{close[0]}?"
    # a modality's own options are not listed in the config files: pfgm-train takes them with a leading +
    hint = f" (an option the modality declares needs a leading +: +{full}=...)" if prefix == "modality." else ""
    return (
        f"{prog}: error: unknown key {full}; known keys{' of ' + prefix.rstrip('.') if prefix else ''}: {', '.join(known)}{hint}"
    )


def _one_line(text: str) -> str:
    """Hydra's multi-line messages (a missing recipe with its 'Available options' list) as one line."""
    head, _, rest = text.partition("\n")
    if head.startswith("LexerNoViableAltException: ") and "=" in head:
        # the override grammar takes unquoted values of ASCII characters only: say how to quote
        override = head.split(": ", 1)[1].strip()
        key, value = override.split("=", 1)
        return (
            f"cannot read the override {override!r}: a value with spaces, non-ASCII or special characters "
            f"needs Hydra's quotes inside the shell's, e.g. '{key}=\"{value}\"'"
        )
    if "Available options" in rest:
        listed = rest.split("Available options", 1)[1].split(":", 1)[1]
        options = listed.split("Config search path:", 1)[0].split()
        return f"{head.strip()}; available: {', '.join(options)}"
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def run_hydra(prog: str, app: Callable[[], None], dir_setting: str | None = None) -> None:
    """Run a ``@hydra.main`` app, reporting Hydra's own failures our way: one line, exit status 1.

    Hydra prints a mistyped key as five lines ending in 'Set the environment variable HYDRA_FULL_ERROR=1';
    here it is one line naming the closest key. ``dir_setting``: the setting Hydra's run dir comes from
    (pfgm-train's ``run_dir``): a file in its place is named as that setting, not as a traceback from
    Hydra's mkdir. Errors inside the app are the app's (:func:`user_errors`); a bug keeps its traceback.
    """
    from hydra.errors import CompactHydraException
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver(SWEEP_RESOLVER, _private_sweep_dir, replace=True)
    check_environment(prog)
    register_recipes()
    if os.environ.get("HYDRA_FULL_ERROR") == "1":  # the user asked for Hydra's full traces: leave them alone
        try:
            return app()
        finally:
            _remove_sweep_dir()
    before = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra then raises instead of printing and exiting itself
    try:
        app()
    except (FileExistsError, NotADirectoryError) as e:
        if dir_setting is None:
            raise
        # only Hydra's own mkdir of the run dir raises these out here: the app's are user_errors'
        what = "is a file" if isinstance(e, FileExistsError) else "has a file where a folder of its path should be"
        print(
            f"{prog}: error: {dir_setting}={e.filename} {what}, not a folder; give a folder for the run "
            "(a new one, or one an earlier pfgm-train wrote)",
            file=sys.stderr,
        )
        sys.exit(1)
    # Hydra's MissingConfigException is also an OSError: its own clause comes first
    except CompactHydraException as e:
        cause = e.__cause__
        line = _unknown_key(prog, cause) if cause is not None else None
        if line is None:  # what Hydra would print, on one line, without its HYDRA_FULL_ERROR hint
            text = str(e) + (f"\n{cause}" if cause is not None and str(cause) not in str(e) else "")
            line = f"{prog}: error: " + _one_line(text)
        print(line, file=sys.stderr)
        sys.exit(1)
    except OSError as e:
        if dir_setting is None or e.errno not in _DISK_ERRNOS:
            raise
        # Hydra's mkdir of the run dir: a read-only current folder (the default run_dir is relative), a full disk
        here = f" (the current folder {os.getcwd()} is not writable)" if not os.path.isabs(str(e.filename or "")) else ""
        print(
            f"{prog}: error: cannot create {dir_setting}: {e.filename}: {e.strerror or e}{here}; "
            f"give {dir_setting}= a folder you can write",
            file=sys.stderr,
        )
        sys.exit(1)
    finally:
        if before is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = before
        _remove_sweep_dir()


def check_environment(prog: str) -> None:
    """What the machine must provide before any work, as one-line errors: a ``$PFGM_CACHE`` that is a
    folder this user can write (a read-only home without it falls back to a temporary cache, see
    :func:`modalities.shared.paths.cache_dir`)."""
    from pfgm.modalities.shared.paths import CacheDirError, check_cache_setting

    try:
        check_cache_setting()
    except CacheDirError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        sys.exit(1)


def _remove_sweep_dir() -> None:
    while _sweep_tmp:
        shutil.rmtree(_sweep_tmp.pop(), ignore_errors=True)
