import { NextFunction, Request, Response } from 'express';
import { IdentityProvider } from '../identity/identity-provider';
import { DeviceIdentity } from '../identity/device-identity';
import { DomainError } from '../problems/problem';

// Only `Authorization: Bearer <jwt>`: a token in a query string or without the scheme is ignored.
const bearer = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/;

function tokenOf(req: Request): string {
  const header = req.get('authorization');
  if (!header) throw new DomainError('unauthenticated', 'A bearer token is required: send Authorization: Bearer <token>.');
  const m = bearer.exec(header);
  if (!m) throw new DomainError('unauthenticated', 'The Authorization header must be "Bearer <JWT>".');
  return m[1] as string;
}

export function authenticateUser(identity: IdentityProvider) {
  return (req: Request, res: Response, next: NextFunction): void => {
    res.locals.route ??= `${req.baseUrl}/*`;
    Promise.resolve()
      .then(() => identity.verify(tokenOf(req)))
      .then(({ principal }) => {
        req.user = principal;
        next();
      }, next);
  };
}

export function authenticateDevice(devices: Pick<DeviceIdentity, 'verify'>) {
  return (req: Request, res: Response, next: NextFunction): void => {
    res.locals.route ??= `${req.baseUrl}/*`;
    Promise.resolve()
      .then(() => devices.verify(tokenOf(req)))
      .then((d) => {
        req.device = d;
        next();
      }, next);
  };
}
