/** Why the user asked for a source build (MPI4NODE_BUILD_FROM_SOURCE, npm_config_build_from_source, MPICC, MPI_HOME), or undefined. */
export function sourceBuildReason(env?: NodeJS.ProcessEnv): string | undefined;
/** The one-line problems that stop a source build, and the mpicc it would use. */
export function buildProblems(env?: NodeJS.ProcessEnv): { problems: string[]; mpicc: string | undefined };
/** Loads the addon in a child node the way mpi4node will. */
export function probe(extraEnv?: Record<string, string>): {
  ok: boolean; from?: string; kind?: string; abi?: string; library?: string; version?: string; error?: string;
  tried?: { path: string; error: string }[];
};
