/**
 * TIDEMARK_TRACE_SQL=1 prints every statement an engine runs, with its duration, to stderr: where a
 * slow command spends its time. Values are bound parameters, so no data or secret reaches the trace.
 */
export const TRACE_SQL = process.env.TIDEMARK_TRACE_SQL === '1';

export function traceSql(sql: string, started: number, rows?: number): void {
  const ms = (performance.now() - started).toFixed(1).padStart(7);
  process.stderr.write(`[sql ${ms} ms${rows === undefined ? '' : ` ${rows} rows`}] ${sql.replace(/\s+/g, ' ').slice(0, 160)}\n`);
}
