/**
 * Options of `cfp-control-plane`: defaults -> environment -> flags, validated at start-up (fail fast with a
 * message naming the option). `--print-config` prints the result with secrets masked.
 */
import { existsSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

export interface Options {
  /** PostgreSQL URL. Env DATABASE_URL or CFP_CONTROL_DATABASE_URL. Required. */
  databaseUrl: string
  /** Schema owning every control-plane table, never shared with the runtime. Default `cfp_control`. */
  schema: string
  /** Listen address. Default 127.0.0.1. */
  host: string
  /** Listen port (0 = any free port). Default 4100. */
  port: number
  /** Base URL users and IdPs reach this service at (setup link, SSO callbacks). Default http://host:port. */
  publicUrl: string
  /** `iss` of issued tokens. Default = publicUrl. */
  issuer: string
  /** Regions tenants may be pinned to (NFR-6). Default `local`. */
  regions: string[]
  /** Access-token lifetime in seconds, 60..900. Default 900. */
  accessTokenTtl: number
  /** Refresh-token (session) lifetime in seconds. Default 30 days. */
  refreshTokenTtl: number
  /** Rotate the signing key when the active one is older than this many seconds (0 = never). Default 7 days. */
  keyRotationInterval: number
  /** A new key is published in the JWKS this many seconds before it signs. Default 300. */
  keyPrepublish: number
  /** Base64 of 32 bytes encrypting signing keys and IdP secrets at rest. Env CFP_CONTROL_MASTER_KEY. Required. */
  masterKey: string
  /** Bearer token of runtimes calling /v1/service/* (revocations, credential checks). Env CFP_CONTROL_SERVICE_TOKEN. */
  serviceToken?: string
  /** Lifetime of the first-start setup link in seconds. Default 3600. */
  setupTtl: number
  /** Request body limit in bytes. Default 1 MiB. */
  bodyLimit: number
  /**
   * The platform's ceilings on the limits tenants and projects may set (issue 9 item 5): a tenant or project limit
   * above one is refused (400 naming it), and effective limits never exceed them, whatever was stored before.
   * Defaults: 10 MiB bodies, 300 s request timeout, 10,000 concurrent requests and executions.
   */
  limitCeilings: { maxBodyBytes: number; requestTimeoutMs: number; maxConcurrentRequests: number; maxConcurrentExecutions: number }
  /** Origins allowed as `return_to` after SSO login (besides relative paths). Env CFP_CONTROL_RETURN_ORIGINS. */
  returnOrigins: string[]
  /** fatal | error | warn | info | debug | trace | silent. Default info. */
  logLevel: string
  /** `json` (one object per line, the default) or `pretty` (one readable line each). Env CFP_CONTROL_LOG_FORMAT. */
  logFormat: 'json' | 'pretty'
  /** Bearer token `/metrics` requires (docs/metrics.md). Env CFP_CONTROL_METRICS_TOKEN. Unset: see metricsPort. */
  metricsToken?: string
  /** A separate port serving only `/metrics` (and `/health`) on `host`; the main port then has none. Env CFP_CONTROL_METRICS_PORT. */
  metricsPort?: number
  /** OTLP/HTTP endpoint for traces (docs/tracing.md): a base URL or a full `…/v1/traces` URL. Env CFP_CONTROL_OTLP_ENDPOINT. */
  otlpEndpoint?: string
  /** Extra headers for the OTLP endpoint (`name=value,…`). Env CFP_CONTROL_OTLP_HEADERS. */
  otlpHeaders?: Record<string, string>
  /** Fraction of new traces exported, 0..1 (callers' sampled flags are followed). Env CFP_CONTROL_TRACE_SAMPLE_RATIO. */
  traceSampleRatio: number
  /** Accept plain-http OIDC issuers on loopback (tests, local IdPs). Env CFP_CONTROL_ALLOW_LOOPBACK_IDP=1. Default false. */
  allowLoopbackIdp: boolean
  /**
   * Addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For` (and `-Proto`, `-Host`) is believed: the
   * client address (login throttling, logs) is then the rightmost address not in the list. Env
   * CFP_CONTROL_TRUSTED_PROXIES. Default none: the header is ignored and the client is the peer of the connection.
   */
  trustedProxies: string[]
  /**
   * Audit anchoring (docs/audit.md "Anchors"): the RFC 3161 time-stamping authority, PEM files of its certificate or
   * issuer to pin, the write-once directory anchors go to, and seconds between anchors. Anchoring is on when both the
   * URL and the directory are set. Env CFP_CONTROL_AUDIT_TSA_URL, _AUDIT_TSA_CERT, _AUDIT_ANCHOR_DIR,
   * _AUDIT_ANCHOR_INTERVAL (default 3600).
   */
  auditTsaUrl?: string
  auditTsaCerts: string[]
  auditAnchorDir?: string
  auditAnchorInterval: number
  /** Seconds between the control plane's verifications of its own chains (0 = never). Default 3600. */
  auditVerifyInterval: number
  /**
   * Audit retention (docs/audit.md "Retention and legal hold"): days an entry is kept when its tenant has no
   * retention of its own (0 = forever, the default); seconds between pruning rounds (0 = never); and the database URL
   * the pruning job connects with (a login role granted `cfp_audit_pruner`; default: --database-url).
   */
  auditRetentionDays: number
  /** the platform's floor of any tenant's retention in days (a tenant's `days` below it are refused) */
  auditRetentionMinDays: number
  auditPruneInterval: number
  auditPruneDatabaseUrl?: string
  /**
   * Let requests to identity providers (OIDC discovery, token, userinfo, JWKS) go to private (10/8, 172.16/12,
   * 192.168/16, 100.64/10, fc00::/7) and loopback addresses: an IdP on the company network. Link-local addresses
   * (cloud metadata) never. Env CFP_CONTROL_ALLOW_PRIVATE_IDP_ADDRESSES=1. Default false.
   */
  allowPrivateIdpAddresses: boolean
  /**
   * The built workbench (`apps/workbench/dist`) served under `/__cfp/`. Env CFP_CONTROL_WORKBENCH_DIR.
   * Default: `apps/workbench/dist` of the repository this package sits in, when it has an index.html; unset = not served.
   */
  workbenchDir?: string
  /**
   * Where each region's runtime is reached from a browser (`region=url,…`, http/https without a path), told to the
   * workbench by `GET /__cfp/control-plane` so its runtime pages call the runtime of the project's region.
   * Env CFP_CONTROL_RUNTIME_URLS. Default none: the workbench says no runtime is configured.
   */
  runtimeUrls: Record<string, string>
  /**
   * Security alerts (docs/control-plane.md "Security alerts"): webhook URLs each alert is POSTed to (repeatable, or a
   * comma list), the HMAC-SHA256 secret signing them (required with a URL), rule thresholds and windows (seconds),
   * and the automatic responses carried out (`none` = alerts only). Env CFP_CONTROL_SECURITY_*.
   */
  securityWebhookUrls: string[]
  securityWebhookSecret?: string
  securityLoginFailures: number
  securityLoginWindow: number
  securityLockSeconds: number
  securityDeniedBurst: number
  securityDeniedWindow: number
  securityResponses: string[]
}

/** `apps/workbench/dist` next to this package (packages/control-plane/{src,dist}/options.*), when it is built. */
export function defaultWorkbenchDir(): string | undefined {
  const dir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'apps', 'workbench', 'dist')
  return existsSync(join(dir, 'index.html')) ? dir : undefined
}

const HELP = `cfp-control-plane — tenants, teams, projects, roles, SSO and tokens for CFP

Options (flag / environment / default):
  --database-url URL        DATABASE_URL, CFP_CONTROL_DATABASE_URL   (required)
  --schema NAME             CFP_CONTROL_SCHEMA                       cfp_control
  --host ADDR               CFP_CONTROL_HOST                         127.0.0.1
  --port N                  CFP_CONTROL_PORT                         4100
  --public-url URL          CFP_CONTROL_PUBLIC_URL                   http://HOST:PORT
  --issuer URL              CFP_CONTROL_ISSUER                       = public URL
  --regions A,B             CFP_CONTROL_REGIONS                      local
  --access-token-ttl S      CFP_CONTROL_ACCESS_TOKEN_TTL             900 (max 900)
  --refresh-token-ttl S     CFP_CONTROL_REFRESH_TOKEN_TTL            2592000
  --key-rotation-interval S CFP_CONTROL_KEY_ROTATION_INTERVAL        604800 (0 = never)
  --key-prepublish S        CFP_CONTROL_KEY_PREPUBLISH               300
  --master-key B64          CFP_CONTROL_MASTER_KEY                   (required: base64 of 32 bytes)
  --service-token T         CFP_CONTROL_SERVICE_TOKEN                (unset: /v1/service/* refuses all)
  --setup-ttl S             CFP_CONTROL_SETUP_TTL                    3600
  --body-limit BYTES        CFP_CONTROL_BODY_LIMIT                   1048576
  --ceiling-body-bytes N    CFP_CONTROL_CEILING_BODY_BYTES           10485760 (no tenant or project maxBodyBytes above it)
  --ceiling-request-timeout-ms N  CFP_CONTROL_CEILING_REQUEST_TIMEOUT_MS  300000 (likewise requestTimeoutMs)
  --ceiling-concurrent-requests N  CFP_CONTROL_CEILING_CONCURRENT_REQUESTS  10000 (likewise maxConcurrentRequests)
  --ceiling-concurrent-executions N  CFP_CONTROL_CEILING_CONCURRENT_EXECUTIONS  10000 (likewise maxConcurrentExecutions)
  --return-origins A,B      CFP_CONTROL_RETURN_ORIGINS               (none: only relative return paths)
  --log-level L             CFP_CONTROL_LOG_LEVEL                    info
  --log-format F            CFP_CONTROL_LOG_FORMAT                   json (or pretty)
  --metrics-token T         CFP_CONTROL_METRICS_TOKEN                (none) bearer token /metrics requires
  --metrics-port N          CFP_CONTROL_METRICS_PORT                 (none) separate port serving only /metrics; without it or a token /metrics is not served
  --otlp-endpoint URL       CFP_CONTROL_OTLP_ENDPOINT                (none) export request spans over OTLP/HTTP protobuf (base URL or …/v1/traces)
  --otlp-headers H          CFP_CONTROL_OTLP_HEADERS                 (none) extra headers for the collector, name=value,name=value
  --trace-sample-ratio R    CFP_CONTROL_TRACE_SAMPLE_RATIO           1      fraction of new traces exported (0..1)
  --allow-loopback-idp      CFP_CONTROL_ALLOW_LOOPBACK_IDP=1         off (accept http://127.0.0.1 OIDC issuers)
  --trusted-proxies A,CIDR  CFP_CONTROL_TRUSTED_PROXIES              (none: X-Forwarded-For is ignored)
  --allow-private-idp-addresses  CFP_CONTROL_ALLOW_PRIVATE_IDP_ADDRESSES=1  off (IdP requests to private/loopback addresses)
  --audit-tsa-url URL       CFP_CONTROL_AUDIT_TSA_URL                (none) RFC 3161 authority anchoring the audit chain
  --audit-tsa-cert F,…      CFP_CONTROL_AUDIT_TSA_CERT               (none) PEM certificate(s) of the authority to pin
  --audit-anchor-dir DIR    CFP_CONTROL_AUDIT_ANCHOR_DIR             (none) write-once directory for anchors
  --audit-anchor-interval S CFP_CONTROL_AUDIT_ANCHOR_INTERVAL        3600
  --audit-verify-interval S CFP_CONTROL_AUDIT_VERIFY_INTERVAL        3600 (0 = never) self-verification of the chains
  --audit-retention-days N  CFP_CONTROL_AUDIT_RETENTION_DAYS         0 (= forever) unless the tenant sets its own
  --audit-retention-min-days N  CFP_CONTROL_AUDIT_RETENTION_MIN_DAYS  30 floor of any tenant's retention (and of the default)
  --audit-prune-interval S  CFP_CONTROL_AUDIT_PRUNE_INTERVAL         3600 (0 = never) pruning rounds (one replica)
  --audit-prune-database-url URL  CFP_CONTROL_AUDIT_PRUNE_DATABASE_URL  (--database-url) a role granted cfp_audit_pruner
  --security-webhook-url URL  CFP_CONTROL_SECURITY_WEBHOOK_URL      (none) repeatable or comma list: where security alerts are POSTed
  --security-webhook-secret S CFP_CONTROL_SECURITY_WEBHOOK_SECRET   (required with a URL) HMAC-SHA256 key of X-CFP-Signature
  --security-login-failures N CFP_CONTROL_SECURITY_LOGIN_FAILURES   5 denied sign-ins of one account ...
  --security-login-window S   CFP_CONTROL_SECURITY_LOGIN_WINDOW     900 ... within this many seconds raise an alert
  --security-lock-seconds S   CFP_CONTROL_SECURITY_LOCK_SECONDS     900 password sign-in locked this long (response)
  --security-denied-burst N   CFP_CONTROL_SECURITY_DENIED_BURST     20 authz.denied by one actor ...
  --security-denied-window S  CFP_CONTROL_SECURITY_DENIED_WINDOW    300 ... within this many seconds raise an alert
  --security-responses A,B    CFP_CONTROL_SECURITY_RESPONSES        lock_password,revoke_sessions,disable_api_key (none = off)
  --workbench-dir DIR       CFP_CONTROL_WORKBENCH_DIR                apps/workbench/dist when built (served at /__cfp/)
  --runtime-urls R=URL,…    CFP_CONTROL_RUNTIME_URLS                 (none) each region's runtime, for the workbench's runtime pages
  --print-config            print the resolved options (secrets masked) and exit
  --help                    this text
`

type Env = Record<string, string | undefined>

function int(name: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v)) throw new Error(`option ${name}: expected a whole number, got "${v}"`)
  const n = Number(v)
  if (n < min || n > max) throw new Error(`option ${name}: must be between ${min} and ${max}, got ${n}`)
  return n
}

/** `region=url,region=url` → `{region: url}`; a malformed entry or a region named twice stops start-up. */
export function parseRuntimeUrls(v: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>
  for (const entry of list(v)) {
    const eq = entry.indexOf('=')
    if (eq <= 0 || eq === entry.length - 1) throw new Error(`option --runtime-urls: expected region=url, got "${entry}"`)
    const region = entry.slice(0, eq).trim()
    if (region in out) throw new Error(`option --runtime-urls: region "${region}" is named twice`)
    out[region] = entry
      .slice(eq + 1)
      .trim()
      .replace(/\/$/, '')
  }
  return out
}

const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)

export function parseOptions(argv: string[], env: Env = process.env): { options: Options; print: boolean; help: boolean } {
  const { values: f } = parseArgs({
    args: argv,
    strict: true,
    options: Object.fromEntries<{ type: 'string' | 'boolean'; multiple?: boolean }>(
      [
        'database-url',
        'schema',
        'host',
        'port',
        'public-url',
        'issuer',
        'regions',
        'access-token-ttl',
        'refresh-token-ttl',
        'key-rotation-interval',
        'key-prepublish',
        'master-key',
        'service-token',
        'setup-ttl',
        'body-limit',
        'ceiling-body-bytes',
        'ceiling-request-timeout-ms',
        'ceiling-concurrent-requests',
        'ceiling-concurrent-executions',
        'return-origins',
        'log-level',
        'log-format',
        'metrics-token',
        'metrics-port',
        'otlp-endpoint',
        'otlp-headers',
        'trace-sample-ratio',
        'workbench-dir',
        'runtime-urls',
        'trusted-proxies',
        'audit-tsa-url',
        'audit-tsa-cert',
        'audit-anchor-dir',
        'audit-anchor-interval',
        'audit-verify-interval',
        'audit-retention-days',
        'audit-retention-min-days',
        'audit-prune-interval',
        'audit-prune-database-url',
        'security-webhook-secret',
        'security-login-failures',
        'security-login-window',
        'security-lock-seconds',
        'security-denied-burst',
        'security-denied-window',
        'security-responses',
      ]
        .map((k): [string, { type: 'string' | 'boolean'; multiple?: boolean }] => [k, { type: 'string' }])
        .concat([
          ['security-webhook-url', { type: 'string', multiple: true }],
          ['print-config', { type: 'boolean' }],
          ['allow-loopback-idp', { type: 'boolean' }],
          ['allow-private-idp-addresses', { type: 'boolean' }],
          ['help', { type: 'boolean' }],
        ]),
    ),
  }) as { values: Record<string, string | string[] | boolean | undefined> }
  const get = (flag: string, ...envs: string[]): string | undefined => {
    const v = f[flag]
    if (typeof v === 'string') return v
    for (const e of envs) if (env[e]) return env[e]
    return undefined
  }
  const host = get('host', 'CFP_CONTROL_HOST') ?? '127.0.0.1'
  const port = int('--port', get('port', 'CFP_CONTROL_PORT') ?? '4100', 0, 65535)
  const publicUrl = (get('public-url', 'CFP_CONTROL_PUBLIC_URL') ?? `http://${host}:${port}`).replace(/\/$/, '')
  const options: Options = {
    databaseUrl: get('database-url', 'CFP_CONTROL_DATABASE_URL', 'DATABASE_URL') ?? '',
    schema: get('schema', 'CFP_CONTROL_SCHEMA') ?? 'cfp_control',
    host,
    port,
    publicUrl,
    issuer: get('issuer', 'CFP_CONTROL_ISSUER') ?? publicUrl,
    regions: list(get('regions', 'CFP_CONTROL_REGIONS') ?? 'local'),
    accessTokenTtl: int('--access-token-ttl', get('access-token-ttl', 'CFP_CONTROL_ACCESS_TOKEN_TTL') ?? '900', 60, 900),
    refreshTokenTtl: int('--refresh-token-ttl', get('refresh-token-ttl', 'CFP_CONTROL_REFRESH_TOKEN_TTL') ?? '2592000', 300, 31_536_000),
    keyRotationInterval: int('--key-rotation-interval', get('key-rotation-interval', 'CFP_CONTROL_KEY_ROTATION_INTERVAL') ?? '604800', 0, 31_536_000),
    keyPrepublish: int('--key-prepublish', get('key-prepublish', 'CFP_CONTROL_KEY_PREPUBLISH') ?? '300', 0, 86_400),
    masterKey: get('master-key', 'CFP_CONTROL_MASTER_KEY') ?? '',
    serviceToken: get('service-token', 'CFP_CONTROL_SERVICE_TOKEN'),
    setupTtl: int('--setup-ttl', get('setup-ttl', 'CFP_CONTROL_SETUP_TTL') ?? '3600', 60, 604_800),
    bodyLimit: int('--body-limit', get('body-limit', 'CFP_CONTROL_BODY_LIMIT') ?? '1048576', 1024, 104_857_600),
    limitCeilings: {
      maxBodyBytes: int('--ceiling-body-bytes', get('ceiling-body-bytes', 'CFP_CONTROL_CEILING_BODY_BYTES') ?? '10485760', 1, 104_857_600),
      requestTimeoutMs: int(
        '--ceiling-request-timeout-ms',
        get('ceiling-request-timeout-ms', 'CFP_CONTROL_CEILING_REQUEST_TIMEOUT_MS') ?? '300000',
        100,
        900_000,
      ),
      maxConcurrentRequests: int(
        '--ceiling-concurrent-requests',
        get('ceiling-concurrent-requests', 'CFP_CONTROL_CEILING_CONCURRENT_REQUESTS') ?? '10000',
        1,
        100_000,
      ),
      maxConcurrentExecutions: int(
        '--ceiling-concurrent-executions',
        get('ceiling-concurrent-executions', 'CFP_CONTROL_CEILING_CONCURRENT_EXECUTIONS') ?? '10000',
        1,
        100_000,
      ),
    },
    returnOrigins: list(get('return-origins', 'CFP_CONTROL_RETURN_ORIGINS') ?? ''),
    logLevel: get('log-level', 'CFP_CONTROL_LOG_LEVEL') ?? 'info',
    logFormat: (get('log-format', 'CFP_CONTROL_LOG_FORMAT') ?? 'json') as Options['logFormat'],
    allowLoopbackIdp: f['allow-loopback-idp'] === true || env.CFP_CONTROL_ALLOW_LOOPBACK_IDP === '1',
    runtimeUrls: parseRuntimeUrls(get('runtime-urls', 'CFP_CONTROL_RUNTIME_URLS') ?? ''),
    trustedProxies: list(get('trusted-proxies', 'CFP_CONTROL_TRUSTED_PROXIES') ?? ''),
    allowPrivateIdpAddresses: f['allow-private-idp-addresses'] === true || env.CFP_CONTROL_ALLOW_PRIVATE_IDP_ADDRESSES === '1',
    auditTsaCerts: list(get('audit-tsa-cert', 'CFP_CONTROL_AUDIT_TSA_CERT') ?? ''),
    auditAnchorInterval: int('--audit-anchor-interval', get('audit-anchor-interval', 'CFP_CONTROL_AUDIT_ANCHOR_INTERVAL') ?? '3600', 10, 31_536_000),
    securityWebhookUrls: Array.isArray(f['security-webhook-url']) ? f['security-webhook-url'].flatMap(list) : list(env.CFP_CONTROL_SECURITY_WEBHOOK_URL ?? ''),
    securityLoginFailures: int('--security-login-failures', get('security-login-failures', 'CFP_CONTROL_SECURITY_LOGIN_FAILURES') ?? '5', 1, 1000),
    securityLoginWindow: int('--security-login-window', get('security-login-window', 'CFP_CONTROL_SECURITY_LOGIN_WINDOW') ?? '900', 1, 86_400),
    securityLockSeconds: int('--security-lock-seconds', get('security-lock-seconds', 'CFP_CONTROL_SECURITY_LOCK_SECONDS') ?? '900', 1, 604_800),
    securityDeniedBurst: int('--security-denied-burst', get('security-denied-burst', 'CFP_CONTROL_SECURITY_DENIED_BURST') ?? '20', 1, 100_000),
    securityDeniedWindow: int('--security-denied-window', get('security-denied-window', 'CFP_CONTROL_SECURITY_DENIED_WINDOW') ?? '300', 1, 86_400),
    securityResponses: list(get('security-responses', 'CFP_CONTROL_SECURITY_RESPONSES') ?? 'lock_password,revoke_sessions,disable_api_key'),
    auditVerifyInterval: int('--audit-verify-interval', get('audit-verify-interval', 'CFP_CONTROL_AUDIT_VERIFY_INTERVAL') ?? '3600', 0, 31_536_000),
    traceSampleRatio: ratio(get('trace-sample-ratio', 'CFP_CONTROL_TRACE_SAMPLE_RATIO') ?? '1'),
    auditRetentionDays: int('--audit-retention-days', get('audit-retention-days', 'CFP_CONTROL_AUDIT_RETENTION_DAYS') ?? '0', 0, 36_500),
    auditRetentionMinDays: int('--audit-retention-min-days', get('audit-retention-min-days', 'CFP_CONTROL_AUDIT_RETENTION_MIN_DAYS') ?? '30', 1, 36_500),
    auditPruneInterval: int('--audit-prune-interval', get('audit-prune-interval', 'CFP_CONTROL_AUDIT_PRUNE_INTERVAL') ?? '3600', 0, 31_536_000),
  }
  const metricsToken = get('metrics-token', 'CFP_CONTROL_METRICS_TOKEN')
  if (metricsToken !== undefined) options.metricsToken = metricsToken
  const metricsPort = get('metrics-port', 'CFP_CONTROL_METRICS_PORT')
  if (metricsPort !== undefined) options.metricsPort = int('--metrics-port', metricsPort, 0, 65535)
  const otlpEndpoint = get('otlp-endpoint', 'CFP_CONTROL_OTLP_ENDPOINT')
  if (otlpEndpoint !== undefined) options.otlpEndpoint = otlpEndpoint
  const otlpHeaders = get('otlp-headers', 'CFP_CONTROL_OTLP_HEADERS')
  if (otlpHeaders !== undefined) options.otlpHeaders = parseOtlpHeaders(otlpHeaders)
  const webhookSecret = get('security-webhook-secret', 'CFP_CONTROL_SECURITY_WEBHOOK_SECRET')
  if (webhookSecret !== undefined) options.securityWebhookSecret = webhookSecret
  if (options.securityResponses.length === 1 && options.securityResponses[0] === 'none') options.securityResponses = []
  const pruneUrl = get('audit-prune-database-url', 'CFP_CONTROL_AUDIT_PRUNE_DATABASE_URL')
  if (pruneUrl !== undefined) options.auditPruneDatabaseUrl = pruneUrl
  const tsaUrl = get('audit-tsa-url', 'CFP_CONTROL_AUDIT_TSA_URL')
  if (tsaUrl !== undefined) options.auditTsaUrl = tsaUrl
  const anchorDir = get('audit-anchor-dir', 'CFP_CONTROL_AUDIT_ANCHOR_DIR')
  if (anchorDir !== undefined) options.auditAnchorDir = resolve(anchorDir)
  const workbenchDir = get('workbench-dir', 'CFP_CONTROL_WORKBENCH_DIR')
  const dir = workbenchDir !== undefined ? resolve(workbenchDir) : defaultWorkbenchDir()
  if (dir !== undefined) options.workbenchDir = dir
  return { options, print: f['print-config'] === true, help: f.help === true }
}

export { HELP }

/** Start-up validation; throws with a message naming the option. */
export function validateOptions(o: Options): void {
  if (!o.databaseUrl) throw new Error('option --database-url (or DATABASE_URL) is required')
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(o.schema)) throw new Error(`option --schema: "${o.schema}" is not a plain lower-case SQL name`)
  if (Buffer.from(o.masterKey, 'base64').length !== 32) {
    throw new Error('option --master-key (or CFP_CONTROL_MASTER_KEY) must be base64 of 32 random bytes: `openssl rand -base64 32`')
  }
  if ((o.auditTsaUrl === undefined) !== (o.auditAnchorDir === undefined)) {
    throw new Error('options --audit-tsa-url and --audit-anchor-dir go together: anchoring needs both')
  }
  if (o.auditTsaUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(o.auditTsaUrl))
    throw new Error(`option --audit-tsa-url: "${o.auditTsaUrl}" is not an http(s) URL`)
  for (const u of o.securityWebhookUrls) {
    let url: URL | undefined
    try {
      url = new URL(u)
    } catch {
      url = undefined
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new Error(`option --security-webhook-url: "${u}" is not an http(s) URL`)
  }
  if (o.securityWebhookUrls.length > 0 && (o.securityWebhookSecret ?? '').length < 16) {
    throw new Error('option --security-webhook-secret: required with --security-webhook-url, at least 16 characters')
  }
  for (const r of o.securityResponses) {
    if (!['lock_password', 'revoke_sessions', 'disable_api_key'].includes(r)) {
      throw new Error(`option --security-responses: unknown response "${r}" (lock_password, revoke_sessions, disable_api_key, or none)`)
    }
  }
  if (o.auditRetentionDays > 0 && o.auditRetentionDays < o.auditRetentionMinDays)
    throw new Error(`option --audit-retention-days: ${o.auditRetentionDays} is below --audit-retention-min-days (${o.auditRetentionMinDays}); 0 keeps forever`)
  if (o.regions.length === 0) throw new Error('option --regions: at least one region')
  for (const r of o.regions) if (!/^[a-z0-9-]{1,32}$/.test(r)) throw new Error(`option --regions: bad region name "${r}"`)
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(o.logLevel)) {
    throw new Error(`option --log-level: unknown level "${o.logLevel}"`)
  }
  for (const origin of o.returnOrigins) new URL(origin)
  if (o.workbenchDir !== undefined && !existsSync(join(o.workbenchDir, 'index.html'))) {
    throw new Error(`option --workbench-dir: ${o.workbenchDir} has no index.html (build it: npm run build -w apps/workbench)`)
  }
  for (const [region, url] of Object.entries(o.runtimeUrls)) {
    if (!o.regions.includes(region)) throw new Error(`option --runtime-urls: region "${region}" is not one of --regions (${o.regions.join(', ')})`)
    let u: URL
    try {
      u = new URL(url)
    } catch {
      throw new Error(`option --runtime-urls: "${url}" (region ${region}) is not a URL`)
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.pathname !== '/' || u.search || u.hash || u.username || u.password) {
      throw new Error(
        `option --runtime-urls: "${url}" (region ${region}) must be an http(s) origin without path, query or credentials, e.g. https://runtime.eu.example.com`,
      )
    }
  }
  for (const entry of o.trustedProxies) {
    const [addr, bits, extra] = entry.split('/')
    const family = isIP(addr ?? '')
    const max = family === 4 ? 32 : 128
    if (!family || extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= max))) {
      throw new Error(`option --trusted-proxies: "${entry}" is not an IP address or CIDR range (e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8)`)
    }
  }
  if (o.serviceToken !== undefined && o.serviceToken.length < 16) throw new Error('option --service-token: at least 16 characters')
  if (o.metricsToken !== undefined && o.metricsToken.length < 16) throw new Error('option --metrics-token: at least 16 characters')
  if (o.logFormat !== 'json' && o.logFormat !== 'pretty') throw new Error(`option --log-format: json or pretty, got "${String(o.logFormat)}"`)
  if (o.metricsPort !== undefined && o.metricsPort !== 0 && o.metricsPort === o.port) throw new Error('option --metrics-port: must differ from --port')
  if (o.otlpEndpoint !== undefined) {
    let u: URL | undefined
    try {
      u = new URL(o.otlpEndpoint)
    } catch {}
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password || u.search || u.hash) {
      throw new Error(
        `option --otlp-endpoint: "${o.otlpEndpoint.replace(/\/\/[^@/]*@/, '//***@')}" must be an http(s) URL without credentials, query or fragment (put keys in --otlp-headers), e.g. http://127.0.0.1:4318`,
      )
    }
  }
}

/** Parses `--otlp-headers` (`name=value,name=value`); names are HTTP tokens. */
export function parseOtlpHeaders(s: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of s.split(',')) {
    if (!part.trim()) continue
    const eq = part.indexOf('=')
    const name = part.slice(0, eq).trim()
    if (eq < 1 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new Error(`option --otlp-headers: "${part.trim().split('=')[0]}" is not name=value (e.g. x-api-key=abc,tenant=t1)`)
    }
    out[name.toLowerCase()] = decodeURIComponent(part.slice(eq + 1).trim())
  }
  return out
}

function ratio(v: string): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new Error(`option --trace-sample-ratio: a number from 0 to 1, got "${v}"`)
  return n
}

export function maskedOptions(o: Options): Record<string, unknown> {
  const mask = (s?: string) => (s ? '***' : undefined)
  const db = o.databaseUrl.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')
  return {
    ...o,
    databaseUrl: db,
    auditPruneDatabaseUrl: o.auditPruneDatabaseUrl?.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@'),
    masterKey: mask(o.masterKey),
    serviceToken: mask(o.serviceToken),
    metricsToken: mask(o.metricsToken),
    otlpHeaders: o.otlpHeaders ? Object.fromEntries(Object.keys(o.otlpHeaders).map((k) => [k, '***'])) : undefined,
    securityWebhookSecret: mask(o.securityWebhookSecret),
    securityWebhookUrls: o.securityWebhookUrls.map((u) => u.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')),
  }
}
