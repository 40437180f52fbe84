import type { z } from 'zod';
import { StageConfig, type StageConfigInput } from './schema.ts';

/** A stage name: part of stack names, the API stage, the KMS alias and export names. */
const STAGE_NAME = /^[a-z][a-z0-9-]{0,19}$/;

/** The selected stage and its validated config. */
export interface LoadedStage {
  readonly name: string;
  readonly config: StageConfig;
}

/** One problem in a stage config: the dotted field path and what is wrong with it. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** Thrown when the stage cannot be selected or its config is invalid; the message is meant for humans. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    readonly issues: readonly ConfigIssue[] = [],
  ) {
    super(message);
  }
}

/** `['tenants', 0, 'writers', 1]` -> `tenants[0].writers[1]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

const toIssues = (error: z.ZodError): ConfigIssue[] =>
  error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));

/** Validates one stage's config and fills in the defaults; throws ConfigError naming every bad field. */
export function parseStageConfig(name: string, raw: unknown): StageConfig {
  const result = StageConfig.safeParse(raw);
  if (result.success) return result.data;
  const issues = toIssues(result.error);
  throw new ConfigError(
    [
      `Invalid audit-trail config for stage "${name}" (lib/config/stages/${name}.ts):`,
      ...issues.map((issue) => `  - ${issue.path}: ${issue.message}`),
    ].join('\n'),
    issues,
  );
}

/**
 * Picks the stage named by the cdk context value `stage` (`cdk synth -c stage=prod`) from the registry
 * of stage files and validates it.
 */
export function loadStageConfig(
  stage: unknown,
  registry: Readonly<Record<string, StageConfigInput>>,
): LoadedStage {
  const known = Object.keys(registry).sort().join(', ') || '(none)';
  if (stage === undefined || stage === null || stage === '') {
    throw new ConfigError(`No stage selected: pass -c stage=<name> (known stages: ${known}).`);
  }
  if (typeof stage !== 'string' || !STAGE_NAME.test(stage)) {
    throw new ConfigError(
      `Invalid stage name ${JSON.stringify(stage)}: lowercase letters, digits and hyphens, starting with a letter, at most 20 chars.`,
    );
  }
  const raw = Object.hasOwn(registry, stage) ? registry[stage] : undefined;
  if (raw === undefined) {
    throw new ConfigError(
      `Unknown stage "${stage}": add lib/config/stages/${stage}.ts and register it in lib/config/stages/index.ts (known stages: ${known}).`,
    );
  }
  return { name: stage, config: parseStageConfig(stage, raw) };
}
