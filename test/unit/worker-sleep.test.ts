// A worker pauses between polls on its stop signal for as long as it lives: each pause must take its
// listener away again, or a long-lived worker piles them up (MaxListenersExceededWarning after ten).
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { abortableSleep } from '../../src/workers/abortable-sleep.js';

describe("a worker's pause between polls", () => {
  it('leaves no listener on the stop signal once it has ended on its own', async () => {
    const stop = new AbortController();
    for (let i = 0; i < 20; i++) await abortableSleep(1, stop.signal);
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
  });

  it('ends at once when the signal aborts, and at once when it already had', async () => {
    const stop = new AbortController();
    const pause = abortableSleep(3_600_000, stop.signal);
    stop.abort();
    await pause; // an hour-long pause that did not end would time the test out
    await abortableSleep(3_600_000, stop.signal);
    expect(getEventListeners(stop.signal, 'abort')).toHaveLength(0);
  });
});
