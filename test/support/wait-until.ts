/** Polls `check` until it holds; after `timeoutMs` fails naming `what`, plus `detail()` (e.g. the daemons' output). */
export async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number; detail?: () => string } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10000);
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${opts.detail ? `\n${opts.detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 20));
  }
}
