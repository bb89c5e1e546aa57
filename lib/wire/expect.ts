// A receiver's fast check of the messages it expects most: tensors of its own channel, schema major and
// protocol major, in the exact layout this library writes. Pure TypeScript, no MPI.
//
// decodeMessage builds a full header object (versions, names, bigints, shape) for every message, which
// costs more than an 8-byte message's whole trip through MPI. This check runs the same tests against the
// bytes without allocating and returns only what the payload needs; anything it does not recognise,
// from a newer minor's header extension to a corrupt byte, returns undefined, and the caller then runs
// decodeMessage, which either accepts the message or throws the precise typed error. It accepts a subset
// of what decodeMessage accepts with the same expectations, never more.
import { type DtypeInfo, dtypeByCode } from '../core/dtypes.js';
import { crc32c } from './crc32c.js';
import { type ChannelHeaderTemplate, FIXED_HEADER_LENGTH, FLAG_CHECKSUM, FLAG_KIND_MASK, HEADER_ALIGN, MAX_NDIM, OFFSET, PAYLOAD_KIND } from './codec.js';

/** What a tensor message that passed every check needs for its payload view. */
export interface TensorLayout {
  dtype: DtypeInfo;
  shape: number[];
  payloadOffset: number;
  payloadLength: number;
}

// Field offsets as literals (this runs once per message; they are checked against OFFSET below).
const MAGIC_AT = 0, PROTO_AT = 4, HLEN_AT = 8, POFF_AT = 12, PLEN_AT = 16, SCHEMA_AT = 40, HASH_AT = 44;
const FLAGS_AT = 48, DTYPE_AT = 50, NDIM_AT = 51, NAMELEN_AT = 52, CHECKSUM_AT = 56, SHAPE_AT = 64;
if (MAGIC_AT !== OFFSET.magic || PROTO_AT !== OFFSET.protocolMajor || HLEN_AT !== OFFSET.headerLength ||
  POFF_AT !== OFFSET.payloadOffset || PLEN_AT !== OFFSET.payloadLength || SCHEMA_AT !== OFFSET.schemaMajor ||
  HASH_AT !== OFFSET.channelHash || FLAGS_AT !== OFFSET.flags || DTYPE_AT !== OFFSET.dtype || NDIM_AT !== OFFSET.ndim ||
  NAMELEN_AT !== OFFSET.nameLength || CHECKSUM_AT !== OFFSET.checksum || SHAPE_AT !== OFFSET.shape ||
  FIXED_HEADER_LENGTH !== 64 || HEADER_ALIGN !== 64 || PAYLOAD_KIND.tensor !== 1 || FLAG_KIND_MASK !== 15) {
  throw new Error('lib/wire/expect.ts is out of step with the header layout in codec.ts');
}

const TWO32 = 4294967296;
const MAX_HI = 0x1fffff; // a u64 below 2^53 has at most these high bits

function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

export class Expectation {
  readonly name: Uint8Array;
  readonly hash: number;
  readonly protocolMajor: number;
  readonly schemaMajor: number;

  constructor(tpl: ChannelHeaderTemplate) {
    this.name = new TextEncoder().encode(tpl.channel);
    this.hash = tpl.channelHash;
    this.protocolMajor = tpl.protocol.major;
    this.schemaMajor = tpl.schema.major;
  }

  /** The layout of `b` if it is a well-formed tensor message of this channel (checksum verified), else undefined. */
  tensor(b: Uint8Array): TensorLayout | undefined {
    const n = b.length;
    if (n < 64 || u32(b, MAGIC_AT) !== 0x574e344d || (b[PROTO_AT]! | (b[PROTO_AT + 1]! << 8)) !== this.protocolMajor) return undefined;
    if ((b[SCHEMA_AT]! | (b[SCHEMA_AT + 1]! << 8)) !== this.schemaMajor || u32(b, HASH_AT) !== this.hash) return undefined;
    const flags = b[FLAGS_AT]!;
    if ((flags & 15) !== 1) return undefined; // the kind (bits 0-3); other bits: checksum below, reserved ignored
    const name = this.name, ndim = b[NDIM_AT]!;
    if (b[NAMELEN_AT] !== name.length || ndim > MAX_NDIM) return undefined;
    const headerLength = 64 + 8 * ndim + name.length;
    const payloadOffset = (headerLength + 63) & ~63;
    if (u32(b, HLEN_AT) !== headerLength || u32(b, POFF_AT) !== payloadOffset || payloadOffset > n) return undefined;
    const nameAt = SHAPE_AT + 8 * ndim;
    for (let i = 0; i < name.length; i++) if (b[nameAt + i] !== name[i]) return undefined;
    const hi = u32(b, PLEN_AT + 4);
    if (hi > MAX_HI) return undefined;
    const payloadLength = hi * TWO32 + u32(b, PLEN_AT);
    if (payloadOffset + payloadLength !== n) return undefined;
    const dtype = dtypeByCode(b[DTYPE_AT]!);
    if (dtype === undefined || (b.byteOffset + payloadOffset) % dtype.size !== 0) return undefined;
    const shape: number[] = new Array(ndim);
    let elems = 1;
    let empty = false;
    for (let i = 0; i < ndim; i++) {
      const at = SHAPE_AT + 8 * i, dhi = u32(b, at + 4);
      if (dhi > MAX_HI) return undefined;
      const d = dhi * TWO32 + u32(b, at);
      shape[i] = d;
      if (d === 0) empty = true;
      else elems *= d;
    }
    if ((empty ? 0 : elems * dtype.size) !== payloadLength) return undefined;
    if ((flags & FLAG_CHECKSUM) !== 0 && crc32c(b.subarray(payloadOffset, n)) !== u32(b, CHECKSUM_AT)) return undefined;
    return { dtype, shape, payloadOffset, payloadLength };
  }
}
