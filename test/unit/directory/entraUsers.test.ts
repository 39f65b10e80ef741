// The email, enabled and attrs rules of an Entra user (users.ts), shared by the full read and the
// delta source, and the permission a Graph route needs (what a 403 there is missing).
import { describe, expect, it } from 'vitest';
import { permissionFor } from '../../../src/directory/entra/graphClient.js';
import { type GraphUser, toDirectoryUser, userSelect } from '../../../src/directory/entra/users.js';

const base = { emailAttribute: 'mail', emailFallbackAttribute: 'userPrincipalName' };
const user = (raw: Partial<GraphUser>, config: Parameters<typeof toDirectoryUser>[1] = base) =>
  toDirectoryUser({ id: '{0F7E1C2A-AAAA-4BBB-8CCC-DDDDDDDDDDDD}', ...raw } as GraphUser, config).user;

describe('toDirectoryUser', () => {
  it('takes mail, else the UPN; the id is canonical and the UPN is the ref', () => {
    expect(
      user({ mail: ' alice@corp.example ', userPrincipalName: 'a@corp.example', accountEnabled: true }),
    ).toEqual({
      id: '0f7e1c2a-aaaa-4bbb-8ccc-dddddddddddd',
      email: 'alice@corp.example',
      name: 'alice@corp.example',
      enabled: true,
      ref: 'a@corp.example',
    });
    expect(user({ mail: '', userPrincipalName: 'bob@corp.example' }).email).toBe('bob@corp.example');
  });

  it('never takes a guest UPN as an address, whichever property holds it', () => {
    const upn = 'carol_gmail.com#EXT#@corp.onmicrosoft.com';
    expect(user({ mail: null, userPrincipalName: upn }).email).toBeNull();
    expect(user({ mail: 'carol@gmail.com', userPrincipalName: upn }).email).toBe('carol@gmail.com');
    expect(user({ userPrincipalName: upn }, { emailAttribute: 'userPrincipalName' }).email).toBeNull();
  });

  it('reads the first address of a list property, without the SMTP: prefix', () => {
    const config = { emailAttribute: 'proxyAddresses', emailFallbackAttribute: 'otherMails' };
    expect(user({ proxyAddresses: ['', 'SMTP:dan@corp.example', 'smtp:d@corp.example'] }, config).email).toBe(
      'dan@corp.example',
    );
    expect(user({ proxyAddresses: [], otherMails: ['dan.private@mail.example'] }, config).email).toBe(
      'dan.private@mail.example',
    );
  });

  it('is disabled unless accountEnabled is true (missing: not readable, fail closed)', () => {
    expect(user({ accountEnabled: false }).enabled).toBe(false);
    expect(user({}).enabled).toBe(false);
    expect(user({ accountEnabled: null }).enabled).toBe(false);
  });

  it('extra properties become strings; nulls and empty lists are left out', () => {
    const config = {
      ...base,
      extraUserAttributes: [
        'department',
        'employeeId',
        'businessPhones',
        'onPremisesExtensionAttributes',
        'jobTitle',
        'accountEnabled',
      ],
    };
    expect(
      user(
        {
          department: 'R&D',
          employeeId: 42,
          businessPhones: [],
          onPremisesExtensionAttributes: { extensionAttribute1: 'x' },
          jobTitle: null,
          accountEnabled: true,
        },
        config,
      ).attrs,
    ).toEqual({
      department: 'R&D',
      employeeId: '42',
      onPremisesExtensionAttributes: '{"extensionAttribute1":"x"}',
      accountEnabled: 'true',
    });
  });

  it('selects each property once', () => {
    expect(userSelect({ ...base, extraUserAttributes: ['mail', 'department'] })).toBe(
      'id,mail,userPrincipalName,displayName,accountEnabled,department',
    );
  });
});

describe('permissionFor', () => {
  it('names the least-privileged application permission of each route', () => {
    expect(permissionFor('/v1.0/users')).toBe('User.Read.All');
    expect(permissionFor('/v1.0/users/delta')).toBe('User.Read.All');
    expect(permissionFor('/v1.0/groups')).toBe('GroupMember.Read.All');
    expect(permissionFor('/v1.0/groups/abc/transitiveMembers/microsoft.graph.user')).toBe(
      'GroupMember.Read.All',
    );
    expect(permissionFor('/v1.0/subscriptions', { resource: '/users' })).toBe('User.Read.All');
    expect(permissionFor('/v1.0/subscriptions', { resource: 'groups' })).toBe('Group.Read.All');
    expect(permissionFor('/v1.0/subscriptions/abc')).toBeUndefined();
    expect(permissionFor('/v1.0/organization')).toBeUndefined();
  });
});
