// Directory and Devin values are text, never instructions to whatever shows them. A terminal runs
// ESC sequences (`\u001b[31mroot` colours it, `\u001b]8;;…` makes a link, `\r` overwrites a line);
// bidi controls reorder what a reviewer reads (`\u202e` shows `txt.exe` as `exe.txt`). So
// every control character is shown as a visible `\uXXXX` escape instead of being passed through.

/**
 * C0 controls (U+0000–U+001F), DEL and the C1 controls (U+007F–U+009F), the Arabic letter mark
 * (U+061C), LRM and RLM (U+200E, U+200F), the embeddings and overrides (U+202A–U+202E) and the
 * isolates (U+2066–U+2069). Line and paragraph separators (U+2028, U+2029) too: some viewers
 * break lines on them.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point.
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]/g;

/** `\u001b` for ESC: the code point in the form JSON and JavaScript write it. */
function visible(c: string): string {
  return `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`;
}

/** Every control character as a visible `\uXXXX`, newlines and tabs included. */
export function showControls(value: string): string {
  return value.replace(CONTROLS, visible);
}

/**
 * For a terminal line: controls made visible, so a name cannot colour, move the cursor, retitle
 * the window, start a hyperlink or reorder the line.
 */
export function terminalText(value: string): string {
  return showControls(value);
}
