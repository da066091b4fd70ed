/**
 * A typed client of the control plane's `/v1` API (same origin). Every call carries the session's access
 * token; a 401 triggers one refresh and one retry, and a second 401 ends the session.
 *
 * @example
 * const cp = createControlClient(session)
 * const { items } = await cp.tenants()
 */
import { ApiError, queryString } from '../api/client'
import type { AuditCheckpoint, AuditEntryDetail, AuditKey, AuditListItem, AuditQuery, AuditStatus } from './audit'
import { readJson, type Session } from './session'
import type {
  Cors,
  Credential,
  CredentialKind,
  Diagnostics,
  GroupMapping,
  IdentityProvider,
  IdentityProviderPatch,
  Items,
  Limits,
  Me,
  Member,
  NewIdentityProvider,
  Project,
  ProjectSettings,
  Provider,
  RoleBinding,
  ScopeRef,
  SpSigningKey,
  Team,
  Tenant,
} from './types'

export interface ControlClientOptions {
  fetch?: typeof fetch
  baseUrl?: string
}

export function createControlClient(session: Pick<Session, 'accessToken' | 'refresh' | 'end'>, options: ControlClientOptions = {}) {
  const doFetch = options.fetch ?? ((i: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(i, init))
  const base = options.baseUrl ?? ''

  async function send(method: string, path: string, body: unknown, token: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (token) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    try {
      return await doFetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    } catch (e) {
      throw new ApiError(0, 'network', `The control plane is not reachable (${e instanceof Error ? e.message : String(e)})`, path)
    }
  }

  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res = await send(method, path, body, await session.accessToken())
    if (res.status === 401) {
      // the access token may have been revoked or expired early: one refresh, one retry
      const token = await session.refresh().catch(() => undefined)
      if (token) res = await send(method, path, body, token)
      if (res.status === 401) {
        const err = await readJson<never>(res, path).catch((e: unknown) => e as ApiError)
        session.end(err)
        throw err
      }
    }
    return readJson<T>(res, path)
  }

  const enc = encodeURIComponent
  const credentials = (kind: CredentialKind, projectId: string) => `/v1/projects/${enc(projectId)}/${kind}`
  return {
    me: () => request<Me>('GET', '/v1/me'),
    /** Public: a tenant's SSO providers for the login page (none for an unknown tenant). */
    providers: async (tenantSlug: string) => {
      const path = `/v1/auth/providers${queryString({ tenant: tenantSlug })}`
      return readJson<Items<Provider>>(await send('GET', path, undefined, undefined), path)
    },
    authzCheck: (action: string, scope: ScopeRef) => request<{ allowed: boolean }>('POST', '/v1/authz/check', { action, scope }),

    tenants: () => request<Items<Tenant>>('GET', '/v1/tenants'),
    createTenant: (t: { slug: string; name: string; region: string }) => request<Tenant>('POST', '/v1/tenants', t),
    renameTenant: (tenantId: string, name: string) => request<Tenant>('PATCH', `/v1/tenants/${enc(tenantId)}`, { name }),
    /** `confirm` is the tenant's slug, typed by the user; 409 `not_empty` while it has teams. */
    deleteTenant: (tenantId: string, confirm: string) => request<void>('DELETE', `/v1/tenants/${enc(tenantId)}`, { confirm }),
    teams: (tenantId: string) => request<Items<Team>>('GET', `/v1/tenants/${enc(tenantId)}/teams`),
    createTeam: (tenantId: string, t: { slug: string; name: string }) => request<Team>('POST', `/v1/tenants/${enc(tenantId)}/teams`, t),
    renameTeam: (teamId: string, name: string) => request<Team>('PATCH', `/v1/teams/${enc(teamId)}`, { name }),
    /** `confirm` is the team's slug; 409 `not_empty` while it has projects. */
    deleteTeam: (teamId: string, confirm: string) => request<void>('DELETE', `/v1/teams/${enc(teamId)}`, { confirm }),
    project: (projectId: string) => request<Project>('GET', `/v1/projects/${enc(projectId)}`),
    projects: (teamId: string) => request<Items<Project>>('GET', `/v1/teams/${enc(teamId)}/projects`),
    createProject: (teamId: string, p: { slug: string; name: string }) => request<Project>('POST', `/v1/teams/${enc(teamId)}/projects`, p),
    renameProject: (projectId: string, name: string) => request<Project>('PATCH', `/v1/projects/${enc(projectId)}`, { name }),
    /** `confirm` is the project's slug; revokes its API keys and worker tokens. */
    deleteProject: (projectId: string, confirm: string) => request<void>('DELETE', `/v1/projects/${enc(projectId)}`, { confirm }),

    members: (tenantId: string) => request<Items<Member>>('GET', `/v1/tenants/${enc(tenantId)}/members`),
    invite: (tenantId: string, m: { email: string; displayName?: string; role?: string; scope?: ScopeRef }) =>
      request<{ member: Member; binding?: RoleBinding }>('POST', `/v1/tenants/${enc(tenantId)}/members`, m),
    removeMember: (tenantId: string, userId: string) => request<void>('DELETE', `/v1/tenants/${enc(tenantId)}/members/${enc(userId)}`),

    bindings: (scope: ScopeRef) => request<Items<RoleBinding>>('GET', `/v1/rolebindings${queryString({ kind: scope.kind, id: scope.id })}`),
    createBinding: (b: { userId: string; role: string; scope: ScopeRef }) => request<RoleBinding>('POST', '/v1/rolebindings', b),
    deleteBinding: (id: string) => request<void>('DELETE', `/v1/rolebindings/${enc(id)}`),

    credentials: (kind: CredentialKind, projectId: string) => request<Items<Credential>>('GET', credentials(kind, projectId)),
    createCredential: (kind: CredentialKind, projectId: string, c: { name: string; role?: string; expiresInDays?: number }) =>
      request<{ token: string; credential: Credential }>('POST', credentials(kind, projectId), c),
    revokeCredential: (kind: CredentialKind, projectId: string, id: string) => request<void>('DELETE', `${credentials(kind, projectId)}/${enc(id)}`),

    /** Audit entries, newest first (`next` is the cursor of the following page). */
    auditEntries: (q: AuditQuery) => request<{ items: AuditListItem[]; next: string | null }>('GET', `/v1/audit/entries${queryString({ ...q })}`),
    /** One entry with its inclusion proof and the checkpoint that signs the tree. */
    auditEntry: (chain: string, seq: number) => request<AuditEntryDetail>('GET', `/v1/audit/entries/${enc(chain)}/${seq}`),
    auditCheckpoints: (chain: string, limit = 1) => request<Items<AuditCheckpoint>>('GET', `/v1/audit/checkpoints${queryString({ chain, limit })}`),
    auditKeys: () => request<Items<AuditKey>>('GET', '/v1/audit/keys'),
    /** The last anchor and the last verification of every chain (system auditors). */
    auditStatus: () => request<AuditStatus>('GET', '/v1/audit/status'),
    /** Verifies every chain now. */
    auditVerify: () => request<NonNullable<AuditStatus['lastVerification']>>('POST', '/v1/audit/verify'),
    tenantLimits: (tenantId: string) => request<Limits>('GET', `/v1/tenants/${enc(tenantId)}/limits`),
    setTenantLimits: (tenantId: string, l: Limits) => request<Limits>('PUT', `/v1/tenants/${enc(tenantId)}/limits`, l),
    projectSettings: (projectId: string) => request<ProjectSettings>('GET', `/v1/projects/${enc(projectId)}/settings`),
    setProjectLimits: (projectId: string, l: Limits) => request<ProjectSettings>('PUT', `/v1/projects/${enc(projectId)}/limits`, l),
    setCors: (projectId: string, c: Cors) => request<ProjectSettings>('PUT', `/v1/projects/${enc(projectId)}/cors`, c),
    setValidation: (projectId: string, v: { strict: boolean }) => request<ProjectSettings>('PUT', `/v1/projects/${enc(projectId)}/validation`, v),
    setDiagnostics: (projectId: string, d: Diagnostics) => request<ProjectSettings>('PUT', `/v1/projects/${enc(projectId)}/diagnostics`, d),

    idps: (tenantId: string) => request<Items<IdentityProvider>>('GET', `/v1/tenants/${enc(tenantId)}/idps`),
    idp: (id: string) => request<IdentityProvider>('GET', `/v1/idps/${enc(id)}`),
    createIdp: (tenantId: string, p: NewIdentityProvider) => request<IdentityProvider>('POST', `/v1/tenants/${enc(tenantId)}/idps`, p),
    updateIdp: (id: string, p: IdentityProviderPatch) => request<IdentityProvider>('PATCH', `/v1/idps/${enc(id)}`, p),
    deleteIdp: (id: string) => request<void>('DELETE', `/v1/idps/${enc(id)}`),
    setGroupMappings: (id: string, mappings: GroupMapping[]) => request<IdentityProvider>('PUT', `/v1/idps/${enc(id)}/group-mappings`, { mappings }),
    samlSigningKeys: (id: string) => request<Items<SpSigningKey>>('GET', `/v1/idps/${enc(id)}/saml/signing-keys`),
    /** Starts a rotation: a next SP key, in the metadata at once; requests stay signed with the current key. */
    createSamlSigningKey: (id: string) => request<SpSigningKey>('POST', `/v1/idps/${enc(id)}/saml/signing-keys`),
    /** The next key signs from now on; the replaced one stays in the metadata for 7 days. */
    activateSamlSigningKey: (id: string) => request<Items<SpSigningKey>>('POST', `/v1/idps/${enc(id)}/saml/signing-keys/activate`),
  }
}

export type ControlClient = ReturnType<typeof createControlClient>
