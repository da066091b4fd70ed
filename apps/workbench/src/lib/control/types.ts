/** Shapes of the control plane's API (`docs/control-plane.md`), as far as the workbench reads them. */

export type ScopeKind = 'system' | 'tenant' | 'team' | 'project'

/** A place in the hierarchy; its kind is the deepest id present (`{}` is the system). */
export interface ScopePath {
  tenant?: string
  team?: string
  project?: string
}

export interface Binding {
  role: string
  scope: ScopePath
}

export interface TokenResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
  tenant_id?: string
  region: string
}

export interface Me {
  kind: 'user' | 'api_key' | 'worker'
  id: string
  tenantId?: string
  region?: string
  bindings: Binding[]
  actions?: string[]
}

export interface Tenant {
  id: string
  slug: string
  name: string
  region: string
  createdAt: string
}

export interface Team {
  id: string
  tenantId: string
  slug: string
  name: string
  createdAt: string
}

export interface Project {
  id: string
  tenantId: string
  teamId: string
  slug: string
  name: string
  region: string
  createdAt: string
}

export interface Member {
  userId: string
  email: string
  displayName: string
  createdAt: string
}

export interface RoleBinding {
  id: string
  userId: string
  role: string
  scope: { kind: ScopeKind; tenantId?: string; teamId?: string; projectId?: string }
  source: string
  createdAt: string
}

export interface ScopeRef {
  kind: ScopeKind
  id?: string
}

export type CredentialKind = 'apikeys' | 'worker-tokens'

export interface Credential {
  id: string
  kind: 'api_key' | 'worker'
  prefix: string
  name: string
  projectId: string
  role: string | null
  actions: string[] | null
  createdAt: string
  expiresAt: string | null
  revokedAt: string | null
  lastUsedAt: string | null
}

export interface Limits {
  maxBodyBytes?: number
  requestTimeoutMs?: number
  maxConcurrentRequests?: number
  maxConcurrentExecutions?: number
}

export interface Cors {
  allowedOrigins: string[]
  allowCredentials: boolean
}

export interface Diagnostics {
  emit: boolean
  stateWrite: boolean
  dlqReplay: boolean
  stepSource: boolean
}

export interface ProjectSettings {
  projectId: string
  limits: Limits
  effectiveLimits: Limits
  cors: Cors
  validation: { strict: boolean }
  diagnostics: Diagnostics
  version: number
}

export interface Provider {
  id: string
  name: string
  kind: 'oidc' | 'saml'
  loginUrl: string
}

/** An IdP group mapped to a role at the provider's tenant, or at one of its teams or projects. */
export interface GroupMapping {
  group: string
  role: string
  teamId?: string
  projectId?: string
}

export interface OidcConfig {
  issuer: string
  clientId: string
  scopes?: string[]
  groupsClaim?: string
}

export interface SamlConfig {
  ssoUrl: string
  idpEntityId: string
  idpCertificate: string
  groupsAttribute?: string
  /** The IdP's single-logout endpoint (HTTP-Redirect); without it logout ends the CFP session only. */
  sloUrl?: string
  /** AuthnRequests are signed with the provider's SP key (its certificate is in the SP metadata). */
  signRequests?: boolean
}

/** A tenant's identity provider as `GET /v1/idps/{id}` returns it (never its client secret). */
export type IdentityProvider = {
  id: string
  tenantId: string
  name: string
  enabled: boolean
  hasClientSecret?: boolean
  loginUrl: string
  /** OIDC: the redirect URI; SAML: the assertion consumer service URL. */
  callbackUrl: string
  mappings?: GroupMapping[]
} & ({ kind: 'oidc'; config: OidcConfig } | { kind: 'saml'; config: SamlConfig })

/** A SAML provider's SP signing key as `GET /v1/idps/{id}/saml/signing-keys` lists it (never its private key). */
export interface SpSigningKey {
  id: string
  /** current: signs; next: in the metadata, not signing yet; previous: replaced, in the metadata until `publishedUntil` */
  state: 'current' | 'next' | 'previous'
  /** PEM */
  certificate: string
  /** SHA-256 of the certificate, colon-separated hex */
  fingerprintSha256: string
  notBefore: string
  notAfter: string
  createdAt: string
  activatedAt?: string
  publishedUntil?: string
}

export type NewIdentityProvider = { kind: 'oidc'; name: string; clientSecret: string; oidc: OidcConfig } | { kind: 'saml'; name: string; saml: SamlConfig }

/** `null` resets an optional field to its default. */
type Nullable<T> = { [K in keyof T]?: T[K] | null }

export interface IdentityProviderPatch {
  name?: string
  enabled?: boolean
  clientSecret?: string
  oidc?: Nullable<OidcConfig>
  saml?: Nullable<SamlConfig>
}

export interface Items<T> {
  items: T[]
}
