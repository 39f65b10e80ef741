// TLS material for the test servers (slapd, the Graph simulator, SMTP…), made with openssl: a CA for
// the run, a server certificate it issues for 127.0.0.1 and localhost (so URLs with either host
// verify), and an unrelated CA for "wrong CA" tests. One copy, so every server's certificates are
// made and named the same way.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const INSTALL = 'apt-get install -y openssl';

/** Runs openssl; a missing binary names the package to install. */
export function openssl(args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 30_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new Error(
          missing
            ? `openssl is not installed; the test servers need it: ${INSTALL}`
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
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

/** A CA, a server certificate for 127.0.0.1/localhost issued by it, and an unrelated CA, in dir. */
export async function makeServerTls(dir: string, caName = 'idsync test CA'): Promise<ServerTls> {
  await mkdir(dir, { recursive: true });
  await Promise.all([
    makeCa(dir, 'ca', caName),
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
  return {
    caFile: join(dir, 'ca.pem'),
    caPem,
    wrongCaFile: join(dir, 'wrong-ca.pem'),
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server.key'),
    certPem,
    keyPem,
  };
}
