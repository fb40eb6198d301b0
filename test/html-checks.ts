import type {Tab} from './html-browser.js'

/**
 * Checks every page kind shares: WCAG 2 contrast of each piece of text against the background it is drawn on
 * (computed styles, translucent layers composited over white), the keyboard's path through the page, and
 * facts blocks read back as key/value pairs.
 */

/** Every element with text of its own whose contrast is under MIN: [ratio, tag.class, text]. */
export function lowContrast(tab: Tab, min = 4.5): Promise<[number, string, string][]> {
  return tab.eval(`(() => {
    const rgba = (c) => { const p = c.match(/[\\d.]+/g).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
    const over = (top, under) => [0, 1, 2].map((k) => top[3] * top[k] + (1 - top[3]) * under[k]).concat(1);
    const lum = (c) => { const f = (v) => (v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
    const background = (el) => {
      const layers = [];
      for (let e = el; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor); if (c[3] > 0) layers.push(c); if (c[3] === 1) break; }
      return layers.reduceRight((under, top) => over(top, under), [255, 255, 255, 1]);
    };
    const low = [];
    for (const el of document.querySelectorAll('body *')) {
      const own = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
      const s = getComputedStyle(el);
      if (!own || s.display === 'none' || s.visibility === 'hidden' || el.closest('script, style, title')) continue;
      // SVG text is painted with fill, on the chart's own white.
      const bg = el.closest('svg') ? [255, 255, 255, 1] : background(el);
      const fg = over(rgba(el.closest('svg') ? s.fill : s.color), bg);
      const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
      const ratio = (a + 0.05) / (b + 0.05);
      if (ratio < ${min}) low.push([Number(ratio.toFixed(2)), el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className : ''), own.slice(0, 40)]);
    }
    return low;
  })()`)
}

/** One Tab stop: the focused element, whether it shows a focus ring (outline or an underline where the cell has its own outline). */
export interface Stop {
  key: string
  tag: string
  ring: boolean
}

/**
 * The distinct elements Tab reaches from the top of the page, in order, up to MAX presses (a media player
 * takes several: its inner controls are one element to the page).
 */
export async function tabStops(tab: Tab, max: number): Promise<Stop[]> {
  // Focus the title and let go, so that sequential navigation starts at the top whatever had the focus before.
  await tab.eval(
    `(() => { const h1 = document.querySelector('h1'); h1.tabIndex = -1; h1.focus(); h1.blur(); h1.removeAttribute('tabindex'); return true; })()`,
  )
  const stops: Stop[] = []
  for (let k = 0; k < max; k++) {
    await tab.key('Tab')
    const stop = await tab.eval<Stop | null>(`(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      el.dataset.stop ??= String(document.querySelectorAll('[data-stop]').length);
      const s = getComputedStyle(el);
      return {key: el.dataset.stop, tag: el.tagName.toLowerCase(), ring: (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || el.tagName === 'AUDIO'};
    })()`)
    if (stop === null) break
    if (stops.at(-1)?.key !== stop.key) stops.push(stop)
  }
  return stops
}

/** The elements a keyboard user must reach: enabled buttons and players, each marked with its stop key once reached. */
export const operable = (tab: Tab) =>
  tab.eval<{stop: string | null; tag: string}[]>(
    `[...document.querySelectorAll('button:not(:disabled), audio[controls]')].map((el) => ({stop: el.dataset.stop ?? null, tag: el.tagName.toLowerCase()}))`,
  )

/** A facts block (dl.facts) as key -> text, the first on the page or the one inside SELECTOR. */
export const facts = (tab: Tab, selector = 'main') =>
  tab.eval<Record<string, string>>(
    `Object.fromEntries([...document.querySelector(${JSON.stringify(selector)}).querySelectorAll('dl.facts dt')].map((dt) => [dt.textContent, dt.nextElementSibling.textContent]))`,
  )
