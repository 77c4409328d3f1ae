/** Workers and detached runs share a backfill across processes: only a multi-writer engine can. */
import type { Engine } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';

export function requireMultiWriter(engine: Engine, what: string): void {
  if (engine.capabilities.multiWriter) return;
  throw new TidemarkError('USAGE', `${what}: workers need a multi-writer engine such as PostgreSQL; with DuckDB use \`tidemark serve\``, {
    hint: 'set engine: { kind: postgres, url: … } in tidemark.yaml (or TIDEMARK_ENGINE=postgres and TIDEMARK_DATABASE_URL), or run the backfill without --detach',
  });
}
