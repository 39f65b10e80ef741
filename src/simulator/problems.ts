import { STATUS_CODES } from 'node:http';

/** One field-level validation failure, as carried in ProblemDetail.errors on a 422. */
export interface ValidationItem {
  loc: Array<string | number>;
  msg: string;
  type: string;
}

/** The RFC 9457 body every simulator error uses (see ProblemDetail in spec/devin-v3-identity.openapi.yaml). */
export interface ProblemBody {
  type: 'about:blank';
  title: string;
  status: number;
  detail: string | null;
  instance: string | null;
  errors?: ValidationItem[];
}

export function statusTitle(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

/**
 * A typed failure thrown by the state model. It carries no HTTP objects: the route shell turns it
 * into a ProblemDetail response.
 */
export class SimError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly errors: ValidationItem[] | undefined;

  constructor(status: number, title: string, detail: string, errors?: ValidationItem[]) {
    super(`${status} ${title}: ${detail}`);
    this.name = 'SimError';
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.errors = errors;
  }

  toProblem(instance: string | null): ProblemBody {
    const body: ProblemBody = {
      type: 'about:blank',
      title: this.title,
      status: this.status,
      detail: this.detail,
      instance,
    };
    if (this.status === 422) body.errors = this.errors ?? [];
    return body;
  }
}

export const notFound = (detail: string) => new SimError(404, statusTitle(404), detail);
export const conflict = (detail: string) => new SimError(409, statusTitle(409), detail);
export const forbidden = (detail: string) => new SimError(403, statusTitle(403), detail);
export const unauthorized = (detail: string) => new SimError(401, statusTitle(401), detail);
export const unprocessable = (detail: string, errors: ValidationItem[]) =>
  new SimError(422, statusTitle(422), detail, errors);

/** A 422 for one field: `invalid(['body', 'role_id'], 'role is an organization role', 'value_error')`. */
export function invalid(loc: Array<string | number>, msg: string, type = 'value_error'): SimError {
  return unprocessable(msg, [{ loc, msg, type }]);
}
