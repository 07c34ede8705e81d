const fs = require('node:fs');
const path = require('node:path');
const Sequencer = require('@jest/test-sequencer').default;

const durationsFile = path.join(__dirname, 'durations.json');

/**
 * Jest starts the files it has timings for longest first, which keeps every worker busy until the
 * end. A fresh clone (CI) has none: Jest falls back to file size, and the suite's long files
 * (daemons killed and restarted, browsers, a cluster per scenario) started late or all at once.
 * test/support/durations.json holds each file's time from one whole `npm test` on the 2-core
 * machine; it stands in for the timings Jest has not recorded yet. It only orders the files: a
 * stale figure costs time, never a test. `JITBROKER_RECORD_TEST_DURATIONS=1 npm test` writes it
 * again; a file it does not name runs first, as Jest runs any file it has no timing for.
 */
class RecordedDurationsSequencer extends Sequencer {
  recorded = fs.existsSync(durationsFile) ? JSON.parse(fs.readFileSync(durationsFile, 'utf8')) : {};

  time(test) {
    return super.time(test) ?? this.recorded[path.relative(test.context.config.rootDir, test.path)];
  }

  cacheResults(tests, results) {
    super.cacheResults(tests, results);
    if (!process.env.JITBROKER_RECORD_TEST_DURATIONS) return;
    // A part of the suite updates its own files' figures and keeps the others'.
    const root = path.resolve(__dirname, '..', '..');
    const byFile = Object.fromEntries(Object.entries(this.recorded).filter(([file]) => fs.existsSync(path.join(root, file))));
    const ran = new Set();
    for (const r of results.testResults) {
      const file = path.relative(root, r.testFilePath);
      const ms = Math.round((r.perfStats.runtime ?? r.perfStats.end - r.perfStats.start) / 100) * 100;
      // The file runs in both projects: the longer run stands for it, as one timing does in Jest's own cache.
      byFile[file] = ran.has(file) ? Math.max(byFile[file], ms) : ms;
      ran.add(file);
    }
    const sorted = Object.fromEntries(Object.entries(byFile).sort(([a], [b]) => a.localeCompare(b)));
    fs.writeFileSync(durationsFile, `${JSON.stringify(sorted, null, 2)}\n`);
  }
}

module.exports = RecordedDurationsSequencer;
