import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type {Readable, Writable} from 'node:stream'

/**
 * Headless Chromium driven over the DevTools protocol on --remote-debugging-pipe (NUL-separated JSON on fds 3
 * and 4): enough of a client to load a page, run script in it, click, screenshot, and collect console errors.
 */
export const CHROMIUM = ['chromium', 'chromium-browser', 'google-chrome'].find(
  (b) => spawnSync(b, ['--version'], {stdio: 'ignore'}).status === 0,
)
export const skipWithoutChromium = CHROMIUM ? false : 'needs chromium (apt-get install chromium)'
/** Where the tests' screenshots are kept after the run (CI can upload the folder): $VIPANT_ARTIFACTS/html, or the temp dir's vipant-artifacts/html. */
export const ARTIFACTS = path.join(process.env.VIPANT_ARTIFACTS ?? path.join(os.tmpdir(), 'vipant-artifacts'), 'html')

type Message = {
  id?: number
  method?: string
  params?: Record<string, unknown>
  result?: Record<string, unknown>
  error?: {message: string}
  sessionId?: string
}

export class Browser {
  private nextId = 1
  private readonly pending = new Map<
    number,
    {resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void}
  >()
  private readonly listeners: ((m: Message) => void)[] = []

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
  ) {
    let buffer = ''
    ;(child.stdio[4] as Readable).on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8')
      let end
      while ((end = buffer.indexOf('\0')) >= 0) {
        const message = JSON.parse(buffer.slice(0, end)) as Message
        buffer = buffer.slice(end + 1)
        if (message.id !== undefined && this.pending.has(message.id)) {
          const {resolve, reject} = this.pending.get(message.id)!
          this.pending.delete(message.id)
          if (message.error) reject(new Error(message.error.message))
          else resolve(message.result ?? {})
        } else {
          for (const listen of this.listeners) listen(message)
        }
      }
    })
  }

  static launch(): Browser {
    const profile = mkdtempSync(path.join(os.tmpdir(), 'vipant-chromium-'))
    const child = spawn(
      CHROMIUM!,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--mute-audio',
        '--no-first-run',
        '--disable-extensions',
        '--window-size=1366,900',
        `--user-data-dir=${profile}`,
        '--remote-debugging-pipe',
        'about:blank',
      ],
      {stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe']},
    )
    return new Browser(child, profile)
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++
    const reply = new Promise<Record<string, unknown>>((resolve, reject) => this.pending.set(id, {resolve, reject}))
    ;(this.child.stdio[3] as Writable).write(`${JSON.stringify({id, method, params, sessionId})}\0`)
    return reply
  }

  on(listen: (m: Message) => void): void {
    this.listeners.push(listen)
  }

  /** A new tab showing URL once its load event fired, with every console error, exception and dialog recorded. */
  async open(url: string): Promise<Tab> {
    const {targetId} = await this.send('Target.createTarget', {url: 'about:blank'})
    const {sessionId} = (await this.send('Target.attachToTarget', {targetId, flatten: true})) as {sessionId: string}
    const tab = new Tab(this, sessionId)
    await Promise.all(['Runtime.enable', 'Page.enable', 'Log.enable'].map((m) => this.send(m, {}, sessionId)))
    const loaded = tab.next('Page.loadEventFired')
    await this.send('Page.navigate', {url}, sessionId)
    await loaded
    return tab
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    await this.send('Browser.close').catch(() => undefined)
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))])
    if (this.child.exitCode === null) this.child.kill()
    rmSync(this.profile, {recursive: true, force: true})
  }
}

export class Tab {
  /** Console errors, uncaught exceptions, failed loads and CSP refusals; and any alert/confirm the page opened. */
  readonly errors: string[] = []
  readonly dialogs: string[] = []

  constructor(
    private readonly browser: Browser,
    private readonly sessionId: string,
  ) {
    browser.on((m) => {
      if (m.sessionId !== sessionId) return
      const p = m.params as Record<string, any>
      if (m.method === 'Runtime.consoleAPICalled' && p.type === 'error')
        this.errors.push(p.args.map((a: {value?: unknown; description?: string}) => a.value ?? a.description).join(' '))
      if (m.method === 'Runtime.exceptionThrown')
        this.errors.push(p.exceptionDetails.exception?.description ?? p.exceptionDetails.text)
      if (m.method === 'Log.entryAdded' && p.entry.level === 'error')
        this.errors.push(`${p.entry.text} ${p.entry.url ?? ''}`)
      if (m.method === 'Page.javascriptDialogOpening') {
        this.dialogs.push(p.message)
        void browser.send('Page.handleJavaScriptDialog', {accept: true}, sessionId)
      }
    })
  }

  next(method: string): Promise<Record<string, unknown>> {
    return new Promise((resolve) =>
      this.browser.on((m) => m.sessionId === this.sessionId && m.method === method && resolve(m.params ?? {})),
    )
  }

  /** The value of EXPRESSION in the page (awaited when it is a promise); a thrown error fails the call. */
  async eval<T>(expression: string): Promise<T> {
    const r = (await this.browser.send(
      'Runtime.evaluate',
      {expression, awaitPromise: true, returnByValue: true},
      this.sessionId,
    )) as {
      result: {value: T}
      exceptionDetails?: {exception?: {description?: string}; text: string}
    }
    if (r.exceptionDetails) throw new Error(r.exceptionDetails.exception?.description ?? r.exceptionDetails.text)
    return r.result.value
  }

  /** A real mouse click at the middle of the element SELECTOR names (scrolled into view first). */
  async click(selector: string): Promise<void> {
    const box = await this.eval<{x: number; y: number}>(`(() => {
      const el = document.querySelector(${JSON.stringify(selector)}); el.scrollIntoView({block: 'center'});
      const r = el.getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()`)
    for (const type of ['mousePressed', 'mouseReleased']) {
      await this.browser.send(
        'Input.dispatchMouseEvent',
        {type, x: box.x, y: box.y, button: 'left', clickCount: 1},
        this.sessionId,
      )
    }
  }

  async key(key: string, code = key): Promise<void> {
    for (const type of ['keyDown', 'keyUp']) {
      // Enter activates a button only as a key that types text ("\r"), as a real keyboard's does.
      const text = type === 'keyDown' && key === 'Enter' ? {text: '\r'} : {}
      await this.browser.send(
        'Input.dispatchKeyEvent',
        {type, key, code, windowsVirtualKeyCode: key === 'Tab' ? 9 : key === 'Enter' ? 13 : 0, ...text},
        this.sessionId,
      )
    }
  }

  /** A PNG of the viewport, kept as ARTIFACTS/NAME; its path. */
  async screenshot(name: string): Promise<string> {
    mkdirSync(ARTIFACTS, {recursive: true})
    const file = path.join(ARTIFACTS, name)
    const {data} = (await this.browser.send('Page.captureScreenshot', {format: 'png'}, this.sessionId)) as {
      data: string
    }
    writeFileSync(file, Buffer.from(data, 'base64'))
    return file
  }
}
