// Whether an address can be given to Devin. Devin validates every address of a bulk invite and
// refuses the whole batch for one it does not accept, so an address like `sp aced@corp.example`
// or `x@evil.example@corp.example` (in scope: the domain is read after the last `@`) would block up
// to 99 colleagues on every run. Such users are left out with a warning instead.
//
// The rule is deliberately the common, conservative one (what pydantic's EmailStr and most SaaS
// APIs accept): one `@`; a dot-atom local part of printable characters; a domain of at least two
// labels of letters, digits and hyphens (Unicode letters allowed, as in internationalised domains).

const LOCAL = /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(?:\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*$/u;
const LABEL = /^[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?$/u;

export function validEmail(email: string): boolean {
  if (email.length > 254) return false;
  const at = email.indexOf('@');
  if (at <= 0 || at !== email.lastIndexOf('@')) return false;
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (local.length > 64 || !LOCAL.test(local)) return false;
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  if (!labels.every((l) => LABEL.test(l))) return false;
  // A top-level label is never all digits (that is an IP address written without brackets).
  return !/^\d+$/.test(labels[labels.length - 1] as string);
}
