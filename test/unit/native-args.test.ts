// The addon's argument reader (native/core/args.h) on arguments lib/ never passes: sizes that are not
// non-negative integers are RangeErrors (they once became 0, or an enormous size_t), and other wrong
// types are TypeErrors, never a silent guess. Nothing here needs MPI initialised.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native } from '../../lib/addon/binding.js';

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  assert.unreachable('did not throw');
  throw new Error('unreachable');
}

test('a size must be an integer in [0, 2^53): negatives, NaN, fractions and infinity are RangeErrors', () => {
  for (const bad of [-1, -0.5, NaN, 1.5, Infinity, 2 ** 53]) {
    const e = thrown(() => native.allocBuffer(bad));
    assert.instance(e, RangeError, String(bad));
    assert.match(e.message, /^internal: argument 0 must be a size/);
  }
  assert.is(native.allocBuffer(3).length, 3);
});

test('wrong argument types are TypeErrors', () => {
  assert.instance(thrown(() => native.allocBuffer('3' as never)), TypeError);
  assert.instance(thrown(() => native.divide([1, 2] as never, 2)), TypeError);
  assert.instance(thrown(() => native.registerBuffer('x' as never, new Uint8Array(1))), TypeError);
});

test.run();
