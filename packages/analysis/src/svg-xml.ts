import { DataFormatError } from '@eqprop/core';

/** An element of a parsed XML document. */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Text directly inside the element, entities decoded. */
  text: string;
}

/** One start or end tag, matched where the scan stands (sticky). */
const TAG = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/y;
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * A strict little XML parser for the SVG files eqprop writes (no DOM, no dependencies): elements,
 * attributes, text, comments and the XML declaration. Anything malformed (a tag left open or
 * closed out of order, a bare `<` or `&`, an unknown entity, a duplicate attribute, text after
 * the root) is a DataFormatError naming the offset. Tests use it to check that plots parse and
 * hold the axes and series they claim.
 */
export function parseXml(text: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const fail = (what: string): never => {
    throw new DataFormatError(`malformed XML at offset ${i}: ${what}`);
  };
  const decode = (raw: string, at: number) =>
    raw.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);|&|</g, (m, ent: string | undefined) => {
      if (!ent) {
        i = at;
        return fail(`bare "${m}"`);
      }
      if (ent.startsWith('#x')) return String.fromCodePoint(parseInt(ent.slice(2), 16));
      if (ent.startsWith('#')) return String.fromCodePoint(Number(ent.slice(1)));
      if (!(ent in ENTITIES)) fail(`unknown entity &${ent};`);
      return ENTITIES[ent];
    });
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = text.slice(i, lt < 0 ? text.length : lt);
    if (chunk.trim()) {
      if (!stack.length) fail('text outside the root element');
      stack[stack.length - 1].text += decode(chunk, i);
    }
    if (lt < 0) break;
    i = lt;
    if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i);
      if (end < 0) fail('unterminated comment');
      i = end + 3;
      continue;
    }
    if (text.startsWith('<?', i)) {
      const end = text.indexOf('?>', i);
      if (end < 0 || root || stack.length) fail('misplaced processing instruction');
      i = end + 2;
      continue;
    }
    TAG.lastIndex = i;
    const m = TAG.exec(text);
    if (!m) fail('not a well-formed tag');
    const [whole, closing, name, attrText, selfClosing] = m!;
    if (closing) {
      if (attrText || selfClosing) fail(`closing tag </${name}> with attributes`);
      const open = stack.pop();
      if (!open || open.name !== name) fail(`</${name}> closes <${open?.name ?? 'nothing'}>`);
      if (!stack.length) root = open;
    } else {
      if (!stack.length && root) fail('a second root element');
      const attrs: Record<string, string> = {};
      for (const a of attrText.matchAll(/([A-Za-z_][\w:.-]*)\s*=\s*("([^"]*)"|'([^']*)')/g)) {
        if (a[1] in attrs) fail(`duplicate attribute ${a[1]}`);
        attrs[a[1]] = decode(a[3] ?? a[4], i);
      }
      const el: XmlElement = { name, attrs, children: [], text: '' };
      if (stack.length) stack[stack.length - 1].children.push(el);
      if (selfClosing) {
        if (!stack.length) root = el;
      } else {
        stack.push(el);
      }
    }
    i += whole.length;
  }
  if (stack.length) fail(`<${stack[stack.length - 1].name}> is never closed`);
  if (!root) fail('no root element');
  return root!;
}

/** Every element named `name` below (and including) `el`, in document order. */
export function findAll(el: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = el.name === name ? [el] : [];
  for (const c of el.children) out.push(...findAll(c, name));
  return out;
}

/** The texts of all `<text>` elements (tick labels, axis labels, title, legend). */
export function svgTexts(svg: XmlElement): string[] {
  return findAll(svg, 'text').map((t) => t.text);
}
