#!/usr/bin/env node
// Makes sure the programs the test suite starts are installed (docs/design.md §11). As root with apt-get
// available it installs what is missing; otherwise it prints the exact command and fails, so a
// test run never silently skips a real server.
import { execFileSync, spawnSync } from 'node:child_process';

/** program on PATH → Debian package that provides it. Grows as tests start more real servers. */
const REQUIRED = [
  { bin: 'chromium', pkg: 'chromium' },
  { bin: 'redis-server', pkg: 'redis-server' },
  { bin: 'slapd', pkg: 'slapd' },
  { bin: 'ldapsearch', pkg: 'ldap-utils' },
  { bin: 'openssl', pkg: 'openssl' },
  // A Samba AD DC (test/support/samba.ts). samba only *recommends* its DC modules and provisioning
  // templates, and --no-install-recommends below would leave them out: name them explicitly.
  { bin: 'samba-tool', pkg: 'samba' },
  { bin: 'samba-tool', pkg: 'samba-dsdb-modules' },
  { bin: 'samba-tool', pkg: 'samba-ad-provision' },
  // Provisioning a DC loads the acl_xattr VFS module, which only this package ships; without it
  // `samba-tool domain provision` fails with "vfs_init_custom failed for acl_xattr".
  { bin: 'samba-tool', pkg: 'samba-vfs-modules' },
  // The container image (test/ship/image.test.ts): podman builds and runs it without a daemon, on
  // runc (crun cannot run on this cgroup v1 hybrid layout); debootstrap makes the local stand-in for
  // the Node base image (scripts/image/prepare-base.sh); shellcheck checks the Dockerfile's RUN lines.
  { bin: 'podman', pkg: 'podman' },
  { bin: 'runc', pkg: 'runc' },
  { bin: 'debootstrap', pkg: 'debootstrap' },
  { bin: 'shellcheck', pkg: 'shellcheck' },
  // The Helm chart test (test/ship/chart.test.ts) unzips helm out of an npm package's layer.zip.
  { bin: 'unzip', pkg: 'unzip' },
];

const onPath = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const hasDpkg = onPath('dpkg-query');
/** A package counts when dpkg says it is installed; without dpkg, when its program is on PATH. */
const installed = ({ bin, pkg }) => {
  if (!hasDpkg) return onPath(bin);
  const r = spawnSync('dpkg-query', ['-s', pkg], { encoding: 'utf8' });
  return r.status === 0 && /^Status: install ok installed$/m.test(r.stdout) && onPath(bin);
};
const missing = REQUIRED.filter((r) => !installed(r));
if (missing.length === 0) process.exit(0);

const packages = [...new Set(missing.map((m) => m.pkg))];
const command = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages.join(' ')}`;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('sh', ['-c', 'command -v apt-get']).status === 0;
if (!isRoot || !hasApt) {
  process.stderr.write(
    `The tests need ${missing.map((m) => m.bin).join(', ')}. Install them with:\n  sudo sh -c '${command}'\n`,
  );
  process.exit(1);
}
process.stdout.write(`installing test dependencies: ${packages.join(' ')}\n`);
execFileSync('sh', ['-c', command], { stdio: 'inherit' });
