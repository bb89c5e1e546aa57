// Message validators of a channel: anything implementing the Standard Schema interface
// (https://standardschema.dev; zod, valibot and arktype do), or a plain function. A channel runs its
// validator on every message it sends (a coded TypeError before anything moves) and receives
// (SchemaValidationError with the decoded value and the issues). Validators run synchronously: a blocking
// receive cannot wait for a Promise, so an asynchronous result is an error.
import { codedError } from '../core/errors.js';
import { invalidParameterError } from '../core/checks.js';

/** One problem a validator found; `path` locates it in the value. */
export interface SchemaIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/** What a Standard Schema validator returns: the value, or the issues found. */
export type StandardResult<O> = { readonly value: O; readonly issues?: undefined } | { readonly issues: ReadonlyArray<SchemaIssue> };

/** The Standard Schema v1 interface, as far as a channel uses it. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

/**
 * A plain validator: true (or undefined) accepts; false, a message, or a non-empty array of messages or
 * issues rejects; a thrown error rejects with its message.
 */
export type ValidatorFunction = (value: unknown) => boolean | string | ReadonlyArray<string | SchemaIssue> | undefined | void;

export type Validator<T = unknown> = StandardSchemaV1<unknown, T> | ValidatorFunction;

export type Checked = { ok: true; value: unknown } | { ok: false; issues: SchemaIssue[] };

/** The checking function of a validator option (undefined for none); a wrong option is a coded TypeError. */
export function compileValidator(v: unknown, name: string): ((value: unknown) => Checked) | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'function') return (value) => fromFunction(v as ValidatorFunction, value);
  const std = (v as StandardSchemaV1 | null)?.['~standard'];
  if (std === undefined || std === null || typeof std.validate !== 'function') {
    throw invalidParameterError('ERR_INVALID_ARG_TYPE', name, 'a Standard Schema (zod, valibot, arktype, ...) or a function', v);
  }
  return (value) => {
    const r = std.validate(value);
    if (r instanceof Promise) {
      throw codedError(TypeError, 'ERR_SCHEMA_ASYNC', `${name} (${std.vendor}) validated asynchronously; channel validators must be synchronous`);
    }
    return r.issues === undefined ? { ok: true, value: r.value } : { ok: false, issues: [...r.issues] };
  };
}

function fromFunction(f: ValidatorFunction, value: unknown): Checked {
  let r: ReturnType<ValidatorFunction>;
  try {
    r = f(value);
  } catch (e) {
    return { ok: false, issues: [{ message: e instanceof Error ? e.message : String(e) }] };
  }
  if (r === true || r === undefined) return { ok: true, value };
  if (r === false) return { ok: false, issues: [{ message: 'rejected by the validator' }] };
  if (typeof r === 'string') return { ok: false, issues: [{ message: r }] };
  if (Array.isArray(r)) {
    return r.length === 0 ? { ok: true, value } : { ok: false, issues: r.map((i) => (typeof i === 'string' ? { message: i } : i)) };
  }
  return { ok: false, issues: [{ message: `the validator returned ${typeof r}` }] };
}

/** Issues as one line: "a.b: expected number; c: required". */
export function formatIssues(issues: readonly SchemaIssue[]): string {
  return issues.map((i) => {
    const path = (i.path ?? []).map((p) => String(typeof p === 'object' && p !== null ? p.key : p)).join('.');
    return path ? `${path}: ${i.message}` : i.message;
  }).join('; ');
}
