/**
 * Where a partitioned run's slots spent their time, from the tasks' own start and running times on the
 * server and the bench's timer: the first launches, each hand-over (a task's end to the next task's start
 * in the same slot: end detection, reconcile, slot release, the Map's next iteration, slot acquire,
 * launch), and the tail (the last task's end to the timer's end). Pure: the bench feeds it.
 */

export interface TaskSpan {
  /** Epoch ms. */
  readonly startMs: number;
  readonly runningSeconds: number;
}

export interface SlotTimeline {
  /** Timer start to the first task's start: the first launch of the run. */
  readonly firstLaunchSeconds: number;
  /** Timer start to the start of each task of the first wave (one per slot). */
  readonly firstWaveSeconds: readonly number[];
  /** For each task that followed another in its slot: the previous task's end to its start. */
  readonly handOverSeconds: readonly number[];
  /** The last task's end to the timer's end: its end detection and reconcile, then the run's. */
  readonly tailSeconds: number;
  /** The busiest slot's task time over the timer: how far the partitions' sizes let the slots share the work. */
  readonly longestSlotSeconds: number;
  /** Sum of task times / (slots x the busiest slot's task time): 1 when every slot carries the same work. */
  readonly balance: number;
}

/**
 * Tasks are given to slots in start order, each to the slot that freed last before it started (a
 * task never starts before its slot is free; with equal frees, the lower slot). `slots` is the run's
 * concurrency, capped by the task count.
 */
export function slotTimeline(tasks: readonly TaskSpan[], slots: number, timerStartMs: number, timerEndMs: number): SlotTimeline {
  if (tasks.length === 0) throw new RangeError('no tasks');
  if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`slots must be a whole number above 0, not ${slots}`);
  const used = Math.min(slots, tasks.length);
  const sorted = [...tasks].sort((a, b) => a.startMs - b.startMs);
  const freeAt: number[] = [];
  const busySeconds: number[] = [];
  const firstWave: number[] = [];
  const handOvers: number[] = [];
  for (const task of sorted) {
    const endMs = task.startMs + task.runningSeconds * 1000;
    if (freeAt.length < used) {
      freeAt.push(endMs);
      busySeconds.push(task.runningSeconds);
      firstWave.push((task.startMs - timerStartMs) / 1000);
      continue;
    }
    let slot = -1;
    for (let i = 0; i < freeAt.length; i++) {
      if (freeAt[i]! <= task.startMs && (slot === -1 || freeAt[i]! > freeAt[slot]!)) slot = i;
    }
    // Clock skew or overlap (a retried task): the slot that frees first.
    if (slot === -1) slot = freeAt.indexOf(Math.min(...freeAt));
    handOvers.push(Math.max(0, (task.startMs - freeAt[slot]!) / 1000));
    freeAt[slot] = endMs;
    busySeconds[slot]! += task.runningSeconds;
  }
  const lastEnd = Math.max(...freeAt);
  const longest = Math.max(...busySeconds);
  const total = busySeconds.reduce((a, b) => a + b, 0);
  return {
    firstLaunchSeconds: Math.min(...firstWave),
    firstWaveSeconds: firstWave,
    handOverSeconds: handOvers,
    tailSeconds: (timerEndMs - lastEnd) / 1000,
    longestSlotSeconds: longest,
    balance: total / (used * longest),
  };
}
