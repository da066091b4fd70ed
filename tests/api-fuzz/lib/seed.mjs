/**
 * Real objects for the fuzzer to aim at, created through the public API exactly as an operator would: the
 * system admin (setup link), its tokens, a tenant with a team and a project, a member with a binding, an API
 * key, two worker tokens (one revoked, so the revocation feed is never empty), an OIDC and a SAML identity
 * provider, four more providers only PATCH and DELETE aim at, and projects, teams and tenants only their DELETE
 * aims at. The OIDC issuer is a discovery document served on loopback by `startIssuer()`.
 */
import { randomBytes } from 'node:crypto'
import http from 'node:http'

export async function api(base, method, url, { token, body } = {}) {
  const res = await fetch(base + url, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(15_000),
  })
  const text = await res.text()
  let json
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, json, text }
}

async function must(base, method, url, opts, status) {
  const r = await api(base, method, url, opts)
  if (r.status !== status) throw new Error(`seeding: ${method} ${url} answered ${r.status} (expected ${status}): ${r.text}`)
  return r.json
}

/** A minimal OIDC issuer on loopback: only discovery, enough for the login route to build its redirect. */
export async function startIssuer() {
  const server = http.createServer((req, res) => {
    const issuer = `http://127.0.0.1:${server.address().port}`
    if (req.url !== '/.well-known/openid-configuration') return res.writeHead(404).end()
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(
      JSON.stringify({
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      }),
    )
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) }
}

export async function seed(base, setupToken, issuerUrl) {
  const email = 'fuzz-admin@example.test'
  const password = randomBytes(18).toString('base64url')
  await must(base, 'POST', '/v1/setup', { body: { token: setupToken, email, password, displayName: 'Fuzz admin' } }, 201)
  const login = () => must(base, 'POST', '/v1/auth/login', { body: { email, password } }, 200)
  const admin = await login()
  const token = admin.access_token
  const as = (method, url, body, status = 201) => must(base, method, url, { token, body }, status)

  const tenant = await as('POST', '/v1/tenants', { slug: 'fuzz-tenant', name: 'Fuzz tenant', region: 'eu' })
  const team = await as('POST', `/v1/tenants/${tenant.id}/teams`, { slug: 'fuzz-team', name: 'Fuzz team' })
  const project = await as('POST', `/v1/teams/${team.id}/projects`, { slug: 'fuzz-project', name: 'Fuzz project' })
  const member = await as('POST', `/v1/tenants/${tenant.id}/members`, {
    email: 'fuzz-member@example.test',
    role: 'project_viewer',
    scope: { kind: 'project', id: project.id },
  })
  const apiKey = await as('POST', `/v1/projects/${project.id}/apikeys`, { name: 'fuzz key', role: 'project_viewer' })
  const worker = await as('POST', `/v1/projects/${project.id}/worker-tokens`, { name: 'fuzz worker' })
  const revoked = await as('POST', `/v1/projects/${project.id}/worker-tokens`, { name: 'fuzz revoked' })
  await as('DELETE', `/v1/projects/${project.id}/worker-tokens/${revoked.credential.id}`, undefined, 204)
  const oidc = await as('POST', `/v1/tenants/${tenant.id}/idps`, {
    kind: 'oidc',
    name: 'fuzz oidc',
    clientSecret: 'fuzz-client-secret',
    oidc: { issuer: issuerUrl, clientId: 'fuzz-client' },
  })
  const saml = await as('POST', `/v1/tenants/${tenant.id}/idps`, {
    kind: 'saml',
    name: 'fuzz saml',
    saml: { ssoUrl: 'https://idp.example.test/sso', idpEntityId: 'https://idp.example.test', idpCertificate: 'MIIB' },
  })
  // What PATCH and DELETE /v1/idps/{idpId} aim at, apart from the two above: a fuzzed PATCH may disable a
  // provider or point its issuer at the internet (the login routes only ever see the two above), and a
  // DELETE removes it for the rest of the run.
  const samlConfig = { ssoUrl: 'https://idp.example.test/sso', idpEntityId: 'https://idp.example.test', idpCertificate: 'MIIB' }
  const patchOidc = await as('POST', `/v1/tenants/${tenant.id}/idps`, {
    kind: 'oidc',
    name: 'fuzz oidc patched',
    clientSecret: 'fuzz-client-secret',
    oidc: { issuer: issuerUrl, clientId: 'fuzz-client' },
  })
  const patchSaml = await as('POST', `/v1/tenants/${tenant.id}/idps`, { kind: 'saml', name: 'fuzz saml patched', saml: samlConfig })
  const doomed = []
  for (const name of ['fuzz deleted 1', 'fuzz deleted 2']) doomed.push((await as('POST', `/v1/tenants/${tenant.id}/idps`, { kind: 'saml', name, saml: samlConfig })).id)
  await as('PUT', `/v1/idps/${doomed[0]}/group-mappings`, { mappings: [{ group: 'fuzz', role: 'project_viewer', projectId: project.id }] }, 200)
  // What DELETE /v1/projects|teams|tenants/{id} aim at (with these slugs as `confirm`): two projects (one with an
  // API key, so its revocation runs), an empty team and a team with a project (409 not_empty), an empty tenant and
  // a tenant with a team. The tenant, team and project above are never deleted.
  const victimProjects = []
  for (const slug of ['fuzz-doomed-project-1', 'fuzz-doomed-project-2']) victimProjects.push(await as('POST', `/v1/teams/${team.id}/projects`, { slug, name: slug }))
  await as('POST', `/v1/projects/${victimProjects[0].id}/apikeys`, { name: 'fuzz doomed key', role: 'project_viewer' })
  const emptyTeam = await as('POST', `/v1/tenants/${tenant.id}/teams`, { slug: 'fuzz-doomed-team', name: 'Fuzz doomed team' })
  const fullTeam = await as('POST', `/v1/tenants/${tenant.id}/teams`, { slug: 'fuzz-full-team', name: 'Fuzz full team' })
  await as('POST', `/v1/teams/${fullTeam.id}/projects`, { slug: 'fuzz-kept-project', name: 'Fuzz kept project' })
  const emptyTenant = await as('POST', '/v1/tenants', { slug: 'fuzz-doomed-tenant', name: 'Fuzz doomed tenant', region: 'eu' })
  const fullTenant = await as('POST', '/v1/tenants', { slug: 'fuzz-full-tenant', name: 'Fuzz full tenant', region: 'eu' })
  await as('POST', `/v1/tenants/${fullTenant.id}/teams`, { slug: 'fuzz-kept-team', name: 'Fuzz kept team' })
  // The logout operation ends the session of the token it is called with: give it a session of its own.
  const logoutSession = await login()
  return {
    adminToken: token,
    logoutToken: logoutSession.access_token,
    ids: {
      tenant: tenant.id,
      team: team.id,
      project: project.id,
      user: member.member.userId,
      binding: member.binding.id,
      credentials: [apiKey.credential.id, worker.credential.id],
      idps: [oidc.id, saml.id],
      idpsPatched: [patchOidc.id, patchSaml.id],
      idpsDeleted: doomed,
      projectsDeleted: victimProjects.map((p) => p.id),
      teamsDeleted: [emptyTeam.id, fullTeam.id],
      tenantsDeleted: [emptyTenant.id, fullTenant.id],
      deletedSlugs: [...victimProjects, emptyTeam, fullTeam, emptyTenant, fullTenant].map((o) => o.slug),
    },
    credentialTokens: [apiKey.token, worker.token, revoked.token],
  }
}
