// Whether an address can be given to Devin. Devin validates every address of a bulk invite and
// refuses the whole batch for one it does not accept, so an address like `sp aced@corp.example`
// or `x@evil.example@corp.example` (in scope: the domain is read after the last `@`) would block up
// to 99 colleagues on every run. Such users are left out with a warning instead.
//
// The rule is deliberately the common, conservative one (what pydantic's EmailStr and most SaaS
// APIs accept): one `@`; a dot-atom local part of printable characters; a domain of at least two
// labels of letters, digits and hyphens (Unicode letters allowed, as in internationalised domains).

// The same rule over ASCII only: most addresses are ASCII, and a Unicode property regex costs
// several times more per character (planning 100k users checks 100k addresses).
const LOCAL_ASCII = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LOCAL = /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(?:\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*$/u;
const LABEL = /^[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?$/u;

// A directory has a handful of domains and many thousands of addresses: judge each domain once.
// Bounded, so a directory of random domains cannot grow it without limit.
const DOMAIN_MEMO_MAX = 1024;
const domainMemo = new Map<string, boolean>();

export function validEmail(email: string): boolean {
  if (email.length > 254) return false;
  const at = email.indexOf('@');
  if (at <= 0 || at !== email.lastIndexOf('@')) return false;
  const local = email.slice(0, at);
  if (local.length > 64 || !(LOCAL_ASCII.test(local) || LOCAL.test(local))) return false;
  const domain = email.slice(at + 1);
  const known = domainMemo.get(domain);
  if (known !== undefined) return known;
  const ok = validDomain(domain);
  if (domainMemo.size >= DOMAIN_MEMO_MAX) domainMemo.clear();
  domainMemo.set(domain, ok);
  return ok;
}

function validDomain(domain: string): boolean {
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  if (!labels.every((l) => LABEL.test(l))) return false;
  // A top-level label is never all digits (that is an IP address written without brackets).
  return !/^\d+$/.test(labels[labels.length - 1] as string);
}
