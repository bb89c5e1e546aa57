// Request/reply on a channel: channel.request(dest, message, { timeoutMs }) and channel.serve(handler).
//
// Requests, replies and plain messages travel on three tags of the channel (lanes), so a serve loop
// never takes a plain message and recv() never takes a request. A request carries a correlation id
// (unique in the requesting process); the reply echoes it and is matched by (id, sender), never by
// arrival order.
// A reply whose request timed out finds no entry: it is dropped and counted (stats.lateReplies), so it
// can neither crash anything nor resolve a later request. A request that times out or is aborted also
// sends a cancel notice (the channel's fourth lane, correlation id of the request, empty payload): the
// serving process aborts that handler's signal (stats.cancelled there); a handler that then throws
// sends no reply. Everything is Promise-driven: no call here
// blocks the event loop.
import { ANY_SOURCE } from '../comm/comm.js';
import { Lane, type Channel, type Envelope } from './channel.js';
import { checkSignal, invalidParameterError } from '../core/checks.js';
import { codedError } from '../core/errors.js';
import type { Received, Request } from '../core/request.js';
import { MAGIC_BYTES, OFFSET } from '../wire/codec.js';
import { AbortError, type MessageError, RemoteError, type RemoteErrorInfo, TimeoutError } from '../wire/errors.js';
import type { EncodedPayload } from '../wire/payload.js';

export interface RequestOptions {
  /** Reject with TimeoutError when no reply came within this many milliseconds (default: wait forever). */
  timeoutMs?: number | undefined;
  /** Abort the request: it rejects with AbortError and the server is told, as on a timeout. */
  signal?: AbortSignal | undefined;
}

export interface ServeOptions {
  /** Serve only requests from this rank (default any). */
  source?: number | undefined;
  /**
   * Called with every failure the serve loop cannot hand to a requester: a request that fails a
   * check and carries no readable correlation id, a reply that cannot be sent. (A request that fails
   * a check but has a readable header is answered with an error reply as well.)
   */
  onError?: ((error: Error) => void) | undefined;
}

/** What a handler gets besides the message: `signal` aborts when the requester gives up (timeout, abort). */
export interface ServeEnvelope<T = unknown> extends Envelope<T> {
  signal: AbortSignal;
}

/** Computes the reply to a request: a tensor or any structured-clone value, or a Promise of one. */
export type Handler<T = any> = (message: T, envelope: ServeEnvelope<T>) => unknown;

// The cancel notice: no payload; the correlation id names the request.
const CANCEL: EncodedPayload = { kind: 'bytes', parts: [], length: 0 };
// Handlers running in this process, by communicator, tag, requester and correlation id; and cancels that
// came before their request (another tag: MPI does not order them), bounded.
const running = new Map<string, AbortController>();
const cancelledEarly = new Set<string>();
const EARLY_MAX = 4096;
const runKey = (ch: Channel, source: number, id: number) => `${ch.comm._handle(true)}:${ch.tag}:${source}:${id}`;
// Serve loops by communicator and tag: channel objects of one name with different schema majors share the
// request tag, so whichever loop takes a request hands it to the loop of the request's major.
const servers = new Map<string, Set<Server>>();
const tagKey = (ch: Channel) => `${ch.comm._handle(true)}:${ch.tag}`;

interface Pending {
  owner: Requester;
  dest: number;
  resolve: (e: Envelope) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

// Requests in flight in this process, by correlation id. Ids are unique in the process: every channel
// object of one name on one communicator shares the reply tag, so a reply may be taken by any of their
// reply receives, and is handed to the request it answers whichever took it.
const inFlight = new Map<number, Pending>();
let nextId = 1;
// Requests that timed out (bounded), so that a late reply is counted on the channel that made it.
const expired = new Map<number, Channel>();
const EXPIRED_MAX = 4096;

function closedError(ch: Channel): Error {
  return codedError(Error, 'ERR_CHANNEL_CLOSED', `channel '${ch.name}' was closed`);
}

/** The correlation id in a message's header, without decoding it (undefined when there is no header). */
function peekCorrelationId(raw: Uint8Array): number | undefined {
  if (raw.byteLength < OFFSET.correlationId + 8 || raw[0] !== MAGIC_BYTES[0] || raw[1] !== MAGIC_BYTES[1] ||
    raw[2] !== MAGIC_BYTES[2] || raw[3] !== MAGIC_BYTES[3]) {
    return undefined;
  }
  const v = new DataView(raw.buffer, raw.byteOffset + OFFSET.correlationId, 8);
  return v.getUint32(4, true) * 4294967296 + v.getUint32(0, true);
}

function requestAborted(ch: Channel, dest: number, signal: AbortSignal): AbortError {
  return new AbortError(`request to rank ${dest} on channel '${ch.name}' was aborted`,
    { operation: 'request', channel: ch.name, peer: dest, cause: signal.reason });
}

/** The requesting side of a channel: timeouts, and one reply receive while any of its requests waits. */
export class Requester {
  readonly #ch: Channel;
  readonly #mine = new Set<number>();
  #listener: Request<Received<Uint8Array>> | undefined;

  constructor(ch: Channel) {
    this.#ch = ch;
  }

  request(dest: number, message: unknown, options: RequestOptions): Promise<Envelope> {
    const ch = this.#ch;
    const timeoutMs = options?.timeoutMs;
    const d = ch._checkDest(dest, 'request');
    ch._checkSource(d, 'request'); // the reply needs the edge back
    if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs >= 0)) {
      throw invalidParameterError('ERR_INVALID_ARG_VALUE', 'timeoutMs', 'a non-negative number', timeoutMs, RangeError);
    }
    const signal = checkSignal(options?.signal, 'request: signal');
    const payload = ch._encode(message);
    if (signal?.aborted) return Promise.reject(requestAborted(ch, d, signal));
    const id = nextId++;
    const promise = new Promise<Envelope>((resolve, reject) => {
      const p: Pending = { owner: this, dest: d, resolve, reject, timer: undefined };
      if (timeoutMs !== undefined && timeoutMs !== Infinity) {
        p.timer = setTimeout(() => {
          ch._countTimeout();
          this.#giveUp(id, new TimeoutError(`no reply from rank ${d} on channel '${ch.name}' within ${timeoutMs} ms`, timeoutMs,
            { operation: 'request', channel: ch.name, peer: d }));
        }, timeoutMs);
      }
      inFlight.set(id, p);
      this.#mine.add(id);
    });
    if (signal !== undefined) {
      // The abort path's closure only for a request that has a signal (a request/reply loop makes many).
      const onAbort = () => this.#giveUp(id, requestAborted(ch, d, signal));
      signal.addEventListener('abort', onAbort, { once: true });
      void promise.then(() => signal.removeEventListener('abort', onAbort), () => signal.removeEventListener('abort', onAbort));
    }
    try {
      this.#listen();
      ch.stats.requests++;
      ch._transmit(d, Lane.Request, payload, id, false)!.catch((e: Error) => this.#take(id)?.reject(e));
    } catch (e) {
      this.#take(id)?.reject(e as Error); // an MPI error rejects, as in every Promise form
    }
    return promise;
  }

  // The request will not be waited for: its reply, if one comes, is late; the server is told to stop.
  #giveUp(id: number, err: Error): void {
    const p = this.#take(id);
    if (p === undefined) return;
    if (expired.size >= EXPIRED_MAX) expired.delete(expired.keys().next().value!);
    expired.set(id, this.#ch);
    // To oneself without MPI: a send to oneself that no receive takes (no server) may never complete (MPICH).
    if (p.dest === this.#ch.comm.rank && !this.#ch.comm.isInter) cancelHandler(this.#ch, p.dest, id);
    else this.#ch._transmit(p.dest, Lane.Cancel, CANCEL, id, false)?.catch(() => {}); // best effort: the reply is dropped anyway
    p.reject(err);
  }

  /** Rejects every waiting request and stops listening. */
  close(): void {
    const err = closedError(this.#ch);
    for (const id of [...this.#mine]) this.#take(id)?.reject(err);
    this.#idle();
  }

  #listen(): void {
    if (this.#listener !== undefined) return;
    const r = this.#ch._listen(ANY_SOURCE, Lane.Reply, undefined, `reply receive of channel '${this.#ch.name}' (request() waiting)`);
    this.#listener = r;
    r.then(
      (got) => {
        if (this.#listener === r) this.#listener = undefined;
        // Cancelled: nothing waits any more (#idle), or the process is exiting (lib/core/exit.ts).
        if (got.status.cancelled) return;
        this.#onReply(got.data, got.status.source);
        if (this.#mine.size > 0) this.#listen();
      },
      (err: Error) => {
        if (this.#listener === r) this.#listener = undefined;
        for (const id of [...this.#mine]) this.#take(id)?.reject(err);
      },
    );
  }

  // Nothing of ours waits: stop the reply receive so the process may exit. A reply still on its way
  // stays queued in MPI and is received (and counted late) by the next listener.
  #idle(): void {
    if (this.#mine.size > 0 || this.#listener === undefined) return;
    const r = this.#listener;
    this.#listener = undefined;
    r.cancel();
  }

  #take(id: number): Pending | undefined {
    const p = inFlight.get(id);
    if (p === undefined || p.owner !== this) return undefined;
    inFlight.delete(id);
    this.#mine.delete(id);
    clearTimeout(p.timer);
    this.#idle();
    return p;
  }

  #onReply(raw: Uint8Array, source: number): void {
    const id = peekCorrelationId(raw);
    const p = id === undefined ? undefined : inFlight.get(id);
    if (p === undefined || p.dest !== source || p.owner.#ch.comm !== this.#ch.comm || p.owner.#ch.tag !== this.#ch.tag) {
      // No request waits for it: a reply after its request timed out (or bytes that are no reply).
      (expired.get(id!) ?? this.#ch).stats.lateReplies++;
      if (id !== undefined) expired.delete(id);
      return;
    }
    p.owner.#settle(id!, raw, source);
  }

  // The reply to request `id`, read with the expectations of the channel that asked.
  #settle(id: number, raw: Uint8Array, source: number): void {
    const p = this.#take(id)!;
    const ch = this.#ch;
    let env: Envelope;
    try {
      env = ch._deliver(raw, source, Lane.Reply);
    } catch (e) {
      p.reject(e as Error);
      return;
    }
    if (env.header.kind === 'error') p.reject(new RemoteError(remoteInfo(env.message), source, ch.name));
    else p.resolve(env);
  }
}

/** A serve() loop: one request receive at a time, handlers run concurrently, replies sent as they finish. */
export class Server {
  readonly #ch: Channel;
  readonly #handler: Handler;
  readonly #source: number;
  readonly #onError: ((error: Error) => void) | undefined;
  readonly #onClosed: () => void;
  readonly #inflight = new Set<Promise<void>>();
  #listener: Request<Received<Uint8Array>> | undefined;
  #cancels: Request<Received<Uint8Array>> | undefined;
  #closing: Promise<void> | undefined;
  #closed = false;
  #refed = true;

  /** @internal Made by channel.serve(). */
  constructor(ch: Channel, handler: Handler, options: ServeOptions, onClosed: () => void) {
    if (typeof handler !== 'function') {
      throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'serve: handler', 'a function', handler);
    }
    this.#ch = ch;
    this.#handler = handler;
    this.#source = ch._checkSource(options?.source ?? ANY_SOURCE, 'serve');
    this.#onError = options?.onError;
    const key = tagKey(ch);
    let set = servers.get(key);
    if (set === undefined) servers.set(key, (set = new Set()));
    set.add(this);
    this.#onClosed = () => {
      set.delete(this);
      if (set.size === 0) servers.delete(key);
      onClosed();
    };
    this.#next();
    this.#nextCancel();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Lets the process exit while this server waits for requests (its receive no longer keeps the event
   * loop alive, as `unref()` does for a Node server); at exit the waiting receive is cancelled. Replies
   * in progress still keep it alive. Returns the server.
   */
  unref(): this {
    this.#refed = false;
    this.#listener?.unref();
    return this;
  }

  /** Undoes unref(): the server keeps the process alive while it waits (the default). */
  ref(): this {
    this.#refed = true;
    this.#listener?.ref();
    return this;
  }

  /**
   * Stops serving: the waiting request receive is cancelled (a request already matched is still
   * answered), and the Promise resolves once every reply in progress has been sent.
   */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closed = true;
      this.#listener?.cancel();
      this.#cancels?.cancel();
      this.#closing = this.#drain();
    }
    return this.#closing;
  }

  async #drain(): Promise<void> {
    while (this.#listener !== undefined || this.#cancels !== undefined || this.#inflight.size > 0) {
      const settled = (r: Request<Received<Uint8Array>> | undefined) => r?.then(() => undefined, () => undefined);
      await Promise.all([settled(this.#listener), settled(this.#cancels), ...this.#inflight]);
    }
    this.#onClosed();
  }

  // One receive at a time on a lane (requests, or cancel notices), again after each message, until closed.
  #loop(lane: typeof Lane.Request | typeof Lane.Cancel, onMessage: (raw: Uint8Array, source: number) => void): void {
    const what = lane === Lane.Request ? `serve() of channel '${this.#ch.name}'` : `cancel notices of channel '${this.#ch.name}'`;
    const r = this.#ch._listen(this.#source, lane, undefined, what);
    // Cancel notices never keep the process alive on their own: the request receive does, until closed.
    if (!this.#refed || lane === Lane.Cancel) r.unref();
    const set = (v: Request<Received<Uint8Array>> | undefined) => (lane === Lane.Request ? (this.#listener = v) : (this.#cancels = v));
    set(r);
    r.then(
      (got) => {
        set(undefined);
        // Cancelled: by close(), or by the process exiting (lib/core/exit.ts). Either way, no more.
        if (got.status.cancelled) return;
        onMessage(got.data, got.status.source);
        if (!this.#closed) this.#loop(lane, onMessage);
      },
      (err: Error) => {
        set(undefined);
        this.#report(err);
        if (lane === Lane.Request) this.#closed = true;
      },
    );
  }

  #next(): void {
    this.#loop(Lane.Request, (raw, source) => {
      const to = this.#route(raw, source);
      to.#track(to.#answer(raw, source));
    });
  }

  // The open serve loop of this name for the request's schema major (read unchecked: the loop that
  // answers runs every check); this one when none other fits.
  #route(raw: Uint8Array, source: number): Server {
    const major = raw.byteLength >= OFFSET.schemaMajor + 2 ? raw[OFFSET.schemaMajor]! | (raw[OFFSET.schemaMajor + 1]! << 8) : -1;
    if (major === this.#ch.version.major) return this;
    for (const s of servers.get(tagKey(this.#ch)) ?? []) {
      if (!s.#closed && s.#ch.version.major === major && (s.#source === ANY_SOURCE || s.#source === source)) return s;
    }
    return this;
  }

  // Cancel notices: abort the named handler's signal, or remember the cancel if its request is still to come.
  #nextCancel(): void {
    this.#loop(Lane.Cancel, (raw, source) => this.#onCancel(raw, source));
  }

  #onCancel(raw: Uint8Array, source: number): void {
    let id: number;
    try {
      id = Number(this.#ch._deliver(raw, source, Lane.Cancel).header.correlationId);
    } catch (e) {
      this.#report(e as Error); // a forged or corrupt cancel (e.g. failing authentication) cancels nothing
      return;
    }
    cancelHandler(this.#ch, source, id);
  }

  #track(p: Promise<void>): void {
    this.#inflight.add(p);
    p.finally(() => this.#inflight.delete(p));
  }

  async #answer(raw: Uint8Array, source: number): Promise<void> {
    const ch = this.#ch;
    let env: Envelope;
    try {
      env = ch._deliver(raw, source, Lane.Request);
    } catch (e) {
      this.#report(e as Error);
      // The requester would otherwise wait for its timeout: tell it, if the header says who asked what.
      const id = (e as MessageError).header?.correlationId;
      if (id !== undefined) await this.#reply(source, Number(id), e, true);
      return;
    }
    const id = Number(env.header.correlationId);
    const key = runKey(ch, source, id);
    const control = new AbortController();
    if (cancelledEarly.delete(key)) control.abort(new Error(`rank ${source} gave up request ${id}`));
    running.set(key, control);
    (env as ServeEnvelope).signal = control.signal;
    let result: unknown;
    let failed = false;
    try {
      result = await this.#handler(env.message, env as ServeEnvelope);
    } catch (e) {
      result = e;
      failed = true;
    } finally {
      running.delete(key);
    }
    if (control.signal.aborted) {
      // Nobody waits for it. A handler that stopped (threw) gets no error reply; one that ignored its
      // signal and returned a value has it sent, and counted late at the requester.
      ch.stats.cancelled++;
      if (failed) return;
    }
    await this.#reply(source, id, result, failed);
  }

  async #reply(dest: number, id: number, value: unknown, failed: boolean): Promise<void> {
    const ch = this.#ch;
    try {
      let payload;
      try {
        payload = failed ? ch._encode(errorInfo(value), 'error') : ch._encode(value, 'object', true);
      } catch (e) {
        payload = ch._encode(errorInfo(e), 'error'); // the handler's value does not fit the channel
      }
      await ch._transmit(ch._checkDest(dest, 'reply', true), Lane.Reply, payload, id, false);
      ch.stats.served++;
    } catch (e) {
      this.#report(e as Error);
    }
  }

  #report(e: Error): void {
    try {
      this.#onError?.(e);
    } catch {
      // an onError that throws must not stop the loop
    }
  }
}

/** Aborts the signal of the handler answering `source`'s request `id`, or remembers it for when the request comes. */
function cancelHandler(ch: Channel, source: number, id: number): void {
  const key = runKey(ch, source, id);
  const c = running.get(key);
  if (c !== undefined) return c.abort(new Error(`rank ${source} gave up request ${id}`));
  if (cancelledEarly.size >= EARLY_MAX) cancelledEarly.delete(cancelledEarly.values().next().value!);
  cancelledEarly.add(key);
}

function errorInfo(e: unknown): RemoteErrorInfo {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { name: e.name, message: e.message, code: typeof code === 'string' ? code : undefined, stack: e.stack };
  }
  return { name: 'Error', message: String(e) };
}

function remoteInfo(v: unknown): RemoteErrorInfo {
  const o = (v !== null && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  const str = (x: unknown) => (typeof x === 'string' ? x : undefined);
  return { name: str(o.name) ?? 'Error', message: str(o.message) ?? String(v), code: str(o.code), stack: str(o.stack) };
}
