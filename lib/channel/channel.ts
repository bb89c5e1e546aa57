// Versioned, typed channels: comm.channel(name, { version, dtype?, shape? }). Every message is one MPI
// message, header + payload (docs/wire-format.md), on the communicator's private duplicate, so user
// point-to-point traffic can never match it. See docs/channels.md.
//
// Isolation between channels: a channel's tags are derived from its name (CRC-32C into a tag range
// above TAG_BASE, four tags per name: data, request, reply, cancel). Opening two channels whose names
// fall on the same tags in one process is refused, so two channels open at once never consume each
// other's messages; the name in every header catches a collision between processes that opened
// different channels (ChannelMismatchError, with the message kept in err.raw).
//
// Zero copy: lib/channel/outbox.ts sends header and payload as one message from their own memory; received
// messages land in memory no other message uses (lib/channel/inbox.ts), and payloads are views into it. Tensors
// of this very channel are checked straight on the bytes (lib/wire/expect.ts); anything else goes
// through the full decoder, which names the error.
import { native, statusRecord } from '../addon/binding.js';
import { asView, checkRank, checkSignal, describe, invalidParameterError, type BufferLike } from '../core/checks.js';
import { ANY_SOURCE, Comm } from '../comm/comm.js';
import { dtypeInfo, dtypeOf, type Dtype, type DtypeInfo, type TypedArray } from '../core/dtypes.js';
import { codedError } from '../core/errors.js';
import { INBOX, type Known, expectHeader, holdsExpected, inboxInto, inboxKnowing, receive, takeKnown } from './inbox.js';
import { Outbox } from './outbox.js';
import { STATUS } from '../addon/native.js';
import { pin } from '../core/pin.js';
import { Request, type Received } from '../core/request.js';
import { Requester, Server, type ServeOptions, type Handler, type RequestOptions } from './rpc.js';
import {
  ChannelHeaderTemplate, type DecodedHeader, type DecodeOptions, FLAG_CHECKSUM, HEADER_ALIGN, OFFSET, PROTOCOL, type ProtocolVersion,
  type SchemaVersion, checkSchema, decodeMessage,
} from '../wire/codec.js';
import { Expectation, type TensorLayout } from '../wire/expect.js';
import { type AuthKey, KeyRing, jobKeys, verify } from '../wire/auth.js';
import { AbortError, AuthenticationError, MessageError, PayloadMismatchError, PermissionError, SchemaMismatchError, SchemaValidationError } from '../wire/errors.js';
import { type Checked, type Validator, compileValidator, formatIssues } from './schema.js';
import { type EncodedPayload, asTensor, decodePayload, encodePayload, encodeTensor } from '../wire/payload.js';

export { COPY_BELOW } from './outbox.js';
/** Channel tags on the private duplicate start here; tags below are left to other library traffic. */
export const TAG_BASE = 4096;
const TAG_STRIDE = 4;

/** The tag lanes of one channel: offsets from its base tag (Cancel: a requester gave up, lib/channel/rpc.ts). */
export const Lane = { Data: 0, Request: 1, Reply: 2, Cancel: 3 } as const;
export type Lane = (typeof Lane)[keyof typeof Lane];

export interface ChannelOptions<T = any> {
  /** The schema version: 2, '2.1' or { major: 2, minor: 1 }. Receivers require the same major. */
  version: number | string | { major: number; minor?: number };
  /** Declares a tensor channel of this dtype: sends are checked, receives verified. */
  dtype?: Dtype | undefined;
  /** Declared tensor shape; -1 is any extent in that dimension. Needs `dtype`. */
  shape?: readonly number[] | undefined;
  /**
   * Validates every message and request sent and received (beyond version, dtype and shape): a Standard
   * Schema (zod, valibot, arktype, ...) or a function. A send that fails throws ERR_CHANNEL_PAYLOAD; a
   * received message that fails is a SchemaValidationError with the value and the issues.
   */
  schema?: Validator<T> | undefined;
  /** The same for replies of request/reply (by default replies are not validated). */
  replySchema?: Validator | undefined;
  /**
   * Flow control: at most about this many messages of this channel object per destination may wait
   * unreceived there. Every `window`-th message is sent synchronously (completes once the receiver
   * matched it); isend holds later messages in this process until the one a window back was matched.
   */
  window?: number | undefined;
  /** Send a CRC-32C of every payload (receivers always verify one that is present). */
  checksum?: boolean | undefined;
  /**
   * Sign every message with HMAC-SHA256 and accept only messages signed with a key held here, each
   * sequence number once per sender and lane: `true` takes the job's keys from MPI4NODE_AUTH_KEY or
   * MPI4NODE_AUTH_KEY_FILE; an array of `{ id, key }` gives them (the first signs). docs/security.md.
   */
  auth?: boolean | readonly AuthKey[] | KeyRing | undefined;
  /** @internal Test hook: speak another wire protocol version, to exercise the version check. */
  _protocol?: ProtocolVersion | undefined;
}

export interface RecvOptions {
  /**
   * Receive into this memory instead of fresh memory: no allocation, and the payload is a view into it,
   * valid until you reuse the buffer. A message larger than it goes to fresh memory as usual.
   */
  buffer?: BufferLike | undefined;
  /**
   * irecv only: abort the receive. The Promise rejects with AbortError if MPI cancelled the receive; a
   * message already matched is delivered as usual (never lost).
   */
  signal?: AbortSignal | undefined;
}

/** A received message: its value, who sent it, and the checked header (seq, versions, correlation id). */
export interface Envelope<T = unknown> {
  message: T;
  source: number;
  header: DecodedHeader;
}

export interface ChannelStats {
  sent: number;
  received: number;
  /** Received messages that failed a check (each was thrown as a typed error). */
  errors: number;
  requests: number;
  timeouts: number;
  /** Replies that came after their request had timed out: dropped, never delivered to another request. */
  lateReplies: number;
  /** Requests answered by serve() handlers on this channel. */
  served: number;
  /** Requests whose requester gave up (timeout or abort) while the handler ran: its signal was aborted. */
  cancelled: number;
}

/** @internal Which edges a channel may use (agent graphs, lib/topo/graph.ts). */
export interface EdgePolicy {
  canSend(from: number, to: number): boolean;
}

// Open channels by communicator and tag, so two names on the same tags are refused.
const openTags = new Map<string, { name: string; count: number }>();
// Sequence numbers by communicator and tag: sent (per destination) and the last authenticated one
// received (per lane and source). Kept after close, so a reopened channel never repeats one.
const sequences = new Map<string, { sent: number[]; seen: Map<number, number> }>();

let tagSlots = -1;
function slotCount(): number {
  if (tagSlots < 0) tagSlots = Math.floor((native.tagUpperBound() - TAG_BASE + 1) / TAG_STRIDE);
  return tagSlots;
}

export class Channel<T = any> {
  readonly name: string;
  readonly version: SchemaVersion;
  readonly dtype: Dtype | undefined;
  readonly shape: readonly number[] | undefined;
  readonly checksum: boolean;
  readonly stats: ChannelStats = { sent: 0, received: 0, errors: 0, requests: 0, timeouts: 0, lateReplies: 0, served: 0, cancelled: 0 };
  readonly #comm: Comm;
  readonly #tpl: ChannelHeaderTemplate;
  readonly #expect: DecodeOptions;
  readonly #expectReply: DecodeOptions;
  readonly #edges: EdgePolicy | undefined;
  readonly #dtypeInfo: DtypeInfo | undefined;
  readonly #tag: number;
  readonly #key: string;
  readonly #quick: Expectation;
  readonly #out: Outbox;
  readonly #ring: KeyRing | undefined;
  readonly #validate: ((value: unknown) => Checked) | undefined;
  readonly #validateReply: ((value: unknown) => Checked) | undefined;
  readonly #seen: Map<number, number>;
  readonly #window: number;
  readonly #flow = new Map<number, Flow>();
  #closed = false;
  readonly #irecvWhat: string;
  // A signal-free irecv's finisher. Its Promise is the Request, so it can be cancelled: that is an AbortError too.
  // Its data is the payload alone when the message matched the header remembered last (#known).
  readonly #deliverData = (got: Received<Uint8Array>): Envelope => {
    if (got.status.cancelled) throw new AbortError(`irecv on channel '${this.name}' was cancelled`, { operation: 'irecv', channel: this.name });
    const k = takeKnown(got.data) as KnownTensor | undefined;
    return k !== undefined ? this.#knownDelivery(got.data, got.status.source, k) : this._deliver(got.data, got.status.source, Lane.Data, true);
  };
  // Inbox memory for signal-free irecv: a message matching #known arrives as its payload, checked natively.
  readonly #inboxKnown = inboxKnowing(this, () => this.#known);
  // Set when sending a bare typed array needs no check but its type and length (#isBare): a declared
  // dtype held in its own array type, a shape of one dimension or none, no schema, no window.
  readonly #bare: DtypeInfo | undefined;
  readonly #bareLength: number = -1; // -1: any
  // The last data header accepted and remembered by the addon (#remember), and what it describes.
  #known: KnownTensor | undefined;
  #lastLength = -1;
  #registered = 0;
  #requester: Requester | undefined;
  readonly #servers = new Set<Server>();

  /** @internal Opened by comm.channel(name, options) (or graph.channel). */
  constructor(comm: Comm, name: string, options: ChannelOptions<T>, edges?: EdgePolicy) {
    if (options === null || typeof options !== 'object') {
      throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'channel options', 'an object with a version', options);
    }
    const version = parseVersion(options.version);
    this.#validate = compileValidator(options.schema, 'channel schema');
    const w = options.window;
    if (w !== undefined && !(Number.isSafeInteger(w) && w >= 1)) {
      throw invalidParameterError('ERR_INVALID_ARG_VALUE', 'channel window', 'a positive integer', w, RangeError);
    }
    this.#window = w ?? 0;
    this.#validateReply = compileValidator(options.replySchema, 'channel replySchema');
    const auth = options.auth;
    this.#ring = auth === undefined || auth === false ? undefined : auth === true ? jobKeys() : auth instanceof KeyRing ? auth
      : Array.isArray(auth) ? new KeyRing(auth)
        : (() => { throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'channel auth', 'true or an array of { id, key }', auth); })();
    this.#tpl = new ChannelHeaderTemplate(name, version, options._protocol ?? PROTOCOL, this.#ring !== undefined);
    this.name = name;
    this.#irecvWhat = `irecv of channel '${name}'`;
    this.version = this.#tpl.schema;
    this.checksum = options.checksum === true;
    this.#comm = comm;
    this.#edges = edges;
    if (options.shape !== undefined && options.dtype === undefined) {
      throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', 'a channel shape needs a dtype');
    }
    if (options.dtype !== undefined) {
      this.#dtypeInfo = dtypeInfo(options.dtype);
      this.dtype = this.#dtypeInfo.name;
    }
    if (options.shape !== undefined) {
      const s = options.shape;
      if (!Array.isArray(s) || s.some((d) => !(Number.isSafeInteger(d) && d >= -1))) {
        throw invalidParameterError('ERR_INVALID_ARG_VALUE', 'a channel shape', 'an array of non-negative integers or -1 (any extent)', s);
      }
      this.shape = Object.freeze([...s]);
    }
    const info = this.#dtypeInfo;
    if (info !== undefined && dtypeOf(new info.array(0)) === info && this.#validate === undefined && this.#window === 0 &&
      (this.shape === undefined || this.shape.length === 1)) {
      this.#bare = info;
      this.#bareLength = this.shape?.[0] ?? -1;
    }
    this.#expect = { channel: name, schemaMajor: version.major, protocol: this.#tpl.protocol };
    this.#quick = new Expectation(this.#tpl);
    // Error replies are read whatever the server's schema (its complaint may be about ours).
    this.#expectReply = { channel: name, protocol: this.#tpl.protocol };

    const handle = comm._handle(true);
    const slot = this.#tpl.channelHash % slotCount();
    this.#tag = TAG_BASE + TAG_STRIDE * slot;
    this.#key = `${handle}:${slot}`;
    let seqs = sequences.get(this.#key);
    if (seqs === undefined) sequences.set(this.#key, (seqs = { sent: [], seen: new Map() }));
    this.#seen = seqs.seen;
    this.#out = new Outbox(this.#tpl, this.checksum, seqs.sent, this.#ring, comm.rank);
    const taken = openTags.get(this.#key);
    if (taken !== undefined && taken.name !== name) {
      throw codedError(Error, 'ERR_CHANNEL_COLLISION',
        `channel '${name}' falls on the same tags as the open channel '${taken.name}'; close it or choose another name`);
    }
    if (taken === undefined) openTags.set(this.#key, { name, count: 1 });
    else taken.count++;
  }

  get comm(): Comm {
    return this.#comm;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The MPI tag of the channel's data lane on the private duplicate (request +1, reply +2). */
  get tag(): number {
    return this.#tag;
  }

  // ---- sending ----

  /**
   * Sends a message to `dest`: a tensor ({ dtype, shape, data }, or a typed array as 1-D), or any
   * structured-clone value whose typed arrays and ArrayBuffers travel out of band. Blocks like MPI_Send.
   */
  send(dest: number, message: T): void {
    const d = this._checkDest(dest, 'send');
    if (this.#isBare(message) && this.#out.sendArray(d, this.#tag + Lane.Data, this.#comm._handle(true), message, this.dtype!)) {
      this.stats.sent++;
      return;
    }
    const p = this._encode(message);
    if (this.#window === 0) {
      this._transmit(d, Lane.Data, p, 0, true);
      return;
    }
    const f = this.#flowOf(d);
    if (f.held > 0 || !f.gateSettled(f.n + 1 - this.#window)) {
      throw codedError(Error, 'ERR_CHANNEL_FLOW', `send: Promise sends to rank ${d} on channel '${this.name}' wait for the ` +
        'receiver (flow control); await them before a blocking send');
    }
    const n = ++f.n;
    this.#out.send(d, this.#tag + Lane.Data, this.#comm._handle(true), p, 0, true, n % this.#window === 0);
    this.stats.sent++;
  }

  /** Promise form of send: resolves once the message's memory may be reused. Argument errors throw. */
  isend(dest: number, message: T): Promise<void> {
    const d = this._checkDest(dest, 'send');
    if (this.#isBare(message)) {
      const sent = this.#out.isendArray(d, this.#tag + Lane.Data, this.#comm._handle(true), message, this.dtype!);
      if (sent !== undefined) {
        this.stats.sent++;
        return sent;
      }
    }
    const p = this._encode(message);
    if (this.#window === 0) return this._transmit(d, Lane.Data, p, 0, false)!;
    const f = this.#flowOf(d), w = this.#window;
    const n = ++f.n, sync = n % w === 0;
    const post = () => {
      const sent = this.#out.send(d, this.#tag + Lane.Data, this.#comm._handle(true), p, 0, false, sync)!;
      this.stats.sent++;
      if (sync) f.track(n, sent);
      return sent;
    };
    // Message n may leave after message n - 1, once every synchronous send up to n - w was matched (read
    // when n - 1 has left: only then is that send posted and tracked).
    if (f.held === 0 && f.gate(n - w) === undefined) return post();
    f.held++;
    const out = f.tail.then(() => f.gate(n - w)?.then(noop, noop)).then(() => {
      f.held--;
      return post();
    });
    f.tail = out.then(noop, noop);
    return out;
  }

  // A bare array of the declared dtype (or of a subclass of its type: a Buffer for uint8) and of a length
  // the declared shape allows, on a channel that checks nothing else: the outbox's array paths.
  #isBare(message: unknown): message is TypedArray {
    const bare = this.#bare;
    return bare !== undefined && message instanceof bare.array && (this.#bareLength < 0 || message.length === this.#bareLength);
  }

  #flowOf(d: number): Flow {
    let f = this.#flow.get(d);
    if (f === undefined) this.#flow.set(d, (f = new Flow(this.#window)));
    return f;
  }

  // ---- receiving ----

  /** Receives the next message from `source` (default any), blocking like MPI_Recv; every check runs. */
  recv<U = T>(source: number = ANY_SOURCE, options?: RecvOptions): Envelope<U> {
    const s = this._checkSource(source, 'recv');
    const into = options?.buffer === undefined ? undefined : bytesOf(asView(options.buffer, 'buffer'));
    const known = into === undefined && holdsExpected(this.#known?.slot ?? -1, this) ? this.#known : undefined;
    const got = receive(s, this.#tag + Lane.Data, this.#comm._handle(true), into, known);
    const from = statusRecord[STATUS.source]!;
    const k = takeKnown(got) as KnownTensor | undefined;
    return (k !== undefined ? this.#knownDelivery(got, from, k) : this._deliver(got as Uint8Array, from, Lane.Data, true)) as Envelope<U>;
  }

  // The payload of a message whose header is the one remembered in `k` but for its sequence number:
  // what every check found then, so only the edge policy (which depends on the sender) is asked again.
  #knownDelivery(payload: TypedArray, from: number, k: KnownTensor): Envelope {
    if (this.#edges === undefined || this.#edges.canSend(from, this.#comm.rank)) {
      this.stats.received++;
      const env = new Delivery({ dtype: k.dtype, shape: k.shape.slice(), data: payload }, from, payload, this.#expect, k.payloadOffset, k.total);
      return this.#validated(env, undefined, Lane.Data);
    }
    return this._deliver(new Uint8Array(payload.buffer, payload.byteOffset - k.payloadOffset, k.total), from, Lane.Data);
  }

  /**
   * Promise form of recv; never blocks the event loop. Argument and permission errors throw, as in
   * every Promise form of this library; a message that fails a check rejects.
   */
  irecv<U = T>(source: number = ANY_SOURCE, options?: RecvOptions): Promise<Envelope<U>> {
    const s = this._checkSource(source, 'recv');
    const into = options?.buffer === undefined ? undefined : bytesOf(asView(options.buffer, 'buffer'));
    const signal = checkSignal(options?.signal, 'irecv: signal');
    if (signal?.aborted) return Promise.reject(this.#irecvAborted(signal));
    if (into !== undefined) pin(into); // the message may land in it any time until the Promise settles
    // Without a signal (the common case) the receive's own Promise is the envelope's: no then(), no closure.
    if (signal === undefined) return this._listen(s, Lane.Data, into, undefined, this.#deliverData) as Request<Envelope<U>>;
    const r = this._listen(s, Lane.Data, into);
    const onAbort = () => r.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    return r.then((got) => {
      signal.removeEventListener('abort', onAbort);
      if (got.status.cancelled) throw this.#irecvAborted(signal);
      return this._deliver(got.data, got.status.source, Lane.Data) as Envelope<U>;
    }, (e: Error) => {
      signal.removeEventListener('abort', onAbort);
      throw e;
    });
  }

  #irecvAborted(signal: AbortSignal): AbortError {
    return new AbortError(`irecv on channel '${this.name}' was aborted`, { operation: 'irecv', channel: this.name, cause: signal.reason });
  }

  // ---- request/reply (lib/channel/rpc.ts) ----

  /**
   * Sends `message` to `dest` as a request and resolves with the reply of its serve() loop, matched by
   * correlation id. Rejects with TimeoutError after `timeoutMs` (a reply after that is dropped and
   * counted in stats.lateReplies), and with RemoteError when the handler threw. Argument and permission
   * errors throw before anything is sent.
   */
  request<R = unknown>(dest: number, message: T, options: RequestOptions = {}): Promise<Envelope<R>> {
    this.#requester ??= new Requester(this);
    return this.#requester.request(dest, message, options) as Promise<Envelope<R>>;
  }

  /**
   * Answers requests with `handler(message, envelope)`'s return value (or its Promise's), until the
   * returned server is closed. A handler that throws sends an error reply the requester rejects with.
   */
  serve(handler: Handler<T>, options: ServeOptions = {}): Server {
    this._checkOpen('serve');
    const server = new Server(this, handler, options, () => this.#servers.delete(server));
    this.#servers.add(server);
    return server;
  }

  /**
   * Closes the channel: new operations throw ERR_CHANNEL_CLOSED, waiting requests reject with it, its
   * servers stop (replies in progress are still sent), then its tags are released. Receives already
   * posted are not cancelled.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#requester?.close();
    const release = () => {
      const e = openTags.get(this.#key);
      if (e !== undefined && --e.count === 0) openTags.delete(this.#key);
    };
    if (this.#servers.size === 0) {
      release();
      return Promise.resolve();
    }
    return Promise.all([...this.#servers].map((s) => s.close())).then(release);
  }

  // ---- internals shared with lib/channel/rpc.ts and lib/topo/graph.ts ----

  /** @internal */
  _checkOpen(op: string): void {
    if (this.#closed) throw codedError(Error, 'ERR_CHANNEL_CLOSED', `${op}: channel '${this.name}' is closed`);
  }

  /** @internal A destination rank, checked against the communicator and the graph's edges. */
  _checkDest(dest: number, op: string, replying = false): number {
    if (!replying) this._checkOpen(op);
    return this.#edge(checkRank(dest, this.#comm._peers(), 'dest'), op, true);
  }

  /** @internal A source rank or ANY_SOURCE, checked against the communicator and the graph's edges. */
  _checkSource(source: number, op: string): number {
    this._checkOpen(op);
    if (source === ANY_SOURCE) return source;
    return this.#edge(checkRank(source, this.#comm._peers(), 'source'), op, false);
  }

  // `peer`, when the graph (if any) has the edge to it (sending) or from it.
  #edge(peer: number, op: string, sending: boolean): number {
    const me = this.#comm.rank;
    if (this.#edges === undefined || (sending ? this.#edges.canSend(me, peer) : this.#edges.canSend(peer, me))) return peer;
    const [from, to] = sending ? [me, peer] : [peer, me];
    throw new PermissionError(`${op}: rank ${me} may not ${sending ? 'send to' : 'receive from'} rank ${peer} on channel ` +
      `'${this.name}': the graph has no edge ${from} -> ${to}`, { operation: op, channel: this.name, peer });
  }

  /** @internal The payload of a value, checked against the channel's declared dtype and shape. */
  _encode(message: unknown, kind: 'object' | 'error' = 'object', reply = false): EncodedPayload {
    const check = reply ? this.#validateReply : this.#validate;
    if (check !== undefined && kind === 'object') {
      const r = check(message);
      if (!r.ok) {
        throw Object.assign(codedError(TypeError, 'ERR_CHANNEL_PAYLOAD', `channel '${this.name}': the ${reply ? 'reply' : 'message'} ` +
          `fails its schema: ${formatIssues(r.issues)}`), { issues: r.issues });
      }
    }
    if (this.#dtypeInfo !== undefined && kind === 'object') {
      const t = asTensor(message);
      if (t === undefined) {
        throw codedError(TypeError, 'ERR_CHANNEL_PAYLOAD', `channel '${this.name}' carries ${this.dtype} tensors; got ${describe(message)}`);
      }
      if (t.dtype !== this.#dtypeInfo) {
        throw codedError(TypeError, 'ERR_CHANNEL_PAYLOAD', `channel '${this.name}' carries ${this.dtype} tensors; got ${t.dtype.name}`);
      }
      if (this.shape !== undefined) {
        const shape = t.shape ?? [t.data.length];
        if (!shapeFits(this.shape, shape)) {
          throw codedError(RangeError, 'ERR_CHANNEL_PAYLOAD', `channel '${this.name}' carries shape ${fmtShape(this.shape)}; got ${fmtShape(shape)}`);
        }
      }
      return encodeTensor(t);
    }
    return encodePayload(message, kind);
  }

  /**
   * @internal Sends an encoded payload on a lane as ONE message: blocking (returns undefined once the
   * memory may be reused) or not (a Promise of the same).
   */
  _transmit(dest: number, lane: Lane, p: EncodedPayload, correlationId: number, blocking: boolean): Promise<void> | undefined {
    const sent = this.#out.send(dest, this.#tag + lane, this.#comm._handle(true), p, correlationId, blocking);
    this.stats.sent++;
    return sent;
  }

  /**
   * @internal A receive of the next message on a lane (cancellable), without decoding it; or, given
   * `finish`, one whose value is finish() of what arrived.
   */
  _listen(source: number, lane: Lane, into?: Uint8Array, what?: string): Request<Received<Uint8Array>>;
  _listen<R>(source: number, lane: Lane, into: Uint8Array | undefined, what: string | undefined, finish: (got: Received<Uint8Array>) => R): Request<R>;
  _listen<R>(source: number, lane: Lane, into?: Uint8Array, what?: string, finish?: (got: Received<Uint8Array>) => R): Request<any> {
    // Only #deliverData takes a payload handed over as known: it runs in the same call that received the
    // message, before any other receive could hand over another (takeKnown compares identities).
    const memory = into !== undefined ? inboxInto(into) : finish === this.#deliverData ? this.#inboxKnown : INBOX;
    const tag = this.#tag + lane, comm = this.#comm._handle(true), slot = native.improbe(source, tag, comm);
    const r: Request<any> = finish === undefined ? Request._recvNew<Uint8Array>(slot, memory, source, tag, comm) : Request._recvThen(slot, memory, source, tag, comm, finish);
    return r._label(what ?? this.#irecvWhat);
  }

  /** @internal Checks and decodes received bytes. Failures are typed errors carrying sender and bytes. */
  _deliver(raw: Uint8Array, source: number, lane: Lane, remember = false): Envelope {
    if (this.#ring !== undefined) this.#authenticate(raw, source, lane);
    const q = this.#quick.tensor(raw);
    if (q !== undefined && (this.#edges === undefined || this.#edges.canSend(source, this.#comm.rank)) &&
      (this.#dtypeInfo === undefined || (q.dtype === this.#dtypeInfo && (this.shape === undefined || shapeFits(this.shape, q.shape))))) {
      if (remember) this.#remember(q, raw);
      return this.#tensorEnvelope(q, raw, source, lane);
    }
    try {
      const msg = decodeMessage(raw, lane >= Lane.Reply ? this.#expectReply : this.#expect);
      const header = msg.header;
      if (lane === Lane.Reply && header.kind !== 'error' && !checkSchema(this.version, header.schema)) {
        throw new SchemaMismatchError(this.version.major, header.schema, raw, { header });
      }
      if (this.#edges !== undefined && !this.#edges.canSend(source, this.#comm.rank)) {
        throw Object.assign(new PermissionError(`a message from rank ${source}, which has no edge to rank ${this.#comm.rank} on channel '${this.name}'`,
          { operation: 'recv', channel: this.name, peer: source }), { raw, header, sender: source });
      }
      if (this.#dtypeInfo !== undefined && lane !== Lane.Cancel && !(lane === Lane.Reply && header.kind === 'error')) this.#checkDeclared(header, raw);
      const message = decodePayload(msg, raw);
      this.stats.received++;
      return this.#validated({ message, source, header }, raw, lane);
    } catch (e) {
      if (e instanceof MessageError) e.sender = source;
      if (!(e instanceof SchemaValidationError)) this.stats.errors++; // that one counted itself
      throw e;
    }
  }

  // A tensor message that passed every check: its payload viewed where it lies.
  #tensorEnvelope(q: TensorLayout, raw: Uint8Array, source: number, lane: Lane): Envelope {
    this.stats.received++;
    const ctor = q.dtype.array as unknown as new (b: ArrayBufferLike, o: number, n: number) => TypedArray;
    const data = new ctor(raw.buffer, raw.byteOffset + q.payloadOffset, q.payloadLength / q.dtype.size);
    const env = new Delivery({ dtype: q.dtype.name, shape: q.shape, data }, source, raw, lane >= Lane.Reply ? this.#expectReply : this.#expect, 0, raw.length);
    return this.#validated(env, raw, lane);
  }

  // After a data message that recv() took passed every check: the addon compares the next ones' headers
  // with its header, and a match skips the checks. A header with a checksum is not remembered (each
  // payload needs its own), nor one under authentication (each message is verified). Registering is an
  // N-API call, so it happens after two messages of one length in a row, and at most once per 16
  // messages received: traffic alternating between layouts, or more channels than the addon has slots
  // for, falls back to the checks instead of registering a header per message.
  #remember(q: TensorLayout, raw: Uint8Array): void {
    const n = raw.length, again = n === this.#lastLength;
    this.#lastLength = n;
    if (!again || this.#ring !== undefined || (raw[OFFSET.flags]! & FLAG_CHECKSUM) !== 0 || this.#registered * 16 > this.stats.received ||
      raw.byteOffset % HEADER_ALIGN !== 0) return;
    this.#registered++;
    const slot = expectHeader(this, raw.subarray(0, q.payloadOffset), n);
    this.#known = {
      slot, array: q.dtype.array, payloadOffset: q.payloadOffset, count: q.payloadLength / q.dtype.size, total: n,
      dtype: q.dtype.name, shape: q.shape.slice(), // q.shape went out with the message
    };
  }

  // The channel's validator on a decoded message (its output replaces the value: a schema may transform).
  #validated(env: Envelope, raw: Uint8Array | undefined, lane: Lane): Envelope {
    const check = lane === Lane.Reply ? this.#validateReply : lane === Lane.Cancel ? undefined : this.#validate;
    if (check === undefined || (lane === Lane.Reply && env.header.kind === 'error')) return env;
    const r = check(env.message);
    if (r.ok) {
      (env as { message: unknown }).message = r.value;
      return env;
    }
    this.stats.received--; // counted as an error instead
    this.stats.errors++;
    throw new SchemaValidationError(r.issues, formatIssues(r.issues), env.message, env.header, raw ?? (env as Delivery)._raw, { sender: env.source });
  }

  // Before anything else is read: the MAC, then the sequence number (only an authentic one is recorded).
  #authenticate(raw: Uint8Array, source: number, lane: Lane): void {
    try {
      const seq = verify(this.#ring!, raw, source, this.#comm.rank, this.name);
      const at = lane * 0x100000000 + source;
      const last = this.#seen.get(at) ?? 0;
      if (seq <= last) {
        throw new AuthenticationError('replay', `sequence number ${seq} from rank ${source} on channel '${this.name}' ` +
          `was already seen (last ${last})`, raw, { sender: source });
      }
      this.#seen.set(at, seq);
    } catch (e) {
      this.stats.errors++;
      throw e;
    }
  }

  #checkDeclared(h: DecodedHeader, raw: Uint8Array): void {
    if (h.kind !== 'tensor') throw new PayloadMismatchError('kind', 'tensor', h.kind, h, raw);
    if (h.dtype !== this.dtype) throw new PayloadMismatchError('dtype', this.dtype!, h.dtype ?? `code ${h.dtypeCode}`, h, raw);
    if (this.shape !== undefined && !shapeFits(this.shape, h.shape)) {
      throw new PayloadMismatchError('shape', fmtShape(this.shape), fmtShape(h.shape), h, raw);
    }
  }

  /** @internal */
  _countTimeout(): void {
    this.stats.timeouts++;
  }
}

/**
 * Reads a message whatever its protocol version, channel or schema, with only the structural checks
 * (lengths, shape, kind): how to get at `err.raw` after a ProtocolVersionError, SchemaMismatchError or
 * ChannelMismatchError. The checksum is not verified. Throws CorruptMessageError if the bytes do not
 * even parse.
 */
export function readRaw<T = unknown>(raw: Uint8Array, sender = -1): Envelope<T> {
  if (!(raw instanceof Uint8Array)) throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'readRaw: raw', 'a Uint8Array', raw);
  const major = raw.byteLength >= 8 ? raw[4]! | (raw[5]! << 8) : PROTOCOL.major;
  const msg = decodeMessage(raw, { protocol: { major, minor: 0 }, verifyChecksum: false });
  return { message: decodePayload(msg, raw) as T, source: sender, header: msg.header };
}

function noop(): void {}

/** Flow control towards one destination: messages numbered, synchronous sends' completions by number. */
class Flow {
  n = 0;
  held = 0;
  tail: Promise<void> = Promise.resolve();
  readonly #syncs = new Map<number, Promise<unknown>>();

  constructor(readonly window: number) {}

  /** Completion of the last synchronous send numbered at most `upTo`, if it is still pending. */
  gate(upTo: number): Promise<unknown> | undefined {
    return upTo < this.window ? undefined : this.#syncs.get(Math.floor(upTo / this.window) * this.window);
  }

  gateSettled(upTo: number): boolean {
    return this.gate(upTo) === undefined;
  }

  track(n: number, sent: Promise<void>): void {
    this.#syncs.set(n, sent);
    const done = () => void this.#syncs.delete(n);
    sent.then(done, done);
  }
}

function bytesOf(v: TypedArray): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** A Known of a channel's own tensors: their shape, and the whole message's length. */
interface KnownTensor extends Known {
  dtype: Dtype;
  shape: number[];
  total: number;
}

/**
 * An Envelope from the fast paths: the header is decoded only if someone reads it. It holds the message's
 * bytes, or only its payload (`back` bytes after the message's start; the message is `total` bytes).
 */
class Delivery implements Envelope {
  #header: DecodedHeader | undefined;
  readonly #bytes: ArrayBufferView;
  readonly #expect: DecodeOptions;
  readonly #back: number;
  readonly #total: number;

  constructor(public message: unknown, readonly source: number, bytes: ArrayBufferView, expect: DecodeOptions, back: number, total: number) {
    this.#bytes = bytes;
    this.#expect = expect;
    this.#back = back;
    this.#total = total;
  }

  get header(): DecodedHeader {
    return (this.#header ??= decodeMessage(this._raw, this.#expect).header);
  }

  /** @internal The whole message. */
  get _raw(): Uint8Array {
    const b = this.#bytes;
    return new Uint8Array(b.buffer, b.byteOffset - this.#back, this.#total);
  }
}

function parseVersion(v: unknown): SchemaVersion {
  let major: unknown, minor: unknown = 0;
  if (typeof v === 'number') major = v;
  else if (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v)) [major, minor = 0] = v.split('.').map(Number);
  else if (v !== null && typeof v === 'object') ({ major, minor = 0 } = v as { major: unknown; minor?: unknown });
  else throw invalidParameterError('ERR_INVALID_ARG_VALUE', 'a channel version', "2, '2.1' or { major, minor }", v);
  const ok = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffff;
  if (!ok(major) || !ok(minor)) {
    throw invalidParameterError('ERR_INVALID_ARG_VALUE', 'channel version', 'major[.minor] with integers 0..65535', v, RangeError);
  }
  return { major: major as number, minor: minor as number };
}

function shapeFits(declared: readonly number[], shape: readonly number[]): boolean {
  if (declared.length !== shape.length) return false;
  for (let i = 0; i < shape.length; i++) if (declared[i] !== -1 && declared[i] !== shape[i]) return false;
  return true;
}

function fmtShape(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

declare module '../comm/comm.js' {
  interface Comm {
    /**
     * Opens a versioned channel on this communicator (local: no other rank is involved). Receivers
     * require the same schema major; `dtype`/`shape` declare a tensor channel. See docs/channels.md.
     */
    channel<T = any>(name: string, options: ChannelOptions<T>): Channel<T>;
  }
}

Comm.prototype.channel = function <T>(this: Comm, name: string, options: ChannelOptions<T>): Channel<T> {
  return new Channel(this, name, options);
};
