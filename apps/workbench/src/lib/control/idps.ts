/**
 * The identity-provider page's logic, free of React: the form's text fields ↔ the API's create and PATCH
 * bodies (only what changed; a cleared optional field is `null`, which resets it on the server), group-mapping
 * rows ↔ mappings, and the scope a mapping binds its role at.
 *
 * @example
 * const d = draftOf(provider)
 * d.oidc.groupsClaim = ''
 * patchBody(d, provider) // { oidc: { groupsClaim: null } }
 */
import type { GroupMapping, IdentityProvider, IdentityProviderPatch, NewIdentityProvider, OidcConfig, Project, SamlConfig, ScopePath, Team } from './types'

export type IdpKind = 'oidc' | 'saml'

export interface ProviderDraft {
  kind: IdpKind
  name: string
  /** OIDC only; empty when editing = keep the current secret */
  clientSecret: string
  oidc: { issuer: string; clientId: string; scopes: string; groupsClaim: string }
  saml: { ssoUrl: string; idpEntityId: string; idpCertificate: string; groupsAttribute: string; sloUrl: string; signRequests: boolean }
}

export const KIND_LABEL: Record<IdpKind, string> = { oidc: 'OpenID Connect', saml: 'SAML 2.0' }

export function emptyDraft(kind: IdpKind = 'oidc'): ProviderDraft {
  return {
    kind,
    name: '',
    clientSecret: '',
    oidc: { issuer: '', clientId: '', scopes: '', groupsClaim: '' },
    saml: { ssoUrl: '', idpEntityId: '', idpCertificate: '', groupsAttribute: '', sloUrl: '', signRequests: true },
  }
}

/** The edit form of an existing provider (its secret is never known here). */
export function draftOf(p: IdentityProvider): ProviderDraft {
  const d = emptyDraft(p.kind)
  d.name = p.name
  if (p.kind === 'oidc') {
    const c = p.config
    d.oidc = { issuer: c.issuer ?? '', clientId: c.clientId ?? '', scopes: (c.scopes ?? []).join(' '), groupsClaim: c.groupsClaim ?? '' }
  } else {
    const c = p.config
    d.saml = {
      ssoUrl: c.ssoUrl ?? '',
      idpEntityId: c.idpEntityId ?? '',
      idpCertificate: c.idpCertificate ?? '',
      groupsAttribute: c.groupsAttribute ?? '',
      sloUrl: c.sloUrl ?? '',
      signRequests: c.signRequests === true,
    }
  }
  return d
}

/** Scopes typed with spaces or commas → distinct scope names. */
export function parseScopes(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))]
}

function oidcConfig(d: ProviderDraft): OidcConfig {
  const scopes = parseScopes(d.oidc.scopes)
  const claim = d.oidc.groupsClaim.trim()
  return { issuer: d.oidc.issuer.trim(), clientId: d.oidc.clientId.trim(), ...(scopes.length ? { scopes } : {}), ...(claim ? { groupsClaim: claim } : {}) }
}

function samlConfig(d: ProviderDraft): SamlConfig {
  const attr = d.saml.groupsAttribute.trim()
  const slo = d.saml.sloUrl.trim()
  return {
    ssoUrl: d.saml.ssoUrl.trim(),
    idpEntityId: d.saml.idpEntityId.trim(),
    idpCertificate: d.saml.idpCertificate.trim(),
    ...(attr ? { groupsAttribute: attr } : {}),
    ...(slo ? { sloUrl: slo } : {}),
    signRequests: d.saml.signRequests,
  }
}

export function createBody(d: ProviderDraft): NewIdentityProvider {
  const name = d.name.trim()
  return d.kind === 'oidc' ? { kind: 'oidc', name, clientSecret: d.clientSecret, oidc: oidcConfig(d) } : { kind: 'saml', name, saml: samlConfig(d) }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null)

/** What changed between the provider and the edited form; optional fields cleared become `null`. */
export function patchBody(d: ProviderDraft, p: IdentityProvider): IdentityProviderPatch {
  const out: IdentityProviderPatch = {}
  const name = d.name.trim()
  if (name && name !== p.name) out.name = name
  const next: Record<string, unknown> = p.kind === 'oidc' ? { ...oidcConfig(d) } : { ...samlConfig(d) }
  const current = p.config as unknown as Record<string, unknown>
  const fields =
    p.kind === 'oidc'
      ? ['issuer', 'clientId', 'scopes', 'groupsClaim']
      : ['ssoUrl', 'idpEntityId', 'idpCertificate', 'groupsAttribute', 'sloUrl', 'signRequests']
  const changed: Record<string, unknown> = {}
  for (const f of fields) {
    if (same(next[f], current[f])) continue
    changed[f] = next[f] === undefined ? null : next[f]
  }
  if (Object.keys(changed).length) {
    if (p.kind === 'oidc') out.oidc = changed
    else out.saml = changed
  }
  if (p.kind === 'oidc' && d.clientSecret) out.clientSecret = d.clientSecret
  return out
}

/** The URLs to give the identity provider; SAML also needs the SP entity id (its metadata URL). */
export function spUrls(p: Pick<IdentityProvider, 'kind' | 'loginUrl' | 'callbackUrl'>): { label: string; url: string }[] {
  if (p.kind === 'oidc') return [{ label: 'Redirect (callback) URL', url: p.callbackUrl }]
  return [
    { label: 'ACS URL (assertion consumer service)', url: p.callbackUrl },
    { label: 'SP entity ID (metadata URL)', url: p.loginUrl.replace(/\/login$/, '/metadata') },
    { label: 'Single logout URL', url: p.loginUrl.replace(/\/login$/, '/slo') },
  ]
}

export interface MappingDraft {
  /** stable React key */
  key: number
  group: string
  role: string
  /** '' = the whole tenant */
  teamId: string
  /** '' = the whole team (or tenant) */
  projectId: string
}

let nextKey = 1
export function newMapping(): MappingDraft {
  return { key: nextKey++, group: '', role: '', teamId: '', projectId: '' }
}

export function mappingDrafts(p: IdentityProvider, projects: Project[] = []): MappingDraft[] {
  return (p.mappings ?? []).map((m) => ({
    key: nextKey++,
    group: m.group,
    role: m.role,
    teamId: m.teamId ?? projects.find((x) => x.id === m.projectId)?.teamId ?? '',
    projectId: m.projectId ?? '',
  }))
}

export function toMappings(drafts: MappingDraft[]): GroupMapping[] {
  return drafts.map((d) => ({
    group: d.group.trim(),
    role: d.role,
    ...(d.teamId ? { teamId: d.teamId } : {}),
    ...(d.projectId ? { projectId: d.projectId } : {}),
  }))
}

/** Where a mapping binds its role: the project, else the team, else the tenant. */
export function mappingScope(m: { teamId?: string; projectId?: string }, tenantId: string, projects: Project[] = []): ScopePath {
  if (m.projectId) {
    const team = m.teamId || projects.find((p) => p.id === m.projectId)?.teamId
    return { tenant: tenantId, ...(team ? { team } : {}), project: m.projectId }
  }
  if (m.teamId) return { tenant: tenantId, team: m.teamId }
  return { tenant: tenantId }
}

/** "Tenant Acme", "Team Core", "Project Alpha (Core)" — or the id when the name is not visible. */
export function scopeLabel(m: { teamId?: string; projectId?: string }, tenantName: string, teams: Team[] = [], projects: Project[] = []): string {
  const teamName = (id: string | undefined) => teams.find((t) => t.id === id)?.name
  if (m.projectId) {
    const p = projects.find((x) => x.id === m.projectId)
    const team = teamName(m.teamId ?? p?.teamId)
    return `Project ${p?.name ?? m.projectId}${team ? ` (${team})` : ''}`
  }
  if (m.teamId) return `Team ${teamName(m.teamId) ?? m.teamId}`
  return `Tenant ${tenantName}`
}
