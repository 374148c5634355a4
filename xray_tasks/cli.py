"""The ``xray-tasks`` console command: an Invoke ``Program`` over the package's task collection.

It keeps only the core options that mean something here — ``--help [TASK]``, ``--list``, ``--version``,
``--complete`` and ``--print-completion-script SHELL`` — so Invoke's options for its own ``c.run`` (``--dry``,
``--echo``, ``--warn-only``, ``--hide``, ``--pty``, ``--command-timeout``, ``--prompt-for-sudo-password``),
its runtime config file (``-f``/``--config``; ``XRAY_ENV_FILE`` names another settings file) and its own
debugging switches (``--debug``, ``--write-pyc``, ``--list-depth``, ``--list-format``) are usage errors
saying what to use instead, rather than options that are accepted and silently do nothing.

Usage errors (an unknown task or flag, a flag without its value) are one line naming the nearest valid
spelling, and exit 1. Task help shows value placeholders (``--report PATH``), and shell completion offers
the values of flags that take one of a few (``--format <TAB>``). ``./invoke.yaml`` is read as ``invoke``
reads it beside a ``tasks.py``; a file that cannot be read is one line and exit 11.

Users who mount the collection in their own ``tasks.py`` run it under ``invoke``, whose options are
Invoke's own: only this command is shaped here.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
import shlex
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit, ParseError
from invoke.parser.argument import Argument
from invoke.parser.context import ParserContext, to_flag
from invoke.parser.parser import Parser
from invoke.program import Program

from xray_tasks import __version__
from xray_tasks.errors import SettingsError, one_line
from xray_tasks.redaction import redact
from xray_tasks.tasks import CHOICES, PLACEHOLDERS, ns

__all__ = ["REMOVED_OPTIONS", "USAGE_ERROR", "XrayTasksProgram", "main", "program"]

#: the exit code of a usage error: an unknown task or flag, or a flag without its value (as Invoke's)
USAGE_ERROR = 1
SHELLS = ("bash", "fish", "zsh")

#: Invoke's core options this command does not take, and what to use instead
REMOVED_OPTIONS: dict[str, str] = {
    "--dry": "for a run that sends nothing use import-results --dry-run",
    "--echo": "the test command is printed before it runs; --verbose traces the HTTP requests",
    "--warn-only": "failing tests never stop run-tests; ci exits with the tests' code; "
                   "--on-error warn turns an import failure into a warning",
    "--hide": "use --quiet (progress lines off) or --json (one JSON object on stdout)",
    "--pty": "the test command already writes straight to your terminal",
    "--command-timeout": "XRAY_TIMEOUT and XRAY_DEADLINE limit requests; limit the tests with e.g. "
                         "--command 'timeout 20m pytest ...'",
    "--prompt-for-sudo-password": "xray-tasks never runs sudo",
    "--config": "XRAY_ENV_FILE=path names another settings file; ./invoke.yaml is read as it is",
    "--debug": "--verbose traces every HTTP request and answer on stderr",
    "--write-pyc": "xray-tasks imports no tasks.py of yours",
    "--list-depth": "--list shows every task",
    "--list-format": "--list shows every task",
    "--collection": "xray-tasks runs its own tasks; mount them in a tasks.py to run them beside yours with invoke",
    "--search-root": "xray-tasks runs its own tasks; mount them in a tasks.py to run them beside yours with invoke",
    "--no-dedupe": "each task runs once per call",
}
_REMOVED_SHORT = {"-R": "--dry", "-e": "--echo", "-w": "--warn-only", "-p": "--pty", "-T": "--command-timeout",
                  "-f": "--config", "-d": "--debug", "-D": "--list-depth", "-F": "--list-format",
                  "-c": "--collection", "-r": "--search-root"}


def core_arguments() -> list[Argument]:
    """The core options this command keeps."""
    return [
        Argument(names=("help", "h"), optional=True,
                 help="show this help, or a task's options, examples and exit codes (--help TASK)"),
        Argument(names=("list", "l"), optional=True, help="list the tasks"),
        Argument(names=("version", "V"), kind=bool, default=False, help="print the version"),
        Argument(names=("complete",), kind=bool, default=False,
                 help="print completion candidates for the words after -- (the completion script calls it)"),
        Argument(names=("print-completion-script",), kind=str, default="",
                 help=f"print the completion script for {', '.join(SHELLS[:-1])} or {SHELLS[-1]}, e.g. "
                      "eval \"$(xray-tasks --print-completion-script bash)\""),
    ]


CORE_PLACEHOLDERS = {"help": "TASK", "list": "", "print-completion-script": "SHELL"}

EPILOG = """\
Settings come from flags, XRAY_* environment variables, ./.env and ./invoke.yaml (section xray:);
`xray-tasks doctor` checks them. Text after -- goes to the test command of run-tests and ci.

Exit codes: 0 done; 1 usage error (unknown task or flag); 11 settings; 12 report; 13 report older than
the test run; 14 template; 15 authentication; 16 Xray refused the request; 17 Xray unreachable; 18 the
import may have landed (not retried); 130/143 interrupted (Ctrl-C/SIGTERM). ci ends with the tests' own
exit code when they failed and their results were imported."""


class XrayTasksProgram(Program):
    """Invoke's ``Program`` with the core options, help, completion and usage errors of ``xray-tasks``."""

    def core_args(self) -> list[Argument]:
        return core_arguments()

    # -- parsing ----------------------------------------------------------------------------------------

    def create_config(self) -> None:
        """Invoke's config, with its system and user files (/etc/invoke.yaml, ~/.invoke.yaml): one that
        cannot be read is one line and exit 11, not a traceback."""
        try:
            super().create_config()
        except Exception as exc:  # a user's file parsed by YAML/JSON/Python: anything goes
            raise Exit(_unreadable("an Invoke config file (/etc/invoke.yaml or ~/.invoke.yaml)", exc),
                       code=SettingsError.exit_code) from None

    def parse_core(self, argv: list[str] | None) -> None:
        """The core options: ``--version`` and ``--print-completion-script`` end the call here."""
        self.normalize_argv(argv)
        self._explained(self.parse_core_args)
        if self.args.version.value:
            self.print_version()
            raise Exit
        shell = self.args["print-completion-script"].value
        if shell:
            if shell not in SHELLS:
                raise ParseError(usage(f"--print-completion-script takes {', '.join(SHELLS)}, not {shell!r}"))
            from invoke.completion.complete import print_completion_script

            print_completion_script(shell=shell, names=self.binary_names)
            raise Exit

    def parse_collection(self) -> None:
        """``invoke`` reads the project's ``invoke.yaml`` beside the tasks.py it loads; this command has no
        tasks.py, so the project is the working directory: ``./invoke.yaml`` (its ``xray:`` section) counts
        here exactly as it does for ``invoke`` in the same folder."""
        super().parse_collection()
        self.config.set_project_location(os.getcwd())
        try:
            self.config.load_project()
        except Exception as exc:  # YAML, JSON or Python of the user's: any error is theirs
            raise Exit(_unreadable(_project_file(), exc), code=SettingsError.exit_code) from None

    def parse_tasks(self) -> None:
        self._explained(super().parse_tasks)

    def _make_parser(self) -> Parser:
        """Invoke's parser deep-copies every task's flags on each parse (a dozen ms for this collection):
        give it the tasks named on the command line only. Any other task cannot be called by it; an unknown
        word still fails the parse, and the usage error is explained against every task."""
        contexts = self.collection.to_contexts(ignore_unknown_help=self.config.tasks.ignore_unknown_help)
        named = set(self.core.unparsed) if self.core is not None else set()
        wanted = [c for c in contexts if c.name in named or named & set(c.aliases)]
        return Parser(initial=self.initial_context, contexts=wanted or contexts)

    def update_config(self, merge: bool = True) -> None:
        """No core option changes the config (Invoke's fill ``run.*`` for ``c.run``, which is not used)."""
        if merge:
            self.config.merge()

    def parse_cleanup(self) -> None:
        """``--help [TASK]``, ``--list`` and ``--complete``; with no task given, the help."""
        wanted = self.args.help.value
        if wanted is True:
            self.print_help()
            raise Exit
        if wanted:
            if wanted not in self.parser.contexts:
                raise ParseError(usage(f"no task named {wanted!r}{_nearest(wanted, self.collection.task_names)}",
                                       "xray-tasks --list shows the tasks"))
            self.print_task_help(wanted)
            raise Exit
        if self.args.list.value:
            self.list_flat()
            raise Exit
        if self.args.complete.value:
            for word in completions(self.core.remainder, self.binary_names, self.initial_context,
                                    self._make_parser().contexts, self.collection):
                print(word)
            raise Exit
        if not self.tasks:
            self.print_help()
            raise Exit

    def _explained(self, parse: Any) -> None:
        """Run an Invoke parse step; its ParseError becomes our one-line usage error."""
        try:
            parse()
        except ParseError as exc:
            if str(exc).startswith("xray-tasks:"):
                raise
            tasks = self.namespace if self.namespace is not None else Collection()
            raise ParseError(explain(exc, self.initial_context, tasks.to_contexts(), sorted(tasks.task_names),
                                     self.argv[1:]), exc.context) from None

    # -- help -------------------------------------------------------------------------------------------

    def print_help(self) -> None:
        print(f"Usage: {self.binary} TASK [options] [TASK [options] ...] [-- test command args]")
        print(f"       {self.binary} --help TASK")
        print("")
        print("Run your tests and import their results into Xray (Cloud or Server/Data Center).")
        print("")
        print("Tasks:")
        print("")
        self.print_columns(self._make_pairs(self.collection))
        print("Options:")
        print("")
        self.print_columns([option_spec(arg, CORE_PLACEHOLDERS) for arg in core_arguments()])
        print(EPILOG)

    def print_task_help(self, name: str) -> None:
        """Usage, the task's docstring (what it does, examples, exit codes) and its flags with placeholders."""
        context = self.parser.contexts[name]
        print(f"Usage: {self.binary} {name} [options]")
        print("")
        doc = inspect.getdoc(self.collection[name]) or ""
        for line in doc.splitlines():
            print(f"{self.leading_indent}{line}" if line.strip() else "")
        print("")
        print("Options:")
        print("")
        self.print_columns([option_spec(arg, PLACEHOLDERS) for arg in context.args.values()])

    def list_flat(self) -> None:
        print("Tasks:")
        print("")
        self.print_columns(self._make_pairs(self.collection))


def option_spec(arg: Argument, placeholders: dict[str, str]) -> tuple[str, str]:
    """``("--report PATH", help)`` for a flag: its value shown by placeholder, not Invoke's ``=STRING``."""
    name = str(arg.name)
    long_name = to_flag(name)
    shorts = sorted(n for n in arg.nicknames if len(n) == 1)
    if arg.kind is bool:
        spec = f"--[no-]{long_name[2:]}" if arg.default is True else long_name
    else:
        shown = placeholders.get(name, placeholders.get(name.replace("-", "_"), "VALUE"))
        if not shown:
            spec = long_name
        elif arg.optional:
            spec = f"{long_name} [{shown}]"
        else:
            spec = f"{long_name} {shown}"
    names = [*(f"-{s}" for s in shorts), spec]
    return ", ".join(names), arg.help or ""


# -- usage errors ---------------------------------------------------------------------------------------


def usage(message: str, hint: str | None = None) -> str:
    """The one line of a usage error."""
    return f"xray-tasks: usage error: {message}" + (f" — {hint}" if hint else "")


def _nearest(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _flags(context: ParserContext | None) -> list[str]:
    if context is None:
        return []
    return [*context.flags.keys(), *context.inverse_flags.keys()]


_UNKNOWN = re.compile(r"No idea what '(.*)' is!")
_NEEDS_VALUE = re.compile(r"Flag <Argument: ([^\s>]+).*needed value")
_NO_VALUE = re.compile(r"Flag <Argument: ([^\s>]+).*doesn't take any value")


def explain(exc: ParseError, initial: ParserContext, contexts: Any, task_names: Sequence[str],
            argv: Sequence[str] = ()) -> str:
    """Invoke's parse error as our usage error: what was wrong and the nearest valid spelling."""
    text = str(exc)
    context = exc.context if exc.context is not None and exc.context.name else None
    where = context.name if context is not None else None
    help_for = f"xray-tasks --help {where}" if where else "xray-tasks --help"
    match = _NEEDS_VALUE.search(text)
    if match:
        flag = to_flag(match.group(1))
        shown = PLACEHOLDERS.get(match.group(1).replace("-", "_"), "VALUE") if where else \
            CORE_PLACEHOLDERS.get(match.group(1), "VALUE")
        return usage(f"{flag} needs a value: {flag} {shown}", f"see {help_for}")
    match = _NO_VALUE.search(text)
    if match:
        flag = to_flag(match.group(1))
        return usage(f"{flag} takes no value (it is a switch: write {flag} alone)", f"see {help_for}")
    match = _UNKNOWN.search(text)
    if not match:
        return usage(text)
    token = match.group(1)
    if token.startswith("-"):
        return usage(*_unknown_flag(token, context, initial, contexts, help_for))
    switch = next((a.partition("=")[0] for a in argv if a.startswith("--") and a.partition("=")[2] == token), None)
    if switch:
        return usage(f"{switch} takes no value (it is a switch: write {switch} alone)", f"see {help_for}")
    suggestion = _nearest(token, task_names)
    if where and not suggestion:
        return usage(f"{token!r} is not a task, nor the value of a flag",
                     "each flag takes one value: repeat it (--report a.xml --report b.xml) or quote a glob so the "
                     "shell leaves it alone (--report 'reports/*.xml'); arguments for the test command go after --")
    return usage(f"no task named {token!r}{suggestion}", "xray-tasks --list shows the tasks")


def _unknown_flag(token: str, context: ParserContext | None, initial: ParserContext, contexts: Any,
                  help_for: str) -> tuple[str, str]:
    invoke_flag = _REMOVED_SHORT.get(token, token)
    if invoke_flag in REMOVED_OPTIONS:
        shown = f"{token} ({invoke_flag})" if invoke_flag != token else token
        return f"{shown} is an option of Invoke's that xray-tasks does not take", REMOVED_OPTIONS[invoke_flag]
    owner = f"{context.name} has no flag {token}" if context is not None else f"unknown option {token}"
    suggestion = _nearest(token, [*_flags(context), *_flags(initial)])
    if not suggestion and context is not None:
        others = sorted(str(c.name) for c in _iter_contexts(contexts) if token in c.flags and c.name != context.name)
        if others:
            suggestion = f" ({token} is a flag of {', '.join(others)})"
    return owner + suggestion, f"see {help_for}"


def _iter_contexts(contexts: Any) -> Iterable[ParserContext]:
    values = contexts.values() if hasattr(contexts, "values") else contexts
    seen: set[int] = set()
    for c in values:
        if id(c) not in seen:
            seen.add(id(c))
            yield c


# -- shell completion -----------------------------------------------------------------------------------


def completions(line: str, names: Sequence[str], initial: ParserContext, contexts: Any,
                collection: Collection) -> list[str]:
    """The words to offer for the command line ``line`` (Invoke's ``--complete`` protocol: the shell
    passes the words typed so far and filters what we print by the word under the cursor).

    Flags complete with the flags of the task being typed; a flag's value completes with its choices
    (``--format``, ``--on-error``, ``--region``, ``--deployment``; ``--help`` with the tasks) and otherwise
    with nothing, so the shell completes file names; anything else completes with the task names."""
    invocation = re.sub(r"^({}) ".format("|".join(re.escape(n) for n in names)), "", line)
    try:
        tokens = shlex.split(invocation)
    except ValueError:  # an open quote: complete the words before it
        tokens = invocation.split()
    tokens = _split_equals(tokens)
    tasks = sorted(collection.task_names)
    context = _current_context(tokens, initial, contexts)
    last = tokens[-1] if tokens else ""
    before = tokens[-2] if len(tokens) > 1 else ""
    for flag, partial in ((last, False), (before, True)):
        arg = _flag(flag, context, initial)
        if arg is not None and arg.takes_value and not (partial and last.startswith("-")):
            return _values(arg, tasks)
    if last.startswith("-"):
        flags = [*_flags(context), *initial.flags.keys()] if context is not None else _flags(initial)
        return [f for f in dict.fromkeys(flags) if f.startswith("--" if last.startswith("--") else "-")]
    return tasks


def _split_equals(tokens: list[str]) -> list[str]:
    """``--format=ju`` or bash's ``--format = ju`` as ``--format ju``."""
    out: list[str] = []
    for token in tokens:
        if token == "=":
            continue
        if token.startswith("--") and "=" in token:
            flag, _, value = token.partition("=")
            out += [flag, value] if value else [flag]
        else:
            out.append(token)
    return out


def _current_context(tokens: list[str], initial: ParserContext, contexts: Any) -> ParserContext | None:
    """The task whose flags are being typed: the last task name not taken as a flag's value."""
    context: ParserContext | None = None
    expecting = False
    for token in tokens[:-1] if tokens else []:
        if expecting:
            expecting = False
            continue
        if token.startswith("-"):
            arg = _flag(token, context, initial)
            expecting = bool(arg is not None and arg.takes_value and not arg.optional)
        elif token in contexts:
            context = contexts[token]
    return context


def _flag(token: str, context: ParserContext | None, initial: ParserContext) -> Argument | None:
    for c in (context, initial):
        if c is not None and token in c.flags:
            arg: Argument = c.flags[token]
            return arg
    return None


def _values(arg: Argument, tasks: list[str]) -> list[str]:
    if arg.name == "help":
        return tasks
    if arg.name == "print-completion-script":
        return list(SHELLS)
    return list(CHOICES.get(str(arg.name).replace("-", "_"), ()))


# -- files ------------------------------------------------------------------------------------------------


def _project_file() -> str:
    for suffix in ("yaml", "yml", "json", "py"):
        if os.path.exists(f"invoke.{suffix}"):
            return f"./invoke.{suffix}"
    return "./invoke.yaml"


def _unreadable(what: str, exc: Exception) -> str:
    detail = str(exc).splitlines()
    mark = getattr(exc, "problem_mark", None)
    reason = getattr(exc, "problem", None) or (detail[0] if detail else type(exc).__name__)
    if isinstance(exc, AttributeError | TypeError):
        reason = "its top level is not a mapping of sections (e.g. 'xray:' followed by indented settings)"
    where = f" (line {mark.line + 1})" if mark is not None else ""
    return redact(one_line(f"xray-tasks: error: cannot read {what}{where}: {reason} — fix the file (YAML: "
                           "'xray:' then indented 'key: value' lines), or remove it"))


program = XrayTasksProgram(namespace=ns, name="xray-tasks", binary="xray-tasks", binary_names=["xray-tasks"],
                           version=__version__)


def main() -> None:
    try:
        program.run()
    except BrokenPipeError:  # e.g. `xray-tasks --help | head`: the reader is gone, so is our output
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
