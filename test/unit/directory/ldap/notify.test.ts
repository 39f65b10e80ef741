// notify.ts, its pure parts: which push a rootDSE offers, the line validate prints, the sync
// request control as RFC 4533 encodes it, and the tap that takes the persistent search's messages
// off the socket ahead of ldapts' parser. The tap is held to a byte stream of every kind of message
// the listener meets (entries with a sync state control, Sync Info messages, another request's
// result, the search's own SearchResultDone), cut into random socket reads: the search's messages
// must come out in order, and everything else must reach ldapts' own MessageParser whole. The
// listener itself runs against real servers (test/integration/ldap.watch.push.*.test.ts).
import fc from 'fast-check';
import { BerReader, BerWriter, Client, Control, MessageParser } from 'ldapts';
import { describe, expect, it } from 'vitest';
import {
  decodePushMessage,
  describePush,
  frameEnd,
  NOTIFICATION_OID,
  type PushMessage,
  PushTap,
  pushInternals,
  pushOffered,
  SYNC_INFO_OID,
  SYNC_REQUEST_OID,
  SyncRequestControl,
} from '../../../../src/directory/ldap/notify.js';

const OURS = 9;

function message(messageId: number, body: (w: BerWriter) => void, controls?: Control[]): Buffer {
  const w = new BerWriter();
  w.startSequence();
  w.writeInt(messageId);
  body(w);
  if (controls) {
    w.startSequence(0xa0);
    for (const c of controls) c.write(w);
    w.endSequence();
  }
  w.endSequence();
  return w.buffer;
}

/** A SearchResultEntry with no attributes (`1.1`), as both servers send it; syncprov adds its state control. */
const entry = (messageId: number, dn: string, syncState = false): Buffer =>
  message(
    messageId,
    (w) => {
      w.startSequence(0x64);
      w.writeString(dn);
      w.startSequence();
      w.endSequence();
      w.endSequence();
    },
    syncState ? [new Control('1.3.6.1.4.1.4203.1.9.1.2', { critical: false })] : undefined,
  );

/** An IntermediateResponse carrying a Sync Info value. */
function syncInfo(messageId: number, value: Buffer, name = SYNC_INFO_OID): Buffer {
  return message(messageId, (w) => {
    w.startSequence(0x79);
    w.writeString(name, 0x80);
    w.writeBuffer(value, 0x81);
    w.endSequence();
  });
}

/** refreshDelete [1] / refreshPresent [2] SEQUENCE { cookie OPTIONAL, refreshDone DEFAULT TRUE }. */
function refreshEnd(tag: 0xa1 | 0xa2, o: { cookie?: string; refreshDone?: boolean }): Buffer {
  const w = new BerWriter();
  w.startSequence(tag);
  if (o.cookie !== undefined) w.writeString(o.cookie);
  if (o.refreshDone !== undefined) w.writeBoolean(o.refreshDone);
  w.endSequence();
  return w.buffer;
}

function newCookie(cookie: string): Buffer {
  const w = new BerWriter();
  w.writeString(cookie, 0x80);
  return w.buffer;
}

const done = (messageId: number, status = 0): Buffer =>
  message(messageId, (w) => {
    w.startSequence(0x65);
    w.writeEnumeration(status);
    w.writeString('');
    w.writeString('');
    w.endSequence();
  });

describe('pushOffered', () => {
  const bases = { userBase: 'ou=people,dc=example,dc=com', groupBase: 'ou=groups,dc=example,dc=com' };

  it('OpenLDAP: refreshAndPersist on the naming context holding both bases, when syncprov is loaded', () => {
    expect(
      pushOffered(
        { profile: 'openldap', ...bases },
        { supportedControl: [SYNC_REQUEST_OID], namingContexts: ['dc=other', 'dc=example,dc=com'] },
      ),
    ).toEqual({ kind: 'refreshAndPersist', base: 'dc=example,dc=com' });
    expect(
      pushOffered(
        { profile: 'openldap', ...bases },
        { supportedControl: [], namingContexts: ['dc=example,dc=com'] },
      ),
    ).toEqual({ kind: undefined, why: expect.stringMatching(/^syncprov is not loaded/) });
  });

  it('Active Directory: change notifications on the domain, not the configuration partition', () => {
    const ad = {
      profile: 'activedirectory' as const,
      userBase: 'OU=People,DC=corp,DC=example',
      groupBase: 'OU=Groups,DC=corp,DC=example',
    };
    expect(
      pushOffered(ad, {
        supportedControl: ['1.2.840.113556.1.4.319', NOTIFICATION_OID],
        namingContexts: ['DC=corp,DC=example', 'CN=Configuration,DC=corp,DC=example'],
      }),
    ).toEqual({ kind: 'notification', base: 'DC=corp,DC=example' });
    // A directory that only has syncprov's control is not asked for it under the AD profile.
    expect(
      pushOffered(ad, { supportedControl: [SYNC_REQUEST_OID], namingContexts: ['DC=corp,DC=example'] }).kind,
    ).toBe(undefined);
  });

  it('bases in two naming contexts: no push', () => {
    expect(
      pushOffered(
        { profile: 'openldap', userBase: 'ou=people,dc=a', groupBase: 'ou=groups,dc=b' },
        { supportedControl: [SYNC_REQUEST_OID], namingContexts: ['dc=a', 'dc=b'] },
      ),
    ).toEqual({ kind: undefined, why: 'userBase and groupBase are not in one naming context' });
  });
});

describe('describePush', () => {
  it('says what is used and that the poll stays, with the interval', () => {
    expect(describePush({ kind: 'refreshAndPersist', base: 'dc=example,dc=com' }, 5000)).toBe(
      'refreshAndPersist (syncprov) on dc=example,dc=com: a change is polled at once; the poll every 5s stays as the safety net',
    );
    expect(describePush({ kind: undefined, why: 'no control' }, 5000)).toBe(
      'not offered (no control), polling every 5s',
    );
    expect(describePush('off', 1500)).toBe('off (source.watch.push: off), polling every 1.5s');
    expect(describePush({ kind: 'notification', base: 'DC=x' }, 250)).toMatch(
      /^change notifications \(1\.2\.840\.113556\.1\.4\.528\) on DC=x .*the poll every 250 ms stays/,
    );
  });
});

describe('SyncRequestControl', () => {
  const decode = (c: Control) => {
    const w = new BerWriter();
    c.write(w);
    const r = new BerReader(w.buffer);
    r.readSequence();
    const type = r.readString();
    const critical = r.readBoolean();
    const value = new BerReader(r.readString(0x04, true) as Buffer);
    value.readSequence();
    const mode = value.readEnumeration();
    const cookie = value.remain > 0 ? value.readString() : undefined;
    return { type, critical, mode, cookie };
  };

  it('is critical, mode refreshAndPersist (3), with the cookie when there is one', () => {
    expect(decode(new SyncRequestControl('rid=000,csn=20261202025517.700186Z#000000#000#000000'))).toEqual({
      type: SYNC_REQUEST_OID,
      critical: true,
      mode: 3,
      cookie: 'rid=000,csn=20261202025517.700186Z#000000#000#000000',
    });
    expect(decode(new SyncRequestControl(undefined))).toEqual({
      type: SYNC_REQUEST_OID,
      critical: true,
      mode: 3,
      cookie: undefined,
    });
  });
});

describe('decodePushMessage', () => {
  it('tells entries, references and each kind of Sync Info message; leaves other requests and the result to ldapts', () => {
    expect(decodePushMessage(entry(OURS, 'uid=a,dc=x', true), OURS)).toEqual({ type: 'entry' });
    expect(decodePushMessage(entry(OURS + 1, 'uid=a,dc=x'), OURS)).toBeUndefined();
    expect(decodePushMessage(done(OURS), OURS)).toBeUndefined();
    expect(decodePushMessage(syncInfo(OURS, refreshEnd(0xa1, {})), OURS)).toEqual({
      type: 'syncInfo',
      info: 'refreshDelete',
      refreshDone: true,
    });
    expect(
      decodePushMessage(syncInfo(OURS, refreshEnd(0xa2, { cookie: 'c', refreshDone: false })), OURS),
    ).toEqual({
      type: 'syncInfo',
      info: 'refreshPresent',
      refreshDone: false,
    });
    expect(
      decodePushMessage(syncInfo(OURS, refreshEnd(0xa1, { cookie: 'c', refreshDone: true })), OURS),
    ).toEqual({
      type: 'syncInfo',
      info: 'refreshDelete',
      refreshDone: true,
    });
    expect(decodePushMessage(syncInfo(OURS, newCookie('rid=000,csn=x')), OURS)).toEqual({
      type: 'syncInfo',
      info: 'newcookie',
      refreshDone: false,
    });
    expect(decodePushMessage(syncInfo(OURS, Buffer.from([0x04, 0x00]), '1.2.3'), OURS)).toEqual({
      type: 'intermediate',
    });
  });

  it('frames: a cut header or body is incomplete, a non-sequence is not a frame', () => {
    const m = entry(OURS, 'uid=a,dc=x');
    expect(frameEnd(m, 0)).toBe(m.length);
    expect(frameEnd(m.subarray(0, 1), 0)).toBeUndefined();
    expect(frameEnd(m.subarray(0, m.length - 1), 0)).toBeUndefined();
    expect(frameEnd(Buffer.from([0x04, 0x00]), 0)).toBe(-1);
    const long = entry(OURS, `uid=${'a'.repeat(300)},dc=x`);
    expect(long[1]).toBe(0x82);
    expect(frameEnd(long, 0)).toBe(long.length);
  });
});

describe('PushTap', () => {
  it('takes the search’s messages in order, and hands every other message whole to ldapts, whatever the reads', () => {
    const stream: Array<{ bytes: Buffer; mine?: PushMessage; theirs?: number }> = [
      {
        bytes: message(3, (w) =>
          w.writeBuffer(Buffer.from([0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00]), 0x61),
        ),
        theirs: 3,
      },
      { bytes: entry(OURS, 'uid=a,dc=x', true), mine: { type: 'entry' } },
      { bytes: entry(4, 'uid=probe'), theirs: 4 },
      { bytes: done(4), theirs: 4 },
      {
        bytes: syncInfo(OURS, refreshEnd(0xa1, { refreshDone: true })),
        mine: { type: 'syncInfo', info: 'refreshDelete', refreshDone: true },
      },
      { bytes: entry(OURS, `uid=${'b'.repeat(400)},dc=x`, true), mine: { type: 'entry' } },
      { bytes: done(OURS, 3), theirs: OURS },
    ];
    const all = Buffer.concat(stream.map((m) => m.bytes));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: all.length }), { maxLength: 12 }), (cutsRaw) => {
        const cuts = [...new Set(cutsRaw)].sort((a, b) => a - b);
        const ldapts = new MessageParser();
        const theirs: number[] = [];
        ldapts.on('message', (m: { messageId: number }) => theirs.push(m.messageId));
        ldapts.on('error', (err: Error) => {
          throw err;
        });
        const mine: PushMessage[] = [];
        const tap = new PushTap(ldapts as never, OURS, (m) => mine.push(m));
        let from = 0;
        for (const to of [...cuts, all.length]) {
          if (to > from) tap.read(all.subarray(from, to), new Map());
          from = to;
        }
        expect(mine).toEqual(stream.filter((m) => m.mine).map((m) => m.mine));
        expect(theirs).toEqual(stream.filter((m) => m.theirs !== undefined).map((m) => m.theirs));
      }),
      { numRuns: 200 },
    );
  });
});

describe('the ldapts internals the listener uses', () => {
  it('are there in the ldapts this runs with (pinned in package.json)', () => {
    expect(pushInternals(new Client({ url: 'ldap://127.0.0.1:1' }))).toBeDefined();
  });
});
