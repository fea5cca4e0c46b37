/**
 * A strict enough well-formedness check for the SVG the bench writes: every tag closes in
 * order, attributes are quoted, text holds no raw '<' or '&' outside entities. Not a full XML
 * parser; the bench's SVG uses nothing beyond elements, attributes and text.
 */
export function checkWellFormed(xml: string): { elements: string[] } {
  const stack: string[] = [];
  const elements: string[] = [];
  let i = 0;
  let rootClosed = false;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    if (/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(text))
      throw new Error(`raw & in text near ${JSON.stringify(text.slice(0, 40))}`);
    if (rootClosed && text.trim() !== '') throw new Error('text after the root element');
    if (lt < 0) break;
    const gt = xml.indexOf('>', lt);
    if (gt < 0) throw new Error('unterminated tag');
    const tag = xml.slice(lt + 1, gt);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open ?? 'nothing'}>`);
      if (stack.length === 0) rootClosed = true;
    } else {
      const selfClosing = tag.endsWith('/');
      const body = selfClosing ? tag.slice(0, -1) : tag;
      const m = /^([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*$/.exec(body);
      if (!m) throw new Error(`malformed tag <${tag}>`);
      if (rootClosed) throw new Error('second root element');
      elements.push(m[1]!);
      if (!selfClosing) stack.push(m[1]!);
      else if (stack.length === 0) rootClosed = true;
    }
    i = gt + 1;
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.join('>, <')}>`);
  return { elements };
}
