// Text from records into the page: records may hold anything (an error message with `</script>`, a URL
// with quotes), so every value is escaped for where it goes: HTML text and attributes, or JSON inside a
// <script> element (where only `<`, `>`, `&` and the two JavaScript line separators need escaping).

const HTML: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Text for an HTML element's content or a quoted attribute's value. */
export function esc (value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => HTML[c])
}

/** JSON that can sit inside <script type="application/json"> whatever its strings hold. */
export function scriptJson (value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** A number for SVG coordinates: one decimal, no trailing zeros. */
export function n1 (v: number): string {
  return String(Math.round(v * 10) / 10)
}
