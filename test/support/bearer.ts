/** The Authorization header of a bearer token, for supertest's `.set(…)` and fetch's `headers`. */
export const bearer = (token: string): { authorization: string } => ({ authorization: `Bearer ${token}` });
