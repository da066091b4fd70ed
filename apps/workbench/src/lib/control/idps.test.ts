import { describe, expect, it } from 'vitest'
import { createBody, draftOf, emptyDraft, mappingDrafts, mappingScope, parseScopes, patchBody, scopeLabel, spUrls, toMappings } from './idps'
import type { IdentityProvider, Project, Team } from './types'

const base = 'https://cp.example.com/v1/auth'
const oidc: IdentityProvider = {
  id: 'i1',
  tenantId: 't1',
  kind: 'oidc',
  name: 'Corp',
  enabled: true,
  hasClientSecret: true,
  config: { issuer: 'https://idp.example.com', clientId: 'cfp', scopes: ['groups'], groupsClaim: 'roles' },
  loginUrl: `${base}/oidc/i1/login`,
  callbackUrl: `${base}/oidc/i1/callback`,
  mappings: [
    { group: 'eng', role: 'project_editor', teamId: 'tm1', projectId: 'p1' },
    { group: 'admins', role: 'tenant_admin' },
  ],
}
const saml: IdentityProvider = {
  id: 'i2',
  tenantId: 't1',
  kind: 'saml',
  name: 'Okta',
  enabled: false,
  config: { ssoUrl: 'https://okta.example.com/sso', idpEntityId: 'okta', idpCertificate: 'PEM', signRequests: false },
  loginUrl: `${base}/saml/i2/login`,
  callbackUrl: `${base}/saml/i2/acs`,
}
const teams: Team[] = [{ id: 'tm1', tenantId: 't1', slug: 'core', name: 'Core', createdAt: '' }]
const projects: Project[] = [{ id: 'p1', tenantId: 't1', teamId: 'tm1', slug: 'alpha', name: 'Alpha', region: 'eu', createdAt: '' }]

describe('identity provider forms', () => {
  it('build a create body of the chosen kind, without empty optional fields', () => {
    const d = emptyDraft('oidc')
    Object.assign(d, { name: ' Corp ', clientSecret: 's3cret' })
    d.oidc = { issuer: ' https://idp.example.com ', clientId: 'cfp', scopes: 'groups, offline_access groups', groupsClaim: '' }
    expect(createBody(d)).toEqual({
      kind: 'oidc',
      name: 'Corp',
      clientSecret: 's3cret',
      oidc: { issuer: 'https://idp.example.com', clientId: 'cfp', scopes: ['groups', 'offline_access'] },
    })
    const s = emptyDraft('saml')
    s.name = 'Okta'
    s.saml = { ...s.saml, ssoUrl: 'https://okta.example.com/sso', idpEntityId: 'okta', idpCertificate: '  PEM\n', groupsAttribute: 'memberOf' }
    expect(s.saml.signRequests).toBe(true) // new providers sign their requests
    expect(createBody(s)).toEqual({
      kind: 'saml',
      name: 'Okta',
      saml: { ssoUrl: 'https://okta.example.com/sso', idpEntityId: 'okta', idpCertificate: 'PEM', groupsAttribute: 'memberOf', signRequests: true },
    })
  })

  it('patch only what changed; a cleared optional field is null; the secret only when typed', () => {
    expect(patchBody(draftOf(oidc), oidc)).toEqual({})
    const d = draftOf(oidc)
    d.name = 'Corp SSO'
    d.oidc.groupsClaim = ''
    d.oidc.scopes = 'groups email'
    d.clientSecret = 'new'
    expect(patchBody(d, oidc)).toEqual({ name: 'Corp SSO', clientSecret: 'new', oidc: { scopes: ['groups', 'email'], groupsClaim: null } })
    const s = draftOf(saml)
    expect(s.saml.idpCertificate).toBe('PEM')
    s.saml.groupsAttribute = 'memberOf'
    s.clientSecret = 'ignored for SAML'
    expect(patchBody(s, saml)).toEqual({ saml: { groupsAttribute: 'memberOf' } })
    expect(s.saml.signRequests).toBe(false)
    s.saml.signRequests = true
    s.saml.sloUrl = ' https://okta.example.com/slo '
    expect(patchBody(s, saml)).toEqual({ saml: { groupsAttribute: 'memberOf', sloUrl: 'https://okta.example.com/slo', signRequests: true } })
  })

  it('scopes split on spaces and commas, without duplicates', () => {
    expect(parseScopes(' a,b  c,,a ')).toEqual(['a', 'b', 'c'])
    expect(parseScopes('')).toEqual([])
  })

  it('names the URLs to register at the identity provider', () => {
    expect(spUrls(oidc)).toEqual([{ label: 'Redirect (callback) URL', url: `${base}/oidc/i1/callback` }])
    expect(spUrls(saml).map((u) => u.url)).toEqual([`${base}/saml/i2/acs`, `${base}/saml/i2/metadata`, `${base}/saml/i2/slo`])
  })
})

describe('group mappings', () => {
  it('round-trip through the editor rows', () => {
    const rows = mappingDrafts(oidc, projects)
    expect(rows.map(({ key: _key, ...r }) => r)).toEqual([
      { group: 'eng', role: 'project_editor', teamId: 'tm1', projectId: 'p1' },
      { group: 'admins', role: 'tenant_admin', teamId: '', projectId: '' },
    ])
    expect(new Set(rows.map((r) => r.key)).size).toBe(2)
    rows[1]!.group = ' admins '
    expect(toMappings(rows)).toEqual(oidc.mappings)
  })

  it('bind at the project, else the team, else the tenant', () => {
    expect(mappingScope({ projectId: 'p1' }, 't1', projects)).toEqual({ tenant: 't1', team: 'tm1', project: 'p1' })
    expect(mappingScope({ teamId: 'tm1' }, 't1')).toEqual({ tenant: 't1', team: 'tm1' })
    expect(mappingScope({}, 't1')).toEqual({ tenant: 't1' })
    expect(scopeLabel({ teamId: 'tm1', projectId: 'p1' }, 'Acme', teams, projects)).toBe('Project Alpha (Core)')
    expect(scopeLabel({ teamId: 'tm1' }, 'Acme', teams)).toBe('Team Core')
    expect(scopeLabel({ teamId: 'tm9' }, 'Acme', teams)).toBe('Team tm9')
    expect(scopeLabel({}, 'Acme')).toBe('Tenant Acme')
  })
})
