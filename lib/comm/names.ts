// How a communicator handle is named in messages about operations in flight (at exit, or when only
// MPI keeps a process alive). The library's own traffic (channels, object collectives) runs on each
// communicator's private duplicate, named after it.
const names = new Map<number, string>();
const privateOf = new Map<number, string>();

/** Records the name of a communicator and of its private duplicate. */
export function nameComm(handle: number, internal: number, name: string): void {
  names.set(handle, name);
  privateOf.set(internal, name);
}

/**
 * A communicator's name; for a private duplicate, the name of the communicator it belongs to, or (when
 * `owner` is false) says that it is the private duplicate.
 */
export function commName(handle: number, owner = false): string {
  const mine = privateOf.get(handle);
  if (mine !== undefined) return owner ? mine : `${mine}'s private duplicate (channels, object collectives)`;
  return names.get(handle) ?? `communicator ${handle}`;
}
