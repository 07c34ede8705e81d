import fs from 'node:fs';
import { Logger } from 'pino';
import { Config } from '../config/config-schema';
import { tlsProblems } from '../http/tls';
import { isLoopbackHost } from '../network/loopback';

/** Refusals that must stop the daemon before it opens anything, one line each. */
export function checkStartup(config: Config): string[] {
  const problems: string[] = [...tlsProblems(config.http.tls)];
  const caFile = config.identity.mode === 'oidc' ? config.identity.oidc.caFile : undefined;
  if (caFile) {
    try {
      if (!fs.readFileSync(caFile, 'utf8').includes('-----BEGIN CERTIFICATE-----')) {
        problems.push(`identity.oidc.caFile ${caFile}: holds no PEM certificate; accepted: a PEM file of the CA certificates to trust for the identity provider`);
      }
    } catch (e) {
      problems.push(`identity.oidc.caFile ${caFile}: cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}); accepted: a readable PEM file`);
    }
  }
  const loopback = isLoopbackHost(config.http.host);
  if (config.identity.mode === 'local' && !loopback) {
    problems.push(`identity.mode 'local' is for one host: it is refused on the non-loopback address ${config.http.host}; use identity.mode 'oidc' or http.host 127.0.0.1`);
  }
  if (!loopback && !config.http.tls && !config.http.allowInsecure) {
    problems.push(`http.host ${config.http.host} is not loopback and http.tls is not set; configure http.tls.cert/key or set http.allowInsecure`);
  }
  return problems;
}

/** Settings the daemon starts with but an operator must hear about. */
export function warnAtStartup(config: Config, logger: Logger): void {
  if (!isLoopbackHost(config.http.host) && !config.http.tls) {
    logger.warn(
      { host: config.http.host },
      'serving plain HTTP on a non-loopback address (http.allowInsecure): tokens and passwords cross the network unencrypted unless a TLS proxy sits in front',
    );
  }
  if (config.identity.mode === 'local') {
    logger.warn("identity.mode is local: tokens are signed by this daemon's own key (development and single-host use only)");
  }
}
