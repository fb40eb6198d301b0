import assert from 'node:assert/strict'

/**
 * Well-formed XML, checked by hand: every tag closes in order, attributes are quoted, and text holds
 * no bare "<" or "&". Returns the elements in document order.
 */
export function parseXml(xml: string): {name: string; attrs: Record<string, string>; text: string}[] {
  const elements: {name: string; attrs: Record<string, string>; text: string}[] = []
  const open: {name: string; attrs: Record<string, string>; text: string}[] = []
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>/y
  let i = xml.indexOf('<')
  assert.equal(xml.slice(0, i).trim(), '')
  while (i < xml.length) {
    tag.lastIndex = i
    const m = tag.exec(xml)
    assert.ok(m, `not a tag at ${i}: ${xml.slice(i, i + 40)}`)
    const [whole, close, name, attrText, selfClose] = m
    if (close) {
      assert.equal(open.pop()?.name, name, `</${name}> closes the wrong element`)
    } else {
      const attrs = Object.fromEntries([...attrText.matchAll(/([\w:.-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]]))
      const element = {name, attrs, text: ''}
      elements.push(element)
      if (!selfClose) open.push(element)
    }
    i += whole.length
    const next = xml.indexOf('<', i)
    const text = xml.slice(i, next === -1 ? xml.length : next)
    assert.doesNotMatch(text, /&(?!(amp|lt|gt|quot|apos);)/, 'a bare & in text')
    if (open.length > 0) open[open.length - 1].text += text
    else assert.equal(text.trim(), '', 'text outside the root element')
    if (next === -1) break
    i = next
  }
  assert.equal(open.length, 0, 'unclosed elements')
  return elements
}
