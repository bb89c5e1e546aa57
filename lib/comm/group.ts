// Groups (MPI-4.1 chapter 7): ordered sets of processes, taken from a communicator (comm.group()) and
// combined locally, and communicators made from them (comm.createGroup, MPI_Comm_create_group: collective
// over the group's members only, e.g. one pipeline stage). Every rank list is checked here first:
// Open MPI 4.1.4 and MPICH 4.0.2 both accept duplicate ranks in MPI_Group_incl without an error.
import { C, native } from '../addon/binding.js';
import { checkRank, invalidParameterError, isTag, tagError } from '../core/checks.js';
import { codedError } from '../core/errors.js';
import { Comm, PROC_NULL, tagUpperBound } from './comm.js';

/** How two groups compare: the same members in the same order, the same members, or not. */
export type GroupComparison = 'ident' | 'similar' | 'unequal';

/** A range of ranks, [first, last, stride] (stride 1 when left out); first > last with a negative stride. */
export type RankRange = readonly [first: number, last: number, stride?: number];

/** An MPI group. Local: making one needs no other rank. Free it with free() when done. */
export class Group {
  #h: number;
  #size = -1;

  /** @internal Made by comm.group() and by the operations below. */
  constructor(handle: number) {
    this.#h = handle;
  }

  /** @internal The handle (throws once freed). */
  _handle(): number {
    if (this.#h < 0) throw codedError(TypeError, 'ERR_GROUP_FREED', 'this group was freed');
    return this.#h;
  }

  get freed(): boolean {
    return this.#h < 0;
  }

  get size(): number {
    if (this.#size < 0) this.#size = native.groupSize(this._handle());
    return this.#size;
  }

  /** This process's rank in the group, or undefined when it is not a member. */
  get rank(): number | undefined {
    const r = native.groupRank(this._handle());
    return r === C.UNDEFINED ? undefined : r;
  }

  /** The members at `ranks`, in that order (MPI_Group_incl). */
  incl(ranks: readonly number[]): Group {
    return new Group(native.groupIncl(this._handle(), this.#ranks(ranks, 'incl')));
  }

  /** Every member but those at `ranks`, in group order (MPI_Group_excl). */
  excl(ranks: readonly number[]): Group {
    return new Group(native.groupExcl(this._handle(), this.#ranks(ranks, 'excl')));
  }

  /** incl of the ranks the ranges list, in order (MPI_Group_range_incl). */
  rangeIncl(ranges: readonly RankRange[]): Group {
    return new Group(native.groupIncl(this._handle(), this.#ranks(expand(ranges), 'rangeIncl')));
  }

  /** excl of the ranks the ranges list (MPI_Group_range_excl). */
  rangeExcl(ranges: readonly RankRange[]): Group {
    return new Group(native.groupExcl(this._handle(), this.#ranks(expand(ranges), 'rangeExcl')));
  }

  /** This group's members, then the other's that are not in it (MPI_Group_union). */
  union(other: Group): Group {
    return new Group(native.groupUnion(this._handle(), groupArg(other)));
  }

  /** This group's members that are also in the other, in this group's order (MPI_Group_intersection). */
  intersection(other: Group): Group {
    return new Group(native.groupIntersection(this._handle(), groupArg(other)));
  }

  /** This group's members that are not in the other (MPI_Group_difference). */
  difference(other: Group): Group {
    return new Group(native.groupDifference(this._handle(), groupArg(other)));
  }

  /**
   * The rank in `other` of each member at `ranks` of this group, undefined where it is not in `other`
   * (MPI_Group_translate_ranks); PROC_NULL stays PROC_NULL.
   */
  translateRanks(ranks: readonly number[], other: Group): (number | undefined)[] {
    const o = groupArg(other);
    const list = arrayArg(ranks, 'translateRanks: ranks');
    const size = this.size;
    const mine = Int32Array.from(list, (r) => (r === PROC_NULL ? PROC_NULL : checkRank(r, size, 'translateRanks: rank')));
    return Array.from(native.groupTranslate(this._handle(), mine, o), (r) => (r === C.UNDEFINED ? undefined : r));
  }

  compare(other: Group): GroupComparison {
    const r = native.groupCompare(this._handle(), groupArg(other));
    return r === C.IDENT ? 'ident' : r === C.SIMILAR ? 'similar' : 'unequal';
  }

  /** MPI_Group_free; freeing twice is a no-op. */
  free(): void {
    if (this.#h < 0) return;
    native.groupFree(this.#h);
    this.#h = -1;
  }

  // Ranks of this group, each once.
  #ranks(ranks: readonly number[], what: string): Int32Array {
    const list = arrayArg(ranks, `${what}: ranks`);
    const size = this.size;
    const seen = new Set<number>();
    for (const x of list) {
      const r = checkRank(x, size, `${what}: rank`);
      if (seen.has(r)) throw codedError(RangeError, 'ERR_DUPLICATE_RANK', `${what}: rank ${r} is listed twice; MPI needs distinct ranks`);
      seen.add(r);
    }
    return Int32Array.from(seen);
  }
}

function arrayArg(v: unknown, what: string): readonly unknown[] {
  if (!Array.isArray(v)) throw invalidParameterError('ERR_INVALID_ARG_TYPE', what, 'an array of ranks', v);
  return v;
}

function groupArg(g: unknown): number {
  if (!(g instanceof Group)) throw invalidParameterError('ERR_INVALID_ARG_TYPE', 'group', 'a Group', g);
  return g._handle();
}

// The ranks of [first, last, stride] triplets: first, first + stride, ... while not past last. A
// stride leading away from last is refused (both MPIs answer it with an error of their own).
function expand(ranges: readonly RankRange[]): number[] {
  const out: number[] = [];
  for (const range of arrayArg(ranges, 'ranges')) {
    if (!Array.isArray(range) || range.length < 2 || range.length > 3 || !range.every((x) => Number.isInteger(x))) {
      throw invalidParameterError('ERR_INVALID_ARG_VALUE', 'a range', '[first, last] or [first, last, stride] of integers', range);
    }
    const [first, last, stride = 1] = range as [number, number, number?];
    if (stride === 0 || (last - first) * stride < 0) {
      throw codedError(RangeError, 'ERR_INVALID_ARG_VALUE', `range [${first}, ${last}, ${stride}]: the stride must lead from first to last`);
    }
    for (let r = first; stride > 0 ? r <= last : r >= last; r += stride) out.push(r);
  }
  return out;
}

declare module './comm.js' {
  interface Comm {
    /** The group of this communicator's processes, in rank order (MPI_Comm_group). Local. */
    group(): Group;
    /**
     * A communicator of the group's processes (MPI_Comm_create_group): collective over the group only,
     * so only its members call it (each with the same group and tag), e.g. one pipeline stage while the
     * other stages do something else. The group must be one of this communicator's processes.
     */
    createGroup(group: Group, tag?: number): Comm;
  }
}

Comm.prototype.group = function (this: Comm): Group {
  return new Group(native.commGroup(this._handle()));
};

Comm.prototype.createGroup = function (this: Comm, group: Group, tag = 0): Comm {
  const g = groupArg(group);
  if (!isTag(tag, tagUpperBound())) throw tagError(tag, tagUpperBound(), false);
  const mine = this.group();
  try {
    const ranks = Array.from({ length: group.size }, (_, i) => i);
    const where = group.translateRanks(ranks, mine);
    const outside = where.indexOf(undefined);
    if (outside >= 0) {
      throw codedError(RangeError, 'ERR_GROUP', `createGroup: group rank ${outside} is not a process of this communicator`);
    }
  } finally {
    mine.free();
  }
  if (group.rank === undefined) {
    throw codedError(Error, 'ERR_NOT_IN_GROUP', 'createGroup: this process is not in the group; only its members may call it');
  }
  const [h, i] = native.commCreateGroup(this._handle(), g, tag);
  return new Comm(h, i);
};
