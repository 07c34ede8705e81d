import fs from 'node:fs';
import tls from 'node:tls';

/** What is wrong with a readable certificate and key, one line each (never the key's bytes). */
function checkTlsPair(files: { cert: string; key: string }): string[] {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = fs.readFileSync(files.cert);
    key = fs.readFileSync(files.key);
  } catch (e) {
    // Readable by access(2) yet not as a file: a directory, say.
    return [`http.tls ${files.cert}, ${files.key}: cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}); accepted: readable PEM files`];
  }
  const refused = (options: { cert?: Buffer; key?: Buffer }): string | undefined => {
    try {
      tls.createSecureContext(options);
      return undefined;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? 'error';
    }
  };
  const lines: string[] = [];
  const certError = refused({ cert });
  if (certError) lines.push(`http.tls.cert ${files.cert}: not a usable PEM certificate (${certError}); accepted: a PEM certificate, optionally followed by its chain`);
  const keyError = refused({ key });
  if (keyError) lines.push(`http.tls.key ${files.key}: not a usable PEM private key (${keyError}); accepted: an unencrypted PEM private key`);
  if (lines.length > 0) return lines;
  const pairError = refused({ cert, key });
  if (pairError)
    lines.push(`http.tls.key ${files.key}: does not match the certificate in http.tls.cert ${files.cert} (${pairError}); accepted: the private key of that certificate`);
  return lines;
}

/** Why http.tls cannot be served, one line each; none when it is unset or usable. */
export function tlsProblems(files: { cert: string; key: string } | undefined): string[] {
  const problems: string[] = [];
  for (const [key, file] of Object.entries(files ?? {})) {
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch (e) {
      problems.push(`http.tls.${key} ${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}); accepted: a readable PEM file`);
    }
  }
  // Readable is not enough: a file that is not PEM, or a key of another certificate, would make
  // https.createServer throw only after the store and the services were opened.
  if (files && problems.length === 0) problems.push(...checkTlsPair(files));
  return problems;
}
