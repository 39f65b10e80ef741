import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectoryFileError, fileSource, snapshotFromFile } from '../../../src/directory/file/fileSource.js';

describe('file source', () => {
  it('stores ids in canonical form: GUIDs lower case without braces, for users, groups and members', () => {
    const upper = '3F2504E0-4F89-11D3-9A0C-0305E82C3301';
    const group = '{A1B2C3D4-0000-4000-8000-00000000000A}';
    const snap = snapshotFromFile(
      {
        users: [{ id: `{${upper}}`, email: 'a@corp.example' }],
        groups: [
          { id: group, name: 'eng', members: [upper.toLowerCase(), ` ${upper} `] },
          { id: 'parent', name: 'all', members: ['a1b2c3d4-0000-4000-8000-00000000000a'] },
        ],
      },
      'test',
    );
    expect(snap.users[0]?.id).toBe(upper.toLowerCase());
    expect(snap.groups[0]).toMatchObject({
      id: 'a1b2c3d4-0000-4000-8000-00000000000a',
      memberUserIds: [upper.toLowerCase(), upper.toLowerCase()],
    });
    expect(snap.groups[1]?.memberGroupIds).toEqual(['a1b2c3d4-0000-4000-8000-00000000000a']);
    expect(snap.warnings).toEqual([]);
  });

  it('two spellings of one GUID are one id: a duplicate', () => {
    expect(() =>
      snapshotFromFile(
        {
          users: [
            { id: '3f2504e0-4f89-11d3-9a0c-0305e82c3301' },
            { id: '{3F2504E0-4F89-11D3-9A0C-0305E82C3301}' },
          ],
          groups: [],
        },
        'dir.json',
      ),
    ).toThrow('dir.json: users.1.id: duplicate id "3f2504e0-4f89-11d3-9a0c-0305e82c3301"');
  });

  it('resolves members to users and groups and warns about the rest', () => {
    const snap = snapshotFromFile(
      {
        users: [
          { id: 'u1', email: 'a@corp.example', name: 'A' },
          { id: 'u2', enabled: false },
        ],
        groups: [
          { id: 'g1', name: 'eng', members: ['u1', 'g2', 'nobody'] },
          { id: 'g2', name: 'sre', dn: 'cn=sre,ou=groups', members: ['u2'] },
        ],
      },
      'test',
    );
    expect(snap.complete).toBe(true);
    expect(snap.groups[0]).toEqual({ id: 'g1', name: 'eng', memberUserIds: ['u1'], memberGroupIds: ['g2'] });
    expect(snap.users[1]).toMatchObject({ id: 'u2', email: null, name: 'u2', enabled: false });
    expect(snap.warnings).toEqual([
      {
        code: 'unresolved-member',
        message: 'group eng lists member "nobody", which is neither a user nor a group; ignored',
        subject: 'eng',
      },
    ]);
  });

  it('names the file and the path of each problem', () => {
    expect(() =>
      snapshotFromFile({ users: [{ id: '' }], groups: [{ id: 'g', members: 'x' }] }, 'dir.json'),
    ).toThrow(/dir\.json: users\.0\.id: .*; groups\.0\.name: .*; groups\.0\.members: /);
    expect(() => snapshotFromFile({ users: [{ id: 'a' }, { id: 'a' }], groups: [] }, 'dir.json')).toThrow(
      'dir.json: users.1.id: duplicate id "a"',
    );
  });

  it('reads a file, and says clearly when it cannot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idsync-file-'));
    const good = join(dir, 'good.json');
    writeFileSync(
      good,
      JSON.stringify({ users: [], groups: [], complete: false, incompleteReasons: ['export truncated'] }),
    );
    const snap = await fileSource(good).read();
    expect(snap).toMatchObject({
      source: `file:${good}`,
      complete: false,
      incompleteReasons: ['export truncated'],
    });
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ "users": [');
    await expect(fileSource(broken).read()).rejects.toThrow(/broken\.json: not valid JSON/);
    await expect(fileSource(join(dir, 'missing.json')).read()).rejects.toBeInstanceOf(DirectoryFileError);
  });
});
