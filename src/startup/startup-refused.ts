/**
 * Why the daemon will not start: a setting, a file or a store it cannot use. The CLI prints it
 * under its heading and exits 2 (the systemd unit's RestartPreventExitStatus: restarting cannot
 * fix it); whoever opened something before it was thrown closes that before passing it on.
 * Problems found together come as a list, one a line below the heading; a single reason
 * (`new StartupRefused('…')`) follows the heading on its line.
 */
export class StartupRefused extends Error {
  override name = 'StartupRefused';
  readonly lines: readonly string[];
  readonly #oneReason: boolean;

  constructor(
    problems: readonly string[] | string,
    readonly heading = 'refusing to start',
    options?: ErrorOptions,
  ) {
    super(typeof problems === 'string' ? problems : problems.join('\n'), options);
    this.lines = typeof problems === 'string' ? [problems] : problems;
    this.#oneReason = typeof problems === 'string';
  }

  /** What the CLI prints after its own name. */
  report(): string {
    return this.#oneReason ? `${this.heading}: ${this.message}` : `${this.heading}:\n${this.lines.join('\n')}`;
  }
}
