/**
 * The script every page shares: its data, element building that only ever sets text (user strings are never
 * parsed as markup), audio players, and a pager so that thousands of clips or captions cost one page of
 * elements at a time, which is what keeps 8732 UrbanSound8K clips quick to open.
 */
export const RUNTIME = String.raw`
'use strict';
const DATA = JSON.parse(document.getElementById('vipant-data').textContent);
const PAGE_SIZE = 25;
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const pct = (x) => (x === null ? '-' : (100 * x).toFixed(2) + '%');
const score = (x) => x.toFixed(4);
function num(value, text) { return h('span', {'data-value': value === null ? 'null' : value}, text); }
/**
 * A player for a clip's sound, or a note where the page has none; it loads the metadata only. With lazy (ten
 * results per query in a list of results) a play button stands in for it until pressed: a page of 250 <audio>
 * elements costs seconds to draw, a page of 250 buttons nothing.
 */
function player(src, label, lazy) {
  if (src === null) return h('span', {class: 'missing'}, 'no audio (file not found)');
  if (!lazy) return h('audio', {controls: true, preload: 'metadata', src, 'aria-label': 'play ' + label});
  const button = h('button', {type: 'button', class: 'play', 'data-src': src, 'aria-label': 'play ' + label, onclick: () => {
    const audio = h('audio', {controls: true, autoplay: true, src, 'aria-label': 'play ' + label});
    button.replaceWith(audio);
    audio.focus();
  }}, '\u25b6 play');
  return button;
}
/** Renders items into host a page at a time, with previous/next buttons when there is more than one page. */
function pager(host, items, render, label) {
  host.replaceChildren();
  const pages = Math.max(1, Math.ceil(items.length / PAGE_SIZE));
  const list = h('ol', {class: 'items', 'aria-label': label});
  const status = h('span', {'aria-live': 'polite'});
  const prev = h('button', {type: 'button', onclick: () => show(page - 1)}, 'previous');
  const next = h('button', {type: 'button', onclick: () => show(page + 1)}, 'next');
  let page = 0;
  function show(p) {
    page = Math.min(pages - 1, Math.max(0, p));
    const start = page * PAGE_SIZE;
    list.start = start + 1;
    list.replaceChildren(...items.slice(start, start + PAGE_SIZE).map((item, i) => render(item, start + i)));
    status.textContent = items.length === 0 ? 'none' : 'page ' + (page + 1) + ' of ' + pages + ' (' + items.length + ')';
    prev.disabled = page === 0;
    next.disabled = page === pages - 1;
  }
  if (pages > 1) host.append(h('div', {class: 'pager'}, prev, status, next));
  else host.append(h('div', {class: 'pager'}, status));
  host.append(list);
  show(0);
  return show;
}
`
