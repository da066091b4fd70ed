/**
 * The `schemathesis.toml` of one run: base URL, bearer tokens (the admin's everywhere, the service token on
 * `/v1/service/*`, a throw-away session on logout), and fuzz dictionaries that make path, query and body
 * ids real often enough for requests to get past 404 and into the handlers — the rest stay generated.
 */

/** TOML basic strings accept JSON's escapes for the ASCII we write here. */
const str = (v) => JSON.stringify(String(v))
const arr = (vs) => `[${vs.map((v) => (typeof v === 'number' ? String(v) : str(v))).join(', ')}]`
const table = (o) => `{ ${Object.entries(o).map(([k, v]) => `${str(k)} = ${typeof v === 'number' ? v : str(v)}`).join(', ')} }`

/** Strings that often break handlers: prototype keys, NUL (PostgreSQL refuses it), bigint overflow, empty. */
const PROTOTYPE_KEYS = ['constructor', '__proto__', 'toString', 'hasOwnProperty']
const NASTY = [...PROTOTYPE_KEYS, '\u0000', 'a\u0000b', '9223372036854775808', '-1', '']
/** Real names from policy/permissions.json, so that role and action fields get past "unknown role". */
const ROLES = ['system_admin', 'tenant_admin', 'team_admin', 'project_admin', 'project_editor', 'project_viewer', 'auditor']
const ACTIONS = ['tenant.read', 'project.read', 'project.update', 'apikey.create', 'rolebinding.create', 'limits.update']

/**
 * [method, path regex, { parameter: dictionary }?] of operations whose ids come from the dictionaries and
 * generation only. PATCH and DELETE of a provider get providers of their own, never the two the login routes use;
 * DELETE of a project, team or tenant gets victims of its own (and their slugs as `confirm`), never the tenant,
 * team and project every other operation aims at.
 */
const DICTIONARY_ONLY = [
  ['DELETE', '^/v1/rolebindings/\\{bindingId\\}$'],
  ['DELETE', '^/v1/tenants/\\{tenantId\\}/members/\\{userId\\}$'],
  ['GET', '^/v1/auth/oidc/\\{idpId\\}/(login|callback)$'],
  ['PATCH', '^/v1/idps/\\{idpId\\}$', { 'path.idpId': 'idpPatched' }],
  ['DELETE', '^/v1/idps/\\{idpId\\}$', { 'path.idpId': 'idpDeleted' }],
  ['DELETE', '^/v1/projects/\\{projectId\\}$', { 'path.projectId': 'projectDeleted', 'body.confirm': 'deletedSlug' }],
  ['DELETE', '^/v1/teams/\\{teamId\\}$', { 'path.teamId': 'teamDeleted', 'body.confirm': 'deletedSlug' }],
  ['DELETE', '^/v1/tenants/\\{tenantId\\}$', { 'path.tenantId': 'tenantDeleted', 'body.confirm': 'deletedSlug' }],
]

export function buildConfig({ url, adminToken, serviceToken, logoutToken, ids, credentialTokens, maxExamples, seed }) {
  const scopeIds = [ids.tenant, ids.team, ids.project]
  const dictionaries = {
    tenant: [ids.tenant],
    team: [ids.team],
    project: [ids.project],
    user: [ids.user],
    binding: [ids.binding],
    credential: ids.credentials,
    idp: ids.idps,
    idpPatched: ids.idpsPatched,
    idpDeleted: ids.idpsDeleted,
    projectDeleted: ids.projectsDeleted,
    teamDeleted: ids.teamsDeleted,
    tenantDeleted: ids.tenantsDeleted,
    deletedSlug: ids.deletedSlugs,
    scope: scopeIds,
    region: ['eu', 'us'],
    zero: [0],
    credentialToken: credentialTokens,
    nasty: NASTY,
    role: [...ROLES, ...PROTOTYPE_KEYS],
    action: [...ACTIONS, ...PROTOTYPE_KEYS],
  }
  const bind = (dictionary, probability = 0.75) => table({ dictionary, probability })
  const parameters = {
    'path.tenantId': bind('tenant'),
    'path.teamId': bind('team'),
    'path.projectId': bind('project'),
    'path.userId': bind('user'),
    'path.bindingId': bind('binding'),
    'path.credentialId': bind('credential'),
    'path.idpId': bind('idp'),
    'query.id': bind('scope'),
    'query.region': bind('region'),
    // the service feeds long-poll up to `wait` seconds when nothing newer exists: keep most calls short
    'query.wait': bind('zero', 0.9),
    'body.region': bind('region'),
    'body.tenant_id': bind('tenant', 0.5),
    'body.userId': bind('user'),
    'body.scope.id': bind('scope'),
    'body.role': bind('role', 0.6),
    'body.action': bind('action', 0.6),
    'body.actions[*]': bind('action', 0.5),
    'body.mappings[*].role': bind('role', 0.6),
    'body.mappings[*].teamId': bind('team', 0.5),
    'body.mappings[*].projectId': bind('project', 0.5),
  }
  const lines = [
    `base-url = ${str(url)}`,
    `seed = ${seed}`,
    // one worker: hypothesis parses lambdas with ast.parse, which races across threads on CPython 3.11.7
    // ("AST constructor recursion depth mismatch", a crash of the tool, not of the API)
    'workers = 1',
    'request-timeout = 30',
    `headers = ${table({ Authorization: `Bearer ${adminToken}` })}`,
    '',
    '[generation]',
    `max-examples = ${maxExamples}`,
    'deterministic = false',
    'database = "none"',
    '',
    '[generation.dictionaries.string]',
    'dictionary = "nasty"',
    'probability = 0.1',
    '',
    '[phases.examples]',
    'enabled = true',
    '[phases.coverage]',
    'enabled = true',
    '[phases.fuzzing]',
    'enabled = true',
    '[phases.stateful]',
    'enabled = false',
    '',
    ...Object.entries(dictionaries).flatMap(([name, values]) => [`[dictionaries.${name}]`, `values = ${arr(values)}`]),
    '',
    '[parameters]',
    ...Object.entries(parameters).map(([k, v]) => `${str(k)} = ${v}`),
    '',
    '[[operations]]',
    'include-path-regex = "^/v1/service/"',
    `headers = ${table({ Authorization: `Bearer ${serviceToken}` })}`,
    '[operations.parameters]',
    `"body.token" = ${bind('credentialToken')}`,
    `"query.region" = ${bind('region')}`,
    // both feeds long-poll (revocations, projects): nearly always 0, a few real waits still get through
    `"query.wait" = ${bind('zero', 0.98)}`,
    '',
    // Ids learnt from responses are not used where they would do harm: they could name the admin's own
    // binding or membership (removing either revokes the admin's tokens and ends the run early), an OIDC
    // provider the fuzzer created with an issuer on the internet (login would fetch its discovery document),
    // or the providers the login routes use (a PATCH could repoint or disable them, a DELETE remove them), or the
    // tenant, team and project the other operations need (a DELETE with the right slug removes them).
    ...DICTIONARY_ONLY.flatMap(([method, regex, dictionaries]) => [
      '[[operations]]',
      `include-method = "${method}"`,
      `include-path-regex = '${regex}'`,
      ...(dictionaries ? ['[operations.parameters]', ...Object.entries(dictionaries).map(([param, d]) => `${str(param)} = ${bind(d)}`)] : []),
      '[operations.phases.coverage.extra-data-sources]',
      'responses = false',
      '[operations.phases.fuzzing.extra-data-sources]',
      'responses = false',
      '',
    ]),
    '[[operations]]',
    'include-path = "/v1/auth/logout"',
    `headers = ${table({ Authorization: `Bearer ${logoutToken}` })}`,
    '',
  ]
  return lines.join('\n')
}
