// Helpers shared by the collective suites: run a collective in either form, and catch typed errors.
import * as assert from 'uvu/assert';
import { world, Request, type Comm } from '../../lib/index.js';
import { thrown } from '../thrown.js';

export { thrown };

export type Form = 'blocking' | 'promise';
export const FORMS: readonly Form[] = ['blocking', 'promise'];

/** Calls `name` (blocking) or `i${name}` (Promise form, awaited) with the same arguments. */
export async function call(form: Form, name: string, ...args: unknown[]): Promise<any> {
  const c = world as any;
  if (form === 'blocking') return c[name](...args);
  const req = c[`i${name}`](...args);
  assert.instance(req, Request, `i${name} returns a Request`);
  return await req;
}

export async function callOn(comm: Comm, form: Form, name: string, ...args: unknown[]): Promise<any> {
  const c = comm as any;
  return form === 'blocking' ? c[name](...args) : await c[`i${name}`](...args);
}

/** Checks that `fn` throws `type` with `code`, in both forms (Promise forms throw before posting). */
export function rejects(name: string, args: unknown[], type: Function, code: string, comm: Comm = world): void {
  for (const n of [name, `i${name}`]) {
    const e = thrown(() => (comm as any)[n](...args));
    assert.instance(e, type, `${n}: ${e}`);
    assert.is(e.code, code, `${n}: ${e.message}`);
  }
}

export function range(n: number): number[];
export function range<R>(n: number, f: (i: number) => R): R[];
export function range(n: number, f: (i: number) => unknown = (i) => i): unknown[] {
  return Array.from({ length: n }, (_, i) => f(i));
}
export const arr = (a: ArrayLike<unknown>) => Array.from(a as ArrayLike<any>);
