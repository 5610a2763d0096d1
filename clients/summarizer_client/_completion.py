"""Shell completion scripts for `summarizer-client`, written from the argument parser itself.

The scripts list the commands, each command's options, the fixed choices (e.g. --mode) and which
values are paths, as the parser defines them, so they cannot drift from the command line.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

PROG = "summarizer-client"
_FUNCTION = "_summarizer_client"


@dataclass(frozen=True)
class Option:
    names: list[str]
    help: str
    takes_value: bool
    choices: list[str]
    paths: bool
    repeatable: bool


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    options: list[Option] = field(default_factory=list)
    #: What the positional arguments complete to: paths, fixed choices, or nothing.
    positional_paths: bool = False
    positional_choices: list[str] = field(default_factory=list)


def describe(parser: argparse.ArgumentParser) -> tuple[list[Option], list[Command]]:
    """The top-level options and the commands of `parser`."""
    commands: list[Command] = []
    for action in parser._actions:  # argparse keeps no public list of its arguments
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, subparser in action.choices.items():
                commands.append(_command(name, helps.get(name, ""), subparser))
    return _options(parser), commands


def _command(name: str, help: str, parser: argparse.ArgumentParser) -> Command:
    positionals = [a for a in parser._actions if not a.option_strings]
    return Command(
        name=name,
        help=help,
        options=_options(parser),
        positional_paths=any(getattr(a, "complete_paths", False) for a in positionals),
        positional_choices=sorted({str(c) for a in positionals for c in (a.choices or ())}),
    )


def _options(parser: argparse.ArgumentParser) -> list[Option]:
    found = []
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        found.append(
            Option(
                names=list(action.option_strings),
                help=action.help or "",
                takes_value=action.nargs != 0,
                choices=[str(c) for c in (action.choices or ())],
                paths=bool(getattr(action, "complete_paths", False)),
                repeatable=isinstance(action, argparse._AppendAction) or action.nargs in ("+", "*"),
            )
        )
    return found


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for `shell` ("bash" or "zsh")."""
    top, commands = describe(parser)
    if shell == "bash":
        return _bash(top, commands)
    if shell == "zsh":
        return _zsh(top, commands)
    raise ValueError(f"no completion for {shell!r}: bash or zsh")


# -- bash ----------------------------------------------------------------------------------


def _bash(top: list[Option], commands: list[Command]) -> str:
    all_options = top + [option for command in commands for option in command.options]
    choice_cases: dict[str, list[str]] = {}
    path_options: set[str] = set()
    value_options: set[str] = set()
    for option in all_options:
        for name in option.names:
            if option.choices:
                choice_cases[name] = option.choices
            elif option.paths:
                path_options.add(name)
            elif option.takes_value:
                value_options.add(name)
    lines = [
        f"# bash completion for {PROG}, made by `{PROG} completion bash`.",
        f"# Load it in a shell with: source <({PROG} completion bash)",
        f"{_FUNCTION}() {{",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
        '    local command="" word',
        '    for word in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do',
        "        case $word in",
        f"            {'|'.join(c.name for c in commands)}) command=$word; break ;;",
        "        esac",
        "    done",
        '    case "$prev" in',
    ]
    for name, choices in sorted(choice_cases.items()):
        lines.append(f'        {name}) COMPREPLY=($(compgen -W "{" ".join(choices)}" -- "$cur")); return ;;')
    if path_options:
        lines.append(
            f"        {'|'.join(sorted(path_options))}) compopt -o filenames 2>/dev/null; "
            'COMPREPLY=($(compgen -f -- "$cur")); return ;;'
        )
    if value_options:
        lines.append(f"        {'|'.join(sorted(value_options))}) COMPREPLY=(); return ;;")
    lines += [
        "    esac",
        '    if [[ "$cur" == -* ]]; then',
        '        case "$command" in',
    ]
    for command in commands:
        names = _bash_names(command.options)
        lines.append(f'            {command.name}) COMPREPLY=($(compgen -W "{names}" -- "$cur")) ;;')
    lines += [
        f'            *) COMPREPLY=($(compgen -W "{_bash_names(top)}" -- "$cur")) ;;',
        "        esac",
        "        return",
        "    fi",
        '    case "$command" in',
        f'        "") COMPREPLY=($(compgen -W "{" ".join(c.name for c in commands)}" -- "$cur")) ;;',
    ]
    for command in commands:
        if command.positional_choices:
            words = " ".join(command.positional_choices)
            lines.append(f'        {command.name}) COMPREPLY=($(compgen -W "{words}" -- "$cur")) ;;')
        elif command.positional_paths:
            lines.append(
                f"        {command.name}) compopt -o filenames 2>/dev/null; "
                'COMPREPLY=($(compgen -f -- "$cur")) ;;'
            )
    lines += [
        "        *) COMPREPLY=() ;;",
        "    esac",
        "}",
        f"complete -F {_FUNCTION} {PROG}",
    ]
    return "\n".join(lines) + "\n"


def _bash_names(options: list[Option]) -> str:
    return " ".join(name for option in options for name in option.names)


# -- zsh -----------------------------------------------------------------------------------


def _zsh(top: list[Option], commands: list[Command]) -> str:
    lines = [
        f"#compdef {PROG}",
        f"# zsh completion for {PROG}, made by `{PROG} completion zsh`.",
        f"# Load it with: source <({PROG} completion zsh); or save it as _{PROG} in a folder on $fpath.",
        "",
        f"{_FUNCTION}() {{",
        "  local context state state_descr line",
        "  typeset -A opt_args",
        "  _arguments -C \\",
    ]
    lines += [f"    {spec} \\" for spec in _zsh_specs(top)]
    lines += [
        "    '1:command:->command' \\",
        "    '*::argument:->argument'",
        "  case $state in",
        "    command)",
        "      local -a commands",
        "      commands=(",
    ]
    lines += [f"        {_quote(f'{c.name}:{_plain(c.help)}')}" for c in commands]
    lines += [
        "      )",
        f"      _describe -t commands '{PROG} command' commands",
        "      ;;",
        "    argument)",
        "      case $words[1] in",
    ]
    for command in commands:
        specs = _zsh_specs(command.options)
        if command.positional_choices:
            specs.append(_quote(f"*:argument:({' '.join(command.positional_choices)})"))
        elif command.positional_paths:
            specs.append("'*:file:_files'")
        lines.append(f"        {command.name})")
        lines.append("          _arguments \\")
        lines += [f"            {spec} \\" for spec in specs[:-1]]
        lines.append(f"            {specs[-1]}" if specs else "            ''")
        lines.append("          ;;")
    lines += [
        "      esac",
        "      ;;",
        "  esac",
        "}",
        "",
        "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then",
        f'  {_FUNCTION} "$@"',
        "else",
        f"  compdef {_FUNCTION} {PROG}",
        "fi",
    ]
    return "\n".join(lines) + "\n"


def _zsh_specs(options: list[Option]) -> list[str]:
    specs = []
    for option in options:
        description = f"[{_plain(option.help)}]"
        if option.choices:
            value = f":value:({' '.join(option.choices)})"
        elif option.paths:
            value = ":file:_files"
        elif option.takes_value:
            value = ":value: "
        else:
            value = ""
        prefix = "*" if option.repeatable else ""
        if len(option.names) == 1:
            specs.append(_quote(f"{prefix}{option.names[0]}{description}{value}"))
        else:
            # '(-t --target)'{-t,--target}'[help]:value: ' offers either spelling, once.
            exclusive = "" if prefix else f"({' '.join(option.names)})"
            specs.append(
                f"{_quote(prefix + exclusive)}{{{','.join(option.names)}}}{_quote(description + value)}"
            )
    return specs


def _plain(text: str) -> str:
    # Brackets delimit the help in a zsh spec, so the help itself may hold none.
    return " ".join(text.replace("[", "(").replace("]", ")").split())


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
