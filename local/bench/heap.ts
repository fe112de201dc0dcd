import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Peak V8 heap per state of a local run. `beforeState` (runLocal's hook) forces a full GC and takes
 * the baseline; a 2 ms sampler keeps the highest `heapUsed` until the next state starts or the run
 * ends. The delta is what the state's logic added on top of a settled heap: what its Lambda needs
 * beyond the runtime and the loaded modules.
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export function fullGc(): void {
  gc();
}

export interface HeapPeak {
  /** Highest heapUsed minus the settled heap when the state started, bytes. */
  deltaBytes: number;
  /** Highest heapUsed seen during the state, bytes. */
  peakBytes: number;
  invocations: number;
}

export class HeapSampler {
  readonly peaks = new Map<string, HeapPeak>();
  private current: { key: string; base: number; peak: number } | undefined;
  private timer: NodeJS.Timeout | undefined;

  /**
   * `live`: each sample comes after a full GC (every `intervalMs`, 20 by default), so the peak is the
   * most the state's logic held at once, not the garbage V8 let pile up on a roomy heap.
   */
  constructor(private readonly options: { live?: boolean; intervalMs?: number } = {}) {}

  start(): void {
    this.timer ??= setInterval(() => {
      if (this.options.live) gc();
      this.sample();
    }, this.options.intervalMs ?? (this.options.live ? 20 : 2));
  }

  /** For runLocal's `beforeState`. */
  readonly beforeState = (key: string): void => {
    this.settle();
    gc();
    const base = process.memoryUsage().heapUsed;
    this.current = { key, base, peak: base };
  };

  /** Ends the current state's window (call when the run returns). */
  settle(): void {
    if (!this.current) return;
    this.sample();
    const { key, base, peak } = this.current;
    const seen = this.peaks.get(key) ?? { deltaBytes: 0, peakBytes: 0, invocations: 0 };
    this.peaks.set(key, {
      deltaBytes: Math.max(seen.deltaBytes, peak - base),
      peakBytes: Math.max(seen.peakBytes, peak),
      invocations: seen.invocations + 1,
    });
    this.current = undefined;
  }

  stop(): void {
    this.settle();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private sample(): void {
    if (!this.current) return;
    const used = process.memoryUsage().heapUsed;
    if (used > this.current.peak) this.current.peak = used;
  }
}
