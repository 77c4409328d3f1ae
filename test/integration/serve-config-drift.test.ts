/**
 * serve's drift check (src/server/config-drift.ts) remembers its last answer while the files the
 * project was loaded from stand as they were (stat), instead of parsing the whole project for every
 * command handed to it. An edit must still be seen at once, a same-size edit too, and undoing it must
 * clear the drift. What counts is the project as it loads: an edit of tidemark.yaml that only changes
 * comments or layout is no drift (a write handed to the server still runs), any other edit is, and so
 * is a comment inside a model's statement (it is part of the SQL run).
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProject } from '../../src/config/load.js';
import { checkProjectUnchanged, projectDrift } from '../../src/server/config-drift.js';
import { builtShop, cleanup, readModel, requireBuild, until, withWorkspace, writeModel } from '../helpers/project.js';

const DRIFT = 'tidemark.yaml or a model file changed';

describe('serve notices an edited project with a stat-based check', () => {
  let dir = '';

  beforeAll(async () => {
    requireBuild();
    dir = await builtShop();
  }, 120_000);
  afterAll(() => cleanup(dir));

  /** Files changed in the last moments are always read again; wait until these are not, so the answer is remembered. */
  const settled = (...files: string[]) => until(() => files.every((f) => Date.now() - statSync(f).ctimeMs > 2_500));

  it('an edit after a remembered answer is seen, a same-size one too; undoing it clears the drift', async () => {
    const model = path.join(dir, 'models', 'daily_revenue.sql');
    const yaml = path.join(dir, 'tidemark.yaml');
    await settled(model, yaml);
    const original = readModel(dir, 'daily_revenue');
    await withWorkspace(dir, async (ws) => {
      expect(projectDrift(ws)).toBeNull();
      expect(projectDrift(ws)).toBeNull();

      // Same size, same place: only the file's times (and content) differ.
      const edited = original.replace("o.status = 'paid'", "o.status = 'PAID'");
      expect(edited).not.toBe(original);
      expect(edited.length).toBe(original.length);
      writeModel(dir, 'daily_revenue', edited);
      expect(projectDrift(ws)).toBe(DRIFT);

      writeModel(dir, 'daily_revenue', original);
      expect(projectDrift(ws)).toBeNull();

      const yamlText = readFileSync(yaml, 'utf8');
      writeFileSync(yaml, yamlText.replace('max_backfill_partitions: 90', 'max_backfill_partitions: 91'));
      expect(projectDrift(ws)).toBe(DRIFT);
      writeFileSync(yaml, yamlText);
      expect(projectDrift(ws)).toBeNull();
    });
  });

  it('comments, blank lines, indentation and quoting in tidemark.yaml are no drift: writes handed to the server still run; a real edit after them is drift again', async () => {
    const yaml = path.join(dir, 'tidemark.yaml');
    const original = readFileSync(yaml, 'utf8');
    const model = readModel(dir, 'daily_revenue');
    expect(model).toMatch(/^SELECT/m);
    try {
      await withWorkspace(dir, async (ws) => {
        expect(projectDrift(ws)).toBeNull();
        // The same project, written differently.
        const reworded = original
          .replace('# Safety rails.', '# Safety rails (edited while serve runs).')
          .replace('guards: { max_backfill_partitions: 90 }', '\n# a note for the on-call engineer\nguards:\n    max_backfill_partitions:   90   # still 90\n')
          .replace('name: shop', 'name: "shop"');
        expect(reworded).not.toBe(original);
        const queuedWith = ws.project.configHash;
        writeFileSync(yaml, `${reworded}\n# trailing comment\n`);
        expect(projectDrift(ws)).toBeNull();
        // What the server queues and audits now carries the hash a worker started from these files has:
        // the worker computes the run instead of refusing it as planned with another project.
        expect(ws.project.configHash).not.toBe(queuedWith);
        expect(ws.project.configHash).toBe(loadProject(dir).configHash);
        expect(checkProjectUnchanged(ws, 'backfill')).toBeNull();
        expect(checkProjectUnchanged(ws, 'status')).toBeNull();
        // Remembered once the edit is not a racy one: still no drift, from the stat check alone.
        await settled(yaml);
        expect(projectDrift(ws)).toBeNull();

        // A real change made after the comment-only one is drift.
        writeFileSync(yaml, `${reworded.replace('max_backfill_partitions:   90', 'max_backfill_partitions:   30')}\n# trailing comment\n`);
        expect(projectDrift(ws)).toBe(DRIFT);
        expect(() => checkProjectUnchanged(ws, 'backfill')).toThrow(/^tidemark\.yaml or a model file changed since tidemark serve \(pid \d+\) loaded it; .*`backfill` was not run$/);
        // Re-queueing deliveries acts on the consumers the server loaded: refused like any audited write.
        expect(() => checkProjectUnchanged(ws, 'consumers redeliver')).toThrow(/`consumers redeliver` was not run$/);
        expect(checkProjectUnchanged(ws, 'status')).toMatch(/^warning: tidemark\.yaml or a model file changed/);
        // Back to the server's copy plus a comment: its text differs, what it loads does not.
        writeFileSync(yaml, `${original}# one more comment\n`);
        expect(projectDrift(ws)).toBeNull();
        // A model: a comment after its statement is not run; one inside it is part of what runs.
        writeModel(dir, 'daily_revenue', `${model}\n\n-- reviewed at 2 a.m.\n`);
        expect(projectDrift(ws)).toBeNull();
        writeModel(dir, 'daily_revenue', model.replace(/^SELECT/m, 'SELECT -- reviewed at 2 a.m.\n'));
        expect(projectDrift(ws)).toBe(DRIFT);
      });
    } finally {
      writeFileSync(yaml, original);
      writeModel(dir, 'daily_revenue', model);
    }
  });
});
