/**
 * The code blocks of a Markdown page, as the doc test runs them: every ```ts block of a page
 * joins one module (blocks of a page belong together: later blocks use what earlier ones made),
 * every ```sh block runs in bash with `eqprop` bound to the built CLI. Other fences (text, json)
 * are output shown to the reader and are not run.
 */
export interface PageBlocks {
  /** The page's ```ts blocks, in order, joined into one module. */
  module: string;
  /** The page's ```sh blocks, in order. */
  shell: string[];
  /** Figures the page links to (`![…](figures/NAME.png)`): NAME, which the page's code must write as NAME.svg. */
  figures: string[];
}

const FENCE = /^```(\w*)[^\n]*\n([\s\S]*?)^```\s*$/gm;
const FIGURE = /!\[[^\]]*\]\(figures\/([\w.-]+)\.png\)/g;

export function pageBlocks(markdown: string): PageBlocks {
  const ts: string[] = [];
  const shell: string[] = [];
  for (const [, lang, body] of markdown.matchAll(FENCE)) {
    if (lang === 'ts' || lang === 'typescript') ts.push(body);
    else if (lang === 'sh' || lang === 'bash') shell.push(body);
  }
  const figures = [...markdown.matchAll(FIGURE)].map((m) => m[1]);
  return { module: ts.join('\n'), shell, figures };
}
