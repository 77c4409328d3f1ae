/**
 * Model SQL templates. Deliberately tiny: `{{ start }}`, `{{ end }}`, `{{ ref('x') }}`, `{{ checkpoint }}`
 * (incremental models: the current mark as a typed literal, or NULL) and, in check SQL, `{{ this }}`. Anything else between braces is an error, so a typo never silently renders as text.
 */
import { TidemarkError } from '../errors.js';

const TAG = /\{\{\s*(.*?)\s*\}\}/g;
const REF = /^ref\(\s*(['"])([A-Za-z_][A-Za-z0-9_]*)\1\s*\)$/;

export interface RenderContext {
  start?: string;
  end?: string;
  ref?: (dataset: string) => string;
  this?: string;
  /** Incremental models only: the checkpoint as an SQL literal (`CAST('42' AS BIGINT)` or `NULL`). */
  checkpoint?: string;
}

/** Datasets named by `ref()` in a template, in order of first appearance. */
export function parseRefs(template: string, where: string): string[] {
  const refs: string[] = [];
  for (const match of template.matchAll(TAG)) {
    const tag = match[1];
    const ref = REF.exec(tag);
    if (ref) {
      if (!refs.includes(ref[2])) refs.push(ref[2]);
    } else if (!['start', 'end', 'this', 'checkpoint'].includes(tag)) {
      throw new TidemarkError('CONFIG', `${where}: unknown template tag '{{ ${tag} }}'`, {
        hint: "use {{ start }}, {{ end }}, {{ ref('dataset') }} or, in an incremental model, {{ checkpoint }}",
      });
    }
  }
  return refs;
}

export function renderTemplate(template: string, ctx: RenderContext, where: string): string {
  return template.replace(TAG, (_all, tag: string) => {
    const ref = REF.exec(tag);
    if (ref && ctx.ref) return ctx.ref(ref[2]);
    if (tag === 'start' && ctx.start !== undefined) return ctx.start;
    if (tag === 'end' && ctx.end !== undefined) return ctx.end;
    if (tag === 'this' && ctx.this !== undefined) return ctx.this;
    if (tag === 'checkpoint' && ctx.checkpoint !== undefined) return ctx.checkpoint;
    if (tag === 'checkpoint') {
      throw new TidemarkError('CONFIG', `${where}: {{ checkpoint }} needs an incremental model`, { hint: 'declare incremental: { cursor: COLUMN } on the model in tidemark.yaml' });
    }
    throw new TidemarkError('CONFIG', `${where}: template tag '{{ ${tag} }}' cannot be used here`);
  });
}
