/**
 * Whether a process of this machine is still running: signal 0 checks without sending anything. A
 * process of another user answers EPERM, and is alive too.
 */
export function isProcessAlive(pid: number | null): boolean {
  if (!pid) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
