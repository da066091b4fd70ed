/**
 * Validation of an event step's `infrastructure` block (Motia's limits; durations in whole seconds): handler
 * `timeout` 1-900 s, `ram`
 * 128-10240 MB; queue `type` standard|fifo, `maxRetries` >= 0, `delaySeconds` 0-900, `concurrency` >= 1, and
 * `visibilityTimeout` greater than the handler timeout when both are given.
 */
import { checkKeys, describeValue, isPlainObject, type Problems } from './config-util.js'

const HANDLER_KEYS = ['ram', 'cpu', 'timeout']
const QUEUE_KEYS = ['type', 'maxRetries', 'visibilityTimeout', 'delaySeconds', 'concurrency']

interface NumberRule {
  min?: number
  max?: number
  /** minimum is exclusive */
  above?: number
  integer?: boolean
  unit?: string
}

function checkNumber(p: Problems, v: unknown, key: string, rule: NumberRule): v is number {
  const unit = rule.unit ? ` ${rule.unit}` : ''
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    p.add(key, `must be a number${unit ? ` (in${unit})` : ''}, got ${describeValue(v)}`)
    return false
  }
  if (rule.integer && !Number.isInteger(v)) p.add(key, `must be a whole number${rule.unit === 's' ? ' of seconds' : ''}, got ${v}`)
  else if (rule.min !== undefined && rule.max !== undefined && (v < rule.min || v > rule.max)) {
    p.add(key, `${v}${unit} is out of range: must be between ${rule.min} and ${rule.max}${unit}`)
  } else if (rule.min !== undefined && v < rule.min) p.add(key, `${v}${unit} is too small: must be at least ${rule.min}${unit}`)
  else if (rule.above !== undefined && v <= rule.above) p.add(key, `must be greater than ${rule.above}${unit}, got ${v}`)
  else return true
  return false
}

export function validateInfrastructure(p: Problems, infra: unknown): void {
  if (!isPlainObject(infra)) {
    p.add('infrastructure', `must be an object { handler?, queue? }, got ${describeValue(infra)}`)
    return
  }
  checkKeys(p, infra, ['handler', 'queue'], 'infrastructure', 'infrastructure.')
  let timeout: number | undefined
  const { handler, queue } = infra
  if (handler !== undefined) {
    if (!isPlainObject(handler)) p.add('infrastructure.handler', `must be an object { ram?, cpu?, timeout? }, got ${describeValue(handler)}`)
    else {
      checkKeys(p, handler, HANDLER_KEYS, 'infrastructure.handler', 'infrastructure.handler.')
      if (handler.timeout !== undefined && checkNumber(p, handler.timeout, 'infrastructure.handler.timeout', { min: 1, max: 900, integer: true, unit: 's' })) {
        timeout = handler.timeout
      }
      if (handler.ram !== undefined) checkNumber(p, handler.ram, 'infrastructure.handler.ram', { min: 128, max: 10240, unit: 'MB' })
      if (handler.cpu !== undefined) checkNumber(p, handler.cpu, 'infrastructure.handler.cpu', { above: 0, unit: 'vCPU' })
    }
  }
  if (queue === undefined) return
  if (!isPlainObject(queue)) {
    p.add('infrastructure.queue', `must be an object { type?, maxRetries?, visibilityTimeout?, delaySeconds?, concurrency? }, got ${describeValue(queue)}`)
    return
  }
  checkKeys(p, queue, QUEUE_KEYS, 'infrastructure.queue', 'infrastructure.queue.')
  if (queue.type !== undefined && queue.type !== 'standard' && queue.type !== 'fifo') {
    p.add('infrastructure.queue.type', `${describeValue(queue.type)} is not a queue type; use 'standard' or 'fifo'`)
  }
  if (queue.maxRetries !== undefined) checkNumber(p, queue.maxRetries, 'infrastructure.queue.maxRetries', { min: 0, integer: true })
  if (queue.delaySeconds !== undefined) checkNumber(p, queue.delaySeconds, 'infrastructure.queue.delaySeconds', { min: 0, max: 900, integer: true, unit: 's' })
  if (queue.concurrency !== undefined) checkNumber(p, queue.concurrency, 'infrastructure.queue.concurrency', { min: 1, integer: true })
  if (queue.visibilityTimeout !== undefined) {
    const ok = checkNumber(p, queue.visibilityTimeout, 'infrastructure.queue.visibilityTimeout', { above: 0, integer: true, unit: 's' })
    if (ok && timeout !== undefined && (queue.visibilityTimeout as number) <= timeout) {
      p.add(
        'infrastructure.queue.visibilityTimeout',
        `${queue.visibilityTimeout as number} s must be greater than infrastructure.handler.timeout (${timeout} s), or a delivery is handed out again while its handler still runs`,
      )
    }
  }
}
