/**
 * `COPY … FROM STDIN` with the plain pg driver: bulk loads without row-by-row INSERTs and without an
 * extra dependency (pg-copy-streams). pg's Query answers the server's CopyInResponse with "no source
 * stream"; this subclass answers it by streaming the bytes of a file as CopyData messages instead. A
 * gzip file is decompressed on the way (node:zlib): the server only ever sees the CSV text.
 */
import pg from 'pg';
import { openDataFile } from '../../io/gzip.js';

/** The part of pg's (untyped) protocol connection a COPY needs. */
interface CopyConnection {
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  stream: NodeJS.WritableStream & { writableNeedDrain?: boolean };
}

class CopyFromFile extends pg.Query {
  /** Why the file could not be read, when that is what ended the COPY (a damaged gzip file). */
  readError: unknown = null;

  constructor(
    sql: string,
    private readonly file: string,
    private readonly gzip: boolean,
    done: (error: Error | null) => void,
  ) {
    super(sql);
    (this as unknown as { callback: (e: Error | null) => void }).callback = (error) => done(error);
  }

  handleCopyInResponse(connection: CopyConnection): void {
    void this.send(connection);
  }

  private async send(connection: CopyConnection): Promise<void> {
    try {
      for await (const chunk of openDataFile(this.file, this.gzip)) {
        connection.sendCopyFromChunk(chunk as Buffer);
        // Respect the socket's back-pressure so a large file is not buffered in memory.
        if (connection.stream.writableNeedDrain) await new Promise((resolve) => connection.stream.once('drain', resolve));
      }
      connection.endCopyFrom();
    } catch (error) {
      // The server aborts the COPY with this message; the query then fails with it.
      this.readError = error;
      connection.sendCopyFail(error instanceof Error ? error.message : String(error));
    }
  }
}

/**
 * Runs `sql` (a `COPY … FROM STDIN` statement) on `client`, feeding it the bytes of `file`,
 * decompressed when `gzip`. When reading the file failed, that error is the one rejected (the
 * server's says only that the COPY was aborted).
 */
export function copyFromFile(client: pg.ClientBase, sql: string, file: string, options: { gzip?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const query: CopyFromFile = new CopyFromFile(sql, file, options.gzip ?? false, (error) => (error ? reject(query.readError ?? error) : resolve()));
    client.query(query);
  });
}
