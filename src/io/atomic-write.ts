/**
 * Writes a file whole or not at all: to a temporary name of this process, then renamed over the
 * target (atomic on one file system), so a concurrent reader sees the old content or the new, never
 * half of it, and two processes writing at once never share a temporary file.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';

export function writeFileAtomically(file: string, text: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, text);
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}
