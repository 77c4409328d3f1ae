/**
 * `COPY … FROM STDIN` with the plain pg driver: bulk loads without row-by-row INSERTs and without an
 * extra dependency (pg-copy-streams). pg's Query answers the server's CopyInResponse with "no source
 * stream"; this subclass answers it by streaming the bytes of a file as CopyData messages instead.
 */
import { createReadStream } from 'node:fs';
import pg from 'pg';

/** The part of pg's (untyped) protocol connection a COPY needs. */
interface CopyConnection {
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  stream: NodeJS.WritableStream & { writableNeedDrain?: boolean };
}

class CopyFromFile extends pg.Query {
  constructor(
    sql: string,
    private readonly file: string,
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
      for await (const chunk of createReadStream(this.file)) {
        connection.sendCopyFromChunk(chunk as Buffer);
        // Respect the socket's back-pressure so a large file is not buffered in memory.
        if (connection.stream.writableNeedDrain) await new Promise((resolve) => connection.stream.once('drain', resolve));
      }
      connection.endCopyFrom();
    } catch (error) {
      // The server aborts the COPY with this message; the query then fails with it.
      connection.sendCopyFail(error instanceof Error ? error.message : String(error));
    }
  }
}

/** Runs `sql` (a `COPY … FROM STDIN` statement) on `client`, feeding it the bytes of `file`. */
export function copyFromFile(client: pg.ClientBase, sql: string, file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    client.query(new CopyFromFile(sql, file, (error) => (error ? reject(error) : resolve())));
  });
}
