import { DataFormatError } from '@eqprop/core';
import { describe, expect, it } from 'vitest';
import { findAll, parseXml, svgTexts } from './svg-xml.js';

describe('parseXml', () => {
  it('reads elements, attributes, decoded text and nesting', () => {
    const doc = parseXml(
      '<?xml version="1.0"?>\n<svg a="1" b=\'x &amp; y\'><!-- note --><g><text>3 &lt; 4 &#946;</text><line x="2"/></g><text>β</text></svg>\n',
    );
    expect(doc.name).toBe('svg');
    expect(doc.attrs).toEqual({ a: '1', b: 'x & y' });
    expect(svgTexts(doc)).toEqual(['3 < 4 β', 'β']);
    expect(findAll(doc, 'line')[0].attrs.x).toBe('2');
  });

  it.each([
    ['an unclosed element', '<svg><g></svg>', /<\/svg> closes <g>/],
    ['a missing end', '<svg><g></g>', /<svg> is never closed/],
    ['a bare ampersand', '<svg><text>a & b</text></svg>', /bare "&"/],
    ['an unknown entity', '<svg><text>&nbsp;</text></svg>', /unknown entity &nbsp;/],
    ['a duplicate attribute', '<svg a="1" a="2"></svg>', /duplicate attribute a/],
    ['an unquoted attribute', '<svg a=1></svg>', /not a well-formed tag/],
    ['two roots', '<svg/><svg/>', /second root/],
    ['text outside', 'hello <svg/>', /text outside the root/],
    ['nothing', '', /no root element/],
  ])('rejects %s', (_, text, message) => {
    expect(() => parseXml(text)).toThrow(DataFormatError);
    expect(() => parseXml(text)).toThrow(message);
  });
});
