// man/rasterpipe.1, made from the option table and the texts --help shows (help.ts). The committed file is
// checked against this by test/cli-options.test.ts; remake it after changing an option:
//   node -e "import('./dist/lib/cli/manpage.js').then((m) => process.stdout.write(m.manPage()))" > man/rasterpipe.1
import { OPTIONS, SECTIONS, namesOf, type OptionSpec } from './option-table.js'
import { DESCRIPTION, ENVIRONMENT, EXAMPLES, EXIT_STATUS, RECORDS_INTRO, SUBCOMMANDS, SYNOPSIS, describe, recordLines, version } from './help.js'

/**
 * Text for roff: backslashes and dashes escaped (\- is a minus, what an option is typed with), the few
 * non-ASCII characters as roff's, and no line starting with a control character.
 */
function esc (text: string): string {
  return text.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/×/g, '\\(mu').replace(/…/g, '...').replace(/–/g, '\\(en').split('\n').map((l) => /^[.']/.test(l) ? `\\&${l}` : l).join('\n')
}

function optionTerm (o: OptionSpec): string {
  const names = namesOf(o).map((n) => `\\fB${esc(n)}\\fR`)
  if (o.long === 'progress') names.push('\\fB\\-\\-no\\-progress\\fR')
  return names.join(', ') + (o.value ? ` \\fI${esc(o.value)}\\fR` : '')
}

export function manPage (): string {
  const out: string[] = []
  out.push(`.TH RASTERPIPE 1 "" "rasterpipe ${version()}" "User Commands"`)
  // No hyphenation, left-aligned: option names and values must read as typed.
  out.push('.nh', '.ad l')
  out.push('.SH NAME', 'rasterpipe \\- pull windows out of many remote rasters into georeferenced files, one NDJSON record each')
  out.push('.SH SYNOPSIS')
  SYNOPSIS.forEach((line, i) => {
    if (i > 0) out.push('.br')
    out.push(esc(line))
  })
  out.push('.SH DESCRIPTION', esc(DESCRIPTION))
  out.push('.SH OPTIONS')
  for (const section of SECTIONS) {
    out.push(`.SS ${section}`)
    // The man page names the aliases in the term itself; --help says them after the text.
    for (const o of OPTIONS.filter((x) => x.section === section && !x.hidden)) out.push('.TP', optionTerm(o), esc(describe({ ...o, aliases: [] })))
  }
  out.push('.SH "INPUT RECORDS"', esc(RECORDS_INTRO))
  out.push('.PP', '.nf', ...recordLines().map(esc), '.fi')
  out.push('.SH EXAMPLES')
  for (const [what, command] of EXAMPLES) out.push('.PP', esc(what), '.PP', '.nf', '.RS 4', esc(command), '.RE', '.fi')
  out.push('.SH SUBCOMMANDS')
  for (const [name, what] of SUBCOMMANDS) out.push('.TP', `\\fB${esc(name)}\\fR`, esc(what))
  out.push('.SH ENVIRONMENT')
  for (const [names, what] of ENVIRONMENT) out.push('.TP', `\\fB${esc(names)}\\fR`, esc(what))
  out.push('.SH "EXIT STATUS"')
  for (const [code, what] of EXIT_STATUS) out.push('.TP', `\\fB${esc(code)}\\fR`, esc(what))
  out.push('.SH "SEE ALSO"', '\\fBgdal_translate\\fR(1), \\fBgdalwarp\\fR(1), \\fBcurl\\fR(1), \\fBjq\\fR(1)',
    '.PP', 'The README at https://github.com/rasterpipe/rasterpipe#readme')
  return out.join('\n') + '\n'
}
