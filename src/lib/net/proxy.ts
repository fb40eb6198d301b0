import http from 'node:http'
import https from 'node:https'
import type {Duplex} from 'node:stream'
import tls from 'node:tls'

/**
 * The proxy for URL from the usual variables (curl's rules): HTTPS_PROXY for https, HTTP_PROXY for http,
 * either case, ALL_PROXY as the fallback, none when the host matches NO_PROXY (`*`, or a comma list of
 * hosts, domain suffixes with or without a leading dot, and host:port).
 */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv = process.env): URL | undefined {
  const pick = (...names: string[]) => names.map((n) => env[n]).find((v) => v !== undefined && v !== '')
  const proxy =
    url.protocol === 'https:'
      ? pick('https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY')
      : pick('http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY')
  if (!proxy || bypassed(url, pick('no_proxy', 'NO_PROXY') ?? '')) return undefined
  return new URL(proxy.includes('://') ? proxy : `http://${proxy}`)
}

function bypassed(url: URL, noProxy: string): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const port = url.port || (url.protocol === 'https:' ? '443' : '80')
  return noProxy
    .split(/[\s,]+/)
    .filter(Boolean)
    .some((entry) => {
      if (entry === '*') return true
      const m = entry.toLowerCase().match(/^\[?([^\]]*?)\]?(?::(\d+))?$/)!
      const [, name, entryPort] = m
      if (entryPort && entryPort !== port) return false
      const suffix = name.replace(/^\*?\./, '')
      return host === suffix || host.endsWith(`.${suffix}`)
    })
}

function proxyAuthorization(proxy: URL): Record<string, string> {
  if (!proxy.username) return {}
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`
  return {'proxy-authorization': `Basic ${Buffer.from(credentials).toString('base64')}`}
}

/** An https agent whose connections are CONNECT tunnels through an http proxy, TLS running end to end inside. */
class TunnelAgent extends https.Agent {
  constructor(private readonly proxy: URL) {
    super({keepAlive: false})
  }

  override createConnection(
    options: tls.ConnectionOptions & {host?: string; port?: number},
    done: (error: Error | null, socket?: Duplex) => void,
  ): undefined {
    const target = `${options.host}:${options.port ?? 443}`
    const connect = http.request({
      host: this.proxy.hostname,
      port: this.proxy.port || 80,
      method: 'CONNECT',
      path: target,
      headers: {host: target, ...proxyAuthorization(this.proxy)},
    })
    connect.once('connect', (response, socket) => {
      if (response.statusCode !== 200) {
        socket.destroy()
        done(new Error(`proxy ${this.proxy.host} refused CONNECT ${target}: HTTP ${response.statusCode}`))
        return
      }
      done(null, tls.connect({...options, socket, servername: options.servername ?? options.host}))
    })
    connect.once('error', (error) => done(error))
    connect.end()
    return undefined
  }
}

/**
 * Request options that reach URL, directly or through its proxy: plain http goes to the proxy with the
 * absolute URI as its path; https is tunnelled with CONNECT.
 */
export function routeTo(
  url: URL,
  env: NodeJS.ProcessEnv = process.env,
): {module: typeof http | typeof https; options: https.RequestOptions} {
  const proxy = proxyFor(url, env)
  const module = url.protocol === 'https:' ? https : http
  const direct = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port || undefined,
    path: `${url.pathname}${url.search}`,
  }
  if (!proxy) return {module, options: direct}
  if (url.protocol === 'https:') return {module, options: {...direct, agent: new TunnelAgent(proxy)}}
  return {
    module: http,
    options: {
      host: proxy.hostname,
      port: proxy.port || 80,
      path: url.href,
      headers: {host: url.host, ...proxyAuthorization(proxy)},
    },
  }
}
