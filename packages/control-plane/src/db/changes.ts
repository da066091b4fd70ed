/**
 * Wakes long-polls when the settings or the revocation feed change: one dedicated connection LISTENs on this
 * schema's channels (migration 0009's triggers NOTIFY them on every write, from any control-plane replica), and
 * {@link ChangeFeed.wait} resolves at the next notification or after its timeout, whichever comes first. The
 * connection is made on first use and made again after it is lost; callers re-read the database after each wake
 * and at least every second anyway, so a notification lost with a connection costs at most that second.
 *
 * @example
 * const changes = new ChangeFeed(databaseUrl, schema)
 * await changes.wait('settings', 1000)   // a settings write, or a second
 */
import { EventEmitter } from 'node:events'
import pg from 'pg'

export type ChangeKind = 'settings' | 'revocations'

export class ChangeFeed {
  private readonly events = new EventEmitter()
  private client: pg.Client | undefined
  private connecting: Promise<void> | undefined
  private stopped = false

  constructor(
    private readonly databaseUrl: string,
    private readonly schema: string,
  ) {
    this.events.setMaxListeners(0)
  }

  /** True once {@link close} was called: long-polls answer at once (the server is shutting down). */
  get closed(): boolean {
    return this.stopped
  }

  /** Resolves at the next change of `kind`, or after `ms`. Never rejects: without a listener it just waits. */
  async wait(kind: ChangeKind, ms: number): Promise<void> {
    await this.listen().catch(() => undefined)
    if (ms <= 0 || this.stopped) return
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.events.off(kind, done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.events.on(kind, done)
    })
  }

  /** Stops listening and wakes every waiting long-poll. */
  async close(): Promise<void> {
    this.stopped = true
    this.events.emit('settings')
    this.events.emit('revocations')
    const c = this.client
    this.client = undefined
    await c?.end().catch(() => undefined)
  }

  private listen(): Promise<void> {
    if (this.client || this.stopped) return Promise.resolve()
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined
    })
    return this.connecting
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, options: `-c search_path=${this.schema}` })
    const lost = () => {
      if (this.client === client) this.client = undefined
      client.end().catch(() => undefined)
    }
    client.on('error', lost)
    client.on('end', lost)
    await client.connect()
    const { rows } = await client.query<{ settings: string; revocations: string }>(
      `SELECT 'cfp_settings_' || substr(md5(current_schema()), 1, 16) AS settings,
              'cfp_revocations_' || substr(md5(current_schema()), 1, 16) AS revocations`,
    )
    const channels = rows[0]!
    client.on('notification', (n) => {
      if (n.channel === channels.settings) this.events.emit('settings')
      else if (n.channel === channels.revocations) this.events.emit('revocations')
    })
    await client.query(`LISTEN "${channels.settings}"`)
    await client.query(`LISTEN "${channels.revocations}"`)
    if (this.stopped) {
      await client.end()
      return
    }
    this.client = client
  }
}
