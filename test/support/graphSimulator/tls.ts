// TLS material for the simulator: the server's comes from test/support/tls.ts (SAN IP:127.0.0.1 and
// DNS:localhost, so both authority forms verify); makeAppCertificate makes the app registration's
// certificate (RSA, because Entra client assertions are RS256/PS256).
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openssl } from '../tls.js';

export { makeServerTls, type ServerTls } from '../tls.js';

export interface AppCertificate {
  certPem: string;
  keyPem: string;
  certFile: string;
  keyFile: string;
  /** Hex SHA-256 of the certificate's DER (what MSAL's clientCertificate.thumbprintSha256 takes). */
  thumbprintSha256: string;
}

/**
 * Test helper: makes a self-signed app certificate + PKCS#8 key (openssl) in dir; returns PEMs, file
 * paths, SHA-256 thumbprint (hex). Files are named after cn, so several certificates can share a dir.
 */
export async function makeAppCertificate(dir: string, cn = 'idsync-test-app'): Promise<AppCertificate> {
  await mkdir(dir, { recursive: true });
  const base = cn.replace(/[^A-Za-z0-9_.-]/g, '_');
  const certFile = join(dir, `${base}.crt.pem`);
  const keyFile = join(dir, `${base}.key.pem`);
  // OpenSSL 3 writes the key as PKCS#8 ("BEGIN PRIVATE KEY"), the form MSAL takes.
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '30',
    '-subj',
    `/CN=${cn}`,
  ]);
  const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  const thumbprintSha256 = new X509Certificate(certPem).fingerprint256.replace(/:/g, '');
  return { certPem, keyPem, certFile, keyFile, thumbprintSha256 };
}
