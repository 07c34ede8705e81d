const Sequencer = require('@jest/test-sequencer').default;

/**
 * The files that run for a minute or more on any machine (daemons killed and restarted, browsers,
 * fleets, a PostgreSQL cluster per scenario), longest first. Jest starts the files it has timings
 * for longest first, but a fresh clone (CI) has none, and it falls back to file size: the crash
 * test, a short file, then started late and finished last, minutes after the other workers were
 * idle. Started first, the long files run beside the short ones instead of after them.
 */
const longFirst = [
  'test/e2e/scale-out.test.ts',
  'test/portal/requester.browser.test.ts',
  'test/store/invariants-postgres.test.ts',
  'test/e2e/rotation-crash.test.ts',
  'test/portal/staff.browser.test.ts',
  'test/e2e/cli-commands.test.ts',
  'test/e2e/store-write-faults.test.ts',
  'test/credentials/rotation-fleet.test.ts',
  'test/portal/entra.browser.test.ts',
];

class LongFirstSequencer extends Sequencer {
  sort(tests) {
    // Timings from an earlier run on this machine, else file size; failed files first.
    const ordered = super.sort(tests);
    const rank = (test) => {
      // A file with a timing of its own is already where it belongs.
      if (test.duration != null) return -1;
      const i = longFirst.findIndex((p) => test.path.endsWith(p));
      return i === -1 ? longFirst.length : i;
    };
    const hinted = ordered.filter((t) => rank(t) >= 0 && rank(t) < longFirst.length).sort((a, b) => rank(a) - rank(b));
    return [...hinted, ...ordered.filter((t) => !hinted.includes(t))];
  }
}

module.exports = LongFirstSequencer;
