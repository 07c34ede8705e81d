const redacted = '[redacted]';

/**
 * A password in memory. Every way a value gets printed (JSON, string, util.inspect, pino)
 * shows `[redacted]`; only `expose()` gives the text, and it is called where a password
 * must leave on purpose: the reveal response, the agent response and the vault write.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  expose(): string {
    return this.#value;
  }
  toJSON(): string {
    return redacted;
  }
  toString(): string {
    return redacted;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return redacted;
  }
}
