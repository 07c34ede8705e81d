/** The one table of problem codes (RFC 9457). The HTTP status lives here, never at a throw site. */
export const problems = {
  'invalid-request': { status: 400, title: 'The request is not valid' },
  unauthenticated: { status: 401, title: 'Authentication is required' },
  forbidden: { status: 403, title: 'Your role does not allow this' },
  'policy-denied': { status: 403, title: 'Policy does not allow this elevation' },
  'not-found': { status: 404, title: 'Not found' },
  'request-timeout': { status: 408, title: 'The request took too long to arrive' },
  conflict: { status: 409, title: 'The resource is not in a state that allows this' },
  'no-current-password': { status: 409, title: 'The device has no acknowledged password yet' },
  'payload-too-large': { status: 413, title: 'The request body is too large' },
  'unsupported-media-type': { status: 415, title: 'The request body must be application/json' },
  'severity-not-accepted': { status: 422, title: 'This severity is not accepted here' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  'headers-too-large': { status: 431, title: 'The request headers are too large' },
  internal: { status: 500, title: 'Internal error' },
  unavailable: { status: 503, title: 'A dependency is unavailable' },
} as const;

export type ProblemCode = keyof typeof problems;

export interface FieldError {
  path: string;
  message: string;
}

/** What a DomainError carries besides its code and detail; the error handler reads each. */
export interface DomainErrorOptions {
  /** The failure underneath, for the log only: never in the problem document. */
  cause?: unknown;
  /** Which fields of the request are wrong (`invalid-request`). */
  errors?: readonly FieldError[];
  /** True once the refusal's audit event is committed, so the HTTP layer does not audit it again. */
  alreadyAudited?: boolean;
  /** The WWW-Authenticate challenge a 401 answers with instead of the plain Bearer one (a step-up's claims challenge). */
  challenge?: string;
}

/** A failure the caller can act on; its code decides the status and the problem type. */
export class DomainError extends Error {
  readonly errors?: readonly FieldError[];
  readonly alreadyAudited: boolean;
  readonly challenge?: string;

  constructor(
    readonly code: ProblemCode,
    detail: string,
    options: DomainErrorOptions = {},
  ) {
    // No `cause` key at all when there is none: the log and causeChain see the same error as before.
    super(detail, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'DomainError';
    if (options.errors) this.errors = options.errors;
    this.alreadyAudited = options.alreadyAudited ?? false;
    if (options.challenge !== undefined) this.challenge = options.challenge;
  }

  /** This refusal, its audit event now committed: the same code, detail, cause, field errors and challenge. */
  audited(): DomainError {
    return new DomainError(this.code, this.message, { cause: this.cause, errors: this.errors, challenge: this.challenge, alreadyAudited: true });
  }
}

export const problemTypeBase = 'https://jitbroker.dev/problems/';

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  code: ProblemCode;
  detail: string;
  requestId?: string;
  errors?: readonly FieldError[];
}

export function toProblem(code: ProblemCode, detail: string, requestId?: string, errors?: readonly FieldError[]): ProblemDocument {
  const { status, title } = problems[code];
  return { type: problemTypeBase + code, title, status, code, detail, ...(requestId ? { requestId } : {}), ...(errors ? { errors } : {}) };
}
