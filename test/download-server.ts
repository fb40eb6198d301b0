import {spawn} from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import type {AddressInfo} from 'node:net'
import {VIPANT} from './cli.js'

/**
 * Runs vipant without blocking this process (spawnSync would freeze the test's own servers), with ENV
 * added to the environment.
 */
export function vipantAsync(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{status: number | null; stdout: Buffer; stderr: Buffer}> {
  const child = spawn(process.execPath, [VIPANT, ...args], {
    env: {...process.env, ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stdout: Buffer[] = []
  const stderr: Buffer[] = []
  child.stdout.on('data', (d: Buffer) => stdout.push(d))
  child.stderr.on('data', (d: Buffer) => stderr.push(d))
  return new Promise((resolve) =>
    child.on('close', (status) => resolve({status, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr)})),
  )
}

/** How a path misbehaves, for its first `times` requests (default: every request). */
export interface Fault {
  /** Send the headers (full length) and this many body bytes, then reset the connection. */
  resetAfter?: number
  /** Answer nothing for this long before the headers. */
  stallMs?: number
  /** Answer every request with the whole file (200), ignoring Range. */
  ignoreRange?: boolean
  /** Answer with this status and no file. */
  status?: number
  times?: number
  /** The fault that takes over once `times` is used up. */
  then?: Fault
}

export interface SeenRequest {
  path: string
  range?: string
}

/**
 * A real HTTP server on 127.0.0.1 serving files from memory, with Range support, that fails on demand the
 * ways networks fail. Every request is recorded.
 */
export class TestServer {
  readonly requests: SeenRequest[] = []
  private readonly files = new Map<string, {body: Buffer; type: string}>()
  private readonly faults = new Map<string, Fault & {left: number}>()
  private readonly server = http.createServer((req, res) => void this.handle(req, res))
  private readonly sockets = new Set<net.Socket>()

  async start(): Promise<this> {
    this.server.on('connection', (socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    return this
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  serve(path: string, body: Buffer, type = 'application/octet-stream'): this {
    this.files.set(path, {body, type})
    return this
  }

  fault(path: string, fault: Fault): this {
    this.faults.set(path, {...fault, left: fault.times ?? Number.POSITIVE_INFINITY})
    return this
  }

  seen(path: string): SeenRequest[] {
    return this.requests.filter((r) => r.path === path)
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise((resolve) => this.server.close(resolve))
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    this.requests.push({path, range: req.headers.range})
    const armed = this.faults.get(path)
    const fault = armed && armed.left > 0 ? armed : undefined
    if (fault && --fault.left === 0 && fault.then) this.fault(path, fault.then)
    if (fault?.stallMs) await new Promise((resolve) => setTimeout(resolve, fault.stallMs))
    if (res.destroyed) return
    const file = this.files.get(path)
    if (fault?.status || !file) {
      res.writeHead(fault?.status ?? 404, {'content-type': 'text/plain'}).end('no\n')
      return
    }
    const {body, type} = file
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '')
    let start = 0
    let end = body.length - 1
    if (range && !fault?.ignoreRange) {
      start = Number(range[1])
      if (range[2]) end = Math.min(end, Number(range[2]))
      if (start >= body.length) {
        res.writeHead(416, {'content-range': `bytes */${body.length}`}).end()
        return
      }
      res.writeHead(206, {
        'content-type': type,
        'content-length': end - start + 1,
        'content-range': `bytes ${start}-${end}/${body.length}`,
        'accept-ranges': 'bytes',
      })
    } else {
      res.writeHead(200, {'content-type': type, 'content-length': body.length, 'accept-ranges': 'bytes'})
    }
    const slice = body.subarray(start, end + 1)
    if (fault?.resetAfter !== undefined) {
      res.write(slice.subarray(0, fault.resetAfter), () => setTimeout(() => res.socket?.resetAndDestroy(), 20))
      return
    }
    res.end(slice)
  }
}

/**
 * A minimal forward proxy: absolute-URI requests for http, CONNECT tunnels for https. Records what it
 * was asked for.
 */
export class TestProxy {
  readonly seen: string[] = []
  private readonly tunnels = new Set<net.Socket>()
  private readonly server = http.createServer((req, res) => {
    this.seen.push(`${req.method} ${req.url}`)
    const target = new URL(req.url ?? '')
    const upstream = http.request(
      {host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, headers: req.headers},
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  })

  async start(): Promise<this> {
    this.server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
      this.seen.push(`CONNECT ${req.url}`)
      const [host, port] = (req.url ?? '').split(':')
      const upstream = net.connect(Number(port), host, () => {
        this.tunnels.add(client).add(upstream)
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
        upstream.write(head)
        upstream.pipe(client)
        client.pipe(upstream)
      })
      upstream.on('error', () => client.destroy())
      client.on('error', () => upstream.destroy())
    })
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    return this
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  async close(): Promise<void> {
    for (const socket of this.tunnels) socket.destroy()
    this.server.closeAllConnections()
    await new Promise((resolve) => this.server.close(resolve))
  }
}
