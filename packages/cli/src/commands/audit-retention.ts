/**
 * `cfp audit retention [--days N | --default] [--tenant T] [--json]` and `cfp audit hold place --reason R | release
 * ID | list`: the audit retention and legal holds of a runtime (the running `cfp dev`, or CFP_URL with CFP_TOKEN),
 * through its API (`/__cfp/api/audit/retention`, `/__cfp/api/audit/holds`; docs/runtime-api.md). Setting a
 * retention and releasing a hold need the platform's permissions (the runtime's admin token has them); the
 * runtime refuses a retention below its floor and names it.
 */
import { resolve } from 'node:path'
import { resolveTarget } from '../util/dev-file.js'
import { CliError } from '../util/errors.js'
import type { CommandIo } from '../util/io.js'
import { RuntimeApi } from '../util/runtime-api.js'
import { renderTable } from '../util/table.js'

/** A legal hold as the runtime shows it. */
export interface AuditHold {
  id: number
  tenant: string
  reason: string
  placedBy: string | null
  placedAt: string
  releasedBy: string | null
  releasedAt: string | null
}

/** `GET /__cfp/api/audit/retention`. */
export interface AuditRetention {
  tenant: string
  days: number | null
  defaultDays: number
  minDays: number
  holds: AuditHold[]
  pruned: { chain: string; size: number; at: string; by: string }[]
}

interface Common {
  dir?: string
  tenant?: string
  json?: boolean
}

function api(opts: Common, io: CommandIo): RuntimeApi {
  const target = resolveTarget({ dir: resolve(io.cwd, opts.dir ?? '.'), env: io.env })
  return new RuntimeApi(target, io.fetch)
}

const query = (opts: Common) => (opts.tenant ? `?tenant=${encodeURIComponent(opts.tenant)}` : '')

/** A whole number of days from the command line, or a CliError naming `--days`. */
export function parseDays(v: string): number {
  if (!/^\d{1,5}$/.test(v.trim()) || Number(v) < 1) {
    throw new CliError(`--days must be a whole number of days (1 or more), got '${v}'`, {
      action: 'Pass e.g. --days 365, or --default to fall back to the runtime’s default.',
    })
  }
  return Number(v)
}

function isRetention(body: unknown): body is AuditRetention {
  const b = body as Partial<AuditRetention> | null
  return typeof b === 'object' && b !== null && Array.isArray(b.holds) && Array.isArray(b.pruned) && typeof b.minDays === 'number'
}

function checked(body: unknown, path: string): AuditRetention {
  if (!isRetention(body)) throw new Error(`the runtime answered ${path} without a retention ({days, holds, pruned}); is it a CFP runtime of the same version?`)
  return body
}

const daysText = (d: number) => (d === 0 ? 'forever' : `${d} day${d === 1 ? '' : 's'}`)

/** The human summary of a tenant's retention. */
export function formatRetention(r: AuditRetention): string {
  const kept = r.days === null ? `${daysText(r.defaultDays)} (the runtime's default)` : daysText(r.days)
  const inForce = r.holds.filter((h) => h.releasedAt === null)
  const lines = [
    `tenant ${r.tenant}: audit entries kept ${kept}; floor ${daysText(r.minDays)}`,
    inForce.length === 0 ? 'no legal hold in force' : `${inForce.length} legal hold(s) in force: nothing is pruned`,
  ]
  for (const p of r.pruned) lines.push(`pruned ${p.chain} below seq ${p.size} at ${p.at} by ${p.by}`)
  return lines.join('\n')
}

export function formatHolds(holds: readonly AuditHold[]): string {
  if (holds.length === 0) return 'No legal holds.'
  return renderTable(holds, [
    { header: 'id', get: (h) => String(h.id) },
    { header: 'state', get: (h) => (h.releasedAt ? 'released' : 'in force') },
    { header: 'reason', get: (h) => h.reason, maxWidth: 60 },
    { header: 'placedBy', get: (h) => h.placedBy ?? '' },
    { header: 'placedAt', get: (h) => h.placedAt },
    { header: 'releasedBy', get: (h) => h.releasedBy ?? '' },
    { header: 'releasedAt', get: (h) => h.releasedAt ?? '' },
  ])
}

/** Shows the retention, or sets it (`days`) or falls back to the default (`useDefault`). */
export async function runAuditRetention(opts: Common & { days?: string; default?: boolean }, io: CommandIo): Promise<AuditRetention> {
  if (opts.days !== undefined && opts.default) throw new CliError('--days and --default exclude each other', { action: 'Pass one of them.' })
  const path = `/__cfp/api/audit/retention${query(opts)}`
  const client = api(opts, io)
  const body =
    opts.days !== undefined || opts.default
      ? await client.request<unknown>('PUT', path, { days: opts.default ? null : parseDays(opts.days!) })
      : await client.request<unknown>('GET', path)
  const r = checked(body, path)
  io.out(opts.json ? JSON.stringify(r, null, 2) : formatRetention(r))
  return r
}

export async function runAuditHoldList(opts: Common, io: CommandIo): Promise<AuditHold[]> {
  const path = `/__cfp/api/audit/retention${query(opts)}`
  const r = checked(await api(opts, io).request<unknown>('GET', path), path)
  io.out(opts.json ? JSON.stringify(r.holds, null, 2) : formatHolds(r.holds))
  return r.holds
}

export async function runAuditHoldPlace(opts: Common & { reason: string }, io: CommandIo): Promise<AuditHold> {
  const reason = opts.reason.trim()
  if (reason.length === 0 || reason.length > 1000) {
    throw new CliError('--reason must be 1 to 1000 characters', { action: 'Say why the evidence must be kept, e.g. --reason "litigation 2026-17".' })
  }
  const hold = await api(opts, io).request<AuditHold>('POST', `/__cfp/api/audit/holds${query(opts)}`, { reason })
  io.out(
    opts.json
      ? JSON.stringify(hold, null, 2)
      : `Placed legal hold ${hold.id} on tenant ${hold.tenant}: nothing of its audit chain is pruned until it is released.`,
  )
  return hold
}

export async function runAuditHoldRelease(id: string, opts: Common, io: CommandIo): Promise<AuditHold> {
  if (!/^[1-9]\d{0,15}$/.test(id)) throw new CliError(`a hold id is a positive whole number, got '${id}'`, { action: 'See `cfp audit hold list`.' })
  const hold = await api(opts, io).request<AuditHold>('DELETE', `/__cfp/api/audit/holds/${id}${query(opts)}`)
  io.out(opts.json ? JSON.stringify(hold, null, 2) : `Released legal hold ${hold.id} of tenant ${hold.tenant} (${hold.reason}).`)
  return hold
}
