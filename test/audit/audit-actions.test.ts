import fs from 'node:fs';
import path from 'node:path';
import { auditActions } from '../../src/audit/audit-actions';

describe('the catalogue of audit actions', () => {
  it("is README's table for auditors, row for row", () => {
    const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    const start = readme.indexOf('<!-- audit-actions:start -->');
    const end = readme.indexOf('<!-- audit-actions:end -->');
    expect(start).toBeGreaterThan(-1);
    const rows = readme
      .slice(start, end)
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) =>
        l
          .split(/(?<!\\)\|/)
          .slice(1, 5)
          .map((c) =>
            c
              .trim()
              .replace(/\\\|/g, '|')
              .replace(/^`(.*)`$/, '$1'),
          ),
      );
    expect(rows).toEqual(Object.entries(auditActions).map(([action, e]) => [action, e.when, e.target, e.details]));
  });

  it('names actions as the audit query accepts them', () => {
    for (const action of Object.keys(auditActions)) expect(action).toMatch(/^[a-z][a-z.-]{0,63}$/);
  });
});
