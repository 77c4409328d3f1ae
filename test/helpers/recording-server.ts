/**
 * A webhook endpoint for consumer tests that need nothing of a dashboard cache (cache-server.ts):
 * node:http on 127.0.0.1 (port 0) that records every request as it came and answers as `answer`
 * says (200 "ok" unless told otherwise).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  body: string;
}

export interface RecordingServer {
  /** http://127.0.0.1:PORT, without a trailing slash. */
  base: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startRecordingServer(answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(200).end('ok')): Promise<RecordingServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', body });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
