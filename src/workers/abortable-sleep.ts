/**
 * A pause between a worker's polls that ends early when the worker is told to stop.
 *
 * The listener it adds to the stop signal goes again when the pause ends on its own: a worker polls
 * twice a second for days, and listeners left behind on a signal that never fires would pile up
 * (Node warns past ten: MaxListenersExceededWarning on the worker's stderr) and never be freed.
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const wake = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', wake);
      resolve();
    }, ms);
    signal?.addEventListener('abort', wake, { once: true });
  });
}
