import { describe, expect, it } from 'vitest';
import { slotTimeline } from '../../local/bench/slot-timeline';

const T0 = Date.UTC(2026, 4, 1);
const task = (startSeconds: number, runningSeconds: number) => ({ startMs: T0 + startSeconds * 1000, runningSeconds });

describe('slotTimeline: where a partitioned run\'s slots spent their time', () => {
  it('gives each later task to the slot that freed last before it started, and measures the hand-over from that end', () => {
    // Prepare: two slots; slot A runs 0.5..60.5 then 61.0..90, slot B 0.6..70.6 then 70.9..100.9
    const tasks = [task(61.0, 29), task(0.5, 60), task(70.9, 30), task(0.6, 70)];

    // Act
    const timeline = slotTimeline(tasks, 2, T0, T0 + 101_500);

    // Assess
    expect(timeline.firstLaunchSeconds).toBeCloseTo(0.5, 9);
    expect(timeline.firstWaveSeconds).toEqual([0.5, 0.6]);
    expect(timeline.handOverSeconds.map((s) => Number(s.toFixed(3)))).toEqual([0.5, 0.3]);
    expect(timeline.tailSeconds).toBeCloseTo(0.6, 9);
    expect(timeline.longestSlotSeconds).toBeCloseTo(100, 9);
    expect(timeline.balance).toBeCloseTo(189 / 200, 9);
  });

  it('counts a task that waited for the slot that freed last, not for one that freed earlier', () => {
    // Prepare: slot A frees at 10, slot B at 20; the third task starts at 20.2, after B's end
    const timeline = slotTimeline([task(0, 10), task(0, 20), task(20.2, 5)], 2, T0, T0 + 26_000);

    // Assess: the hand-over is 0.2 s after B, not 10.2 s after A
    expect(timeline.handOverSeconds.map((s) => Number(s.toFixed(3)))).toEqual([0.2]);
  });

  it('caps the slots at the task count and says how unevenly the partitions filled them', () => {
    // Prepare: four slots but three tasks of 60, 60 and 30 s
    const timeline = slotTimeline([task(1, 60), task(1, 60), task(1, 30)], 4, T0, T0 + 62_000);

    // Assess
    expect(timeline.firstWaveSeconds).toHaveLength(3);
    expect(timeline.handOverSeconds).toEqual([]);
    expect(timeline.balance).toBeCloseTo(150 / 180, 9);
  });

  it('refuses a run without tasks or without a slot', () => {
    expect(() => slotTimeline([], 4, T0, T0)).toThrow(/no tasks/);
    expect(() => slotTimeline([task(0, 1)], 0, T0, T0)).toThrow(/slots must be a whole number above 0/);
  });
});
