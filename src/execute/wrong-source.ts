/**
 * A file given to the wrong source (`tidemark ingest orders data/fx_rates/fx-….csv`) matches no
 * schema version of it, and the refusal's hint, written for a source whose files changed shape,
 * offers a history entry that maps the file onto it with NULL keys and partition column: advice
 * that cannot be right. When the file's columns fit another source of the project, that is the
 * likelier mistake, and the hint names it first, with the command that loads the file there.
 */
import type { Project } from '../config/project.js';
import { TidemarkError } from '../errors.js';
import { matchShape, schemaVersions, type FileShape } from './schema-match.js';

/** `error`, with a hint naming the other sources whose schema the refused file's columns fit; else `error` itself. */
export function withOtherSourceHint(project: Project, source: string, error: unknown): unknown {
  if (!(error instanceof TidemarkError) || error.code !== 'BAD_INPUT') return error;
  const shape = error.details.shape as FileShape | undefined;
  const file = error.details.file as string | undefined;
  if (!shape || !file) return error;
  const fitting = [...project.datasets.values()].filter((d) => d.kind === 'source' && d.name !== source && matchShape(shape, schemaVersions(d)).kind !== 'none').map((d) => d.name);
  if (!fitting.length) return error;
  const which = fitting.length === 1 ? `those of source ${fitting[0]}` : `those of sources ${fitting.join(', ')}`;
  const hint = `its columns are ${which}: if it is one of their files, \`tidemark ingest ${fitting[0]} ${file}\`${error.hint ? `\nif it really is a file of ${source}: ${error.hint}` : ''}`;
  return new TidemarkError('BAD_INPUT', error.message, { ...error.details, hint, fits_sources: fitting }, { cause: error });
}
