// pino redaction is the second guard; the Secret type is the first.
export const redactPaths = ['req.headers.authorization', 'password', '*.password', 'token', '*.token', 'secret', '*.secret', 'body.password'];
