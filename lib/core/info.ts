// Info objects (MPI-4.1 §10): string hints handed to MPI where a call takes an `info` argument (file
// open and set_view, splitShared, and window creation and spawn once they exist). Every such call takes
// an InfoLike, an Info or a plain object, through withInfo(), which builds a plain object's Info for the
// duration of the call: MPI reads an info argument during the call only (MPI-4.1 §10).
//
// Keys and values are checked here against the MPI's own limits (MPI_MAX_INFO_KEY, MPI_MAX_INFO_VAL:
// 36 and 256 in Open MPI 4.1, 255 and 1024 in MPICH 4.0), so a bad one is a coded error before MPI is
// called. Which hints an MPI honours is its own business: unknown keys are ignored, as MPI says.
import { C, native } from '../addon/binding.js';
import { describe, invalidParameterError } from './checks.js';
import { ensureInit } from './env.js';
import { codedError } from './errors.js';

/** A value an Info stores (numbers and booleans are stored as their strings, as MPI stores only strings). */
export type InfoValue = string | number | boolean;
/** What a call's `info` argument takes: an Info, or a plain object of hints. */
export type InfoLike = Info | Readonly<Record<string, InfoValue>>;

function checkKey(key: unknown): string {
  if (typeof key !== 'string') throw invalidParameterError('ERR_INFO_KEY', 'an info key', 'a string', key);
  const n = Buffer.byteLength(key);
  if (n === 0 || n >= C.MAX_INFO_KEY) {
    throw codedError(RangeError, 'ERR_INFO_KEY', `info key ${describe(key)} must be 1 to ${C.MAX_INFO_KEY - 1} bytes long (MPI_MAX_INFO_KEY)`);
  }
  return key;
}

function checkValue(key: string, value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    throw invalidParameterError('ERR_INFO_VALUE', `the value of info key '${key}'`, 'a string, number or boolean', value);
  }
  const s = String(value);
  if (Buffer.byteLength(s) >= C.MAX_INFO_VAL) {
    throw codedError(RangeError, 'ERR_INFO_VALUE', `the value of info key '${key}' must be shorter than ${C.MAX_INFO_VAL} bytes (MPI_MAX_INFO_VAL)`);
  }
  return s;
}

// Checks every entry before MPI holds any of them, so a bad object makes no Info at all.
function entriesOf(init: unknown): [string, string][] {
  if (init === null || typeof init !== 'object' || Array.isArray(init)) {
    throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'info', 'an Info or a plain object of string hints', init);
  }
  return Object.entries(init).map(([k, v]) => [checkKey(k), checkValue(k, v)]);
}

// The handle the next Info constructed takes instead of making one (Info._adopt).
let adopting = -1;

/** MPI_Info: string hints for MPI. Free it with free() when done (an MPI object, not garbage-collected). */
export class Info {
  #h: number;

  /** A new Info, empty or holding a plain object's entries. */
  constructor(entries?: Readonly<Record<string, InfoValue>>) {
    if (adopting >= 0) {
      this.#h = adopting;
      adopting = -1;
      return;
    }
    const e = entries === undefined ? [] : entriesOf(entries);
    ensureInit();
    this.#h = native.infoCreate();
    for (const [k, v] of e) native.infoSet(this.#h, k, v);
  }

  /** @internal An Info around a handle the addon made (file.getInfo()). */
  static _adopt(handle: number): Info {
    adopting = handle;
    return new Info();
  }

  /** @internal The handle (throws once freed). */
  _handle(): number {
    if (this.#h < 0) throw codedError(TypeError, 'ERR_INFO_FREED', 'this Info was freed');
    return this.#h;
  }

  get freed(): boolean {
    return this.#h < 0;
  }

  set(key: string, value: InfoValue): this {
    const k = checkKey(key);
    native.infoSet(this._handle(), k, checkValue(k, value));
    return this;
  }

  /** The value of `key`, or undefined when it is not set. */
  get(key: string): string | undefined {
    return native.infoGet(this._handle(), checkKey(key));
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Removes `key`; whether it was set. */
  delete(key: string): boolean {
    return native.infoDelete(this._handle(), checkKey(key));
  }

  /** The keys, in MPI's order. */
  keys(): string[] {
    return native.infoKeys(this._handle());
  }

  get size(): number {
    return this.keys().length;
  }

  /** The entries as a plain object. */
  toObject(): Record<string, string> {
    const h = this._handle();
    const out: Record<string, string> = {};
    for (const k of native.infoKeys(h)) out[k] = native.infoGet(h, k) ?? '';
    return out;
  }

  /** A new Info with the same entries (MPI_Info_dup). */
  dup(): Info {
    return Info._adopt(native.infoDup(this._handle()));
  }

  /** MPI_Info_free; freeing twice is a no-op. */
  free(): void {
    if (this.#h < 0) return;
    native.infoFree(this.#h);
    this.#h = -1;
  }
}

/**
 * Calls `fn` with the native handle of `info` (-1, MPI_INFO_NULL, when undefined): an Info's own, or a
 * temporary one made from a plain object and freed once `fn` returns. For every binding with an info
 * argument.
 */
export function withInfo<T>(info: InfoLike | undefined | null, fn: (handle: number) => T): T {
  if (info === undefined || info === null) return fn(-1);
  if (info instanceof Info) return fn(info._handle());
  const tmp = new Info(info);
  try {
    return fn(tmp._handle());
  } finally {
    tmp.free();
  }
}
