// The error a call throws, for the suites that check its class and code (unit and mpi alike).
import * as assert from 'uvu/assert';

/** The error `fn` throws (synchronously), or fails the test. */
export function thrown(fn: () => unknown): any {
  try {
    fn();
  } catch (e) {
    return e;
  }
  assert.unreachable('expected an error');
}
