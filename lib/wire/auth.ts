// Authenticated messages: HMAC-SHA256 (node:crypto) over a message's every byte but the MAC itself,
// with the sender's and the receiver's rank in front, under a job key known by its id. The header's
// sequence number is covered, so a receiver that refuses a sequence number it has seen from that sender
// on that tag refuses replays. See docs/security.md for what this does and does not protect.
//
// Keys never come from the command line (every process of the job could read it in `ps`): the
// environment variable MPI4NODE_AUTH_KEY or the file named by MPI4NODE_AUTH_KEY_FILE hold
// `id:hex[,id:hex...]`; the first key signs, every key listed is accepted (rotation).
import { createHmac, type Hmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { invalidParameterError } from '../core/checks.js';
import { codedError } from '../core/errors.js';
import { AUTH_EXTENSION_LENGTH, FLAG_AUTH, MAGIC, OFFSET } from './codec.js';
import { AuthenticationError } from './errors.js';

/** One key of a job's key ring: `id` (uint32) goes in every header it signs. */
export interface AuthKey {
  id: number;
  /** At least 16 bytes: a Uint8Array, or a string of hex digits. */
  key: Uint8Array | string;
}

/** The keys a channel signs with (the first) and accepts (all). */
export class KeyRing {
  readonly signingId: number;
  readonly #keys = new Map<number, Buffer>();

  constructor(keys: readonly AuthKey[]) {
    if (!Array.isArray(keys) || keys.length === 0) {
      throw codedError(TypeError, 'ERR_AUTH_KEY', 'authentication needs at least one key { id, key }');
    }
    for (const k of keys) {
      const id = k?.id;
      if (!(Number.isInteger(id) && id >= 0 && id <= 0xffffffff)) {
        throw codedError(RangeError, 'ERR_AUTH_KEY', `an authentication key id must be a uint32, got ${String(id)}`);
      }
      const raw = k.key;
      const bytes = typeof raw === 'string' && /^([0-9a-fA-F]{2})+$/.test(raw) ? Buffer.from(raw, 'hex')
        : raw instanceof Uint8Array ? Buffer.from(raw) : undefined;
      if (bytes === undefined || bytes.length < 16) {
        throw codedError(TypeError, 'ERR_AUTH_KEY', `authentication key ${id} must be at least 16 bytes (a Uint8Array or hex digits)`);
      }
      this.#keys.set(id, bytes);
    }
    this.signingId = keys[0]!.id;
  }

  /** A fresh HMAC under key `id`, fed with the ranks; undefined for a key this ring does not hold. */
  hmac(id: number, from: number, to: number): Hmac | undefined {
    const key = this.#keys.get(id);
    if (key === undefined) return undefined;
    const ranks = Buffer.alloc(8);
    ranks.writeUInt32LE(from >>> 0, 0);
    ranks.writeUInt32LE(to >>> 0, 4);
    return createHmac('sha256', key).update(ranks);
  }
}

/**
 * The job's key ring from the environment: MPI4NODE_AUTH_KEY, else the file MPI4NODE_AUTH_KEY_FILE,
 * each `id:hex[,id:hex...]` (whitespace or commas between keys). Throws ERR_AUTH_KEY when neither is set.
 */
export function jobKeys(env: NodeJS.ProcessEnv = process.env): KeyRing {
  if (env === null || typeof env !== 'object') throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'jobKeys: env', 'an object', env);
  let text = env.MPI4NODE_AUTH_KEY;
  if (text === undefined && env.MPI4NODE_AUTH_KEY_FILE !== undefined) {
    try {
      text = readFileSync(env.MPI4NODE_AUTH_KEY_FILE, 'utf8');
    } catch (e) {
      throw codedError(Error, 'ERR_AUTH_KEY', `cannot read MPI4NODE_AUTH_KEY_FILE: ${(e as Error).message}`);
    }
  }
  if (text === undefined) {
    throw codedError(Error, 'ERR_AUTH_KEY', 'an authenticated channel needs a job key: set MPI4NODE_AUTH_KEY or MPI4NODE_AUTH_KEY_FILE (id:hex)');
  }
  const keys = text.split(/[\s,]+/).filter(Boolean).map((item) => {
    const m = /^(\d+):([0-9a-fA-F]+)$/.exec(item);
    if (m === null) throw codedError(TypeError, 'ERR_AUTH_KEY', 'a job key entry must be id:hex (the key itself is not shown)');
    return { id: Number(m[1]), key: m[2]! };
  });
  return new KeyRing(keys);
}

/** Where the extension of a message with this header starts (bytes already known to hold 64+). */
function extensionAt(b: Uint8Array): number {
  return (OFFSET.shape + 8 * b[OFFSET.ndim]! + b[OFFSET.nameLength]! + 7) & ~7;
}

/**
 * Signs a message about to leave `from` for `to`: `header` (with the extension, MAC zero) and the payload
 * `parts` as they go on the wire. Writes key id and MAC into `header`.
 */
export function sign(ring: KeyRing, header: Uint8Array, parts: readonly Uint8Array[], from: number, to: number): void {
  const at = extensionAt(header);
  const v = new DataView(header.buffer, header.byteOffset, header.byteLength);
  v.setUint32(at, ring.signingId, true);
  const h = ring.hmac(ring.signingId, from, to)!;
  h.update(header.subarray(0, at + 8)).update(header.subarray(at + 8 + 32));
  for (const p of parts) h.update(p);
  h.digest().copy(header, at + 8);
}

/**
 * Checks the MAC of a received message `raw` from `from` to `to`; returns its sequence number, or throws
 * AuthenticationError (unsigned, unknown key, wrong MAC). Nothing but the MAC's own location is trusted first.
 */
export function verify(ring: KeyRing, raw: Uint8Array, from: number, to: number, channel: string): number {
  const fail = (reason: AuthReason, what: string) => new AuthenticationError(reason, `${what} on channel '${channel}' from rank ${from}`, raw, { sender: from });
  const n = raw.byteLength;
  const v = new DataView(raw.buffer, raw.byteOffset, n);
  if (n < 64 || v.getUint32(0, true) !== MAGIC || (v.getUint16(OFFSET.flags, true) & FLAG_AUTH) === 0) throw fail('unsigned', 'an unsigned message');
  const at = extensionAt(raw);
  if (v.getUint32(OFFSET.headerLength, true) < at + AUTH_EXTENSION_LENGTH || at + AUTH_EXTENSION_LENGTH > n) {
    throw fail('unsigned', 'a message without room for its MAC');
  }
  const id = v.getUint32(at, true);
  const h = ring.hmac(id, from, to);
  if (h === undefined) throw fail('key', `a message signed with key ${id}, which this process does not hold`);
  const mac = h.update(raw.subarray(0, at + 8)).update(raw.subarray(at + 40)).digest();
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= mac[i]! ^ raw[at + 8 + i]!;
  if (diff !== 0) throw fail('mac', `a message whose MAC does not match (key ${id})`);
  return v.getUint32(OFFSET.seq + 4, true) * 4294967296 + v.getUint32(OFFSET.seq, true);
}

/** Why a message failed authentication. */
export type AuthReason = 'unsigned' | 'key' | 'mac' | 'replay';
