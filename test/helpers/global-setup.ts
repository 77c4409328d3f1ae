// vitest globalSetup: makes a PostgreSQL URL available to every test as inject('pgUrl').
//
//  - TIDEMARK_TEST_PG_URL set            -> use that server, start nothing (this is what .ci/run does)
//  - TIDEMARK_TEST_ENGINES set without
//    "postgres" (e.g. "duckdb")          -> provide '' and start nothing; PostgreSQL tests skip
//  - otherwise                           -> start a throwaway server now, stop it in teardown
import type { TestProject } from 'vitest/node';
import { postgresTestsWanted, startPostgres } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** postgres://… URL of a server for the tests, or '' when PostgreSQL tests are turned off. */
    pgUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const externalUrl = process.env.TIDEMARK_TEST_PG_URL;
  if (externalUrl !== undefined && externalUrl !== '') {
    project.provide('pgUrl', externalUrl);
    return;
  }
  if (!postgresTestsWanted(process.env.TIDEMARK_TEST_ENGINES)) {
    project.provide('pgUrl', '');
    return;
  }
  const startedAt = Date.now();
  const server = await startPostgres();
  if (process.env.TIDEMARK_TEST_VERBOSE) {
    console.log(`[tidemark] test PostgreSQL at ${server.url} (started in ${Date.now() - startedAt} ms)`);
  }
  project.provide('pgUrl', server.url);
  return async () => {
    await server.stop();
  };
}
