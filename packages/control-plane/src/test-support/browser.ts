/** A minimal browser for SSO tests: fetch without following redirects, with one cookie jar per origin. */
export class Browser {
  private jars = new Map<string, Map<string, string>>()

  async go(url: string, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url)
    const jar = this.jars.get(u.origin) ?? new Map<string, string>()
    this.jars.set(u.origin, jar)
    const headers = new Headers(init.headers)
    if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '))
    const res = await fetch(url, { ...init, headers, redirect: 'manual' })
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';')
      const [k, ...v] = pair!.trim().split('=')
      const value = v.join('=')
      if (attrs.some((a) => /max-age=0/i.test(a.trim())) || value === '') jar.delete(k!)
      else jar.set(k!, value)
    }
    return res
  }

  /** Follows redirects until a response is not one, or `stopAt` matches the next URL. */
  async follow(url: string, stopAt?: (next: string) => boolean): Promise<{ res: Response; url: string }> {
    let current = url
    for (let i = 0; i < 15; i++) {
      const res = await this.go(current)
      const loc = res.headers.get('location')
      if (res.status < 300 || res.status >= 400 || !loc) return { res, url: current }
      const next = new URL(loc, current).href
      if (stopAt?.(next)) return { res, url: next }
      current = next
    }
    throw new Error('too many redirects')
  }

  dropCookies(origin: string): void {
    this.jars.delete(origin)
  }
}
