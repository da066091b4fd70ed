/** The services one control-plane process is made of, wired from options, a database, a clock and the policy. */
import { AuditKeys } from './audit/keys.js'
import { readFileSync } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import { Sequencer } from './audit/sequencer.js'
import { AuditRetention } from './audit/retention.js'
import { AuditWatch } from './audit/watch.js'
import { AccessTokens } from './auth/access.js'
import { Authenticator } from './auth/authenticate.js'
import { Credentials } from './auth/credentials.js'
import { SigningKeys } from './auth/keys.js'
import { Revocations } from './auth/revocations.js'
import { Sealer } from './auth/secrets.js'
import { Sessions } from './auth/sessions.js'
import type { Clock } from './clock.js'
import { LoginThrottle } from './auth/throttle.js'
import { type Db, openDb } from './db/pool.js'
import type { Options } from './options.js'
import { ChangeFeed } from './db/changes.js'
import type { Policy } from './policy/types.js'
import { DELIVERY_DEFAULTS, Deliverer } from './security/deliver.js'
import type { ResponseAction } from './security/rules.js'
import { SecurityWatch } from './security/watch.js'

export interface Services {
  options: Options
  db: Db
  clock: Clock
  policy: Policy
  sealer: Sealer
  keys: SigningKeys
  access: AccessTokens
  revocations: Revocations
  sessions: Sessions
  credentials: Credentials
  authenticator: Authenticator
  loginThrottle: LoginThrottle
  /** Wakes the runtimes' long-polls when settings or revocations change. */
  changes: ChangeFeed
  /** The dedicated Ed25519 keys signing audit checkpoints. */
  auditKeys: AuditKeys
  /** Moves queued audit entries into their chains and signs checkpoints (started by server.ts). */
  sequencer: Sequencer
  /** Anchors the chains and verifies them on a schedule (started by server.ts). */
  auditWatch: AuditWatch
  /** Tenant retention, legal holds and the scheduled pruning of the audit chain (started by server.ts). */
  auditRetention: AuditRetention
  /** Security rules over the audit stream and webhook delivery of their alerts (started by server.ts). */
  security: SecurityWatch
}

/** The PEM certificates in the given files (a file may hold a chain). */
function readCertificates(files: string[]): X509Certificate[] {
  return files.flatMap((f) => {
    const text = readFileSync(f, 'utf8')
    const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)
    if (!pems) throw new Error(`option --audit-tsa-cert: ${f} holds no PEM certificate`)
    return pems.map((p) => new X509Certificate(p))
  })
}

export function createServices(options: Options, db: Db, clock: Clock, policy: Policy): Services {
  const sealer = new Sealer(options.masterKey)
  const keys = new SigningKeys(db, sealer, clock, {
    accessTokenTtl: options.accessTokenTtl,
    rotationInterval: options.keyRotationInterval,
    prepublish: options.keyPrepublish,
  })
  const access = new AccessTokens(keys, clock, () => options.issuer, options.accessTokenTtl)
  const revocations = new Revocations(db, clock)
  const sessions = new Sessions(db, clock, revocations, options.refreshTokenTtl)
  const credentials = new Credentials(db, clock, revocations)
  const authenticator = new Authenticator(access, revocations, credentials)
  const loginThrottle = new LoginThrottle(db, clock)
  const changes = new ChangeFeed(options.databaseUrl, db.schema)
  const auditKeys = new AuditKeys(db, sealer, clock)
  const sequencer = new Sequencer(db, options.databaseUrl, auditKeys, clock)
  const auditWatch = new AuditWatch(db, clock, {
    tsaUrl: options.auditTsaUrl,
    tsaCerts: readCertificates(options.auditTsaCerts),
    anchorDir: options.auditAnchorDir,
    anchorInterval: options.auditAnchorInterval,
    verifyInterval: options.auditVerifyInterval,
  })
  const pruner = options.auditPruneDatabaseUrl ? openDb(options.auditPruneDatabaseUrl, db.schema, 2) : db
  const auditRetention = new AuditRetention(db, pruner, clock, {
    defaultDays: options.auditRetentionDays,
    minDays: options.auditRetentionMinDays,
    interval: options.auditPruneInterval,
  })
  const deliverer =
    options.securityWebhookUrls.length > 0 && options.securityWebhookSecret
      ? new Deliverer(db, clock, { ...DELIVERY_DEFAULTS, secret: options.securityWebhookSecret })
      : undefined
  const security = new SecurityWatch(
    {
      db,
      clock,
      sessions,
      credentials,
      webhookUrls: deliverer ? options.securityWebhookUrls : [],
      rules: {
        loginFailures: options.securityLoginFailures,
        loginWindow: options.securityLoginWindow,
        lockSeconds: options.securityLockSeconds,
        deniedBurst: options.securityDeniedBurst,
        deniedWindow: options.securityDeniedWindow,
        responses: options.securityResponses as ResponseAction[],
      },
    },
    deliverer,
  )
  return {
    security,
    options,
    db,
    clock,
    policy,
    sealer,
    keys,
    access,
    revocations,
    sessions,
    credentials,
    authenticator,
    loginThrottle,
    changes,
    auditKeys,
    sequencer,
    auditWatch,
    auditRetention,
  }
}
