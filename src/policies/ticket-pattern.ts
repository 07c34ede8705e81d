import { RE2JS } from 're2js';

// A ticket pattern is written by an admin and matched inside the store transaction that decides a
// grant, so it runs on RE2 (re2js): matching is linear in the ticket's length whatever the pattern,
// where a backtracking pattern such as `(a+)+$` on JavaScript's engine would hold the event loop,
// and the transaction with it, for as long as it likes.

/** The longest pattern a policy may hold, and the longest ticket a request may carry. */
export const maxTicketPatternLength = 200;
export const maxTicketLength = 100;

// Compiled once per distinct pattern, with why RE2 refused one. Bounded, because the patterns come
// from stored policies and a churn of edits must not grow the daemon without end.
const compiled = new Map<string, { re: RE2JS } | { problem: string }>();
const maxCached = 256;

function compile(pattern: string): { re: RE2JS } | { problem: string } {
  const hit = compiled.get(pattern);
  if (hit !== undefined) return hit;
  let outcome: { re: RE2JS } | { problem: string };
  if (pattern.length > maxTicketPatternLength) outcome = { problem: `at most ${maxTicketPatternLength} characters` };
  else {
    try {
      outcome = { re: RE2JS.compile(pattern) };
    } catch (e) {
      const why = e instanceof Error ? e.message.replace(/^error parsing regexp: /, '') : 'it does not compile';
      outcome = { problem: `is not an RE2 regular expression (${why}); RE2 runs in linear time, so backreferences and lookarounds are not supported` };
    }
  }
  if (compiled.size >= maxCached) compiled.clear();
  compiled.set(pattern, outcome);
  return outcome;
}

/** Why RE2 cannot compile the pattern (backreferences, lookarounds, a bad repeat...), or undefined when it can. */
export function ticketPatternProblem(pattern: string): string | undefined {
  const outcome = compile(pattern);
  return 'problem' in outcome ? outcome.problem : undefined;
}

/**
 * Whether the whole ticket matches the pattern (as if it were `^(?:pattern)$`): `INC[0-9]{6}` does not
 * accept `see INC000000`. A pattern RE2 cannot compile (one stored before patterns were checked) matches
 * no ticket: it fails closed.
 */
export function ticketMatches(pattern: string, ticket: string): boolean {
  const outcome = compile(pattern);
  return 're' in outcome && ticket.length <= maxTicketLength && outcome.re.testExact(ticket);
}
