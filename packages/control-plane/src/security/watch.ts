/**
 * Runs the security rules and the webhook deliverer on a short timer (server.ts starts it). Every replica may run
 * it: the evaluator's round takes an advisory lock, deliveries are claimed with SKIP LOCKED.
 */
import type { Deliverer } from './deliver.js'
import { evaluate, type RuleContext } from './rules.js'

export class SecurityWatch {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  /** where failures are reported (server.ts: the application log) */
  log: (msg: string, err?: unknown) => void = () => undefined

  constructor(
    private readonly ctx: RuleContext,
    /** absent when no webhook is configured */
    readonly deliverer: Deliverer | undefined,
    private readonly pollMs = 1000,
  ) {}

  start(): void {
    if (this.timer) return
    this.timer = setInterval(() => {
      if (this.running) return
      this.running = this.round().finally(() => {
        this.running = undefined
      })
    }, this.pollMs)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.running
  }

  /** Reads every new audit entry (raising alerts), then sends due deliveries. */
  async round(): Promise<void> {
    try {
      while ((await this.evaluateNow()) >= 1000) {
        // a full batch: more may be waiting
      }
    } catch (err) {
      this.log('security rules failed', err)
    }
    try {
      await this.deliverer?.deliverDue()
    } catch (err) {
      this.log('security alert delivery failed', err)
    }
  }

  /** One evaluation round (see {@link evaluate}). */
  evaluateNow(): Promise<number> {
    return evaluate(this.ctx)
  }
}
