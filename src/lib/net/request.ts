import type {IncomingMessage} from 'node:http'
import {routeTo} from './proxy.js'

/** An HTTP status the server answered with; 5xx, 408 and 429 may pass, the rest will not. */
export class HttpStatusError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    statusText: string | undefined,
  ) {
    super(`${url}: HTTP ${status}${statusText ? ` ${statusText}` : ''}`)
  }

  get transient(): boolean {
    return this.status >= 500 || this.status === 408 || this.status === 429
  }
}

/** Nothing arrived for the configured time: the connection is dropped and the attempt may be retried. */
export class StalledError extends Error {}

const MAX_REDIRECTS = 10

/**
 * GET URL (through the environment's proxy, following redirects) and resolve with the response once its
 * headers are in; a socket silent for `timeoutMs`, before or during the body, is destroyed with StalledError.
 */
export async function get(url: string, headers: Record<string, string>, timeoutMs: number): Promise<IncomingMessage> {
  let current = url
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const response = await getOnce(new URL(current), headers, timeoutMs)
    const location = response.headers.location
    if (response.statusCode === undefined || response.statusCode < 300 || response.statusCode >= 400 || !location)
      return response
    response.resume()
    current = new URL(location, current).href
  }
  throw new Error(`${url}: more than ${MAX_REDIRECTS} redirects`)
}

function getOnce(url: URL, headers: Record<string, string>, timeoutMs: number): Promise<IncomingMessage> {
  const {module, options} = routeTo(url)
  return new Promise((resolve, reject) => {
    const request = module.request({
      ...options,
      method: 'GET',
      headers: {'user-agent': 'vipant', ...options.headers, ...headers},
    })
    request.setTimeout(timeoutMs, () =>
      request.destroy(new StalledError(`${url.href}: no data for ${timeoutMs / 1000} s`)),
    )
    request.once('response', resolve)
    request.once('error', reject)
    request.end()
  })
}
