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

/** The error `fn` throws, which must carry `code` (else the test fails, naming `what` and the message). */
export function throwsCode(fn: () => unknown, code: string, what = code): any {
  try {
    fn();
  } catch (e) {
    assert.is((e as { code?: string }).code, code, `${what}: ${(e as Error).message}`);
    return e;
  }
  assert.unreachable(`${what}: did not throw`);
}
