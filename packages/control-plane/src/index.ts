/**
 * @cfp/control-plane — tenants, teams, projects, users, the ten roles, SSO (OIDC, SAML), tokens and JWKS.
 *
 * @example
 *   import { parseOptions, startControlPlane } from '@cfp/control-plane'
 *   const { options } = parseOptions(['--port', '0'], { DATABASE_URL: url, CFP_CONTROL_MASTER_KEY: key })
 *   const cp = await startControlPlane(options)
 *   console.log(cp.url, cp.setupUrl)
 *   await cp.close()
 *
 * The permission matrix (`policy/permissions.json`) and its evaluator are exported for other TypeScript code:
 *   can(loadPolicy(), principal, 'project.read', { tenant, team, project })
 */
export { buildApp } from './app.js'
export { ManualClock, systemClock, type Clock } from './clock.js'
export { migrate, readMigrations } from './db/migrate.js'
export { openDb, type Db } from './db/pool.js'
export { ApiError, type ErrorCode } from './errors.js'
export { HELP, parseOptions, validateOptions, type Options } from './options.js'
export { can, canGrant, isRelated, relation } from './policy/evaluate.js'
export { checkPolicy, findPolicyFile, loadPolicy } from './policy/load.js'
export { renderPermissionsDoc } from './policy/doc.js'
export type { Binding, Policy, Principal, Relation, ScopeKind, ScopePath } from './policy/types.js'
export { startControlPlane, type Started } from './server.js'
export { createServices, type Services } from './services.js'
