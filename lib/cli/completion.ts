// `rasterpipe completion bash|zsh`: a shell completion script made from the option table, so that it
// offers every option (and alias) --help lists, and completes values where there is something to offer:
// directories, files, drivers, resampling methods, fetch modes.
import { UsageError } from '../core/errors.js'
import { OPTIONS, namesOf, type OptionSpec } from './option-table.js'
import type { CliIo } from './io.js'

const SUBCOMMANDS = ['summarize', 'report', 'completion']
const SUMMARIZE_OPTIONS = ['--retry-list', '--stats', '--help']
const REPORT_OPTIONS = ['--output', '--stats', '--thumbnails', '--basemap', '--base', '--title', '--config', '--help']

function shellWords (list: readonly string[]): string {
  return list.join(' ')
}

function bashCase (names: string[], action: string): string {
  return `    ${names.join('|')})\n      ${action}\n      return ;;\n`
}

export function bashCompletion (): string {
  const valued = OPTIONS.filter((o) => o.type === 'string')
  const cases = valued.map((o) => {
    const c = o.complete
    const action = c === 'dir'
      ? 'COMPREPLY=($(compgen -d -- "$cur"))'
      : c === 'file'
        ? 'COMPREPLY=($(compgen -f -- "$cur"))'
        : Array.isArray(c)
          ? `COMPREPLY=($(compgen -W "${shellWords(c)}" -- "$cur"))`
          // A value of the user's own (a number, a bbox): nothing to offer.
          : 'COMPREPLY=()'
    return bashCase(namesOf(o), action)
  }).join('')
  const options = OPTIONS.flatMap((o) => namesOf(o).filter((n) => n.startsWith('--')))
  return `# bash completion for rasterpipe, made from its options by \`rasterpipe completion bash\`.
# Install: eval "$(rasterpipe completion bash)" in ~/.bashrc, or save it as
# ~/.local/share/bash-completion/completions/rasterpipe
_rasterpipe() {
  local cur prev
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  # --name=value: bash splits the word at '='.
  if [[ "$cur" == "=" ]]; then cur=""; fi
  if [[ "$prev" == "=" && $COMP_CWORD -ge 2 ]]; then prev="\${COMP_WORDS[COMP_CWORD-2]}"; fi
  if [[ "\${COMP_WORDS[1]}" == completion && $COMP_CWORD -eq 2 ]]; then
    COMPREPLY=($(compgen -W "bash zsh" -- "$cur"))
    return
  fi
  if [[ "\${COMP_WORDS[1]}" == report ]]; then
    if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "${shellWords(REPORT_OPTIONS)}" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi
    return
  fi
  if [[ "\${COMP_WORDS[1]}" == summarize ]]; then
    if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "${shellWords(SUMMARIZE_OPTIONS)}" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi
    return
  fi
  case "$prev" in
${cases}  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "${shellWords(options)}" -- "$cur"))
  elif [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W "${shellWords(SUBCOMMANDS)}" -- "$cur") $(compgen -f -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _rasterpipe rasterpipe
`
}

/** Text inside a zsh _arguments spec's [description]: its brackets and quotes escaped. */
function zshText (text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/'/g, '\'\\\'\'').replace(/[[\]]/g, (c) => `\\${c}`).replace(/:/g, '\\:')
}

/** The help's first clause: enough for a completion menu. */
function brief (o: OptionSpec): string {
  return o.help.split(/;|: | \(|\. [A-Z]/)[0].trim()
}

function zshSpec (o: OptionSpec): string {
  const names = namesOf(o)
  const exclusive = o.multiple ? '*' : `(${names.join(' ')})`
  const c = o.complete
  const action = c === 'dir' ? '_files -/' : c === 'file' ? '_files' : Array.isArray(c) ? `(${c.join(' ')})` : ' '
  const value = o.type === 'string' ? `:${zshText(o.value ?? 'VALUE')}:${action}` : ''
  const one = (name: string): string => `'${exclusive}${name}${o.type === 'string' && name.startsWith('--') ? '=' : ''}[${zshText(brief(o))}]${value}'`
  return names.map(one).join(' \\\n    ')
}

export function zshCompletion (): string {
  return `#compdef rasterpipe
# zsh completion for rasterpipe, made from its options by \`rasterpipe completion zsh\`.
# Install: eval "$(rasterpipe completion zsh)" in ~/.zshrc (after compinit), or save it as _rasterpipe
# in a directory of $fpath.
_rasterpipe() {
  if [[ \${words[2]} == completion ]]; then
    _arguments '2:shell:(bash zsh)'
    return
  fi
  if [[ \${words[2]} == report ]]; then
    _arguments '(-o --output)'{-o,--output}'[the page to write]:page:_files' '*--stats[a --stats JSON of a run]:stats:_files' '--thumbnails[thumbnails of N outputs]:count' '--basemap[XYZ tiles behind the map]:template' '*--base[where relative outputs are]:dir:_files -/' '--title[the title of the page]:title' '*--config[KEY=VALUE]:pair' '*:records:_files'
    return
  fi
  if [[ \${words[2]} == summarize ]]; then
    _arguments '--retry-list[the failed inputs to run again]' '--stats[the summary as JSON]' '*:records:_files'
    return
  fi
  _arguments -s -S \\
    ${OPTIONS.map(zshSpec).join(' \\\n    ')} \\
    '1:input or subcommand:{_alternative "subcommands:subcommand:(${SUBCOMMANDS.join(' ')})" "files:input:_files"}' \\
    '*:input:_files'
}
if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
  _rasterpipe "$@"
else
  compdef _rasterpipe rasterpipe
fi
`
}

/** The subcommand: the script for the shell named. */
export function completion (args: string[], io: CliIo): number {
  const shell = args[0]
  if (args.length !== 1 || (shell !== 'bash' && shell !== 'zsh')) {
    throw new UsageError(`completion needs one shell, bash or zsh${shell ? `, got '${args.join(' ')}'` : ''}`)
  }
  io.stdout.write(shell === 'bash' ? bashCompletion() : zshCompletion())
  return 0
}
