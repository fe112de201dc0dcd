import { describe, expect, it } from 'vitest';
import { durationMs } from '../../lambdas/shared/runtime/config';
import { decideRetention, extendedRetention, hoursAtLeast } from '../../lambdas/shared/cluster/tombstones';

describe('server time values', () => {
  it.each([
    ['60s', 60_000],
    ['24h', 86_400_000],
    ['500ms', 500],
    ['2d', 172_800_000],
    ['1m', 60_000],
    ['1500', 1_500],
    ['1.5h', 5_400_000],
  ])('%s is %d ms', (value, ms) => {
    expect(durationMs(value)).toBe(ms);
  });

  it.each(['-1', 'forever', '', '10 years'])('%j is unreadable', (value) => {
    expect(durationMs(value)).toBeUndefined();
  });

  it('rounds a retention up to whole hours, at least one', () => {
    expect(hoursAtLeast(1)).toBe('1h');
    expect(hoursAtLeast(3_600_000)).toBe('1h');
    expect(hoursAtLeast(3_600_001)).toBe('2h');
    expect(hoursAtLeast(40 * 3_600_000)).toBe('40h');
  });
});

describe('decideRetention', () => {
  it('raises the server default of 60 s to the run retention', () => {
    expect(decideRetention({ index: 'i', explicit: null, effective: '60s' }, '24h')).toEqual({ kind: 'raise', to: '24h' });
  });

  it('never lowers a value that is already at least the retention', () => {
    expect(decideRetention({ index: 'i', explicit: '2d', effective: '2d' }, '24h').kind).toBe('keep');
    expect(decideRetention({ index: 'i', explicit: '24h', effective: '24h' }, '24h').kind).toBe('keep');
  });

  it('raises an explicit value shorter than the retention', () => {
    expect(decideRetention({ index: 'i', explicit: '1s', effective: '1s' }, '1h')).toEqual({ kind: 'raise', to: '1h' });
  });
});

describe('extendedRetention', () => {
  const hours = (h: number) => h * 3_600_000;

  it('leaves a retention that still covers twice the running time', () => {
    expect(extendedRetention(hours(5), '24h', '24h')).toBeUndefined();
    expect(extendedRetention(hours(12), '24h', '24h')).toBeUndefined();
  });

  it('grows past half of it to four times the running time, in whole hours', () => {
    expect(extendedRetention(hours(12) + 1, '24h', '24h')).toBe('49h');
    expect(extendedRetention(hours(30), '24h', '48h')).toBe('120h');
  });

  it('judges against what is in force after an earlier extension', () => {
    expect(extendedRetention(hours(30), '24h', '120h')).toBeUndefined();
  });

  it('never touches a value the pipeline did not raise', () => {
    expect(extendedRetention(hours(100), '24h', undefined)).toBeUndefined();
  });
});
