// TLS material for the simulator, made with openssl like test/support/slapd.ts does: a CA for the run,
// a server certificate it issues (SAN IP:127.0.0.1 and DNS:localhost, so both authority forms verify),
// and an unrelated CA for "wrong CA" tests. makeAppCertificate makes the app registration's certificate
// (RSA, because Entra client assertions are RS256/PS256).
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const INSTALL = 'apt-get install -y openssl';

function openssl(args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 30_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new Error(
          missing
            ? `openssl is not installed; the Graph simulator needs it: ${INSTALL}`
            : `openssl ${args[0]} failed: ${String(stderr).trim() || err.message}`,
        ),
      );
    });
  });
}

async function makeCa(dir: string, name: string, cn: string): Promise<void> {
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    join(dir, `${name}.key`),
    '-out',
    join(dir, `${name}.pem`),
    '-days',
    '30',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

export interface ServerTls {
  caFile: string;
  caPem: string;
  wrongCaFile: string;
  certPem: string;
  keyPem: string;
}

/** A CA, a server certificate for 127.0.0.1/localhost issued by it, and an unrelated CA, in dir. */
export async function makeServerTls(dir: string): Promise<ServerTls> {
  await mkdir(dir, { recursive: true });
  await Promise.all([
    makeCa(dir, 'ca', 'idsync Graph simulator CA'),
    makeCa(dir, 'wrong-ca', 'some other CA'),
    openssl([
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(dir, 'server.key'),
      '-out',
      join(dir, 'server.csr'),
      '-subj',
      '/CN=localhost',
    ]),
  ]);
  await writeFile(
    join(dir, 'server.ext'),
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  );
  await openssl([
    'x509',
    '-req',
    '-in',
    join(dir, 'server.csr'),
    '-CA',
    join(dir, 'ca.pem'),
    '-CAkey',
    join(dir, 'ca.key'),
    '-CAcreateserial',
    '-out',
    join(dir, 'server.pem'),
    '-days',
    '30',
    '-extfile',
    join(dir, 'server.ext'),
  ]);
  const [caPem, certPem, keyPem] = await Promise.all([
    readFile(join(dir, 'ca.pem'), 'utf8'),
    readFile(join(dir, 'server.pem'), 'utf8'),
    readFile(join(dir, 'server.key'), 'utf8'),
  ]);
  return { caFile: join(dir, 'ca.pem'), caPem, wrongCaFile: join(dir, 'wrong-ca.pem'), certPem, keyPem };
}

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
