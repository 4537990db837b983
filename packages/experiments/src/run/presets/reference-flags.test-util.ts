/** A command line of the reference code as a map from each flag to its values (a bare flag maps to []). */
export function flags(command: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let key = '';
  for (const word of command.split(/\s+/).filter(Boolean)) {
    if (word.startsWith('--')) {
      key = word.slice(2);
      out[key] = [];
    } else if (key) out[key].push(word.replace(/^'(.*)'$/, '$1'));
  }
  return out;
}

export const numbers = (v: string[]) => v.map(Number);
