/**
 * The layering of src/, checked by dependency-cruiser in `npm run lint`. Each rule says why.
 * Domain folders: one per part of the data-flow diagram in ARCHITECTURE.md.
 */
const domains = '(grants|policies|devices|credentials|audit|escalations|webhooks|identity|agent|vault|scheduler|metrics)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'A cycle makes two modules one: neither can be read, tested or changed without the other, and load order starts to matter.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'store-imports-no-domain',
      severity: 'error',
      comment:
        'store/ is the connection, the transactions and the migrations; the domains build on it. A store that imports a domain cannot be reused by another, and every domain change would ripple into it.',
      from: { path: '^src/store/', pathNot: '^src/store/schema\\.ts$' },
      to: { path: `^src/${domains}/` },
    },
    {
      name: 'schema-imports-only-domain-cores',
      severity: 'error',
      comment:
        "The schema names the domains' states and reasons by their own types (grant states, credential version states...), so it may import a domain's pure core (<entity>.ts), which imports no store; never a service, repository or route, which would make the store depend on behaviour.",
      from: { path: '^src/store/schema\\.ts$' },
      to: { path: `^src/${domains}/.*-(service|repository|routes|schemas)\\.ts$` },
    },
    {
      name: 'domains-import-not-the-schema',
      severity: 'error',
      comment:
        "The store describes how the domains persist: a domain rule must not change because a column did. Only a domain's repositories map rows to domain types; the audit log's append and chain walk and the local vault backend are their tables' repositories (prepared statements on every reveal), so they may too.",
      from: { path: `^src/${domains}/`, pathNot: ['-repository\\.ts$', '^src/audit/(audit-log|stored-chain)\\.ts$', '^src/vault/local/'] },
      to: { path: '^src/store/schema\\.ts$' },
    },
    {
      name: 'domains-import-no-http-cli-or-root',
      severity: 'error',
      comment:
        "A domain's rules must run the same from HTTP, the CLI, the scheduler and the tests: only its routes (the HTTP adapter, *-routes.ts) may know express; nothing in a domain knows the composition root.",
      from: { path: `^src/${domains}/`, pathNot: '-routes\\.ts$' },
      to: { path: ['^src/http/', '^src/cli/', '^src/app\\.ts$', '^src/daemon\\.ts$'] },
    },
    {
      name: 'http-imports-not-the-root',
      severity: 'error',
      comment: 'HTTP gets the narrow dependencies it is handed; importing the composition root would hand it everything, and make a cycle.',
      from: { path: '^src/http/' },
      to: { path: ['^src/app\\.ts$', '^src/daemon\\.ts$', '^src/cli/'] },
    },
    {
      name: 'vault-and-agent-import-no-credentials',
      severity: 'error',
      comment: 'The vault and the device agent hold secrets but are not the credential lifecycle: they share the Secret type, not the rotation and history rules of credentials/.',
      from: { path: '^src/(vault|agent)/' },
      to: { path: '^src/credentials/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
